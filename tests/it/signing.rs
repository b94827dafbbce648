//! sign, attest, approve, verify, verify-attestation and `pull --policy` against a real
//! registry: good signatures and every way a signature or approval must fail to count.

use crate::harness::{
    Env, Raw, Registry, assert_same_tree, attachment_tag, digest_of, random_model, sample,
};

/// A registry holding the sample model at `models/tiny:1.0.0`, an Env with keys
/// alice, bob and carol.
pub struct Setup {
    pub registry: Registry,
    pub env: Env,
    pub remote: String,
    pub digest: String,
}

pub fn setup() -> Setup {
    let registry = Registry::start();
    let env = Env::new();
    let remote = format!("{}/models/tiny:1.0.0", registry.host());
    let pushed = env.ok(&["push", sample().to_str().unwrap(), &remote, "--plain-http"]);
    for name in ["alice", "bob", "carol"] {
        env.keypair(name);
    }
    Setup {
        digest: digest_of(&pushed),
        registry,
        env,
        remote,
    }
}

impl Setup {
    pub fn key(&self, name: &str) -> String {
        self.env.path(&format!("{name}.key")).display().to_string()
    }
    pub fn public(&self, name: &str) -> String {
        self.env.path(&format!("{name}.pub")).display().to_string()
    }
    pub fn raw(&self) -> Raw {
        Raw::new(&self.registry.host(), "models/tiny")
    }

    fn args<'a>(&'a self, command: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![command, self.remote.as_str()];
        args.extend_from_slice(rest);
        args.push("--plain-http");
        args
    }

    /// `modelark COMMAND REMOTE REST... --plain-http`, which must succeed: its stdout.
    pub fn ok(&self, command: &[&str]) -> String {
        self.env.ok(&self.args(command[0], &command[1..]))
    }

    /// As [`Setup::ok`] with `--json`, parsed.
    pub fn json(&self, command: &[&str]) -> serde_json::Value {
        self.env.json(&self.args(command[0], &command[1..]))
    }

    /// As [`Setup::ok`]: exit code, stdout and stderr.
    pub fn run(&self, command: &[&str]) -> (i32, String, String) {
        self.env.run(&self.args(command[0], &command[1..]))
    }

    /// As [`Setup::ok`], which must exit with `code`: its stderr.
    pub fn fails(&self, command: &[&str], code: i32) -> String {
        self.env.fails(&self.args(command[0], &command[1..]), code)
    }
}

#[test]
fn signatures_add_up_and_verify_only_under_their_keys() {
    let s = setup();
    let env = &s.env;
    let signed = s.ok(&["sign", "--key", &s.key("alice"), "-a", "pipeline=train-42"]);
    assert!(signed.contains(&s.digest), "{signed}");
    let report = s.json(&["verify", "--key", &s.public("alice")]);
    assert_eq!(report["verified"], true);
    assert_eq!(report["digest"], s.digest.as_str());
    assert_eq!(report["signers"][0], s.public("alice"));
    assert_eq!(
        report["evidence"]["signatures"][0]["claims"]["pipeline"],
        "train-42"
    );

    // Wrong key: exit 1 with the reason.
    let stderr = s.fails(&["verify", "--key", &s.public("bob")], 1);
    assert!(stderr.contains("no trusted key verifies it"), "{stderr}");
    // A claim the signature does not make.
    let stderr = s.fails(
        &[
            "verify",
            "--key",
            &s.public("alice"),
            "-a",
            "pipeline=other",
        ],
        1,
    );
    assert!(stderr.contains("does not claim pipeline=other"), "{stderr}");

    // Two signers required: one is too few.
    let policy = env.path("two.yaml");
    std::fs::write(&policy, format!("keys: {{alice: {}, bob: {}}}\nrules: [{{scope: '**', signatures: {{threshold: 2}}}}]\n", s.public("alice"), s.public("bob"))).unwrap();
    let stderr = s.fails(&["verify", "--policy", policy.to_str().unwrap()], 1);
    assert!(
        stderr.contains("2 signature(s) by any trusted key (alice, bob): signed by alice"),
        "{stderr}"
    );

    // A second signer adds a layer; the first signature stays.
    s.ok(&["sign", "--key", &s.key("bob")]);
    let sig = s.raw().manifest(&attachment_tag(&s.digest, ".sig"));
    assert_eq!(sig.layers.len(), 2);
    assert!(sig.layers.iter().all(|l| {
        l.media_type == "application/vnd.dev.cosign.simplesigning.v1+json"
            && l.annotations
                .contains_key("dev.cosignproject.cosign/signature")
    }));
    // Signing the same way again stores nothing new (ECDSA here is deterministic, RFC 6979).
    s.ok(&["sign", "--key", &s.key("bob")]);
    assert_eq!(
        s.raw()
            .manifest(&attachment_tag(&s.digest, ".sig"))
            .layers
            .len(),
        2
    );
    s.ok(&["verify", "--policy", policy.to_str().unwrap()]);
    let report = s.json(&[
        "verify",
        "--key",
        &s.public("alice"),
        "--key",
        &s.public("bob"),
    ]);
    assert_eq!(report["signers"].as_array().unwrap().len(), 2, "{report}");
}

