//! What must never happen to a model registry client, each case once a real bug: a corrupt
//! store under concurrent pulls, a hang on a silent or stalled registry, endless listings,
//! a directory deleted that appeared while unpacking, a day-long `Retry-After`, torn files,
//! failure reported after success, unreferenced archive entries written, unbounded
//! attachments, and registry text driving the terminal. Against the real registry, through
//! the fault proxy where a real registry never misbehaves that way.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{
    Env, Raw, Registry, assert_same_tree, attachment_tag, digest_of, names, pushed_model,
    random_model,
};
use crate::proxy::{FaultProxy, Faults};

/// Waits (bounded) until `done` holds; a guard against hangs, not a timing assertion.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
}

/// Every blob file in a store hashes to its name (independently of modelark: sha256sum).
fn assert_store_sound(home: &Path) {
    let dir = home.join("store/blobs/sha256");
    for name in names(&dir) {
        if name.starts_with('.') {
            continue;
        }
        let out = Command::new("sha256sum")
            .arg(dir.join(&name))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(&name), "blob {name} hashes to {text}");
    }
}

#[test]
fn concurrent_pulls_packs_imports_and_removals_on_one_store_all_succeed_and_fsck_finds_nothing() {
    let (_registry, env, model, remote) = pushed_model(32 * 1024 * 1024, "race/model:1");
    // Local models to remove while the others run, and an archive to import, made first.
    let other = random_model(&env, "other", 2 * 1024 * 1024);
    for i in 0..4 {
        env.ok(&["pack", other.to_str().unwrap(), "-t", &format!("gone{i}:1")]);
    }
    let archived = random_model(&env, "archived", 4 * 1024 * 1024);
    env.ok(&["pack", archived.to_str().unwrap(), "-t", "archived:1"]);
    let archive = env.path("archived.tar");
    env.ok(&["export", "archived:1", "-o", archive.to_str().unwrap()]);
    env.ok(&["rm", "archived:1"]);
    let packed = random_model(&env, "packed", 8 * 1024 * 1024);

    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    for i in 0..8 {
        let out = env.path(&format!("out{i}"));
        let args = [
            "pull",
            &remote,
            "-o",
            out.to_str().unwrap(),
            "--plain-http",
            "-q",
        ];
        commands.push((format!("pull {i}"), args.map(String::from).to_vec()));
    }
    for i in 0..4 {
        let args = [
            "pack",
            packed.to_str().unwrap(),
            "-t",
            &format!("packed{i}:1"),
            "-q",
        ];
        commands.push((format!("pack {i}"), args.map(String::from).to_vec()));
        commands.push((format!("rm {i}"), vec!["rm".into(), format!("gone{i}:1")]));
    }
    for i in 0..2 {
        let args = ["import", archive.to_str().unwrap()];
        commands.push((format!("import {i}"), args.map(String::from).to_vec()));
    }
    let children: Vec<_> = commands
        .iter()
        .map(|(what, args)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let child = env
                .cmd(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (what, child)
        })
        .collect();
    for (what, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..8 {
        assert_same_tree(&model, &env.path(&format!("out{i}")));
    }
    env.ok(&["inspect", "archived:1"]);
    env.fails(&["inspect", "gone0:1"], 1);
    assert_store_sound(&env.home());
    let report = env.json(&["store", "fsck"]);
    assert_eq!(report["corrupt"], serde_json::json!([]), "{report}");
    assert_eq!(report["broken"], serde_json::json!([]), "{report}");
    assert_eq!(report["leftovers"], serde_json::json!([]), "{report}");
    // A later pull skips nothing it should not: the copy in the store is the model.
    let again = env.path("again");
    env.ok(&[
        "pull",
        &remote,
        "-o",
        again.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_same_tree(&model, &again);
}

#[test]
fn a_silent_registry_times_out_and_a_stalled_blob_resumes_then_fails_naming_it() {
    let (registry, env, model, direct) = pushed_model(3 * 1024 * 1024, "slow/model:1");
    let weights = env.file_digest(&direct, "model.safetensors");

    // Accepts the connection, never answers.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            silent: Some("/v2/".into()),
            ..Faults::default()
        },
    );
    let remote = format!("{}/slow/model:1", proxy.host());
    let stderr = env.fails(
        &[
            "inspect",
            &remote,
            "--plain-http",
            "--timeout",
            "1s",
            "--retries",
            "1",
        ],
        2,
    );
    assert!(stderr.contains(&proxy.host()), "{stderr}");
    assert!(stderr.contains("sent nothing for 1 s"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");

    // Sends 1 MiB of the weights, then nothing: resumed with Range each time, then an error
    // naming the registry, the blob and the timeout; the partial download is kept.
    proxy.set_faults(Faults {
        stall_download: Some((weights.clone(), 1024 * 1024)),
        ..Faults::default()
    });
    let out = env.path("out");
    let args = [
        "pull",
        &remote,
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
        "--read-timeout",
        "1s",
        "--retries",
        "2",
    ];
    let stderr = env.fails(&args, 2);
    assert!(stderr.contains(&weights), "{stderr}");
    assert!(stderr.contains(&proxy.host()), "{stderr}");
    assert!(stderr.contains("sent nothing for 1 s"), "{stderr}");
    let ranged = proxy
        .requests()
        .iter()
        .filter(|r| r.contains(&weights) && r.to_ascii_lowercase().contains("range: bytes="))
        .count();
    assert_eq!(ranged, 2, "each retry resumes with Range");
    assert!(!out.exists(), "nothing unpacked");

    // Once the registry is well, the same command finishes from what was kept.
    proxy.set_faults(Faults::default());
    env.ok(&args);
    assert_same_tree(&model, &out);
}

/// The response timeout is for a registry that does not answer, not for an upload that takes
/// long: a streamed blob is answered only once all of it arrived.
#[test]
fn a_slow_upload_is_not_cut_by_the_response_timeout() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 16 * 1024 * 1024);
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            slow: Some(("PATCH /v2/slowup/model/blobs/uploads/".into(), 2500)),
            ..Faults::default()
        },
    );
    let remote = format!("{}/slowup/model:1", proxy.host());
    let args = [
        "push",
        model.to_str().unwrap(),
        &remote,
        "--plain-http",
        "--timeout",
        "1s",
    ];
    env.ok(&args);
    env.ok(&["inspect", &remote, "--plain-http"]);
}

