//! push, pull, copy, inspect, list, tag, rm, login and logout against a real CNCF
//! distribution registry: plain HTTP, basic auth, TLS, deletes disabled, a corrupted blob in
//! its storage, credential helpers, bearer tokens from a token server.

use std::io::Write;
use std::process::Stdio;

use crate::harness::{
    Env, Registry, RegistryConfig, assert_same_tree, digest_of, names, random_model, sample,
};

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

    let catalog = env.json(&["list", &format!("{host}/"), "--plain-http"]);
    let repositories: Vec<&str> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repository"].as_str().unwrap())
        .collect();
    assert_eq!(
        repositories,
        ["mirror/tiny", "models/tiny", "restored/tiny", "stored/tiny"]
    );
    let scoped = env.json(&["list", &format!("{host}/models/"), "--plain-http"]);
    assert_eq!(scoped, serde_json::json!([{"repository": "models/tiny"}]));

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
    let digest = &env.file_digest(&remote, "model.safetensors");
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

/// The most common internal set-up: one self-signed certificate (CA:TRUE, as `openssl req
/// -x509` makes it). curl --cacert and skopeo --cert-dir accept it; so must --ca-file, and
/// docker's certs.d layout, while the name and the certificate itself are still checked.
#[test]
fn a_self_signed_registry_certificate_is_trusted_as_itself() {
    let registry = Registry::start_with(RegistryConfig {
        tls: true,
        self_signed: true,
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let sample = sample();
    let remote = format!("{}/selfsigned/tiny:1", registry.host());
    let cert = registry.ca_certificate();
    let cert = cert.to_str().unwrap();
    // curl, an independent client, accepts this certificate given with --cacert.
    let curl = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            cert,
        ])
        .arg(format!("https://{}/v2/", registry.host()))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "200", "{curl:?}");
    env.fails(&["inspect", &remote, "--retries", "0"], 2);
    env.ok(&["push", sample.to_str().unwrap(), &remote, "--ca-file", cert]);
    env.ok(&["inspect", &remote, "--ca-file", cert]);

    // docker's layout: DIR/HOST:PORT/ca.crt, no flag per command.
    let certs = env.path("certs.d");
    std::fs::create_dir_all(certs.join(registry.host())).unwrap();
    std::fs::copy(cert, certs.join(registry.host()).join("ca.crt")).unwrap();
    let dir = certs.to_str().unwrap();
    env.ok(&["inspect", &remote, "--registry-certs-dir", dir]);

    // The name is checked: the certificate names 127.0.0.1, not localhost.
    let by_name = format!("localhost:{}/selfsigned/tiny:1", registry.port);
    let stderr = env.fails(
        &["inspect", &by_name, "--ca-file", cert, "--retries", "0"],
        2,
    );
    assert!(
        stderr.contains("NotValidForName") || stderr.contains("not valid for"),
        "{stderr}"
    );
    // Another self-signed certificate is not this one.
    let other = env.path("other");
    std::fs::create_dir_all(&other).unwrap();
    crate::harness::make_self_signed(&other, "IP:127.0.0.1");
    let other = other.join("cert.pem");
    let stderr = env.fails(
        &[
            "inspect",
            &remote,
            "--ca-file",
            other.to_str().unwrap(),
            "--retries",
            "0",
        ],
        2,
    );
    assert!(stderr.contains("certificate"), "{stderr}");
    // certs.d of another host does not apply here.
    let elsewhere = env.path("elsewhere.d");
    std::fs::create_dir_all(elsewhere.join("127.0.0.2:5000")).unwrap();
    std::fs::copy(cert, elsewhere.join("127.0.0.2:5000/ca.crt")).unwrap();
    let elsewhere = elsewhere.to_str().unwrap();
    env.fails(
        &[
            "inspect",
            &remote,
            "--registry-certs-dir",
            elsewhere,
            "--retries",
            "0",
        ],
        2,
    );
}
