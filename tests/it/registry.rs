//! push, pull, copy, inspect, list, tag, rm, login and logout against a real CNCF
//! distribution registry: plain HTTP, basic auth, TLS, deletes disabled, a corrupted blob in
//! its storage, and faults injected by a proxy in front of it.

use std::io::Write;
use std::process::Stdio;

use crate::harness::{Env, Registry, RegistryConfig, assert_same_tree, names, sample};
use crate::proxy::{FaultProxy, Faults};

fn digest_of(line: &str) -> String {
    line.trim()
        .rsplit_once('@')
        .expect("REF@DIGEST")
        .1
        .to_owned()
}

/// A model directory with one random weights file of `size` bytes.
fn random_model(env: &Env, name: &str, size: usize) -> std::path::PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ size as u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
    std::fs::write(dir.join("config.json"), b"{\"hidden\": 8}").unwrap();
    dir
}

#[test]
fn push_pull_copy_tag_and_list_on_a_plain_registry() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let sample = sample();
    let remote = format!("{host}/models/tiny:1.0.0");

    // push straight from the directory gives the same digest as pack.
    let packed = env.ok(&["pack", sample.to_str().unwrap(), "-t", "tiny:1.0.0"]);
    let pushed = env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"]);
    assert_eq!(digest_of(&pushed), digest_of(&packed));
    // Pushing again is a no-op with the same answer.
    assert_eq!(
        digest_of(&env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"])),
        digest_of(&packed)
    );

    let view = env.json(&["inspect", &remote, "--plain-http"]);
    assert_eq!(view["metadata"]["name"], "tiny-sentiment");
    assert_eq!(view["metadata"]["metrics"]["accuracy"], 0.875);

    let out = env.path("pulled");
    let pulled = env.json(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_eq!(pulled["digest"], digest_of(&packed));
    assert_same_tree(&sample, &out);
    // The pulled model is kept in the local store under its registry name.
    let local = env.json(&["list"]);
    assert!(
        local
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == format!("{host}/models/tiny") && r["tag"] == "1.0.0"),
        "{local}"
    );

    // copy: registry to registry (mount), registry to layout, layout to registry.
    env.ok(&[
        "copy",
        &remote,
        &format!("{host}/mirror/tiny:1.0.0"),
        "--plain-http",
    ]);
    let layout = env.path("airgap");
    env.ok(&[
        "copy",
        &remote,
        &format!("oci:{}:1.0.0", layout.display()),
        "--plain-http",
    ]);
    env.ok(&[
        "copy",
        &format!("oci:{}:1.0.0", layout.display()),
        &format!("{host}/restored/tiny:1.0.0"),
        "--plain-http",
    ]);
    for repo in ["mirror", "restored"] {
        let view = env.json(&[
            "inspect",
            &format!("{host}/{repo}/tiny:1.0.0"),
            "--plain-http",
        ]);
        assert_eq!(view["digest"], digest_of(&packed), "{repo}");
    }
    // A stored model pushes too.
    env.ok(&[
        "push",
        "tiny:1.0.0",
        &format!("{host}/stored/tiny:1.0.0"),
        "--plain-http",
    ]);

    env.ok(&[
        "tag",
        &remote,
        &format!("{host}/models/tiny:production"),
        "--plain-http",
    ]);
    let list = env.json(&["list", &format!("{host}/models/tiny"), "--plain-http"]);
    let tags: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["1.0.0", "production"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["digest"] == digest_of(&packed) && r["version"] == "1.0.0")
    );

    // Removing one tag would delete the shared manifest: refused, nothing deleted.
    let stderr = env.fails(
        &[
            "rm",
            &format!("{host}/models/tiny:production"),
            "--plain-http",
        ],
        2,
    );
    assert!(
        stderr.contains("point at the same manifest") && stderr.contains("modelark rm"),
        "{stderr}"
    );
    assert_eq!(
        env.json(&["list", &format!("{host}/models/tiny"), "--plain-http"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    env.ok(&[
        "rm",
        &format!("{host}/models/tiny@{}", digest_of(&packed)),
        "--plain-http",
    ]);
    assert_eq!(
        env.json(&["list", &format!("{host}/models/tiny"), "--plain-http"]),
        serde_json::json!([])
    );

    let stderr = env.fails(
        &[
            "inspect",
            &format!("{host}/models/missing:1"),
            "--plain-http",
        ],
        1,
    );
    assert!(stderr.contains("was not found"), "{stderr}");
}

#[test]
fn pull_include_fetches_only_matching_files() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 300_000);
    let remote = format!("{}/m/include:1", registry.host());
    env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let out = env.path("only-config");
    env.ok(&[
        "pull",
        &remote,
        "-o",
        out.to_str().unwrap(),
        "--include",
        "*.json",
        "--plain-http",
    ]);
    assert_eq!(names(&out), ["config.json"]);
    let blobs = names(&env.home().join("store/blobs/sha256"));
    let big = blobs
        .iter()
        .filter(|b| {
            std::fs::metadata(env.home().join("store/blobs/sha256").join(b))
                .unwrap()
                .len()
                >= 300_000
        })
        .count();
    assert_eq!(big, 0, "the weights were not downloaded: {blobs:?}");
}