#[test]
fn listings_that_link_back_to_themselves_fail_clearly() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 1024);
    for version in ["1.0.0", "1.1.0"] {
        let target = format!("{}/pages/model:{version}", registry.host());
        env.ok(&["push", model.to_str().unwrap(), &target, "--plain-http"]);
    }
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            loop_link: Some("/tags/list".into()),
            ..Faults::default()
        },
    );
    let repo = format!("{}/pages/model", proxy.host());
    for args in [vec!["list", repo.as_str()], vec!["versions", repo.as_str()]] {
        let mut args = args.clone();
        args.push("--plain-http");
        let stderr = env.fails(&args, 2);
        assert!(
            stderr.contains("links back to a page"),
            "{args:?}: {stderr}"
        );
    }
    proxy.set_faults(Faults {
        loop_link: Some("/_catalog".into()),
        ..Faults::default()
    });
    let host = format!("{}/", proxy.host());
    let stderr = env.fails(&["list", &host, "--plain-http"], 2);
    assert!(stderr.contains("links back to a page"), "{stderr}");
    let stderr = env.fails(
        &["search", &proxy.host(), "--plain-http", "--where", "name=x"],
        2,
    );
    assert!(stderr.contains("links back to a page"), "{stderr}");
}

/// Starts `pull -o OUT` (from an empty store, so the weights must be downloaded) through a
/// proxy that stalls the weights for `--read-timeout 2s`, runs `meanwhile` once the stall
/// began, and returns the pull's (exit code, stderr).
fn pull_while(
    proxy: &FaultProxy,
    weights: &str,
    remote: &str,
    out: &Path,
    force: bool,
    meanwhile: impl FnOnce(),
) -> (i32, String) {
    proxy.set_faults(Faults {
        stall_download: Some((weights.to_owned(), 512 * 1024)),
        ..Faults::default()
    });
    let mut args = vec![
        "pull",
        remote,
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
        "--read-timeout",
        "2s",
        "-q",
    ];
    if force {
        args.push("--force");
    }
    let env = Env::new();
    let before = proxy.requests().len();
    let child = env
        .cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the stalled download", || {
        proxy.requests()[before..]
            .iter()
            .any(|r| r.contains(weights))
    });
    meanwhile();
    // The resumed download may go through now.
    proxy.set_faults(Faults::default());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn pull_never_replaces_a_directory_that_appeared_or_changed_while_it_ran() {
    let (registry, env, model, direct) = pushed_model(2 * 1024 * 1024, "appear/model:1");
    let weights = env.file_digest(&direct, "model.safetensors");
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let remote = format!("{}/appear/model:1", proxy.host());

    // OUT was free when the pull began; someone else's directory appears meanwhile.
    let out = env.path("out");
    let (code, stderr) = pull_while(&proxy, &weights, &remote, &out, false, || {
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("precious.txt"), "theirs").unwrap();
    });
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("changed while the model was being unpacked"),
        "{stderr}"
    );
    assert_eq!(names(&out), ["precious.txt"]);
    assert_eq!(
        std::fs::read_to_string(out.join("precious.txt")).unwrap(),
        "theirs"
    );
    assert!(
        !names(env.dir.path())
            .iter()
            .any(|n| n.starts_with(".modelark-")),
        "no temp directory left"
    );

    // --force replaces the directory that was checked, not one put in its place.
    let forced = env.path("forced");
    std::fs::create_dir(&forced).unwrap();
    std::fs::write(forced.join("old.txt"), "replace me").unwrap();
    let (code, stderr) = pull_while(&proxy, &weights, &remote, &forced, true, || {
        std::fs::rename(&forced, env.path("moved-away")).unwrap();
        std::fs::create_dir(&forced).unwrap();
        std::fs::write(forced.join("new.txt"), "keep me").unwrap();
    });
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(names(&forced), ["new.txt"]);

    // Files written into an empty directory that was checked are kept too.
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, stderr) = pull_while(&proxy, &weights, &remote, &empty, false, || {
        std::fs::write(empty.join("late.txt"), "mine").unwrap();
    });
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(names(&empty), ["late.txt"]);

    // And with nobody interfering, --force replaces what it checked.
    env.ok(&[
        "pull",
        &remote,
        "-o",
        forced.to_str().unwrap(),
        "--plain-http",
        "--force",
    ]);
    assert_same_tree(&model, &forced);
}

