//! Independent implementations check what modelark signs, and modelark checks what they
//! sign: the `sigstore` crate (cosign's format in Rust) both ways, `openssl dgst` on a
//! simple-signing signature, PyPI `securesystemslib` on DSSE envelopes, npm `@sigstore/verify`
//! on Sigstore bundles.

use std::process::Command;

use base64::Engine as _;
use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{Constraint, CosignCapabilities, SignatureLayer};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

use crate::harness::{
    Env, Raw, Registry, attachment_tag, digest_of, random_model, root, sample, which,
};

fn fixture(name: &str) -> String {
    root()
        .join("../shared/fixtures/cosign")
        .join(name)
        .display()
        .to_string()
}

fn sigstore_client() -> sigstore::cosign::Client {
    let config = ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    };
    sigstore::cosign::ClientBuilder::default()
        .with_oci_client_config(config)
        .build()
        .unwrap()
}

/// True when the sigstore crate finds a `.sig` signature on `image` that `public` verifies.
async fn sigstore_verifies(image: &str, public: &str) -> bool {
    let mut client = sigstore_client();
    let image: OciReference = image.parse().unwrap();
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &image)
        .await
        .unwrap();
    let key = std::fs::read(public).unwrap();
    let constraints: VerificationConstraintVec =
        vec![Box::new(PublicKeyVerifier::try_from(&key).unwrap())];
    sigstore::cosign::verify_constraints(&layers, constraints.iter()).is_ok()
}

#[test]
fn the_sigstore_crate_and_modelark_verify_each_others_signatures() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let ours = format!("{host}/models/tiny:1.0.0");
    env.ok(&["push", sample().to_str().unwrap(), &ours, "--plain-http"]);
    let (_, other_pub) = env.keypair("other");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // modelark signs with the key real cosign made; sigstore-rs verifies with its public key.
    env.ok(&[
        "sign",
        &ours,
        "--key",
        &fixture("cosign-generated.key"),
        "--plain-http",
    ]);
    assert!(runtime.block_on(sigstore_verifies(&ours, &fixture("cosign-generated.pub"))));
    assert!(!runtime.block_on(sigstore_verifies(&ours, &other_pub)));

    // sigstore-rs signs another model; modelark verifies it (and not under another key).
    let theirs = format!("{host}/models/theirs:1.0.0");
    env.ok(&[
        "push",
        random_model(&env, "theirs", 4096).to_str().unwrap(),
        &theirs,
        "--plain-http",
    ]);
    runtime.block_on(async {
        let mut client = sigstore_client();
        let image: OciReference = theirs.parse().unwrap();
        let (signature_image, digest) = client.triangulate(&image, &Auth::Anonymous).await.unwrap();
        let mut layer = SignatureLayer::new_unsigned(&image, &digest).unwrap();
        let pem = std::fs::read(fixture("cosign-generated.key")).unwrap();
        let signer = SigStoreKeyPair::from_encrypted_pem(&pem, b"")
            .unwrap()
            .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
            .unwrap();
        assert!(
            PrivateKeySigner::new_with_signer(signer)
                .add_constraint(&mut layer)
                .unwrap()
        );
        client
            .push_signature(None, &Auth::Anonymous, &signature_image, vec![layer])
            .await
            .unwrap();
    });
    let report = env.json(&[
        "verify",
        &theirs,
        "--key",
        &fixture("cosign-generated.pub"),
        "--plain-http",
    ]);
    assert_eq!(report["verified"], true, "{report}");
    env.fails(&["verify", &theirs, "--key", &other_pub, "--plain-http"], 1);
}

#[test]
fn openssl_verifies_a_signature_over_its_payload() {
    let registry = Registry::start();
    let env = Env::new();
    let remote = format!("{}/models/tiny:1.0.0", registry.host());
    let digest = digest_of(&env.ok(&["push", sample().to_str().unwrap(), &remote, "--plain-http"]));
    env.ok(&[
        "sign",
        &remote,
        "--key",
        &fixture("cosign-generated.key"),
        "--plain-http",
    ]);
    let raw = Raw::new(&registry.host(), "models/tiny");
    let sig = raw.manifest(&attachment_tag(&digest, ".sig"));
    let payload = raw.blob(&sig.layers[0]);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&sig.layers[0].annotations["dev.cosignproject.cosign/signature"])
        .unwrap();
    std::fs::write(env.path("payload.json"), &payload).unwrap();
    std::fs::write(env.path("sig.der"), &signature).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    let verify = |public: &str| {
        Command::new(which("openssl"))
            .args(["dgst", "-sha256", "-verify", public, "-signature"])
            .arg(env.path("sig.der"))
            .arg(env.path("payload.json"))
            .output()
            .unwrap()
    };
    let out = verify(&fixture("cosign-generated.pub"));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
        "{out:?}"
    );
    let (_, other) = env.keypair("other");
    assert!(!verify(&other).status.success());
}