#[test]
fn basic_auth_login_and_logout() {
    let registry = Registry::start_with(RegistryConfig {
        basic_auth: Some(("alice", "s3cret")),
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let host = registry.host();
    let sample = sample();
    let remote = format!("{host}/private/tiny:1");

    let stderr = env.fails(
        &["push", sample.to_str().unwrap(), &remote, "--plain-http"],
        2,
    );
    assert!(
        stderr.contains("refused the credentials (none were sent)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("modelark login {host}")),
        "{stderr}"
    );

    let login = |password: &str| {
        let mut child = env
            .cmd(&[
                "login",
                &host,
                "-u",
                "alice",
                "--password-stdin",
                "--plain-http",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("wrong");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        !String::from_utf8_lossy(&wrong.stderr).contains("wrong"),
        "the password is never printed"
    );
    assert!(
        !env.path("docker/config.json").exists(),
        "a refused login stores nothing"
    );

    assert!(login("s3cret").status.success());
    let config = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    assert!(
        config.contains(&host) && !config.contains("s3cret"),
        "stored base64 in auths: {config}"
    );

    env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"]);
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&sample, &out);

    env.ok(&["logout", &host]);
    let stderr = env.fails(&["inspect", &remote, "--plain-http"], 2);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
}

#[test]
fn tls_with_a_private_ca() {
    let registry = Registry::start_with(RegistryConfig {
        tls: true,
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let sample = sample();
    let remote = format!("{}/secure/tiny:1", registry.host());
    let stderr = env.fails(
        &["push", sample.to_str().unwrap(), &remote, "--retries", "0"],
        2,
    );
    assert!(
        stderr.contains("certificate") || stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    let ca = registry.ca_certificate();
    env.ok(&[
        "push",
        sample.to_str().unwrap(),
        &remote,
        "--ca-file",
        ca.to_str().unwrap(),
    ]);
    let view = env.json(&["inspect", &remote, "--insecure"]);
    assert_eq!(view["metadata"]["name"], "tiny-sentiment");
}

#[test]
fn a_registry_with_deletes_disabled_says_so() {
    let registry = Registry::start_with(RegistryConfig {
        delete: false,
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let sample = sample();
    let remote = format!("{}/keep/tiny:1", registry.host());
    let pushed = env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"]);
    let stderr = env.fails(
        &[
            "rm",
            &format!("{}/keep/tiny@{}", registry.host(), digest_of(&pushed)),
            "--plain-http",
        ],
        2,
    );
    assert!(
        stderr.contains("does not allow deletes") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn a_blob_corrupted_in_registry_storage_is_refused_and_nothing_is_written() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 200_000);
    let remote = format!("{}/m/corrupt:1", registry.host());
    env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let view = env.json(&["inspect", &remote, "--plain-http"]);
    let weights = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .unwrap();
    let digest = weights["digest"].as_str().unwrap();
    let data = registry.blob_data(digest);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[1000] ^= 0x55;
    std::fs::write(&data, bytes).unwrap();

    let out = env.path("out");
    let stderr = env.fails(
        &["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"],
        1,
    );
    assert!(
        stderr.contains("failed verification") && stderr.contains(digest),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing unpacked");
    let blobs = names(&env.home().join("store/blobs/sha256"));
    let hex = digest.trim_start_matches("sha256:");
    assert!(
        !blobs.iter().any(|b| b.contains(hex)),
        "neither the blob nor a partial is kept: {blobs:?}"
    );
}

#[test]
fn retries_ride_out_a_5xx_storm_and_give_up_clearly() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            server_errors: 4,
            error_filter: String::new(),
            ..Faults::default()
        },
    );
    let env = Env::new();
    let sample = sample();
    let remote = format!("{}/storm/tiny:1", proxy.host());
    env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"]);
    proxy.set_faults(Faults {
        server_errors: 3,
        error_filter: "/blobs/".into(),
        ..Faults::default()
    });
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&sample, &out);

    proxy.set_faults(Faults {
        server_errors: 100,
        error_filter: String::new(),
        ..Faults::default()
    });
    let stderr = env.fails(&["inspect", &remote, "--plain-http", "--retries", "1"], 2);
    assert!(stderr.contains("503"), "{stderr}");
}

#[test]
fn a_download_cut_mid_blob_resumes_with_range() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 3 * 1024 * 1024);
    let direct = format!("{}/m/resume:1", registry.host());
    env.ok(&["push", model.to_str().unwrap(), &direct, "--plain-http"]);
    let view = env.json(&["inspect", &direct, "--plain-http"]);
    let weights = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .unwrap();
    let cut = || Some((weights["digest"].as_str().unwrap().to_owned(), 1024 * 1024));

    // In one run: the connection drops after 1 MiB and the download continues from there.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            cut_download: cut(),
            ..Faults::default()
        },
    );
    let remote = format!("{}/m/resume:1", proxy.host());
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&model, &out);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.contains("Range: bytes=") || r.contains("range: bytes=")),
        "resumed with Range"
    );

    // Across runs: a pull that gives up keeps its partial download; the next run resumes.
    let other = Env::new();
    proxy.set_faults(Faults {
        cut_download: cut(),
        ..Faults::default()
    });
    let before = proxy.requests().len();
    other.fails(&["pull", &remote, "--plain-http", "--retries", "0"], 2);
    let partials: Vec<String> = names(&other.home().join("store/blobs/sha256"))
        .into_iter()
        .filter(|n| n.starts_with(".partial-"))
        .collect();
    assert_eq!(partials.len(), 1, "a partial download is kept");
    let out = other.path("out");
    other.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&model, &out);
    assert!(
        proxy.requests()[before..]
            .iter()
            .any(|r| r.to_lowercase().contains("range: bytes=")),
        "the second run resumed"
    );
}