#[test]
fn retry_after_is_capped_and_the_wait_is_explained() {
    let (registry, env, _model, _direct) = pushed_model(1024, "busy/model:1");
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            too_many: Some(("/manifests/".into(), 86_400, 2)),
            ..Faults::default()
        },
    );
    let remote = format!("{}/busy/model:1", proxy.host());
    let (code, _, stderr) =
        env.run(&["inspect", &remote, "--plain-http", "--max-retry-wait", "1s"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("429"), "{stderr}");
    assert!(
        stderr.contains("it asked for 86400 s; waits are capped at 1 s"),
        "{stderr}"
    );
    assert!(stderr.contains("retry 2 of 5"), "{stderr}");
}

#[test]
fn a_manifest_refused_as_digest_invalid_by_a_racing_registry_is_pushed_again() {
    // CNCF distribution answers a manifest PUT with DIGEST_INVALID when another push of the
    // same blob to the repository is writing its link file at that moment (seen with 16
    // concurrent pushes in `make bench-serve`); the proxy answers that way on purpose.
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 4096);
    let refusing = |count| {
        FaultProxy::start(
            registry.port,
            Faults {
                digest_invalid: count,
                ..Faults::default()
            },
        )
    };
    let proxy = refusing(2);
    let remote = format!("{}/race/model:1.0.0", proxy.host());
    env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let direct = format!("{}/race/model:1.0.0", registry.host());
    env.ok(&["inspect", &direct, "--plain-http"]);
    // A registry that keeps refusing is reported, not retried forever.
    let proxy = refusing(100);
    let remote = format!("{}/race/other:1.0.0", proxy.host());
    let stderr = env.fails(
        &["push", model.to_str().unwrap(), &remote, "--plain-http"],
        2,
    );
    assert!(stderr.contains("DIGEST_INVALID"), "{stderr}");
}

