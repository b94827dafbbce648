//! versions, promote, rollback, history, approve/reject, lineage, search and diff against a
//! real registry, including every refusal; and the worked example of docs/governance.md.

use std::process::Command;

use crate::harness::{
    Env, Raw, Registry, RegistryConfig, attachment_tag, digest_of, random_model, root, sample,
};

/// Pushes a distinct small model as `repo:version` and returns its digest.
pub fn push_version(env: &Env, host: &str, repo: &str, version: &str, extra: &[&str]) -> String {
    let dir = random_model(
        env,
        &format!("m-{}-{version}", repo.replace('/', "-")),
        64 + version.len(),
    );
    std::fs::write(dir.join("VERSION"), version).unwrap();
    let target = format!("{host}/{repo}:{version}");
    let mut args = vec![
        "push",
        dir.to_str().unwrap(),
        &target,
        "--name",
        "m",
        "--plain-http",
    ];
    args.extend_from_slice(extra);
    digest_of(&env.ok(&args))
}

#[test]
fn versions_are_immutable_and_listed_in_semver_order() {
    let registry = Registry::start_with(RegistryConfig {
        delete: true,
        ..RegistryConfig::default()
    });
    let env = Env::new();
    let host = registry.host();
    let d100 = push_version(&env, &host, "ml/m", "1.0.0", &["--framework", "pytorch"]);
    let d1100 = push_version(&env, &host, "ml/m", "1.10.0", &[]);
    let d120 = push_version(&env, &host, "ml/m", "1.2.0", &[]);

    // The same model again: a no-op. Another model: refused, naming both digests.
    let again = env.path("m-ml-m-1.0.0");
    assert_eq!(
        digest_of(&env.ok(&[
            "push",
            again.to_str().unwrap(),
            &format!("{host}/ml/m:1.0.0"),
            "--name",
            "m",
            "--plain-http",
            "--framework",
            "pytorch"
        ])),
        d100
    );
    let other = random_model(&env, "other", 99);
    let stderr = env.fails(
        &[
            "push",
            other.to_str().unwrap(),
            &format!("{host}/ml/m:1.0.0"),
            "--plain-http",
        ],
        1,
    );
    assert!(
        stderr.contains(&d100) && stderr.contains("refusing to move it"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: versions are immutable"), "{stderr}");
    // copy and tag onto a version refuse too; aliases move freely.
    let stderr = env.fails(
        &[
            "copy",
            &format!("{host}/ml/m:1.2.0"),
            &format!("{host}/ml/m:1.0.0"),
            "--plain-http",
        ],
        1,
    );
    assert!(stderr.contains(&d120), "{stderr}");
    env.fails(
        &[
            "tag",
            &format!("{host}/ml/m:1.2.0"),
            &format!("{host}/ml/m:1.10.0"),
            "--plain-http",
        ],
        1,
    );
    env.ok(&[
        "tag",
        &format!("{host}/ml/m:1.2.0"),
        &format!("{host}/ml/m:champion"),
        "--plain-http",
    ]);
    // --force under a policy that does not allow overwriting is refused; one that does, allows.
    let (_, public) = env.keypair("k");
    std::fs::write(
        env.path("strict.yaml"),
        format!("keys: {{k: {public}}}\nrules: [{{scope: '**'}}]\n"),
    )
    .unwrap();
    std::fs::write(
        env.path("lax.yaml"),
        format!("keys: {{k: {public}}}\nrules: [{{scope: '**', overwriteVersions: true}}]\n"),
    )
    .unwrap();
    let target = format!("{host}/ml/m:1.0.0");
    let stderr = env.fails(
        &[
            "push",
            other.to_str().unwrap(),
            &target,
            "--force",
            "--policy",
            "strict.yaml",
            "--plain-http",
        ],
        2,
    );
    assert!(stderr.contains("overwriteVersions"), "{stderr}");
    let moved = digest_of(&env.ok(&[
        "push",
        other.to_str().unwrap(),
        &target,
        "--force",
        "--policy",
        "lax.yaml",
        "--plain-http",
    ]));
    assert_ne!(moved, d100);
    // Locally too.
    env.ok(&["pack", sample().to_str().unwrap(), "-t", "tiny:1.0.0"]);
    let stderr = env.fails(&["pack", other.to_str().unwrap(), "-t", "tiny:1.0.0"], 1);
    assert!(stderr.contains("already exists"), "{stderr}");

    // versions: semver order (the registry answers unsorted), aliases, metadata.
    let listed = env.json(&["versions", &format!("{host}/ml/m"), "--plain-http"]);
    let tags: Vec<&str> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["1.0.0", "1.2.0", "1.10.0"]);
    assert_eq!(listed["versions"][2]["digest"], d1100.as_str());
    assert_eq!(listed["versions"][1]["aliases"][0], "champion");
    assert_eq!(listed["aliases"]["champion"], d120.as_str());
    let table = env.ok(&["versions", &format!("{host}/ml/m"), "--plain-http"]);
    assert!(
        table.lines().next().unwrap().starts_with("VERSION"),
        "{table}"
    );

    // A repository whose every tag was deleted answers `"tags": null`: no versions, no error.
    for digest in [moved, d1100, d120] {
        env.ok(&["rm", &format!("{host}/ml/m@{digest}"), "--plain-http"]);
    }
    let listed = env.json(&["versions", &format!("{host}/ml/m"), "--plain-http"]);
    assert_eq!(listed["versions"].as_array().unwrap().len(), 0, "{listed}");
}

const DEPLOY: &str = "version: 1
keys: {release: release.pub, alice: alice.pub, bob: bob.pub, carol: carol.pub}
groups: {ml-leads: [alice, bob]}
rules:
  - scope: \"**\"
    signatures: {threshold: 1, signers: [release]}
    aliases:
      production:
        attestations:
          - type: approval
            threshold: 2
            signers: [ml-leads]
            where: {environment: production, decision: approved}
";

#[test]
fn promotion_needs_the_policy_and_history_shows_what_is_verified() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    for key in ["release", "alice", "bob", "carol", "mallory"] {
        env.keypair(key);
    }
    std::fs::write(env.path("deploy.yaml"), DEPLOY).unwrap();
    let repo = format!("{host}/ml/m");
    let d1 = push_version(&env, &host, "ml/m", "1.0.0", &[]);
    let d2 = push_version(&env, &host, "ml/m", "2.0.0", &[]);
    let v1 = format!("{repo}:1.0.0");
    let v2 = format!("{repo}:2.0.0");
    let raw = Raw::new(&host, "ml/m");
    let promote = |version: &str, key: &str| {
        env.run(&[
            "promote",
            version,
            "--to",
            "production",
            "--key",
            key,
            "--policy",
            "deploy.yaml",
            "--plain-http",
        ])
    };
    let refused = |version: &str, expect: &[&str]| {
        let (code, _, stderr) = promote(version, "alice.key");
        assert_eq!(code, 1, "{stderr}");
        for e in expect {
            assert!(stderr.contains(e), "expected {e:?} in:\n{stderr}");
        }
    };
    let approve = |version: &str, key: &str, extra: &[&str]| {
        let mut args = vec![
            "approve",
            version,
            "--env",
            "production",
            "--key",
            key,
            "--plain-http",
        ];
        args.extend_from_slice(extra);
        env.ok(&args);
        // Decisions are ordered by their time (seconds): keep them apart.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    };

    // Nothing yet: both requirements are named, and the alias does not exist.
    refused(
        &v1,
        &[
            "the model has no signatures",
            "2 `approval` attestation(s)",
            "none found",
        ],
    );
    assert!(raw.tag("production").is_none());
    env.ok(&["sign", &v1, "--key", "release.key", "--plain-http"]);
    approve(&v1, "alice.key", &[]);
    refused(&v1, &["by alice"]);
    approve(&v1, "mallory.key", &[]);
    approve(&v1, "carol.key", &[]); // trusted, but not a lead
    refused(&v1, &["1 more not signed by a trusted key", "by alice"]);
    approve(&v1, "bob.key", &["--expires", "2020-01-01T00:00:00Z"]);
    refused(&v1, &["bob's approval expired"]);
    approve(&v1, "bob.key", &[]);
    env.ok(&[
        "reject",
        &v1,
        "--env",
        "production",
        "--key",
        "bob.key",
        "--reason",
        "bias",
        "--plain-http",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    refused(&v1, &["bob: decision is rejected"]);
    approve(&v1, "bob.key", &["--ticket", "CHG-9"]);
    let (code, stdout, stderr) = promote(&v1, "alice.key");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("production: nothing -> 1.0.0"), "{stdout}");
    assert_eq!(raw.tag("production").unwrap().0.digest.to_string(), d1);
    // An alias cannot be a version.
    let stderr = env.fails(
        &[
            "promote",
            &v1,
            "--to",
            "3.0.0",
            "--key",
            "alice.key",
            "--plain-http",
        ],
        1,
    );
    assert!(
        stderr.contains("is a version or attachment tag"),
        "{stderr}"
    );

    // 2.0.0 approved and promoted; a deployment pulls production under the policy.
    env.ok(&["sign", &v2, "--key", "release.key", "--plain-http"]);
    approve(&v2, "alice.key", &[]);
    approve(&v2, "bob.key", &[]);
    let (code, _, stderr) = promote(&v2, "bob.key");
    assert_eq!(code, 0, "{stderr}");
    // Promoting again changes nothing and records nothing.
    let layers = raw.manifest(&attachment_tag(&d2, ".att")).layers.len();
    let (code, stdout, _) = promote(&v2, "bob.key");
    assert_eq!(code, 0);
    assert!(stdout.contains("already points at 2.0.0"), "{stdout}");
    assert_eq!(
        raw.manifest(&attachment_tag(&d2, ".att")).layers.len(),
        layers
    );
    let pulled = env.json(&[
        "pull",
        &format!("{repo}:production"),
        "--policy",
        "deploy.yaml",
        "--plain-http",
    ]);
    assert_eq!(pulled["digest"], d2.as_str());

    // A forged record (mallory's key) and a record with a broken signature are shown as
    // unverified and never count.
    let forged = env.path("forged.json");
    std::fs::write(&forged, format!(r#"{{"alias":"production","repository":"{repo}","from":"{d2}","to":"{d1}","version":"1.0.0","by":"alice","time":"2099-01-01T00:00:00Z","action":"promote"}}"#)).unwrap();
    env.ok(&[
        "attest",
        &v1,
        "--key",
        "mallory.key",
        "--type",
        "promotion",
        "--predicate",
        forged.to_str().unwrap(),
        "--plain-http",
    ]);
    let att_tag = attachment_tag(&d2, ".att");
    let mut att = raw.manifest(&att_tag);
    let promotion_layer = att
        .layers
        .iter()
        .rev()
        .find(|l| l.annotations["predicateType"].contains("promotion"))
        .unwrap()
        .clone();
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&raw.blob(&promotion_layer)).unwrap();
    let mut statement: serde_json::Value =
        serde_json::from_slice(&base64_decode(envelope["payload"].as_str().unwrap())).unwrap();
    statement["predicate"]["reason"] = "tampered".into();
    statement["predicate"]["time"] = "2098-01-01T00:00:00Z".into();
    envelope["payload"] = base64_encode(&serde_json::to_vec(&statement).unwrap()).into();
    let mut broken = promotion_layer.clone();
    let blob = serde_json::to_vec(&envelope).unwrap();
    let stored = raw.put_blob(&promotion_layer.media_type, &blob);
    broken.digest = stored.digest;
    broken.size = stored.size;
    att.layers.push(broken);
    raw.put_manifest(&att_tag, &att);

    let history = env.json(&[
        "history",
        &repo,
        "--alias",
        "production",
        "--policy",
        "deploy.yaml",
        "--plain-http",
    ]);
    let events = history.as_array().unwrap();
    let verified: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["verified"] == true).collect();
    let unverified: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["verified"] == false).collect();
    assert_eq!(verified.len(), 2, "{history:#}");
    assert_eq!(unverified.len(), 2, "{history:#}");
    assert!(
        unverified
            .iter()
            .all(|e| e["detail"].as_str().unwrap().contains("NOT VERIFIED")),
        "{history:#}"
    );
    assert!(
        verified
            .iter()
            .any(|e| e["signers"][0] == "bob" && e["version"] == "2.0.0"),
        "{history:#}"
    );
    let full = env.ok(&["history", &repo, "--policy", "deploy.yaml", "--plain-http"]);
    for expected in [
        "version",
        "signature",
        "approval",
        "rejection",
        "promote",
        "UNVERIFIED",
        "CHG-9",
    ] {
        assert!(full.contains(expected), "{expected} missing from:\n{full}");
    }

    // Rollback goes to the verified previous target (1.0.0), ignoring the forged records.
    let rolled = env.json(&[
        "rollback",
        &repo,
        "--alias",
        "production",
        "--key",
        "alice.key",
        "--policy",
        "deploy.yaml",
        "--plain-http",
    ]);
    assert_eq!(rolled["to"], d1.as_str());
    assert_eq!(rolled["from"], d2.as_str());
    assert_eq!(raw.tag("production").unwrap().0.digest.to_string(), d1);
    let versions = env.json(&["versions", &repo, "--policy", "deploy.yaml", "--plain-http"]);
    assert_eq!(versions["versions"][0]["aliases"][0], "production");
    assert_eq!(versions["versions"][0]["signers"][0], "release");
    let approvers = versions["versions"][0]["approvals"]["production"]
        .as_array()
        .unwrap();
    assert_eq!(approvers.len(), 3, "{versions:#}"); // alice, bob, carol (mallory is not trusted)
    let history = env.json(&[
        "history",
        &repo,
        "--alias",
        "production",
        "--policy",
        "deploy.yaml",
        "--plain-http",
    ]);
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "rollback" && e["verified"] == true),
        "{history:#}"
    );

    // An alias moved by hand (not by promote) is neither rolled back nor pulled under the
    // policy unless it meets the alias's requirements.
    let d3 = push_version(&env, &host, "ml/m", "3.0.0", &[]);
    env.ok(&[
        "sign",
        &format!("{repo}:3.0.0"),
        "--key",
        "release.key",
        "--plain-http",
    ]);
    env.ok(&[
        "tag",
        &format!("{repo}:3.0.0"),
        &format!("{repo}:production"),
        "--plain-http",
    ]);
    let stderr = env.fails(
        &[
            "rollback",
            &repo,
            "--alias",
            "production",
            "--key",
            "alice.key",
            "--policy",
            "deploy.yaml",
            "--plain-http",
        ],
        1,
    );
    assert!(stderr.contains("moved without a record"), "{stderr}");
    let stderr = env.fails(
        &[
            "pull",
            &format!("{repo}:production"),
            "--policy",
            "deploy.yaml",
            "--plain-http",
        ],
        1,
    );
    assert!(
        stderr.contains(&d3) && stderr.contains("approval"),
        "{stderr}"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_governance_worked_example_runs_as_documented() {
    let registry = Registry::start();
    let env = Env::new();
    let doc = std::fs::read_to_string(root().join("docs/governance.md")).unwrap();
    let block = doc
        .split("<!-- worked-example:begin -->")
        .nth(1)
        .unwrap()
        .split("<!-- worked-example:end -->")
        .next()
        .unwrap();
    let script = block
        .trim()
        .trim_start_matches("```bash")
        .trim_end_matches("```");
    let binary = assert_cmd::cargo::cargo_bin("modelark");
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(env.dir.path())
        .env("PATH", path)
        .env("REGISTRY", registry.host())
        .env("MODEL_DIR", sample())
        .env("MODELARK_HOME", env.home())
        .env("DOCKER_CONFIG", env.path("docker"))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("production: nothing -> 1.0.0"), "{stdout}");
    let moves: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("/ml/sentiment:production: "))
        .collect();
    assert_eq!(moves.len(), 3, "{stdout}");
    assert!(
        moves[2].contains("-> 1.0.0"),
        "the rollback returns to 1.0.0: {stdout}"
    );
    crate::harness::assert_same_tree(&sample(), &env.path("deployed"));
}