#[test]
fn chunked_uploads_work_and_match_monolithic_ones() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 2_500_000);
    let chunked = env.ok(&[
        "push",
        model.to_str().unwrap(),
        &format!("{}/m/chunked:1", registry.host()),
        "--name",
        "m",
        "--plain-http",
        "--chunk-size",
        "1000000",
    ]);
    let whole = env.ok(&[
        "push",
        model.to_str().unwrap(),
        &format!("{}/m/whole:1", registry.host()),
        "--name",
        "m",
        "--plain-http",
    ]);
    assert_eq!(digest_of(&chunked), digest_of(&whole));
    let out = env.path("out");
    env.ok(&[
        "pull",
        &format!("{}/m/chunked:1", registry.host()),
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_same_tree(&model, &out);
}

#[test]
fn re_pushing_an_unchanged_model_uploads_nothing() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let env = Env::new();
    let model = random_model(&env, "model", 1_000_000);
    let remote = format!("{}/m/again:1", proxy.host());
    let first = env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let before = proxy.requests().len();
    let second = env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    assert_eq!(digest_of(&first), digest_of(&second));
    let uploads: Vec<String> = proxy.requests()[before..]
        .iter()
        .filter_map(|r| r.lines().next().map(str::to_owned))
        .filter(|line| line.starts_with("POST") || line.contains("/blobs/uploads/"))
        .collect();
    assert!(uploads.is_empty(), "re-push uploaded: {uploads:?}");
    // A changed file is always re-hashed and uploaded, even at the same size and mtime.
    let weights = model.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[0] ^= 1;
    let mtime = std::fs::metadata(&weights).unwrap().modified().unwrap();
    std::fs::write(&weights, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let third = env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    assert_ne!(digest_of(&third), digest_of(&first));
}

#[test]
fn a_fresh_machine_does_not_finish_uploads_the_registry_already_has() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let first = Env::new();
    let model = random_model(&first, "model", 2_000_000);
    let remote = format!("{}/m/dedupe:1", proxy.host());
    first.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    // Another machine: no digest cache, so the files are hashed while uploading; once the
    // digest is known the registry says it has the blob, and the upload is never completed.
    let fresh = Env::new();
    let before = proxy.requests().len();
    fresh.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let completed: Vec<String> = proxy.requests()[before..]
        .iter()
        .filter_map(|r| r.lines().next().map(str::to_owned))
        .filter(|line| line.starts_with("PUT") && line.contains("/blobs/uploads/"))
        .collect();
    assert!(
        completed.is_empty(),
        "uploads were completed: {completed:?}"
    );
}