#[test]
fn tampered_foreign_and_moved_signatures_do_not_verify() {
    let s = setup();
    let env = &s.env;
    let raw = s.raw();
    let sig_tag = attachment_tag(&s.digest, ".sig");
    s.ok(&["sign", "--key", &s.key("alice")]);
    let alice = s.public("alice");

    // Tampered payload: same signature annotation over a changed payload.
    let original = raw.manifest(&sig_tag);
    let payload = raw.blob(&original.layers[0]);
    let forged_payload = String::from_utf8(payload)
        .unwrap()
        .replace("\"optional\":{}", "\"optional\":{\"approved\":\"yes\"}");
    let mut tampered = original.clone();
    let mut layer = raw.put_blob(&original.layers[0].media_type, forged_payload.as_bytes());
    layer.annotations = original.layers[0].annotations.clone();
    tampered.layers = vec![layer];
    raw.put_manifest(&sig_tag, &tampered);
    let stderr = s.fails(&["verify", "--key", &alice], 1);
    assert!(stderr.contains("no trusted key verifies it"), "{stderr}");
    raw.put_manifest(&sig_tag, &original);
    s.ok(&["verify", "--key", &alice]);

    // A valid signature of another model copied beside this one.
    let other = random_model(env, "other", 1000);
    let other_ref = format!("{}/models/tiny:other", s.registry.host());
    let other_digest =
        digest_of(&env.ok(&["push", other.to_str().unwrap(), &other_ref, "--plain-http"]));
    env.ok(&["sign", &other_ref, "--key", &s.key("bob"), "--plain-http"]);
    let foreign = raw.manifest(&attachment_tag(&other_digest, ".sig"));
    raw.put_manifest(&sig_tag, &foreign);
    let stderr = s.fails(&["verify", "--key", &s.public("bob")], 1);
    assert!(
        stderr.contains(&format!("it signs {other_digest}, not this model")),
        "{stderr}"
    );

    // The tag is forced onto an unsigned model: its signature does not follow.
    raw.put_manifest(&sig_tag, &original);
    let third = random_model(env, "third", 2000);
    env.fails(
        &["push", third.to_str().unwrap(), &s.remote, "--plain-http"],
        1,
    );
    let third_digest = digest_of(&env.ok(&[
        "push",
        third.to_str().unwrap(),
        &s.remote,
        "--force",
        "--plain-http",
    ]));
    let stderr = s.fails(&["verify", "--key", &alice], 1);
    assert!(
        stderr.contains("the model has no signatures") && stderr.contains(&third_digest),
        "{stderr}"
    );
    // Pinned to the digest that was signed, it still verifies.
    let pinned = format!("{}/models/tiny@{}", s.registry.host(), s.digest);
    let (code, stdout, stderr) = env.run(&["verify", &pinned, "--key", &alice, "--plain-http"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn pull_under_a_policy_writes_nothing_until_it_passes() {
    let s = setup();
    let env = &s.env;
    let out = env.path("deployed");
    let policy = env.path("deploy.yaml");
    std::fs::write(
        &policy,
        "version: 1\nkeys:\n  release: alice.pub\n  bob: bob.pub\n  carol: carol.pub\ngroups:\n  ml-leads: [bob, carol]\nrules:\n  - scope: \"**/models/*\"\n    signatures: {threshold: 1, signers: [release]}\n    attestations:\n      - type: approval\n        threshold: 2\n        signers: [ml-leads]\n        where: {environment: production, decision: approved}\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let out_arg = out.to_str().unwrap();
    let refused = |expect: &str| {
        let stderr = s.fails(&["pull", "-o", out_arg, "--policy", policy], 1);
        assert!(stderr.contains(expect), "expected {expect:?} in:\n{stderr}");
        assert!(!out.exists(), "the output directory was written");
        assert!(
            !env.home().join("store").exists(),
            "the local store was written"
        );
    };
    refused("the model has no signatures");
    let stderr = s.fails(&["pull", "--key", &s.public("alice")], 1);
    assert!(stderr.contains("no signatures"), "{stderr}");

    s.ok(&["sign", "--key", &s.key("alice")]);
    refused(
        "2 `approval` attestation(s) with decision=approved, environment=production by ml-leads (bob, carol): none found",
    );
    // Too few approvers.
    s.ok(&[
        "approve",
        "--env",
        "production",
        "--key",
        &s.key("bob"),
        "--ticket",
        "CHG-1",
    ]);
    refused("by bob");
    // An approval for another environment, and one by an untrusted key (alice is not a lead).
    s.ok(&["approve", "--env", "staging", "--key", &s.key("carol")]);
    s.ok(&["approve", "--env", "production", "--key", &s.key("alice")]);
    refused("carol: environment is staging");
    // An expired approval.
    s.ok(&[
        "approve",
        "--env",
        "production",
        "--key",
        &s.key("carol"),
        "--expires",
        "2020-01-01T00:00:00Z",
    ]);
    refused("carol's approval expired 2020-01-01T00:00:00Z");
    // A valid one: the pull goes through and unpacks exactly the model.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.ok(&[
        "approve",
        "--env",
        "production",
        "--key",
        &s.key("carol"),
        "--expires",
        "30d",
    ]);
    let pulled = s.json(&["pull", "-o", out_arg, "--policy", policy]);
    assert_eq!(pulled["digest"], s.digest.as_str());
    assert_same_tree(&sample(), &out);
    // A later rejection revokes bob's approval.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.ok(&[
        "reject",
        "--env",
        "production",
        "--key",
        &s.key("bob"),
        "--reason",
        "bias regression",
    ]);
    let stderr = s.fails(&["verify", "--policy", policy], 1);
    assert!(stderr.contains("bob: decision is rejected"), "{stderr}");
}

