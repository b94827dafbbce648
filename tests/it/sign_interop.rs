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

use crate::harness::{attachment_tag, random_model, root, which};
use crate::signing::{Setup, setup};

fn fixture(name: &str) -> String {
    root()
        .join("testdata/cosign")
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
    let s = setup();
    let (env, host, other_pub) = (&s.env, s.registry.host(), s.public("bob"));
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // modelark signs with the key real cosign made; sigstore-rs verifies with its public key.
    s.ok(&["sign", "--key", &fixture("cosign-generated.key")]);
    assert!(runtime.block_on(sigstore_verifies(
        &s.remote,
        &fixture("cosign-generated.pub")
    )));
    assert!(!runtime.block_on(sigstore_verifies(&s.remote, &other_pub)));

    // sigstore-rs signs another model; modelark verifies it (and not under another key).
    let theirs = format!("{host}/models/theirs:1.0.0");
    env.ok(&[
        "push",
        random_model(env, "theirs", 4096).to_str().unwrap(),
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
    let s = setup();
    s.ok(&["sign", "--key", &fixture("cosign-generated.key")]);
    let raw = s.raw();
    let sig = raw.manifest(&attachment_tag(&s.digest, ".sig"));
    let payload = raw.blob(&sig.layers[0]);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&sig.layers[0].annotations["dev.cosignproject.cosign/signature"])
        .unwrap();
    std::fs::write(s.env.path("payload.json"), &payload).unwrap();
    std::fs::write(s.env.path("sig.der"), &signature).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        s.digest.as_str()
    );
    let verify = |public: &str| {
        Command::new(which("openssl"))
            .args(["dgst", "-sha256", "-verify", public, "-signature"])
            .arg(s.env.path("sig.der"))
            .arg(s.env.path("payload.json"))
            .output()
            .unwrap()
    };
    let out = verify(&fixture("cosign-generated.pub"));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
        "{out:?}"
    );
    assert!(!verify(&s.public("bob")).status.success());
}

/// Runs an independent verifier `program script FILE PUBLIC [EXTRA]` on `bytes`.
fn independent(
    s: &Setup,
    program: &std::path::Path,
    script: &str,
    bytes: &[u8],
    public: &str,
    extra: &[String],
) -> std::process::Output {
    let file = s.env.path("attachment.json");
    std::fs::write(&file, bytes).unwrap();
    Command::new(program)
        .arg(root().join("tests/interop").join(script))
        .arg(&file)
        .arg(public)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn securesystemslib_verifies_modelark_envelopes() {
    let s = setup();
    s.ok(&[
        "approve",
        "--env",
        "production",
        "--key",
        &s.key("alice"),
        "--ticket",
        "CHG-7",
    ]);
    s.ok(&[
        "attest",
        "--key",
        &s.key("alice"),
        "--type",
        "provenance",
        "--format",
        "bundle",
    ]);
    let raw = s.raw();
    let att = raw.manifest(&attachment_tag(&s.digest, ".att"));
    let envelope = raw.blob(&att.layers[0]);
    let referrer = &raw.referrers(&s.digest)[0];
    let bundle: serde_json::Value = serde_json::from_slice(&raw.blob(&referrer.layers[0])).unwrap();
    let python = which("python3");
    // securesystemslib matches signatures to keys by keyid: modelark's is the key's SHA-256.
    let check = |envelope: &[u8], public: &str| {
        let key =
            modelark::sign::PublicKey::from_pem(&std::fs::read_to_string(public).unwrap()).unwrap();
        independent(
            &s,
            &python,
            "verify_dsse.py",
            envelope,
            public,
            &[key.key_id()],
        )
    };
    let bundled = serde_json::to_vec(&bundle["dsseEnvelope"]).unwrap();
    for (what, envelope) in [("approval", envelope), ("bundle", bundled)] {
        let out = check(&envelope, &s.public("alice"));
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let statement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            s.digest.trim_start_matches("sha256:")
        );
        assert!(
            !check(&envelope, &s.public("bob")).status.success(),
            "{what} verified under another key"
        );
    }
}

#[test]
fn sigstore_js_verifies_modelark_bundles() {
    let s = setup();
    s.ok(&["sign", "--key", &s.key("alice"), "--format", "bundle"]);
    s.ok(&[
        "attest",
        "--key",
        &s.key("alice"),
        "--type",
        "provenance",
        "--format",
        "bundle",
    ]);
    let raw = s.raw();
    let node = which("node");
    let mut types = Vec::new();
    for referrer in raw.referrers(&s.digest) {
        let bundle = raw.blob(&referrer.layers[0]);
        let out = independent(
            &s,
            &node,
            "verify_bundle.js",
            &bundle,
            &s.public("alice"),
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let statement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            s.digest.trim_start_matches("sha256:")
        );
        types.push(statement["predicateType"].as_str().unwrap().to_owned());
        let other = independent(
            &s,
            &node,
            "verify_bundle.js",
            &bundle,
            &s.public("bob"),
            &[],
        );
        assert!(!other.status.success(), "verified under another key");
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
    let s = setup();
    let host = s.registry.host();
    s.ok(&["sign", "--key", &s.key("alice")]);
    let sig = attachment_tag(&s.digest, ".sig");
    for tag in ["1.0.0", sig.as_str()] {
        crate::interop::skopeo(
            &s.env,
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
    let copy = format!("{host}/skopeo-copy/tiny:1.0.0");
    let report = s
        .env
        .json(&["verify", &copy, "--key", &s.public("alice"), "--plain-http"]);
    assert_eq!(report["verified"], true, "{report}");
}