#[test]
fn a_registry_that_limits_patch_bodies_still_gets_the_model() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            max_patch_body: Some(4 * 1024 * 1024),
            ..Faults::default()
        },
    );
    let env = Env::new();
    let model = random_model(&env, "model", 6 * 1024 * 1024);
    // Streamed PATCH is refused (like GHCR): modelark falls back to one PUT per blob.
    let remote = format!("{}/m/ghcr-like:1", proxy.host());
    env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    assert!(
        proxy.requests().iter().any(|r| r.starts_with("PATCH")),
        "the streamed upload was tried first"
    );
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&model, &out);
    // With --chunk-size under the limit, chunks go through.
    let fresh = Env::new();
    let chunked = format!("{}/m/ghcr-chunked:1", proxy.host());
    fresh.ok(&[
        "push",
        model.to_str().unwrap(),
        &chunked,
        "--plain-http",
        "--chunk-size",
        "4194304",
    ]);
    let out = fresh.path("out");
    fresh.ok(&[
        "pull",
        &chunked,
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_same_tree(&model, &out);
}

#[test]
fn credential_helpers_are_used_for_reading_and_login() {
    let registry = Registry::start_with(RegistryConfig {
        basic_auth: Some(("alice", "s3cret")),
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let host = registry.host();
    let helpers = env.path("helpers");
    std::fs::create_dir_all(&helpers).unwrap();
    let state = env.path("helper-state");
    std::fs::create_dir_all(&state).unwrap();
    // A docker credential helper: get answers for our host only; store and erase record.
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  get) read server; if [ \"$server\" = \"{host}\" ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}}' \"$server\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  store) cat > {state}/stored.json ;;\n  erase) cat > {state}/erased ;;\nesac\n",
        state = state.display()
    );
    let helper = helpers.join("docker-credential-fake");
    std::fs::write(&helper, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(env.path("docker")).unwrap();
    std::fs::write(
        env.path("docker/config.json"),
        format!("{{\"credHelpers\": {{\"{host}\": \"fake\"}}}}"),
    )
    .unwrap();
    let path = format!("{}:{}", helpers.display(), std::env::var("PATH").unwrap());

    let sample = sample();
    let remote = format!("{host}/helped/tiny:1");
    let push = env
        .cmd(&["push", sample.to_str().unwrap(), &remote, "--plain-http"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );

    let mut login = env
        .cmd(&[
            "login",
            &host,
            "-u",
            "alice",
            "--password-stdin",
            "--plain-http",
        ])
        .env("PATH", &path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(login.wait().unwrap().success());
    let stored = std::fs::read_to_string(state.join("stored.json")).unwrap();
    assert!(
        stored.contains("\"Username\":\"alice\"") && stored.contains(&host),
        "{stored}"
    );
    let config = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    assert!(
        !config.contains("s3cret") && !config.contains("auths"),
        "the helper keeps the secret: {config}"
    );

    let logout = env
        .cmd(&["logout", &host])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(logout.status.success());
    assert_eq!(
        std::fs::read_to_string(state.join("erased"))
            .unwrap()
            .trim(),
        host
    );
}

#[test]
fn bearer_tokens_from_a_token_server() {
    let tokens = crate::token::TokenServer::start("bob", "t0ken-pass");
    let registry = Registry::start_with(RegistryConfig {
        token: Some((tokens.realm(), tokens.certificate())),
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let host = registry.host();
    let sample = sample();
    let remote = format!("{host}/team/tiny:1");

    // Anonymous: the token server refuses, and modelark says how to log in.
    let stderr = env.fails(
        &["push", sample.to_str().unwrap(), &remote, "--plain-http"],
        2,
    );
    assert!(
        stderr.contains("refused the credentials (none were sent)")
            && stderr.contains("modelark login"),
        "{stderr}"
    );

    let mut login = env
        .cmd(&[
            "login",
            &host,
            "-u",
            "bob",
            "--password-stdin",
            "--plain-http",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(b"t0ken-pass")
        .unwrap();
    assert!(login.wait().unwrap().success());

    let before = tokens.issued.load(std::sync::atomic::Ordering::SeqCst);
    let pushed = env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"]);
    let issued = tokens.issued.load(std::sync::atomic::Ordering::SeqCst) - before;
    // One token per scope set, reused for every blob of the push.
    assert!((1..=3).contains(&issued), "{issued} tokens for one push");

    // A mount across repositories asks for pull on the source and push on the target.
    env.ok(&[
        "copy",
        &remote,
        &format!("{host}/other/tiny:1"),
        "--plain-http",
    ]);
    let out = env.path("out");
    let pulled = env.json(&[
        "pull",
        &format!("{host}/other/tiny:1"),
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(pulled["digest"], digest_of(&pushed));
    assert_same_tree(&sample, &out);

    // A token the registry rejects as expired is replaced, not fatal.
    tokens
        .expired_next
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let fresh = Env::new();
    std::fs::create_dir_all(fresh.path("docker")).unwrap();
    std::fs::copy(
        env.path("docker/config.json"),
        fresh.path("docker/config.json"),
    )
    .unwrap();
    let view = fresh.json(&["inspect", &remote, "--plain-http"]);
    assert_eq!(view["digest"], digest_of(&pushed));
    assert_eq!(
        tokens
            .expired_next
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the expired token was issued and replaced"
    );
}

#[test]
fn large_blobs_come_over_several_ranged_connections_and_resume_by_part() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 3 * 1024 * 1024 + 12345);
    let direct = format!("{}/m/ranged:1", registry.host());
    env.ok(&["push", model.to_str().unwrap(), &direct, "--plain-http"]);
    let view = env.json(&["inspect", &direct, "--plain-http"]);
    let weights = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .unwrap();
    let digest = weights["digest"].as_str().unwrap().to_owned();
    let ranged = [
        "--plain-http",
        "--connections",
        "4",
        "--part-size",
        "524288",
    ];
    let starts = |requests: &[String]| -> std::collections::BTreeSet<u64> {
        requests
            .iter()
            .filter(|r| r.starts_with("GET") && r.contains(&digest))
            .filter_map(|r| {
                r.to_lowercase()
                    .lines()
                    .find_map(|l| l.strip_prefix("range: bytes=").map(str::to_owned))
            })
            .filter_map(|range| range.split('-').next().and_then(|s| s.parse().ok()))
            .collect()
    };

    // One run: four parts at once, one of them cut after 100 KiB and resumed.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            cut_download: Some((digest.clone(), 100 * 1024)),
            ..Faults::default()
        },
    );
    let remote = format!("{}/m/ranged:1", proxy.host());
    let out = env.path("out");
    let mut args = vec!["pull", &remote, "-o", out.to_str().unwrap()];
    args.extend(ranged);
    env.ok(&args);
    assert_same_tree(&model, &out);
    let seen = starts(&proxy.requests());
    let size = weights["size"].as_u64().unwrap();
    let boundaries: Vec<u64> = (0..4).map(|i| i * size.div_ceil(4)).collect();
    assert!(
        boundaries.iter().all(|b| seen.contains(b)),
        "four parts at once: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| !boundaries.contains(s)),
        "the cut part resumed mid-way: {seen:?}"
    );

    // Across runs: a run that gives up keeps per-part progress; the next run finishes.
    let other = Env::new();
    proxy.set_faults(Faults {
        cut_download: Some((digest.clone(), 300 * 1024)),
        ..Faults::default()
    });
    let mut args = vec!["pull", &remote, "--retries", "0"];
    args.extend(ranged);
    other.fails(&args, 2);
    let kept = names(&other.home().join("store/blobs/sha256"));
    assert!(
        kept.iter().any(|n| n.ends_with(".parts")),
        "part progress is kept: {kept:?}"
    );
    let before = proxy.requests().len();
    let out = other.path("out");
    let mut args = vec!["pull", &remote, "-o", out.to_str().unwrap()];
    args.extend(ranged);
    other.ok(&args);
    assert_same_tree(&model, &out);
    let resumed = starts(&proxy.requests()[before..]);
    let size = weights["size"].as_u64().unwrap();
    let boundaries: Vec<u64> = (0..4).map(|i| i * size.div_ceil(4)).collect();
    assert!(
        resumed.iter().any(|start| !boundaries.contains(start)),
        "a part resumed mid-way: {resumed:?} (parts start at {boundaries:?})"
    );
    assert!(
        !names(&other.home().join("store/blobs/sha256"))
            .iter()
            .any(|n| n.starts_with(".partial")),
        "no leftovers"
    );
}
