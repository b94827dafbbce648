use super::*;
use crate::digest::Digest;
use crate::sign::PrivateKey;
use crate::sign::attach::{Attached, FoundEnvelope};
use crate::sign::dsse::{Envelope, Statement};
use time::format_description::well_known::Rfc3339;

struct Fixture {
    dir: tempfile::TempDir,
    keys: BTreeMap<&'static str, PrivateKey>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = BTreeMap::new();
    for name in ["release", "alice", "bob", "carol", "mallory"] {
        let key = PrivateKey::generate().unwrap();
        fs_err::write(
            dir.path().join(format!("{name}.pub")),
            key.public_key().to_pem().unwrap(),
        )
        .unwrap();
        keys.insert(name, key);
    }
    Fixture { dir, keys }
}

const POLICY: &str = r#"
version: 1
keys:
  release: release.pub
  alice: alice.pub
  bob: {path: bob.pub}
  carol: carol.pub
groups:
  ml-leads: [alice, bob, carol]
rules:
  - scope: "reg.example/models/**"
    signatures: {threshold: 1, signers: [release]}
    attestations:
      - type: approval
        threshold: 2
        signers: [ml-leads]
        where: {environment: production, decision: approved}
  - scope: "reg.example/sandbox/*"
    signatures: {}
"#;

fn load(f: &Fixture, text: &str) -> Result<Policy, Error> {
    let path = f.dir.path().join("policy.yaml");
    fs_err::write(&path, text).unwrap();
    Policy::load(&path)
}

fn approval(env: &str, decision: &str, time: &str, expires: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({"environment": env, "decision": decision, "approver": "x", "time": time});
    if let Some(e) = expires {
        v["expires"] = e.into();
    }
    v
}

fn evidence(
    f: &Fixture,
    policy: &Policy,
    digest: &Digest,
    signed_by: &[&str],
    attestations: &[(&str, serde_json::Value)],
) -> Evidence {
    Evidence::collect(
        digest,
        &attached(f, digest, signed_by, attestations),
        policy.keys(),
    )
}

/// Signatures and approvals made by the fixture's keys about `digest`.
fn attached(
    f: &Fixture,
    digest: &Digest,
    signed_by: &[&str],
    attestations: &[(&str, serde_json::Value)],
) -> Attached {
    let mut attached = Attached::default();
    for name in signed_by {
        let payload =
            crate::sign::payload::Payload::new("reg.example/models/m", digest, BTreeMap::new())
                .to_bytes();
        attached
            .signatures
            .push(crate::sign::attach::FoundSignature {
                signature: f.keys[name].sign(&payload),
                payload,
                source: format!("sig by {name}"),
                certificate: false,
                bundle: None,
                timestamps: Default::default(),
            });
    }
    for (name, predicate) in attestations {
        let statement = Statement::new(
            "reg.example/models/m",
            digest,
            predicate::APPROVAL,
            predicate.clone(),
        );
        attached.envelopes.push(FoundEnvelope {
            envelope: Envelope::sign(&statement, &f.keys[name]),
            source: format!("att by {name}"),
            certificate: false,
            bundle: None,
            timestamps: Default::default(),
        });
    }
    attached
}

fn now() -> OffsetDateTime {
    OffsetDateTime::parse("2026-06-01T00:00:00Z", &Rfc3339).unwrap()
}