#[test]
fn attestations_verify_by_type_and_malformed_ones_are_reported() {
    let s = setup();
    let env = &s.env;
    let raw = s.raw();
    s.ok(&["attest", "--key", &s.key("alice"), "--type", "provenance"]);
    let statements = s.json(&[
        "verify-attestation",
        "--key",
        &s.public("alice"),
        "--type",
        "provenance",
    ]);
    let statement = &statements[0]["statement"];
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        s.digest.trim_start_matches("sha256:")
    );
    assert_eq!(
        statement["predicate"]["buildDefinition"]["externalParameters"]["model"],
        "tiny-sentiment"
    );

    // The wrong type, and the wrong key.
    let stderr = s.fails(
        &[
            "verify-attestation",
            "--key",
            &s.public("alice"),
            "--type",
            "approval",
        ],
        1,
    );
    assert!(
        stderr.contains("found verified: https://slsa.dev/provenance/v1"),
        "{stderr}"
    );
    s.fails(
        &[
            "verify-attestation",
            "--key",
            &s.public("bob"),
            "--type",
            "provenance",
        ],
        1,
    );

    // A custom predicate from a file, stored cosign-style with its predicateType annotation.
    let predicate = env.path("eval.json");
    std::fs::write(&predicate, r#"{"dataset": "imdb", "accuracy": 0.91}"#).unwrap();
    s.ok(&[
        "attest",
        "--key",
        &s.key("bob"),
        "--type",
        "https://example.com/eval/v1",
        "--predicate",
        predicate.to_str().unwrap(),
    ]);
    let att = raw.manifest(&attachment_tag(&s.digest, ".att"));
    assert_eq!(att.layers.len(), 2);
    assert_eq!(
        att.layers[1].media_type,
        "application/vnd.dsse.envelope.v1+json"
    );
    assert_eq!(
        att.layers[1].annotations["predicateType"],
        "https://example.com/eval/v1"
    );

    // A malformed envelope beside the good ones: reported, and the good ones still count.
    let mut broken = att.clone();
    broken.layers.push(raw.put_blob(
        "application/vnd.dsse.envelope.v1+json",
        b"{\"payload\": 42}",
    ));
    raw.put_manifest(&attachment_tag(&s.digest, ".att"), &broken);
    let (code, stdout, _) = s.run(&[
        "verify-attestation",
        "--key",
        &s.public("bob"),
        "--type",
        "https://example.com/eval/v1",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("malformed DSSE envelope"), "{stdout}");
    // An approval predicate that is not an approval is refused before anything is stored.
    let stderr = s.fails(
        &[
            "attest",
            "--key",
            &s.key("bob"),
            "--type",
            "approval",
            "--predicate",
            predicate.to_str().unwrap(),
        ],
        2,
    );
    assert!(stderr.contains("not an approval"), "{stderr}");
}

#[test]
fn keys_load_from_every_format_and_bad_ones_are_named() {
    let env = Env::new();
    env.ok(&["pack", sample().to_str().unwrap(), "-t", "tiny:1.0.0"]);
    // generate-key-pair: 0600 key, refuses to overwrite, password from stdin.
    let out = assert_cmd::Command::from_std(env.cmd(&["generate-key-pair", "--password-stdin"]))
        .write_stdin("s3cret\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = env.path("cosign.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{text}"
    );
    let stderr = env.fails(&["generate-key-pair"], 2);
    assert!(stderr.contains("exists; pass --force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);

    // Wrong password: a clear error and a hint; the right one from the environment or stdin.
    let out = env
        .cmd(&["sign", "tiny:1.0.0", "--key", "cosign.key"])
        .env("COSIGN_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password does not decrypt") && stderr.contains("COSIGN_PASSWORD"),
        "{stderr}"
    );
    let out = env
        .cmd(&["sign", "tiny:1.0.0", "--key", "cosign.key"])
        .env("COSIGN_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = assert_cmd::Command::from_std(env.cmd(&[
        "sign",
        "tiny:1.0.0",
        "--key",
        "cosign.key",
        "--password-stdin",
    ]))
    .write_stdin("s3cret")
    .output()
    .unwrap();
    assert!(out.status.success());
    env.ok(&["verify", "tiny:1.0.0", "--key", "cosign.pub"]);

    // The key real cosign made (password "") signs, and its public key verifies.
    let fixtures = crate::harness::root().join("testdata/cosign");
    env.ok(&[
        "sign",
        "tiny:1.0.0",
        "--key",
        fixtures.join("cosign-generated.key").to_str().unwrap(),
    ]);
    env.ok(&[
        "verify",
        "tiny:1.0.0",
        "--key",
        fixtures.join("cosign-generated.pub").to_str().unwrap(),
    ]);

    // Unencrypted PKCS#8 and SEC1 keys made by openssl.
    let openssl = crate::harness::which("openssl");
    let sh = |script: &str| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(env.dir.path())
            .env("OPENSSL", &openssl)
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    sh(
        "$OPENSSL ecparam -name prime256v1 -genkey -noout -out sec1.pem && $OPENSSL pkcs8 -topk8 -nocrypt -in sec1.pem -out pkcs8.pem && $OPENSSL ec -in sec1.pem -pubout -out ossl.pub",
    );
    for key in ["sec1.pem", "pkcs8.pem"] {
        env.ok(&["sign", "tiny:1.0.0", "--key", key]);
    }
    env.ok(&["verify", "tiny:1.0.0", "--key", "ossl.pub"]);

    // Keys modelark cannot use are named with the reason.
    sh(
        "$OPENSSL genrsa -out rsa.pem 2048 2>/dev/null && $OPENSSL rsa -in rsa.pem -pubout -out rsa.pub 2>/dev/null",
    );
    let stderr = env.fails(&["sign", "tiny:1.0.0", "--key", "rsa.pem"], 2);
    assert!(stderr.contains("not a P-256 private key"), "{stderr}");
    let stderr = env.fails(&["verify", "tiny:1.0.0", "--key", "rsa.pub"], 2);
    assert!(stderr.contains("not an ECDSA P-256 public key"), "{stderr}");
    let stderr = env.fails(&["verify", "tiny:1.0.0", "--key", "cosign.key"], 2);
    assert!(
        stderr.contains("verification takes the public key"),
        "{stderr}"
    );
}
