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
    let (private, public) = env.openssl_key_pair("ec");
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
    let (private, public) = env.openssl_key_pair("ec");
    let (_, other) = env.openssl_key_pair("other");
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
    let (private, public) = env.openssl_key_pair("ec");
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

/// The real model-transparency fixtures (testdata/README.md says where they come from).
fn fixture(name: &str) -> PathBuf {
    root().join("testdata/model-signing").join(name)
}

const IDENTITY: &str = "stefanb@us.ibm.com";
const ISSUER: &str = "https://sigstore.verify.ibm.com/oauth2";

fn public_good_root() -> String {
    root()
        .join("testdata/sigstore/trusted_root.json")
        .display()
        .to_string()
}

/// `verify-dir` of a fixture directory (or of its single file `signme-1` for the releases
/// that signed one file), with `trust` flags.
fn verify_fixture(env: &Env, dir: &Path, single_file: bool, trust: &[&str]) -> (i32, String) {
    let signature = dir.join("model.sig");
    let target = if single_file {
        dir.join("signme-1")
    } else {
        dir.to_owned()
    };
    let ignored = dir.join("ignore-me");
    let mut args = vec![
        "verify-dir",
        target.to_str().unwrap(),
        "--signature",
        signature.to_str().unwrap(),
        "--ignore-paths",
        ignored.to_str().unwrap(),
    ];
    args.extend_from_slice(trust);
    let (code, stdout, stderr) = env.run(&args);
    (code, format!("{stdout}{stderr}"))
}