#[test]
fn approvals_thresholds_expiry_and_revocation() {
    let f = fixture();
    let policy = load(&f, POLICY).unwrap();
    let d = Digest::sha256_of(b"model");
    let ok = |env| approval(env, "approved", "2026-05-01T00:00:00Z", None);
    let repo = "reg.example/models/m";
    type Case<'a> = (
        &'a str,
        Vec<&'a str>,
        Vec<(&'a str, serde_json::Value)>,
        bool,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "two approvals and a release signature",
            vec!["release"],
            vec![("alice", ok("production")), ("bob", ok("production"))],
            true,
            "",
        ),
        (
            "unsigned",
            vec![],
            vec![("alice", ok("production")), ("bob", ok("production"))],
            false,
            "the model has no signatures",
        ),
        (
            "signed by a lead, not release",
            vec!["alice"],
            vec![("alice", ok("production")), ("bob", ok("production"))],
            false,
            "signature(s) by release",
        ),
        (
            "untrusted signer",
            vec!["mallory"],
            vec![("alice", ok("production")), ("bob", ok("production"))],
            false,
            "none valid: no trusted key verifies it",
        ),
        (
            "too few approvers",
            vec!["release"],
            vec![("alice", ok("production")), ("alice", ok("production"))],
            false,
            "by alice",
        ),
        (
            "wrong environment",
            vec!["release"],
            vec![("alice", ok("production")), ("bob", ok("staging"))],
            false,
            "bob: environment is staging",
        ),
        (
            "untrusted approver",
            vec!["release"],
            vec![("alice", ok("production")), ("mallory", ok("production"))],
            false,
            "1 more not signed by a trusted key",
        ),
        (
            "release key is not a lead",
            vec!["release"],
            vec![("alice", ok("production")), ("release", ok("production"))],
            false,
            "ml-leads (alice, bob, carol)",
        ),
        (
            "rejected",
            vec!["release"],
            vec![
                ("alice", ok("production")),
                (
                    "bob",
                    approval("production", "rejected", "2026-05-01T00:00:00Z", None),
                ),
            ],
            false,
            "bob: decision is rejected",
        ),
        (
            "later rejection revokes",
            vec!["release"],
            vec![
                ("alice", ok("production")),
                ("bob", ok("production")),
                (
                    "bob",
                    approval("production", "rejected", "2026-05-02T00:00:00Z", None),
                ),
            ],
            false,
            "bob: decision is rejected",
        ),
        (
            "later approval supersedes rejection",
            vec!["release"],
            vec![
                ("alice", ok("production")),
                (
                    "bob",
                    approval("production", "rejected", "2026-04-01T00:00:00Z", None),
                ),
                ("bob", ok("production")),
            ],
            true,
            "",
        ),
        (
            "expired",
            vec!["release"],
            vec![
                ("alice", ok("production")),
                (
                    "bob",
                    approval(
                        "production",
                        "approved",
                        "2026-05-01T00:00:00Z",
                        Some("2026-05-31T00:00:00Z"),
                    ),
                ),
            ],
            false,
            "bob's approval expired",
        ),
        (
            "not yet expired",
            vec!["release"],
            vec![
                ("alice", ok("production")),
                (
                    "bob",
                    approval(
                        "production",
                        "approved",
                        "2026-05-01T00:00:00Z",
                        Some("2026-07-01T00:00:00Z"),
                    ),
                ),
            ],
            true,
            "",
        ),
    ];
    for (name, signers, attestations, pass, expect) in cases {
        let evidence = evidence(&f, &policy, &d, &signers, &attestations);
        let verdict = policy.evaluate(repo, &evidence, now());
        assert_eq!(verdict.passed(), pass, "{name}: {:?}", verdict.failures());
        assert!(
            verdict.failures().join("\n").contains(expect),
            "{name}: {:?}",
            verdict.failures()
        );
    }
}

#[test]
fn signatures_for_another_digest_do_not_count() {
    let f = fixture();
    let policy = load(&f, POLICY).unwrap();
    let (model, other) = (Digest::sha256_of(b"model"), Digest::sha256_of(b"other"));
    let approve = approval("production", "approved", "2026-05-01T00:00:00Z", None);
    let made_for_other = attached(
        &f,
        &other,
        &["release"],
        &[("alice", approve.clone()), ("bob", approve)],
    );
    // About the digest they name, they pass...
    let own = Evidence::collect(&other, &made_for_other, policy.keys());
    assert!(
        policy
            .evaluate("reg.example/models/m", &own, now())
            .passed()
    );
    // ...and beside another model, valid signatures by trusted keys count for nothing.
    let copied = Evidence::collect(&model, &made_for_other, policy.keys());
    assert!(copied.signers().is_empty());
    let problem = copied.signatures[0].problem.as_deref().unwrap();
    assert_eq!(problem, format!("it signs {other}, not this model"));
    assert!(
        copied
            .attestations
            .iter()
            .all(|a| a.problem.as_deref() == Some("its subject is another model"))
    );
    assert!(
        !policy
            .evaluate("reg.example/models/m", &copied, now())
            .passed()
    );
}

#[test]
fn scopes_pick_the_first_matching_rule_and_uncovered_repositories_fail() {
    let f = fixture();
    let policy = load(&f, POLICY).unwrap();
    assert_eq!(
        policy.rule_for("reg.example/models/a/b").unwrap().scope,
        "reg.example/models/**"
    );
    assert_eq!(
        policy.rule_for("reg.example/sandbox/x").unwrap().scope,
        "reg.example/sandbox/*"
    );
    assert!(policy.rule_for("reg.example/sandbox/x/y").is_none());
    let verdict = policy.evaluate(
        "other/repo",
        &evidence(&f, &policy, &Digest::sha256_of(b"m"), &["release"], &[]),
        now(),
    );
    assert!(!verdict.passed());
    assert!(verdict.failures()[0].contains("no rule"));
}

