//! OpenSSF model signing against the real registry and PyPI `model-signing` (the reference
//! implementation, in `.venv`): a `model.sig` it made travels with the model as an
//! attachment that `verify` counts; what modelark signs and writes as `DIR/model.sig` passes
//! `model_signing verify`; `verify-dir` catches every changed, missing and extra file; a
//! certificate-bearing signature never counts under a key.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Env, Raw, Registry, attachment_tag, copy_tree, root, sample, which};

/// The `model_signing` command of the project's venv (`make deps` installs it).
fn model_signing() -> PathBuf {
    let tool = root().join(".venv/bin/model_signing");
    assert!(
        tool.is_file(),
        "{} is missing; `make deps` installs PyPI model-signing into .venv",
        tool.display()
    );
    tool
}

/// `model_signing ARGS...`: whether it succeeded, and its output.
fn model_signing_run(args: &[&str]) -> (bool, String) {
    let out = Command::new(model_signing()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// An EC P-256 key pair as `model_signing` reads it (plain PEM, made by openssl).
fn openssl_key_pair(env: &Env, name: &str) -> (String, String) {
    let (key, public) = (
        env.path(&format!("{name}.pem")),
        env.path(&format!("{name}.pub")),
    );
    let openssl = which("openssl");
    for args in [
        vec![
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ],
        vec!["ec", "-pubout", "-in"],
    ] {
        let mut command = Command::new(&openssl);
        command.args(&args);
        if args[0] == "ec" {
            command.arg(&key).arg("-out").arg(&public);
        } else {
            command.arg(&key);
        }
        assert!(command.output().unwrap().status.success());
    }
    (key.display().to_string(), public.display().to_string())
}

/// The sample model copied to `name`, signed in place by `model_signing` (`name/model.sig`).
fn signed_copy(env: &Env, name: &str, private: &str) -> PathBuf {
    let dir = env.path(name);
    copy_tree(&sample(), &dir);
    let signature = dir.join("model.sig");
    let (ok, out) = model_signing_run(&[
        "sign",
        "key",
        dir.to_str().unwrap(),
        "--private_key",
        private,
        "--signature",
        signature.to_str().unwrap(),
    ]);
    assert!(ok, "model_signing sign: {out}");
    dir
}

/// `modelark ARGS --json`, which must exit with `code`: its JSON.
fn json_failing(env: &Env, args: &[&str], code: i32) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (actual, stdout, stderr) = env.run(&args);
    assert_eq!(actual, code, "modelark {args:?}:\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).expect("valid JSON")
}

fn verifies(dir: &Path, public: &str) -> (bool, String) {
    model_signing_run(&[
        "verify",
        "key",
        dir.to_str().unwrap(),
        "--signature",
        dir.join("model.sig").to_str().unwrap(),
        "--public_key",
        public,
    ])
}

#[test]
fn model_signatures_travel_with_the_model_both_ways() {
    let registry = Registry::start();
    let env = Env::new();
    let (private, public) = openssl_key_pair(&env, "ec");
    let (alice_key, alice_pub) = env.keypair("alice");
    let dir = signed_copy(&env, "signed", &private);
    let remote = format!("{}/models/signed:1.0.0", registry.host());

    // model.sig is attached beside the model, not packed as a weight.
    let pushed = env.ok(&["push", dir.to_str().unwrap(), &remote, "--plain-http"]);
    let digest = crate::harness::digest_of(&pushed);
    let raw = Raw::new(&registry.host(), "models/signed");
    let manifest = raw.manifest("1.0.0");
    assert!(
        manifest.layers.iter().all(|l| l
            .annotations
            .get("org.cncf.model.filepath")
            .map(String::as_str)
            != Some("model.sig")),
        "model.sig was packed as a file"
    );
    let referrers = raw.referrers(&digest);
    assert_eq!(referrers.len(), 1);
    assert_eq!(
        referrers[0].annotations["dev.sigstore.bundle.predicateType"],
        "https://model_signing/signature/v1.0"
    );
    assert_eq!(
        raw.blob(&referrers[0].layers[0]),
        std::fs::read(dir.join("model.sig")).unwrap(),
        "the attachment is the signer's exact bytes"
    );

    // verify counts it under the key that made it, and only that one.
    let report = env.json(&["verify", &remote, "--key", &public, "--plain-http"]);
    assert_eq!(report["verified"], true, "{report}");
    assert!(
        report["evidence"]["signatures"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("model-signing"),
        "{report}"
    );
    env.fails(&["verify", &remote, "--key", &alice_pub, "--plain-http"], 1);

    // pull -o --model-sig writes the signature that the key verifies, and the reference
    // implementation accepts the unpacked directory; a second pull changes nothing.
    let out = env.path("out");
    let pull = [
        "pull",
        &remote,
        "-o",
        out.to_str().unwrap(),
        "--model-sig",
        "--key",
        &public,
        "--plain-http",
    ];
    env.ok(&pull);
    assert_eq!(
        std::fs::read(out.join("model.sig")).unwrap(),
        std::fs::read(dir.join("model.sig")).unwrap()
    );
    let (ok, text) = verifies(&out, &public);
    assert!(ok, "model_signing verify: {text}");
    assert!(env.ok(&pull).contains("nothing written"));
    env.ok(&["verify-dir", out.to_str().unwrap(), "--key", &public]);

    // modelark signs in the same format: model_signing verifies what pull writes.
    let unsigned = env.path("no-sig");
    env.fails(
        &[
            "pull",
            &format!("{}/models/signed@{digest}", registry.host()),
            "-o",
            unsigned.to_str().unwrap(),
            "--model-sig",
            "--key",
            &alice_pub,
            "--plain-http",
        ],
        1,
    );
    assert!(!unsigned.exists(), "a refused pull wrote its output");
    let (code, _, stderr) = env.run(&[
        "sign",
        &remote,
        "--format",
        "model-signing",
        "--key",
        &alice_key,
        "-a",
        "x=y",
        "--plain-http",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("claims (-a)"), "{stderr}");
    let mut sign = env.cmd(&[
        "sign",
        &remote,
        "--format",
        "model-signing",
        "--key",
        &alice_key,
        "--plain-http",
    ]);
    assert!(
        sign.env("COSIGN_PASSWORD", "")
            .output()
            .unwrap()
            .status
            .success()
    );
    let by_alice = env.path("by-alice");
    env.ok(&[
        "pull",
        &remote,
        "-o",
        by_alice.to_str().unwrap(),
        "--model-sig",
        "--key",
        &alice_pub,
        "--plain-http",
    ]);
    let (ok, text) = verifies(&by_alice, &alice_pub);
    assert!(ok, "model_signing verify of modelark's signature: {text}");
    let (ok, _) = verifies(&by_alice, &public);
    assert!(!ok, "model_signing accepted another key");
    let report = env.json(&["verify", &remote, "--key", &alice_pub, "--plain-http"]);
    assert_eq!(report["verified"], true, "{report}");
}

#[test]
fn verify_dir_names_every_change_and_trusts_only_its_keys() {
    let env = Env::new();
    let (private, public) = openssl_key_pair(&env, "ec");
    let (_, other) = openssl_key_pair(&env, "other");
    let dir = signed_copy(&env, "model", &private);
    let path = dir.to_str().unwrap();
    let report = env.json(&["verify-dir", path, "--key", &public]);
    assert_eq!(report["verified"], true, "{report}");
    assert!(
        report["signers"][0].as_str().unwrap().ends_with("ec.pub"),
        "{report}"
    );
    // git files are left out by both tools.
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::write(dir.join(".git/HEAD"), b"ref: main\n").unwrap();
    env.ok(&["verify-dir", path, "--key", &public]);

    // Another key: refused before a file is read.
    let stderr = env.fails(&["verify-dir", path, "--key", &other], 1);
    assert!(stderr.contains("no trusted key verifies it"), "{stderr}");

    // One file changed, one removed, one added: each named, exit 1.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("model.sig"))
        .collect();
    files.sort();
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let (changed, removed) = (files[0].clone(), files[1].clone());
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&changed, bytes).unwrap();
    std::fs::remove_file(&removed).unwrap();
    std::fs::write(dir.join("backdoor.py"), b"import os\n").unwrap();
    let (code, stdout, stderr) = env.run(&["verify-dir", path, "--key", &public]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for (mark, file) in [
        ("changed", name(&changed)),
        ("missing", name(&removed)),
        ("extra", "backdoor.py".to_owned()),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [mark, file.as_str()]),
            "{mark} {file} not reported:\n{stdout}"
        );
    }
    let report = json_failing(&env, &["verify-dir", path, "--key", &public], 1);
    assert_eq!(report["verified"], false);
    assert_eq!(report["extra"][0], "backdoor.py");
    // The reference implementation agrees that the directory is not what was signed.
    assert!(!verifies(&dir, &public).0);
}

#[test]
fn stale_or_foreign_signature_files_are_refused_and_certificates_never_count() {
    let env = Env::new();
    let (private, public) = openssl_key_pair(&env, "ec");
    let dir = signed_copy(&env, "model", &private);
    let path = dir.to_str().unwrap();

    // A file changed after signing: pack refuses, and tags nothing.
    let weights = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file() && !p.ends_with("model.sig"))
        .unwrap();
    let original = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, b"retrained").unwrap();
    let stderr = env.fails(&["pack", path, "-t", "stale:1.0.0"], 2);
    assert!(
        stderr.contains("signs other files") && stderr.contains("changed"),
        "{stderr}"
    );
    assert!(!env.ok(&["list"]).contains("stale"));
    std::fs::write(&weights, &original).unwrap();

    // A model.sig that is not a model signature is neither packed nor ignored silently.
    let bundle = std::fs::read(dir.join("model.sig")).unwrap();
    std::fs::write(dir.join("model.sig"), b"not a signature").unwrap();
    let stderr = env.fails(&["pack", path, "-t", "foreign:1.0.0"], 2);
    assert!(
        stderr.contains("is not an OpenSSF model signature"),
        "{stderr}"
    );

    // The same signature naming a certificate (as keyless and certificate-mode signing
    // write it) no longer counts under the key, though the key still verifies it.
    let mut keyless: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    keyless["verificationMaterial"] = serde_json::json!({
        "certificate": {"rawBytes": "MIIB"},
        "tlogEntries": [],
    });
    std::fs::write(dir.join("model.sig"), serde_json::to_vec(&keyless).unwrap()).unwrap();
    let stderr = env.fails(&["verify-dir", path, "--key", &public], 1);
    assert!(stderr.contains("signed with a certificate"), "{stderr}");
    env.ok(&["pack", path, "-t", "keyless:1.0.0"]);
    let report = json_failing(&env, &["verify", "keyless:1.0.0", "--key", &public], 1);
    let problem = report["evidence"]["signatures"][0]["problem"]
        .as_str()
        .unwrap();
    assert!(problem.contains("signed with a certificate"), "{report}");
}

