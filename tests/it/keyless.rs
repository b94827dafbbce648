//! Keyless cosign signatures in the form cosign 2 writes them (a `.sig` layer with the
//! Fulcio certificate and the Rekor entry in annotations) and keyless message-signature
//! bundles: a real public-good signature from containers/image verifies, and a failure
//! matrix minted by the test's own Sigstore (tests/it/sigstore.rs) runs on the real registry.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Digest as _;

use crate::harness::{Env, Raw, Registry, attachment_tag, digest_of, root, sample};
use crate::sigstore::{Key, Leaf, Sigstore, hashedrekord, now, pem};

const IDENTITY: &str = "release@acme.example";
const ISSUER: &str = "https://issuer.acme.example";

/// An OCI layout holding the containers/image fixture: the image manifest and its cosign
/// `.sig` manifest, the layer as `signature-1` records it (testdata/README.md says where
/// it comes from).
fn fixture_layout(env: &Env) -> String {
    let dir = env.path("layout");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| {
        let digest = modelark::Digest::sha256_of(bytes);
        std::fs::write(dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        digest.to_string()
    };
    let fixtures = root().join("testdata/cosign/keyless");
    let manifest = std::fs::read(fixtures.join("manifest.json")).unwrap();
    let recorded = std::fs::read(fixtures.join("signature-1")).unwrap();
    // `\0sigstore-json\n` then the layer as JSON.
    let start = recorded.iter().position(|b| *b == b'\n').unwrap() + 1;
    let layer: serde_json::Value = serde_json::from_slice(&recorded[start..]).unwrap();
    let payload = B64.decode(layer["payload"].as_str().unwrap()).unwrap();
    let image = put(&manifest);
    let sig = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(b"{}"), "size": 2},
        "layers": [{
            "mediaType": layer["mimeType"],
            "digest": put(&payload),
            "size": payload.len(),
            "annotations": layer["annotations"],
        }],
    });
    let sig = serde_json::to_vec(&sig).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": image,
             "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "signed"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(&sig),
             "size": sig.len(), "annotations": {"org.opencontainers.image.ref.name": attachment_tag(&image, ".sig")}},
        ],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("oci:{}:signed", dir.display())
}

fn public_good_root() -> String {
    root()
        .join("testdata/sigstore/trusted_root.json")
        .display()
        .to_string()
}

#[test]
fn a_real_cosign_keyless_signature_verifies_for_its_identity_only() {
    let env = Env::new();
    let layout = fixture_layout(&env);
    let root = public_good_root();
    let identity = |subject: &str, issuer: &str| {
        vec![
            "verify".to_owned(),
            layout.clone(),
            "--trusted-root".into(),
            root.clone(),
            "--certificate-identity".into(),
            subject.into(),
            "--certificate-oidc-issuer".into(),
            issuer.into(),
        ]
    };
    let github = "https://github.com/login/oauth";
    let args = identity("mitr@redhat.com", github);
    let out = env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.contains("ok    signature by mitr@redhat.com from https://github.com/login/oauth"),
        "{out}"
    );
    for (subject, issuer, reason) in [
        (
            "mallory@redhat.com",
            github,
            "it was signed by mitr@redhat.com",
        ),
        (
            "mitr@redhat.com",
            "https://accounts.google.com",
            "(issuer https://github.com/login/oauth)",
        ),
    ] {
        let args = identity(subject, issuer);
        let (code, out, err) = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains(reason), "expected {reason:?}: {out}");
    }
    // Without a trusted root, the certificate is named, never checked against a key.
    let (_, public) = env.keypair("alice");
    let (code, out, err) = env.run(&["verify", &layout, "--key", &public]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("signed with a certificate (Sigstore keyless)"),
        "{out}"
    );
}

/// A model on the real registry with a keyless signature minted by the test's Sigstore.
struct Minted {
    _registry: Registry,
    env: Env,
    remote: String,
    digest: String,
    raw: Raw,
    sigstore: Sigstore,
    root: String,
}

/// What one minted signature should be like; each field spoils one thing.
struct Signing {
    identity: &'static str,
    issuer: &'static str,
    /// The certificate's life, relative to the integrated time.
    valid: (i64, i64),
    sct: Sct,
    /// The log that records it is trusted by the root.
    trusted_log: bool,
    /// The digest the payload names (the model's, unless another).
    other_digest: bool,
}

enum Sct {
    Trusted,
    Untrusted,
    Missing,
}

impl Default for Signing {
    fn default() -> Signing {
        Signing {
            identity: IDENTITY,
            issuer: ISSUER,
            valid: (-60, 540),
            sct: Sct::Trusted,
            trusted_log: true,
            other_digest: false,
        }
    }
}