#[test]
fn real_model_signing_signatures_verify_in_every_mode() {
    let env = Env::new();
    let key = fixture("keys/signing-key-pub.pem");
    let ca = fixture("keys/ca-cert.pem");
    let root = public_good_root();
    for version in ["v0.3.1", "v1.0.0", "v1.0.1", "v1.1.0"] {
        let single = matches!(version, "v0.3.1" | "v1.0.0");
        let dir = fixture(&format!("{version}-elliptic-key"));
        let (code, out) = verify_fixture(&env, &dir, single, &["--key", key.to_str().unwrap()]);
        assert_eq!(code, 0, "{version} key mode (P-384): {out}");
        let dir = fixture(&format!("{version}-certificate"));
        let (code, out) = verify_fixture(
            &env,
            &dir,
            false,
            &["--certificate-chain", ca.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{version} certificate mode: {out}");
        assert!(out.contains("certificate CN=intermediate-ca"), "{out}");
        let dir = fixture(&format!("{version}-sigstore"));
        let (code, out) = verify_fixture(
            &env,
            &dir,
            false,
            &[
                "--trusted-root",
                &root,
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
            ],
        );
        assert_eq!(code, 0, "{version} keyless: {out}");
        assert!(
            out.contains(&format!("signed by {IDENTITY} ({ISSUER})")),
            "{out}"
        );
    }
}

/// A copy of the v1.1.0 keyless fixture with its `model.sig` changed by `edit`.
fn keyless_copy(env: &Env, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let dir = env.path(name);
    copy_tree(&fixture("v1.1.0-sigstore"), &dir);
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.sig")).unwrap()).unwrap();
    edit(&mut bundle);
    std::fs::write(dir.join("model.sig"), serde_json::to_vec(&bundle).unwrap()).unwrap();
    dir
}

/// A copy of the public-good trusted root with `edit` applied.
fn root_copy(env: &Env, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(public_good_root()).unwrap()).unwrap();
    edit(&mut json);
    let path = env.path(name);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    path.display().to_string()
}

/// Flips the last character of a base64 string to another base64 character.
fn corrupt(text: &str) -> String {
    let mut chars: Vec<char> = text.trim_end_matches('=').chars().collect();
    let last = chars.len() - 2;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let padding = text.len() - text.trim_end_matches('=').len();
    chars.into_iter().collect::<String>() + &"=".repeat(padding)
}

#[test]
fn every_keyless_failure_is_refused_with_its_reason() {
    let env = Env::new();
    let root = public_good_root();
    let run = |dir: &Path, root: &str, identity: &[&str]| {
        let mut trust = vec!["--trusted-root", root];
        trust.extend_from_slice(identity);
        verify_fixture(&env, dir, false, &trust)
    };
    let good = [
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    let original = keyless_copy(&env, "original", |_| {});
    assert_eq!(run(&original, &root, &good).0, 0);
    let (code, out) = run(
        &original,
        &root,
        &[
            "--certificate-identity-regexp",
            r".*@us\.ibm\.com",
            "--certificate-oidc-issuer-regexp",
            r"https://sigstore\.verify\.ibm\.com/.*",
        ],
    );
    assert_eq!(code, 0, "{out}");

    let refused = |dir: &Path, root: &str, identity: &[&str], reason: &str| {
        let (code, out) = run(dir, root, identity);
        assert_eq!(code, 1, "expected a refusal ({reason}): {out}");
        assert!(out.contains(reason), "expected {reason:?}: {out}");
    };
    // Another identity or issuer than the signer's.
    let identities: [([&str; 4], &str); 3] = [
        (
            [
                "--certificate-identity",
                "mallory@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "it was signed by stefanb@us.ibm.com",
        ),
        (
            [
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "not stefanb@us.ibm.com from https://accounts.google.com",
        ),
        (
            [
                "--certificate-identity-regexp",
                "stefanb@us",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "it was signed by",
        ),
    ];
    for (identity, reason) in identities {
        refused(&original, &root, &identity, reason);
    }
    // The log's evidence tampered with, and a statement the logged signature is not over.
    let entry = "/verificationMaterial/tlogEntries/0";
    let corrupt_at = |name: &str, pointer: &str| {
        keyless_copy(&env, name, |b| {
            let value = b.pointer_mut(&format!("{entry}/{pointer}")).unwrap();
            let text = value.as_str().unwrap().trim_end().to_owned();
            *value = corrupt(&text).into();
        })
    };
    let other = fixture("v1.0.1-sigstore/model.sig");
    let other: serde_json::Value = serde_json::from_slice(&std::fs::read(other).unwrap()).unwrap();
    let tampered = [
        (
            corrupt_at("proof", "inclusionProof/hashes/0"),
            "the inclusion proof does not lead to the log's root hash",
        ),
        (
            corrupt_at("set", "inclusionPromise/signedEntryTimestamp"),
            "signed entry timestamp does not verify",
        ),
        (
            corrupt_at("checkpoint", "inclusionProof/checkpoint/envelope"),
            "the checkpoint's signature does not verify",
        ),
        (
            keyless_copy(&env, "time", |b| {
                *b.pointer_mut(&format!("{entry}/integratedTime")).unwrap() = "1760062341".into();
            }),
            "signed entry timestamp does not verify",
        ),
        (
            keyless_copy(&env, "swapped", |b| {
                b["dsseEnvelope"]["payload"] = other["dsseEnvelope"]["payload"].clone();
            }),
            "the log entry records another payload",
        ),
        (
            keyless_copy(&env, "resigned", |b| {
                b["dsseEnvelope"]["signatures"] = other["dsseEnvelope"]["signatures"].clone();
            }),
            "records another signature or certificate",
        ),
    ];
    for (dir, reason) in &tampered {
        refused(dir, &root, &good, reason);
    }
    // The RFC 3161 timestamp (from timestamp.sigstore.dev) is a trusted time of its own:
    // without the SET it still vouches for the signing time; tampered, it fails closed.
    let stamp =
        "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
    let no_set = keyless_copy(&env, "no-set", |b| {
        b.pointer_mut(entry)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("inclusionPromise");
    });
    let (code, out) = run(&no_set, &root, &good);
    assert_eq!(
        code, 0,
        "the timestamp alone did not vouch for the time: {out}"
    );
    // As Rekor v2 writes it: no SET and no integrated time.
    let rekor_v2 = keyless_copy(&env, "rekor-v2", |b| {
        let entry = b.pointer_mut(entry).unwrap().as_object_mut().unwrap();
        entry.remove("inclusionPromise");
        entry.remove("integratedTime");
    });
    let (code, out) = run(&rekor_v2, &root, &good);
    assert_eq!(code, 0, "an entry without integrated time: {out}");
    let expired_log = root_copy(&env, "expired-log.json", |r| {
        for log in r["tlogs"].as_array_mut().unwrap() {
            log["publicKey"]["validFor"]["end"] = "2025-01-01T00:00:00Z".into();
        }
    });
    refused(
        &no_set,
        &expired_log,
        &good,
        "the transparency log key was not valid at 2025-10-10",
    );
    let untimed = keyless_copy(&env, "untimed", |b| {
        b.pointer_mut(entry)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("inclusionPromise");
        b["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
    });
    refused(
        &untimed,
        &root,
        &good,
        "nothing vouches for when it was signed",
    );
    let forged_stamp = keyless_copy(&env, "forged-stamp", |b| {
        let value = b.pointer_mut(stamp).unwrap();
        let mut der = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            value.as_str().unwrap(),
        )
        .unwrap();
        let last = der.len() - 1;
        der[last] ^= 1;
        *value = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der).into();
    });
    refused(
        &forged_stamp,
        &root,
        &good,
        "its RFC 3161 timestamp: the timestamp's signature does not verify",
    );
    let no_tsa = root_copy(&env, "no-tsa.json", |r| {
        r["timestampAuthorities"] = serde_json::json!([]);
    });
    refused(
        &original,
        &no_tsa,
        &good,
        "its RFC 3161 timestamp: no time-stamping authority of the trusted root was valid then",
    );
    // Trust the root does not give.
    let roots = [
        (
            root_copy(&env, "no-log.json", |r| r["tlogs"] = serde_json::json!([])),
            "its transparency log key is not in the trusted root",
        ),
        (
            root_copy(&env, "no-ca.json", |r| {
                r["certificateAuthorities"] = serde_json::json!([]);
            }),
            "no certificate authority of the trusted root was valid",
        ),
        (
            root_copy(&env, "no-ct.json", |r| r["ctlogs"] = serde_json::json!([])),
            "no signed certificate timestamp verifies",
        ),
        (
            root_copy(&env, "expired-ca.json", |r| {
                for ca in r["certificateAuthorities"].as_array_mut().unwrap() {
                    ca["validFor"]["end"] = "2025-01-01T00:00:00Z".into();
                }
            }),
            "no certificate authority of the trusted root was valid at 2025-10-10",
        ),
    ];
    for (untrusting, reason) in &roots {
        refused(&original, untrusting, &good, reason);
    }

    // Without a root, a keyless signature is never checked against a key.
    let key = fixture("keys/signing-key-pub.pem");
    let (code, out) = verify_fixture(&env, &original, false, &["--key", key.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("it is a keyless Sigstore signature: verifying it needs --trusted-root"),
        "{out}"
    );
    let (code, out) = verify_fixture(&env, &original, false, &good);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("pass --trusted-root FILE"), "{out}");

    // The files are still checked after the signature: a changed file is named.
    std::fs::write(original.join("signme-1"), b"changed").unwrap();
    refused(&original, &root, &good, "changed: signme-1");

    // Certificate mode: a chain to another CA is refused.
    let other_ca = env.path("other-ca.pem");
    let made = Command::new(which("openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=root-ca", "-days", "30", "-keyout"])
        .arg(env.path("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (code, out) = verify_fixture(
        &env,
        &fixture("v1.1.0-certificate"),
        false,
        &["--certificate-chain", other_ca.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not chain to a trusted CA"), "{out}");
}

#[test]
fn a_signing_certificate_is_valid_only_around_its_integrated_time() {
    use modelark::sign::x509::{Cert, verify_chain};
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("v1.1.0-sigstore/model.sig")).unwrap())
            .unwrap();
    let leaf = Cert::from_base64(
        bundle["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(public_good_root()).unwrap()).unwrap();
    let authorities = root["certificateAuthorities"].as_array().unwrap();
    let chain: Vec<Cert> = authorities.last().unwrap()["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Cert::from_base64(c["rawBytes"].as_str().unwrap()).unwrap())
        .collect();
    let (anchor, intermediates) = chain.split_last().unwrap();
    let integrated = 1_760_062_340;
    verify_chain(
        &leaf,
        intermediates,
        std::slice::from_ref(anchor),
        integrated,
    )
    .unwrap();
    // Fulcio certificates live ten minutes: an hour later the same chain is refused.
    let error = verify_chain(
        &leaf,
        intermediates,
        std::slice::from_ref(anchor),
        integrated + 3600,
    )
    .unwrap_err();
    assert!(error.contains("was not valid at"), "{error}");
    assert_eq!(leaf.subject_alt_names(), [IDENTITY]);
    assert_eq!(leaf.oidc_issuer().as_deref(), Some(ISSUER));
}

#[test]
fn a_keyless_model_signature_verifies_on_the_registry_under_flags_and_policy() {
    let registry = Registry::start();
    let env = Env::new();
    let dir = env.path("keyless-model");
    copy_tree(&fixture("v1.1.0-sigstore"), &dir);
    let remote = format!("{}/models/keyless:1.1.0", registry.host());
    // `ignore-me` is outside the signature, so it must stay outside the model too.
    let stderr = env.fails(&["push", dir.to_str().unwrap(), &remote, "--plain-http"], 2);
    assert!(stderr.contains("not signed: ignore-me"), "{stderr}");
    env.ok(&[
        "push",
        dir.to_str().unwrap(),
        &remote,
        "--exclude",
        "ignore-me",
        "--plain-http",
    ]);
    let root = public_good_root();
    let flags = [
        "--trusted-root",
        root.as_str(),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    let mut verify = vec!["verify", remote.as_str(), "--plain-http"];
    verify.extend_from_slice(&flags);
    let report = env.json(&verify);
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(
        report["signers"][0],
        format!("{IDENTITY} from {ISSUER}"),
        "{report}"
    );
    // Another identity: the same signature does not count.
    let wrong = [
        "verify",
        remote.as_str(),
        "--plain-http",
        "--trusted-root",
        root.as_str(),
        "--certificate-identity",
        "mallory@example.com",
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    let report = json_failing(&env, &wrong, 1);
    let problem = report["evidence"]["signatures"][0]["problem"]
        .as_str()
        .unwrap();
    assert!(
        problem.contains("it was signed by stefanb@us.ibm.com"),
        "{report}"
    );

    // A policy names the identity; its rule asks for a signature by it.
    let policy = env.path("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "trustedRoot: {root}\nidentities:\n  stefan: {{issuer: \"{ISSUER}\", subjectRegexp: \".*@us\\\\.ibm\\\\.com\"}}\n\
             rules:\n  - scope: \"**\"\n    signatures: {{threshold: 1, signers: [stefan]}}\n"
        ),
    )
    .unwrap();
    let report = env.json(&[
        "verify",
        &remote,
        "--policy",
        policy.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["signers"][0], "stefan");
    let bad = env.path("bad.yaml");
    std::fs::write(
        &bad,
        format!("identities:\n  stefan: {{issuer: \"{ISSUER}\", subject: \"{IDENTITY}\"}}\nrules:\n  - scope: \"**\"\n"),
    )
    .unwrap();
    let stderr = env.fails(
        &[
            "verify",
            &remote,
            "--policy",
            bad.to_str().unwrap(),
            "--plain-http",
        ],
        2,
    );
    assert!(
        stderr.contains("identities need `trustedRoot:`"),
        "{stderr}"
    );

    // pull under the policy writes that signature; the directory verifies keylessly.
    let out = env.path("out");
    env.ok(&[
        "pull",
        &remote,
        "-o",
        out.to_str().unwrap(),
        "--model-sig",
        "--policy",
        policy.to_str().unwrap(),
        "--plain-http",
    ]);
    let mut verify_dir = vec!["verify-dir", out.to_str().unwrap()];
    verify_dir.extend_from_slice(&flags);
    env.ok(&verify_dir);
    let mut by_policy = vec!["verify-dir", out.to_str().unwrap(), "--policy"];
    by_policy.push(policy.to_str().unwrap());
    env.ok(&by_policy);
}