#[test]
fn bad_policies_name_their_problem() {
    let f = fixture();
    let cases = [
        ("keys: {a: nope.pub}\nrules: [{scope: '**'}]", "key `a`"),
        (
            "keys: {a: alice.pub}\nrules: [{scope: '**', signatures: {threshold: 2}}]",
            "threshold 2 cannot be met by 1",
        ),
        (
            "keys: {a: alice.pub}\nrules: [{scope: '**', signatures: {signers: [b]}}]",
            "`b` is neither a key nor a group",
        ),
        (
            "keys: {a: alice.pub}\ngroups: {g: [z]}\nrules: [{scope: '**'}]",
            "unknown key `z`",
        ),
        (
            "keys: {a: alice.pub}\nrules: [{scope: '**', attestations: [{type: aproval}]}]",
            "unknown predicate type",
        ),
        (
            "keys: {a: alice.pub}\nrules: [{scope: '**', signature: {}}]",
            "unknown field",
        ),
        ("keys: {a: alice.pub}\nrules: []", "no rules"),
        ("keys: {a: alice.key}\nrules: [{scope: '**'}]", "key `a`"),
    ];
    fs_err::write(
        f.dir.path().join("alice.key"),
        "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    for (text, expect) in cases {
        let error = load(&f, text).unwrap_err().to_string();
        assert!(error.contains(expect), "{text}: {error}");
    }
}

#[test]
fn a_vouching_key_counts_once_per_approver_and_each_approver_once() {
    let f = fixture();
    let text = r#"
keys:
  service: {path: release.pub, vouchesForApprovers: true}
  alice: alice.pub
rules:
  - scope: "**"
    attestations:
      - {type: approval, threshold: 2, signers: [service, alice], where: {environment: production, decision: approved}}
"#;
    let policy = load(&f, text).unwrap();
    let digest = Digest::sha256_of(b"model");
    let by = |approver: &str, decision: &str, time: &str| {
        let mut v = approval("production", decision, time, None);
        v["approver"] = approver.into();
        v
    };
    let verdict = |atts: &[(&str, serde_json::Value)]| {
        let evidence = evidence(&f, &policy, &digest, &[], atts);
        policy.evaluate("reg.example/models/m", &evidence, now())
    };
    // One person approving twice through the service is one approval.
    let twice = verdict(&[
        ("release", by("bob", "approved", "2026-05-01T00:00:00Z")),
        ("release", by("bob", "approved", "2026-05-02T00:00:00Z")),
    ]);
    assert!(!twice.passed(), "{:?}", twice.findings);
    // Two people through the service are two.
    let two = verdict(&[
        ("release", by("bob", "approved", "2026-05-01T00:00:00Z")),
        ("release", by("carol", "approved", "2026-05-01T00:00:00Z")),
    ]);
    assert!(two.passed(), "{:?}", two.findings);
    assert!(
        two.findings[0].detail.contains("service for bob"),
        "{}",
        two.findings[0].detail
    );
    // A later rejection by one of them through the service revokes only theirs.
    let revoked = verdict(&[
        ("release", by("bob", "approved", "2026-05-01T00:00:00Z")),
        ("release", by("carol", "approved", "2026-05-01T00:00:00Z")),
        ("release", by("carol", "rejected", "2026-05-03T00:00:00Z")),
    ]);
    assert!(!revoked.passed());
    // A personal key is one signer whatever approver names it records.
    let alice = verdict(&[
        ("alice", by("alice", "approved", "2026-05-01T00:00:00Z")),
        (
            "alice",
            by("someone-else", "approved", "2026-05-01T00:00:00Z"),
        ),
    ]);
    assert!(!alice.passed());
    // Without the flag the threshold could never be met by the two keys' one signer each
    // plus more: a plain key named twice still counts once.
    let plain = text.replace(", vouchesForApprovers: true", "");
    let plain = load(&f, &plain).unwrap();
    let evidence = evidence(
        &f,
        &plain,
        &digest,
        &[],
        &[
            ("release", by("bob", "approved", "2026-05-01T00:00:00Z")),
            ("release", by("carol", "approved", "2026-05-01T00:00:00Z")),
        ],
    );
    assert!(!plain.evaluate("r", &evidence, now()).passed());
}