/// A signature, its certificate and its log entry (body and both forms of the entry).
struct Made {
    payload: Vec<u8>,
    signature: Vec<u8>,
    certificate: Vec<u8>,
    logged: crate::sigstore::Logged,
}

impl Minted {
    fn new() -> Minted {
        let registry = Registry::start();
        let env = Env::new();
        let remote = format!("{}/models/keyless:1.0.0", registry.host());
        let digest =
            digest_of(&env.ok(&["push", sample().to_str().unwrap(), &remote, "--plain-http"]));
        let raw = Raw::new(&registry.host(), "models/keyless");
        let sigstore = Sigstore::new();
        let root = env.path("trusted_root.json");
        let json = sigstore.trusted_root();
        std::fs::write(&root, serde_json::to_vec(&json).unwrap()).unwrap();
        Minted {
            _registry: registry,
            env,
            remote,
            digest,
            raw,
            sigstore,
            root: root.display().to_string(),
        }
    }

    /// Signs the model's simple-signing payload with a fresh key certified as `how` says,
    /// and logs it.
    fn sign(&self, how: &Signing, message: impl Fn(&[u8]) -> Vec<u8>) -> Made {
        let digest = if how.other_digest {
            modelark::Digest::sha256_of(b"another model")
        } else {
            self.digest.parse().unwrap()
        };
        let payload =
            modelark::sign::payload::Payload::new("models/keyless", &digest, BTreeMap::new())
                .to_bytes();
        let (key, certificate, integrated) = self.certify(how);
        let signed = message(&payload);
        let signature = key.sign(&signed);
        let body = hashedrekord(&sha2::Sha256::digest(&signed), &signature, &certificate);
        let other_log = Key::new();
        let log = if how.trusted_log {
            &self.sigstore.log
        } else {
            &other_log
        };
        let logged = self.sigstore.log_entry(log, &body, integrated);
        Made {
            payload,
            signature,
            certificate,
            logged,
        }
    }

    /// A fresh key and its certificate as `how` says, with the integrated time it is for.
    fn certify(&self, how: &Signing) -> (Key, Vec<u8>, u64) {
        let key = Key::new();
        let integrated = now() - 120;
        let shift = |by: i64| (integrated as i64 + by) as u64;
        let untrusted_ct = Key::new();
        let certificate = self.sigstore.certificate(
            &key,
            &Leaf {
                identity: how.identity.into(),
                issuer: how.issuer.into(),
                not_before: shift(how.valid.0),
                not_after: shift(how.valid.1),
                sct_by: match how.sct {
                    Sct::Trusted => Some(&self.sigstore.ct),
                    Sct::Untrusted => Some(&untrusted_ct),
                    Sct::Missing => None,
                },
            },
        );
        (key, certificate, integrated)
    }