/// Rewrites `path` in place, same size, over and over, until `stop` is set.
fn rewrite_in_place(path: &Path, stop: &std::sync::atomic::AtomicBool) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let mut round = 0u8;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        round = round.wrapping_add(1);
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(&[round; 4096]).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn a_file_rewritten_in_place_while_packed_or_pushed_fails_naming_it() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 64 * 1024 * 1024);
    let weights = model.join("model.safetensors");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let remote = format!("{}/torn/model:1", registry.host());
    let (pack, push) = std::thread::scope(|scope| {
        scope.spawn(|| rewrite_in_place(&weights, &stop));
        let pack = env.run(&["pack", model.to_str().unwrap(), "-t", "torn:1", "-q"]);
        let push = env.run(&[
            "push",
            model.to_str().unwrap(),
            &remote,
            "--plain-http",
            "-q",
        ]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (pack, push)
    });
    for (what, (code, _, stderr)) in [("pack", pack), ("push", push)] {
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(
            stderr.contains("model.safetensors changed while"),
            "{what}: {stderr}"
        );
    }
    env.fails(&["inspect", "torn:1"], 1);
    env.fails(&["inspect", &remote, "--plain-http"], 1);
}

#[test]
fn pull_fetches_everything_before_it_writes_and_repeats_into_the_same_directory() {
    let (registry, env, model, direct) = pushed_model(1024 * 1024, "order/model:1");
    let (key, _) = env.keypair("signer");
    env.ok(&["sign", &direct, "--key", &key, "--plain-http"]);

    // The registry fails on the signatures: nothing may be written anywhere.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            server_errors: 100,
            error_filter: ".sig".into(),
            ..Faults::default()
        },
    );
    let remote = format!("{}/order/model:1", proxy.host());
    let dir = env.path("out");
    let args = [
        "pull",
        &remote,
        "-o",
        dir.to_str().unwrap(),
        "--plain-http",
        "--retries",
        "0",
    ];
    let stderr = env.fails(&args, 2);
    assert!(stderr.contains("signatures"), "{stderr}");
    assert!(
        !dir.exists(),
        "OUT was written before the pull could finish"
    );
    assert!(
        env.ok(&["store", "list"]).lines().count() <= 1,
        "nothing tagged"
    );

    // With the registry well: after the first blob download, nothing but blobs is asked.
    proxy.set_faults(Faults::default());
    let before = proxy.requests().len();
    env.ok(&args);
    assert_same_tree(&model, &dir);
    let requests: Vec<String> = proxy.requests()[before..].to_vec();
    let first_blob = requests
        .iter()
        .position(|r| r.contains("/blobs/") && r.starts_with("GET "))
        .expect("blobs were fetched");
    assert!(
        requests[first_blob..].iter().all(|r| r.contains("/blobs/")),
        "requests after the blobs: {:?}",
        &requests[first_blob..]
    );
    // The same digest into the identical directory succeeds and writes nothing.
    let stdout = env.ok(&args);
    assert!(stdout.contains("already holds this model"), "{stdout}");
    assert_same_tree(&model, &dir);
    // A directory holding something else is still refused.
    std::fs::write(dir.join("config.json"), b"{\"hidden\": 9}").unwrap();
    let stderr = env.fails(&args, 2);
    assert!(
        stderr.contains("already exists and is not empty"),
        "{stderr}"
    );
}