#[test]
fn securesystemslib_verifies_modelark_envelopes() {
    let registry = Registry::start();
    let env = Env::new();
    let remote = format!("{}/models/tiny:1.0.0", registry.host());
    let digest = digest_of(&env.ok(&["push", sample().to_str().unwrap(), &remote, "--plain-http"]));
    let (key, public) = env.keypair("alice");
    let (_, other) = env.keypair("bob");
    env.ok(&[
        "approve",
        &remote,
        "--env",
        "production",
        "--key",
        &key,
        "--ticket",
        "CHG-7",
        "--plain-http",
    ]);
    env.ok(&[
        "attest",
        &remote,
        "--key",
        &key,
        "--type",
        "provenance",
        "--format",
        "bundle",
        "--plain-http",
    ]);
    let raw = Raw::new(&registry.host(), "models/tiny");
    let att = raw.manifest(&attachment_tag(&digest, ".att"));
    let envelope = raw.blob(&att.layers[0]);
    let (_, index) = raw.tag(&attachment_tag(&digest, "")).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let referrer = raw.manifest_at(index["manifests"][0]["digest"].as_str().unwrap());
    let bundle: serde_json::Value = serde_json::from_slice(&raw.blob(&referrer.layers[0])).unwrap();
    let key_id = |pem: &str| {
        modelark::sign::PublicKey::from_pem(&std::fs::read_to_string(pem).unwrap())
            .unwrap()
            .key_id()
    };
    let script = root().join("tests/interop/verify_dsse.py");
    let check = |envelope: &[u8], public: &str| {
        std::fs::write(env.path("envelope.json"), envelope).unwrap();
        Command::new("python3")
            .arg(&script)
            .arg(env.path("envelope.json"))
            .arg(public)
            .arg(key_id(public))
            .output()
            .unwrap()
    };
    for (what, envelope) in [
        ("approval", envelope),
        (
            "bundle",
            serde_json::to_vec(&bundle["dsseEnvelope"]).unwrap(),
        ),
    ] {
        let out = check(&envelope, &public);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let statement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            digest.trim_start_matches("sha256:")
        );
        assert!(
            !check(&envelope, &other).status.success(),
            "{what} verified under another key"
        );
    }
}

#[test]
fn sigstore_js_verifies_modelark_bundles() {
    let registry = Registry::start();
    let env = Env::new();
    let remote = format!("{}/models/tiny:1.0.0", registry.host());
    let digest = digest_of(&env.ok(&["push", sample().to_str().unwrap(), &remote, "--plain-http"]));
    let (key, public) = env.keypair("alice");
    let (_, other) = env.keypair("bob");
    env.ok(&[
        "sign",
        &remote,
        "--key",
        &key,
        "--format",
        "bundle",
        "--plain-http",
    ]);
    env.ok(&[
        "attest",
        &remote,
        "--key",
        &key,
        "--type",
        "provenance",
        "--format",
        "bundle",
        "--plain-http",
    ]);
    let raw = Raw::new(&registry.host(), "models/tiny");
    let (_, index) = raw
        .tag(&attachment_tag(&digest, ""))
        .expect("fallback index");
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let node = which("node");
    let script = root().join("tests/interop/verify_bundle.js");
    let mut types = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let referrer = raw.manifest_at(entry["digest"].as_str().unwrap());
        std::fs::write(env.path("bundle.json"), raw.blob(&referrer.layers[0])).unwrap();
        let verify = |public: &str| {
            Command::new(&node)
                .arg(&script)
                .arg(env.path("bundle.json"))
                .arg(public)
                .output()
                .unwrap()
        };
        let out = verify(&public);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let statement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            digest.trim_start_matches("sha256:")
        );
        types.push(statement["predicateType"].as_str().unwrap().to_owned());
        assert!(
            !verify(&other).status.success(),
            "verified under another key"
        );
    }
    types.sort();
    assert_eq!(
        types,
        [
            "https://sigstore.dev/cosign/sign/v1",
            "https://slsa.dev/provenance/v1"
        ]
    );
}

#[test]
fn signatures_skopeo_copied_still_verify() {
    // skopeo copies a model and its `.sig` manifest to another repository, rewriting the
    // `.sig` manifest's config; modelark verifies the copy.
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let remote = format!("{host}/models/tiny:1.0.0");
    let digest = digest_of(&env.ok(&["push", sample().to_str().unwrap(), &remote, "--plain-http"]));
    let (key, public) = env.keypair("alice");
    env.ok(&["sign", &remote, "--key", &key, "--plain-http"]);
    let sig = attachment_tag(&digest, ".sig");
    for tag in ["1.0.0", sig.as_str()] {
        crate::interop::skopeo(
            &env,
            &[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--preserve-digests",
                &format!("docker://{host}/models/tiny:{tag}"),
                &format!("docker://{host}/skopeo-copy/tiny:{tag}"),
            ],
        );
    }
    let report = env.json(&[
        "verify",
        &format!("{host}/skopeo-copy/tiny:1.0.0"),
        "--key",
        &public,
        "--plain-http",
    ]);
    assert_eq!(report["verified"], true, "{report}");
}