    /// Replaces the model's `.att` manifest with one provenance attestation as cosign 2's
    /// `attest` writes it keyless: the envelope as the layer, logged as `intoto` v0.0.2.
    fn attest_keyless(&self, how: &Signing) {
        let (key, certificate, integrated) = self.certify(how);
        let statement = modelark::sign::dsse::Statement::new(
            "models/keyless",
            &self.digest.parse().unwrap(),
            modelark::sign::predicate::SLSA_PROVENANCE_V1,
            serde_json::json!({"buildDefinition": {"buildType": "https://acme.example/train"}}),
        );
        let envelope = modelark::sign::dsse::Envelope::sign(&statement, &key.private);
        let payload = envelope.payload().unwrap();
        let body = serde_json::json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {"content": {
                "envelope": {
                    "payloadType": envelope.payload_type,
                    "signatures": [{
                        "sig": B64.encode(&envelope.signatures[0].sig),
                        "publicKey": B64.encode(pem(&certificate)),
                    }],
                },
                "hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(envelope.to_bytes()))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(&payload))},
            }},
        });
        let logged = self
            .sigstore
            .log_entry(&self.sigstore.log, &body, integrated);
        let annotations = serde_json::json!({
            "dev.cosignproject.cosign/signature": "",
            "predicateType": modelark::sign::predicate::SLSA_PROVENANCE_V1,
            "dev.sigstore.cosign/certificate": pem(&certificate),
            "dev.sigstore.cosign/bundle": logged.annotation.to_string(),
        });
        self.put_layer(
            ".att",
            modelark::media_types::DSSE_ENVELOPE,
            &envelope.to_bytes(),
            annotations,
        );
    }

    /// Replaces the model's `.sig` manifest with one layer as cosign 2 writes it keyless.
    fn attach_sig(&self, made: &Made) {
        let annotations = serde_json::json!({
            "dev.cosignproject.cosign/signature": B64.encode(&made.signature),
            "dev.sigstore.cosign/certificate": pem(&made.certificate),
            "dev.sigstore.cosign/chain": pem(&self.sigstore.ca_der),
            "dev.sigstore.cosign/bundle": made.logged.annotation.to_string(),
        });
        self.put_sig(&made.payload, annotations);
    }

    fn put_sig(&self, payload: &[u8], annotations: serde_json::Value) {
        self.put_layer(
            ".sig",
            modelark::media_types::COSIGN_SIMPLE_SIGNING,
            payload,
            annotations,
        );
    }

    /// Replaces the `.sig` or `.att` manifest (`suffix`) with one layer.
    fn put_layer(
        &self,
        suffix: &str,
        media_type: &str,
        blob: &[u8],
        annotations: serde_json::Value,
    ) {
        let config = self
            .raw
            .put_blob("application/vnd.oci.image.config.v1+json", b"{}");
        let layer = self.raw.put_blob(media_type, blob);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [{
                "mediaType": layer.media_type,
                "digest": layer.digest.to_string(),
                "size": layer.size,
                "annotations": annotations,
            }],
        });
        self.raw.put_bytes(
            &attachment_tag(&self.digest, suffix),
            modelark::media_types::OCI_MANIFEST,
            &serde_json::to_vec(&manifest).unwrap(),
        );
    }

    fn trust(&self) -> Vec<String> {
        self.trust_as(IDENTITY)
    }

    fn trust_as(&self, identity: &str) -> Vec<String> {
        [
            "--trusted-root",
            &self.root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            ISSUER,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `modelark verify` with `trust`: its exit code and text.
    fn verify(&self, trust: &[String]) -> (i32, String) {
        let mut args = vec!["verify", self.remote.as_str(), "--plain-http"];
        args.extend(trust.iter().map(String::as_str));
        let (code, out, err) = self.env.run(&args);
        (code, format!("{out}{err}"))
    }

    fn refused(&self, trust: &[String], reason: &str) {
        let (code, out) = self.verify(trust);
        assert_eq!(code, 1, "expected a refusal ({reason}): {out}");
        assert!(out.contains(reason), "expected {reason:?}: {out}");
    }
}

#[test]
fn a_minted_keyless_sig_layer_counts_under_flags_policy_and_pull() {
    let m = Minted::new();
    m.attach_sig(&m.sign(&Signing::default(), <[u8]>::to_vec));
    let (code, out) = m.verify(&m.trust());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ok    signature by {IDENTITY} from {ISSUER}")),
        "{out}"
    );
    // The same identity named in a policy counts toward a threshold.
    let policy = m.env.path("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "trustedRoot: {}\nidentities:\n  release:\n    issuer: {ISSUER}\n    subject: {IDENTITY}\n\
             rules:\n  - scope: \"**\"\n    signatures: {{threshold: 1, signers: [release]}}\n",
            m.root
        ),
    )
    .unwrap();
    let policy = policy.display().to_string();
    let (code, out) = m.verify(&["--policy".into(), policy.clone()]);
    assert_eq!(code, 0, "{out}");
    // pull verifies before anything is written, and only what the trust accepts lands.
    let pull = |dir: &Path, identity: &str| {
        let mut args = vec![
            "pull".to_owned(),
            m.remote.clone(),
            "--plain-http".into(),
            "-o".into(),
            dir.display().to_string(),
        ];
        args.extend(m.trust_as(identity));
        m.env
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let pulled = m.env.path("pulled");
    let (code, out, err) = pull(&pulled, IDENTITY);
    assert_eq!(code, 0, "{out}{err}");
    crate::harness::assert_same_tree(&sample(), &pulled);
    let refused = m.env.path("refused");
    let (code, out, err) = pull(&refused, "mallory@acme.example");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("it was signed by release@acme.example"),
        "{err}"
    );
    assert!(!refused.exists(), "a refused pull wrote {refused:?}");
}