#[test]
fn attachments_are_bounded_and_each_blob_is_fetched_once() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 1024);
    let direct = format!("{}/sigs/model:1", registry.host());
    let digest = digest_of(&env.ok(&["push", model.to_str().unwrap(), &direct, "--plain-http"]));
    let (key, public) = env.keypair("signer");
    env.ok(&["sign", &direct, "--key", &key, "--plain-http"]);
    let raw = Raw::new(&registry.host(), "sigs/model");
    let sig_tag = attachment_tag(&digest, ".sig");
    let mut manifest = raw.manifest(&sig_tag);
    let layer = manifest.layers[0].clone();

    // The same signature listed three times: verified, its blob fetched once.
    manifest.layers = vec![layer.clone(), layer.clone(), layer.clone()];
    raw.put_manifest(&sig_tag, &manifest);
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let remote = format!("{}/sigs/model:1", proxy.host());
    env.ok(&["verify", &remote, "--key", &public, "--plain-http"]);
    let fetches = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains(&format!("/blobs/{}", layer.digest)))
        .count();
    assert_eq!(fetches, 1);

    // 10,000 layers: refused before any is fetched, for verify and for pull.
    manifest.layers = vec![layer.clone(); 10_000];
    raw.put_manifest(&sig_tag, &manifest);
    let before = proxy.requests().len();
    let stderr = env.fails(&["verify", &remote, "--key", &public, "--plain-http"], 1);
    assert!(
        stderr.contains("10000 layers, over the limit of 256"),
        "{stderr}"
    );
    let out = env.path("out");
    let stderr = env.fails(
        &[
            "pull",
            &remote,
            "--key",
            &public,
            "-o",
            out.to_str().unwrap(),
            "--plain-http",
        ],
        1,
    );
    assert!(stderr.contains("over the limit"), "{stderr}");
    assert!(!out.exists());
    let blob_gets = proxy.requests()[before..]
        .iter()
        .filter(|r| r.contains(&format!("/blobs/{}", layer.digest)))
        .count();
    assert_eq!(
        blob_gets, 0,
        "no layer of an oversized attachment is fetched"
    );
    // A user who trusts that many signatures can say so.
    env.ok(&[
        "verify",
        &remote,
        "--key",
        &public,
        "--plain-http",
        "--max-attachment-layers",
        "10000",
    ]);
}

#[test]
fn text_from_a_registry_cannot_drive_the_terminal_or_forge_rows() {
    let registry = Registry::start();
    let env = Env::new();
    let raw = Raw::new(&registry.host(), "evil/model");
    let config = raw.put_blob("application/vnd.cncf.model.config.v1+json", b"{}");
    let mut layer = raw.put_blob("application/vnd.cncf.model.weight.v1.raw", b"weights");
    layer.annotations.insert(
        "org.opencontainers.image.title".into(),
        "w.bin\n\u{1b}[2Jforged  row\u{202e}nib.exe\u{0}".into(),
    );
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.description".into(),
        "fine\u{1b}]0;pwned\u{7}\r\nalso fine".into(),
    );
    annotations.insert(
        "org.opencontainers.image.version".into(),
        "1.0.0\u{1b}[31m".into(),
    );
    let manifest = modelark::oci::Manifest {
        schema_version: 2,
        media_type: Some(modelark::media_types::OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.cncf.model.manifest.v1+json".into()),
        config,
        layers: vec![layer],
        subject: None,
        annotations,
    };
    raw.put_manifest("1", &manifest);
    let remote = format!("{}/evil/model:1", registry.host());
    let repository = format!("{}/evil/model", registry.host());
    for args in [
        ["inspect", remote.as_str(), "--plain-http"],
        ["list", repository.as_str(), "--plain-http"],
    ] {
        let stdout = env.ok(&args);
        for bad in ['\u{1b}', '\u{0}', '\u{7}', '\r', '\u{202e}'] {
            assert!(
                !stdout.contains(bad),
                "{args:?} printed {bad:?} raw:\n{stdout}"
            );
        }
        assert!(!stdout.lines().any(|l| l.starts_with("forged")), "{stdout}");
    }
    let stdout = env.ok(&["inspect", &remote, "--plain-http"]);
    assert!(
        stdout.contains("w.bin\\n\\u{1b}[2Jforged  row\\u{202e}nib.exe\\u{0}"),
        "{stdout}"
    );
    // JSON stays exact.
    let view = env.json(&["inspect", &remote, "--plain-http"]);
    assert_eq!(
        view["files"][0]["path"],
        "w.bin\n\u{1b}[2Jforged  row\u{202e}nib.exe\u{0}"
    );
}
