//! `modelark store list|rm|gc|fsck`, imports that write only what is referenced and leave
//! nothing behind, and the store's smaller promises: no preallocation for a lying size, no
//! hang on a FIFO, consistent file modes, pinned digests, clear messages for empty inputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{
    Env, Raw, Registry, digest_of, names, pushed_model, random_model, wait_unless_hung,
};

fn blobs(env: &Env) -> PathBuf {
    env.home().join("store/blobs/sha256")
}

fn blob_names(env: &Env) -> Vec<String> {
    names(&blobs(env))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Flips the first byte of a file.
fn flip(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn store_lists_removes_checks_and_collects_what_interrupted_work_left() {
    let (registry, env, model, remote) = pushed_model(256 * 1024, "kept/model:1");
    env.ok(&["pull", &remote, "--plain-http"]);
    env.ok(&["pack", model.to_str().unwrap(), "-t", "local:1"]);
    let listed = env.ok(&["store", "list"]);
    assert!(
        listed.contains(&format!("{}/kept/model", registry.host())),
        "{listed}"
    );
    assert!(listed.contains("local"), "{listed}");

    // A sound store: fsck exits 0 and counts what it hashed.
    let report = env.json(&["store", "fsck"]);
    assert_eq!(
        report["blobs"].as_u64().unwrap() as usize,
        blob_names(&env).len()
    );

    // A flipped byte is found, named, and (with --repair) removed.
    let weights = env.file_digest("local:1", "model.safetensors");
    let hex = weights.strip_prefix("sha256:").unwrap();
    flip(&blobs(&env).join(hex));
    let (code, stdout, _) = env.run(&["store", "fsck"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("corrupt: {}", blobs(&env).join(hex).display())),
        "{stdout}"
    );
    let (code, _, _) = env.run(&["store", "fsck", "--repair"]);
    assert_eq!(code, 1);
    assert!(!blobs(&env).join(hex).exists(), "repair removed it");
    let (code, stdout, _) = env.run(&["store", "fsck"]);
    assert_eq!(code, 1, "entries now miss the blob: {stdout}");
    assert!(
        stdout.contains("broken:") && stdout.contains("missing"),
        "{stdout}"
    );
    // Pulling again restores the pulled model; the local one goes with rm.
    env.ok(&["pull", &remote, "--plain-http"]);
    env.ok(&["rm", "local:1"]);
    env.ok(&["store", "fsck"]);

    // Leftovers a crash leaves: a temp file, a partial download with its sidecars, and an
    // unpack directory whose process died. fsck lists them; gc removes them.
    let dir = blobs(&env);
    std::fs::write(dir.join(".tmp-crashed"), vec![0u8; 1000]).unwrap();
    let fake = "ab".repeat(32);
    std::fs::write(dir.join(format!(".partial-{fake}")), vec![0u8; 2000]).unwrap();
    std::fs::write(dir.join(format!(".partial-{fake}.parts")), "[0]").unwrap();
    std::fs::write(dir.join(format!(".partial-{fake}.lock")), "").unwrap();
    let staging = env.path(".modelark-unpack-dead");
    std::fs::create_dir_all(staging.join("sub")).unwrap();
    std::fs::write(staging.join("sub/half.bin"), "half").unwrap();
    let records = env.home().join("store/.modelark-unpacking");
    std::fs::create_dir_all(&records).unwrap();
    std::fs::write(records.join("unpack-dead"), staging.to_str().unwrap()).unwrap();
    let report = env.json(&["store", "fsck"]);
    assert_eq!(report["leftovers"].as_array().unwrap().len(), 4, "{report}");
    let gc = env.json(&["store", "gc"]);
    assert_eq!(gc["leftovers"], 4, "{gc}");
    assert!(
        names(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        names(&dir)
    );
    assert!(!staging.exists());
    assert_eq!(names(&records), Vec::<String>::new());

    // store rm removes the local copy of a pulled model, not the registry's.
    let removed = env.json(&["store", "rm", &remote]);
    assert_eq!(removed["removed"][0], remote);
    env.fails(&["store", "rm", &remote], 1);
    env.ok(&["inspect", &remote, "--plain-http"]);
    assert_eq!(
        blob_names(&env),
        Vec::<String>::new(),
        "nothing references them now"
    );
}

/// Writes an OCI layout tar holding one exported model plus `extra` entries (name, bytes),
/// appended after the model's own entries.
fn archive_with(env: &Env, extra: &[(String, Vec<u8>)]) -> PathBuf {
    let model = random_model(env, "model", 64 * 1024);
    env.ok(&["pack", model.to_str().unwrap(), "-t", "arch:1"]);
    let exported = env.path("export.tar");
    env.ok(&["export", "arch:1", "-o", exported.to_str().unwrap()]);
    env.ok(&["rm", "arch:1"]);
    let path = env.path("extra.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut archive = tar::Archive::new(std::fs::File::open(&exported).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let name = entry.path().unwrap().into_owned();
        builder.append_data(&mut header, name, &mut entry).unwrap();
    }
    for (name, bytes) in extra {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap().flush().unwrap();
    path
}

#[test]
fn import_writes_only_referenced_blobs_and_nothing_on_failure() {
    let env = Env::new();
    // A 32 MiB entry named for its own digest that nothing references, and one whose name
    // is not its digest: neither is written, the model imports.
    let big = vec![7u8; 32 << 20];
    let big_digest = modelark::Digest::sha256_of(&big);
    let extra = vec![
        (format!("blobs/sha256/{}", big_digest.hex()), big),
        (
            format!("blobs/sha256/{}", "cd".repeat(32)),
            b"not what the name says".to_vec(),
        ),
    ];
    let archive = archive_with(&env, &extra);
    env.ok(&["import", archive.to_str().unwrap()]);
    env.ok(&["inspect", "arch:1"]);
    assert!(
        !blobs(&env).join(big_digest.hex()).exists(),
        "unreferenced entry written"
    );
    assert!(!blobs(&env).join("cd".repeat(32)).exists());
    let total: u64 = blob_names(&env)
        .iter()
        .map(|n| std::fs::metadata(blobs(&env).join(n)).unwrap().len())
        .sum();
    assert!(total < 1 << 20, "the store holds {total} bytes");
    // From standard input too.
    env.ok(&["rm", "arch:1"]);
    let stdin = std::fs::File::open(&archive).unwrap();
    crate::harness::assert_ran(&env.cmd(&["import", "-"]).stdin(stdin).output().unwrap());
    assert!(!blobs(&env).join(big_digest.hex()).exists());
    env.ok(&["inspect", "arch:1"]);

    // A referenced blob whose content is wrong: refused, and nothing stays behind.
    let broken = Env::new();
    let archive = archive_with(&broken, &[]);
    let mut tampered = std::fs::read(&archive).unwrap();
    // The weights are the largest entry: flip a byte in the middle of the archive's data.
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    std::fs::write(&archive, tampered).unwrap();
    let fresh = Env::new();
    let stderr = fresh.fails(&["import", archive.to_str().unwrap()], 1);
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert_eq!(
        blob_names(&fresh),
        Vec::<String>::new(),
        "blobs of a failed import freed"
    );
    assert!(
        names(&blobs(&fresh))
            .iter()
            .all(|n| !n.starts_with(".tmp-"))
    );
    fresh.fails(&["inspect", "arch:1"], 1);

    // An archive whose index lists nothing says so.
    let empty = env.path("empty.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&empty).unwrap());
    for (name, bytes) in [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (
            "index.json",
            br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
        ),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap().flush().unwrap();
    let stderr = env.fails(&["import", empty.to_str().unwrap()], 2);
    assert!(stderr.contains("lists no model"), "{stderr}");
}

#[test]
fn an_import_stopped_by_sigterm_leaves_no_temp_file() {
    let env = Env::new();
    let model = random_model(&env, "model", 384 << 20);
    env.ok(&["pack", model.to_str().unwrap(), "-t", "big:1", "-q"]);
    let archive = env.path("big.tar");
    env.ok(&["export", "big:1", "-o", archive.to_str().unwrap()]);
    let target = Env::new();
    let child = target
        .cmd(&["import", archive.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = blobs(&target);
    let mut seen = false;
    for _ in 0..20_000 {
        if names(&dir).iter().any(|n| n.starts_with(".tmp-")) {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    assert!(seen, "the import wrote a temp file");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    let left: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    target.fails(&["inspect", "big:1"], 1);
}

#[test]
fn a_lying_layer_size_reserves_no_disk_and_fails_clearly() {
    let (registry, env, _model, remote) = pushed_model(1024 * 1024, "liar/model:1");
    // The registry does not check descriptor sizes: claim 50 GB for the weights.
    let raw = Raw::new(&registry.host(), "liar/model");
    let mut manifest = raw.manifest("1");
    for layer in &mut manifest.layers {
        if layer.size > 1000 {
            layer.size = 50_000_000_000;
        }
    }
    raw.put_manifest("1", &manifest);
    let args = [
        "pull",
        &remote,
        "--plain-http",
        "--connections",
        "4",
        "--part-size",
        "1048576",
        "--retries",
        "0",
    ];
    let (code, _, stderr) = env.run(&args);
    assert_eq!(code, 2, "{stderr}");
    for name in names(&blobs(&env)) {
        let length = std::fs::metadata(blobs(&env).join(&name)).unwrap().len();
        assert!(length <= 2 << 20, "{name} is {length} bytes");
    }
}

#[test]
fn unpack_refuses_a_fifo_where_a_blob_should_be() {
    let env = Env::new();
    let model = random_model(&env, "model", 1024);
    let layout = env.path("layout");
    env.ok(&[
        "pack",
        model.to_str().unwrap(),
        "-t",
        &format!("oci:{}:1", layout.display()),
    ]);
    let view = env.json(&["inspect", &format!("oci:{}:1", layout.display())]);
    let digest = view["files"][0]["digest"].as_str().unwrap().to_owned();
    let blob = layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    std::fs::remove_file(&blob).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&blob)
        .status()
        .unwrap();
    assert!(made.success());
    let out = env.path("out");
    let child = env
        .cmd(&[
            "unpack",
            &format!("oci:{}:1", layout.display()),
            "-o",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Before the fix this never returned.
    let output = wait_unless_hung(child, "unpack hangs on a FIFO");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn store_files_share_one_mode_and_pinned_digests_are_checked() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 4096);
    env.ok(&["pack", model.to_str().unwrap(), "-t", "modes:1"]);
    let remote = format!("{}/modes/model:1", registry.host());
    env.ok(&["push", "modes:1", &remote, "--plain-http"]);
    env.ok(&["rm", "modes:1"]);
    env.ok(&["pull", &remote, "--plain-http"]);
    use std::os::unix::fs::PermissionsExt;
    let store = env.home().join("store");
    let mut files = vec![store.join("index.json"), store.join("oci-layout")];
    files.extend(blob_names(&env).iter().map(|n| blobs(&env).join(n)));
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", file.display());
    }

    // NAME:TAG@DIGEST is a promise: a directory that packs to another digest is refused.
    let digest = digest_of(&env.ok(&["pack", model.to_str().unwrap(), "-t", "pinned:1"]));
    env.ok(&["rm", "pinned:1"]);
    let wrong = format!("pinned:1@sha256:{}", "0".repeat(64));
    let stderr = env.fails(&["pack", model.to_str().unwrap(), "-t", &wrong], 1);
    assert!(stderr.contains("packs to another digest"), "{stderr}");
    env.fails(&["inspect", "pinned:1"], 1);
    env.ok(&[
        "pack",
        model.to_str().unwrap(),
        "-t",
        &format!("pinned:1@{digest}"),
    ]);
    env.ok(&["inspect", "pinned:1"]);
}

#[test]
fn a_model_with_no_named_files_warns_instead_of_unpacking_nothing_silently() {
    let registry = Registry::start();
    let env = Env::new();
    let raw = Raw::new(&registry.host(), "anon/model");
    let config = raw.put_blob("application/vnd.cncf.model.config.v1+json", b"{}");
    let layer = raw.put_blob("application/vnd.cncf.model.weight.v1.raw", b"weights");
    let manifest = modelark::oci::Manifest {
        schema_version: 2,
        media_type: Some(modelark::media_types::OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.cncf.model.manifest.v1+json".into()),
        config,
        layers: vec![layer],
        subject: None,
        annotations: Default::default(),
    };
    raw.put_manifest("1", &manifest);
    let out = env.path("out");
    let remote = format!("{}/anon/model:1", registry.host());
    let (code, _, stderr) =
        env.run(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no layer names a file"), "{stderr}");
    assert!(stderr.contains("skipped layer"), "{stderr}");
}

/// Runs `modelark ARGS` (with `env`'s settings) in a private mount namespace where `dir` is
/// a 2 MiB tmpfs: a full disk without touching the machine's file systems.
fn run_on_tiny_disk(env: &Env, dir: &Path, args: &[&str]) -> (i32, String) {
    std::fs::create_dir_all(dir).unwrap();
    let modelark = env.cmd(args);
    let mut command = std::process::Command::new("unshare");
    command
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=2m tmpfs \"$0\" && exec \"$@\"",
        ])
        .arg(dir)
        .arg(modelark.get_program())
        .args(modelark.get_args())
        .current_dir(env.dir.path());
    for (key, value) in modelark.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let out = command.output().expect("unshare (util-linux) runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_full_disk_names_the_path_and_points_at_store_gc() {
    let env = Env::new();
    let model = random_model(&env, "model", 4 * 1024 * 1024);
    env.ok(&["pack", model.to_str().unwrap(), "-t", "full:1"]);
    let disk = env.path("disk");
    let out = disk.join("out");
    let (code, stderr) = run_on_tiny_disk(
        &env,
        &disk,
        &["unpack", "full:1", "-o", out.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains(disk.to_str().unwrap()),
        "names the path: {stderr}"
    );
    assert!(stderr.contains("modelark store gc"), "{stderr}");
    // The tmpfs is gone with its namespace: nothing was left in the real directory.
    assert_eq!(names(&disk), Vec::<String>::new());
}