#[test]
fn every_minted_keyless_failure_is_refused_with_its_reason() {
    let m = Minted::new();
    let cases: [(Signing, &str); 6] = [
        (
            Signing {
                identity: "mallory@acme.example",
                ..Signing::default()
            },
            "it was signed by mallory@acme.example (issuer https://issuer.acme.example)",
        ),
        (
            Signing {
                issuer: "https://evil.example",
                ..Signing::default()
            },
            "(issuer https://evil.example), not release@acme.example",
        ),
        (
            Signing {
                valid: (-1200, -600),
                ..Signing::default()
            },
            "the signing certificate was not valid at",
        ),
        (
            Signing {
                sct: Sct::Missing,
                ..Signing::default()
            },
            "the certificate has no signed certificate timestamp",
        ),
        (
            Signing {
                sct: Sct::Untrusted,
                ..Signing::default()
            },
            "no signed certificate timestamp verifies under a CT log key of the trusted root",
        ),
        (
            Signing {
                trusted_log: false,
                ..Signing::default()
            },
            "its transparency log key is not in the trusted root",
        ),
    ];
    for (how, reason) in &cases {
        m.attach_sig(&m.sign(how, <[u8]>::to_vec));
        m.refused(&m.trust(), reason);
    }
    // A valid, logged signature over a payload naming another model.
    let other = m.sign(
        &Signing {
            other_digest: true,
            ..Signing::default()
        },
        <[u8]>::to_vec,
    );
    m.attach_sig(&other);
    m.refused(&m.trust(), ", not this model");
    // The signature is over other bytes than the payload (the log records those).
    let swapped = m.sign(&Signing::default(), |p| [p, b" "].concat());
    m.attach_sig(&swapped);
    m.refused(&m.trust(), "the log entry records another message");
    // The SET forged, and the entry missing.
    let good = m.sign(&Signing::default(), <[u8]>::to_vec);
    let mut forged = good.logged.annotation.clone();
    forged["Payload"]["integratedTime"] = (now() - 30).into();
    let annotations = |bundle: Option<String>| {
        let mut a = serde_json::json!({
            "dev.cosignproject.cosign/signature": B64.encode(&good.signature),
            "dev.sigstore.cosign/certificate": pem(&good.certificate),
        });
        if let Some(bundle) = bundle {
            a["dev.sigstore.cosign/bundle"] = bundle.into();
        }
        a
    };
    m.put_sig(&good.payload, annotations(Some(forged.to_string())));
    m.refused(
        &m.trust(),
        "the log's signed entry timestamp does not verify",
    );
    m.put_sig(&good.payload, annotations(None));
    m.refused(
        &m.trust(),
        "no dev.sigstore.cosign/bundle annotation (its transparency log entry)",
    );
    // Back to the good one: it verifies again, so the refusals above were its spoiling.
    m.attach_sig(&good);
    assert_eq!(m.verify(&m.trust()).0, 0);
}

#[test]
fn a_keyless_message_bundle_verifies_with_its_inclusion_proof() {
    let m = Minted::new();
    let digest: modelark::Digest = m.digest.parse().unwrap();
    let manifest_sha256 = hex::decode(digest.hex()).unwrap();
    // cosign 3 signs the manifest digest itself: the signature is over the manifest bytes.
    let (subject, manifest) = m.raw.tag("1.0.0").unwrap();
    let attach = |made: &Made, entry: serde_json::Value| {
        let bundle = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(&made.certificate)},
                "tlogEntries": [entry],
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(&manifest_sha256)},
                "signature": B64.encode(&made.signature),
            },
        });
        m.raw
            .attach_bundle(&subject, serde_json::to_vec(&bundle).unwrap());
    };
    let made = m.sign(&Signing::default(), |_| manifest.clone());
    let mut tampered = made.logged.entry.clone();
    let hash = tampered["inclusionProof"]["hashes"][0].as_str().unwrap();
    let mut bytes = B64.decode(hash).unwrap();
    bytes[0] ^= 1;
    tampered["inclusionProof"]["hashes"][0] = B64.encode(bytes).into();
    tampered.as_object_mut().unwrap().remove("inclusionPromise");
    attach(&made, tampered);
    m.refused(
        &m.trust(),
        "the inclusion proof does not lead to the log's root hash",
    );
    attach(&made, made.logged.entry.clone());
    let (code, out) = m.verify(&m.trust());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("signature by {IDENTITY}")), "{out}");
}

#[test]
fn a_minted_keyless_att_layer_verifies_as_an_attestation_of_its_identity() {
    let m = Minted::new();
    m.attest_keyless(&Signing::default());
    let verify = |identity: &str| {
        let mut args = vec![
            "verify-attestation".to_owned(),
            m.remote.clone(),
            "--plain-http".into(),
            "--type".into(),
            "provenance".into(),
        ];
        args.extend(m.trust_as(identity));
        m.env
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, out, err) = verify(IDENTITY);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("ok    by {IDENTITY} from {ISSUER}")),
        "{out}"
    );
    let (code, out, err) = verify("mallory@acme.example");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("it was signed by release@acme.example"),
        "{out}{err}"
    );
    // A certificate without an SCT fails the attestation as it fails a signature.
    m.attest_keyless(&Signing {
        sct: Sct::Missing,
        ..Signing::default()
    });
    let (code, out, err) = verify(IDENTITY);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("the certificate has no signed certificate timestamp"),
        "{out}{err}"
    );
}