#[test]
fn a_cosign_keyless_signature_is_not_checked_against_a_key_alone() {
    let registry = Registry::start();
    let env = Env::new();
    let (alice_key, alice_pub) = env.keypair("alice");
    let remote = format!("{}/models/tiny:1.0.0", registry.host());
    let digest = crate::harness::digest_of(&env.ok(&[
        "push",
        sample().to_str().unwrap(),
        &remote,
        "--plain-http",
    ]));
    let mut sign = env.cmd(&["sign", &remote, "--key", &alice_key, "--plain-http"]);
    assert!(
        sign.env("COSIGN_PASSWORD", "")
            .output()
            .unwrap()
            .status
            .success()
    );
    env.ok(&["verify", &remote, "--key", &alice_pub, "--plain-http"]);
    // The same layer with a Fulcio certificate beside it, as `cosign sign` keyless writes.
    let raw = Raw::new(&registry.host(), "models/tiny");
    let tag = attachment_tag(&digest, ".sig");
    let mut manifest = raw.manifest(&tag);
    manifest.layers[0].annotations.insert(
        "dev.sigstore.cosign/certificate".into(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
    );
    raw.put_manifest(&tag, &manifest);
    let report = json_failing(
        &env,
        &["verify", &remote, "--key", &alice_pub, "--plain-http"],
        1,
    );
    let problem = report["evidence"]["signatures"][0]["problem"]
        .as_str()
        .unwrap();
    assert!(problem.contains("signed with a certificate"), "{report}");
}
