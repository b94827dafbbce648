//! Where signatures live and how they travel, against a real registry: Sigstore bundles as
//! referrers in the fallback index, copies, archives and air gaps, concurrent signers, and
//! attachments too large to read.

use crate::harness::{Env, assert_same_tree, attachment_tag, digest_of, random_model, sample};
use crate::signing::{Setup, setup};

#[test]
fn bundles_are_referrers_in_the_fallback_index() {
    let s = setup();
    let env = &s.env;
    let raw = s.raw();
    s.ok(&["sign", "--key", &s.key("alice"), "--format", "bundle"]);
    s.ok(&[
        "attest",
        "--key",
        &s.key("bob"),
        "--type",
        "provenance",
        "--format",
        "bundle",
    ]);
    // No .sig tag: the signature is a referrer listed in the sha256-<hex> index.
    assert!(raw.tag(&attachment_tag(&s.digest, ".sig")).is_none());
    let (descriptor, bytes) = raw
        .tag(&attachment_tag(&s.digest, ""))
        .expect("fallback index");
    assert_eq!(
        descriptor.media_type,
        "application/vnd.oci.image.index.v1+json"
    );
    let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert_eq!(
            entry["artifactType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            entry["annotations"]["dev.sigstore.bundle.content"],
            "dsse-envelope"
        );
        let referrer = raw.manifest_at(entry["digest"].as_str().unwrap());
        assert_eq!(referrer.subject.unwrap().digest.to_string(), s.digest);
        assert_eq!(
            referrer.config.media_type,
            "application/vnd.oci.empty.v1+json"
        );
        let bundle: serde_json::Value =
            serde_json::from_slice(&raw.blob(&referrer.layers[0])).unwrap();
        assert_eq!(
            bundle["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            bundle["dsseEnvelope"]["payloadType"],
            "application/vnd.in-toto+json"
        );
    }
    let report = s.json(&["verify", "--key", &s.public("alice")]);
    assert_eq!(report["verified"], true, "{report}");
    s.fails(&["verify", "--key", &s.public("bob")], 1);
    s.ok(&[
        "verify-attestation",
        "--key",
        &s.public("bob"),
        "--type",
        "provenance",
    ]);

    // A referrer whose subject is another model, listed in this model's index, is ignored.
    let mut forged: serde_json::Value = index.clone();
    let other = random_model(env, "other", 100);
    let other_ref = format!("{}/models/tiny:other", s.registry.host());
    let other_digest =
        digest_of(&env.ok(&["push", other.to_str().unwrap(), &other_ref, "--plain-http"]));
    env.ok(&[
        "sign",
        &other_ref,
        "--key",
        &s.key("carol"),
        "--format",
        "bundle",
        "--plain-http",
    ]);
    let (_, other_index) = raw.tag(&attachment_tag(&other_digest, "")).unwrap();
    let other_index: serde_json::Value = serde_json::from_slice(&other_index).unwrap();
    forged["manifests"]
        .as_array_mut()
        .unwrap()
        .push(other_index["manifests"][0].clone());
    raw.put_bytes(
        &attachment_tag(&s.digest, ""),
        modelark::media_types::OCI_INDEX,
        &serde_json::to_vec(&forged).unwrap(),
    );
    let (code, stdout, _) = s.run(&["verify", "--key", &s.public("carol")]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("its subject is another manifest"),
        "{stdout}"
    );
}

#[test]
fn copy_export_and_import_carry_signatures_for_offline_verification() {
    let s = setup();
    let env = &s.env;
    let host = s.registry.host();
    s.ok(&["sign", "--key", &s.key("alice")]);
    s.ok(&["sign", "--key", &s.key("bob"), "--format", "bundle"]);
    s.ok(&["approve", "--env", "production", "--key", &s.key("carol")]);
    let keys = ["--key", &s.public("alice")];
    // Registry to registry, under --key: the mirror verifies by itself.
    let mirror = format!("{host}/mirror/tiny:1.0.0");
    s.ok(&["copy", &mirror, keys[0], keys[1]]);
    env.ok(&[
        "verify",
        &mirror,
        "--key",
        &s.public("alice"),
        "--plain-http",
    ]);
    env.ok(&["verify", &mirror, "--key", &s.public("bob"), "--plain-http"]);
    env.ok(&[
        "verify-attestation",
        &mirror,
        "--key",
        &s.public("carol"),
        "--type",
        "approval",
        "--plain-http",
    ]);
    // A copy under a key that signed nothing is refused and the target gets nothing.
    let refused = format!("{host}/refused/tiny:1.0.0");
    s.fails(&["copy", &refused, "--key", &s.public("carol")], 1);
    env.fails(&["inspect", &refused, "--plain-http"], 1);

    // Registry to the local store, then an archive, then another machine with no registry.
    s.ok(&["copy", "tiny:1.0.0"]);
    env.ok(&["verify", "tiny:1.0.0", "--key", &s.public("bob")]);
    let archive = env.path("tiny.tar");
    env.ok(&["export", "tiny:1.0.0", "-o", archive.to_str().unwrap()]);
    let public = |name: &str| env.path(&format!("{name}.pub")).display().to_string();
    drop(s.registry);
    let airgap = Env::new();
    let imported = airgap.ok(&["import", archive.to_str().unwrap()]);
    assert!(
        imported.contains("imported tiny:1.0.0@") && imported.lines().count() == 1,
        "{imported}"
    );
    for key in ["alice", "bob"] {
        airgap.ok(&["verify", "tiny:1.0.0", "--key", &public(key)]);
    }
    airgap.ok(&[
        "verify-attestation",
        "tiny:1.0.0",
        "--key",
        &public("carol"),
        "--type",
        "approval",
    ]);
    // Under another name with -t.
    airgap.ok(&["import", archive.to_str().unwrap(), "-t", "restored:1"]);
    airgap.ok(&["verify", "restored:1", "--key", &public("alice")]);
    let out = airgap.path("out");
    airgap.ok(&["unpack", "restored:1", "-o", out.to_str().unwrap()]);
    assert_same_tree(&sample(), &out);
    // Removing a model's last tag removes its attachments; the other name keeps its own.
    airgap.ok(&["rm", "tiny:1.0.0"]);
    let left = airgap.json(&["list", "--all"]);
    let names: Vec<String> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["name"].as_str().unwrap(),
                e["tag"].as_str().unwrap()
            )
        })
        .collect();
    assert!(names.iter().all(|n| !n.starts_with("tiny:")), "{names:?}");
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("restored:sha256-"))
            .count(),
        3,
        "{names:?}"
    );
    airgap.ok(&["verify", "restored:1", "--key", &public("bob")]);
}

#[test]
fn concurrent_signers_all_land_and_oversized_attachments_are_refused_unread() {
    let s = setup();
    let env = &s.env;
    let names = ["k1", "k2", "k3", "k4"];
    for name in names {
        env.keypair(name);
    }
    // Four approvers at once: registries cannot compare-and-swap a tag, so each write is
    // read back and merged again when another writer replaced it.
    at_once(&s, &names, |name| {
        vec!["approve", "--env", "production", "--key", name]
    });
    let raw = s.raw();
    let att_tag = attachment_tag(&s.digest, ".att");
    assert_eq!(raw.manifest(&att_tag).layers.len(), 4);
    for name in names {
        s.ok(&[
            "verify-attestation",
            "--key",
            &format!("{name}.pub"),
            "--type",
            "approval",
        ]);
    }
    // The same for bundle referrers and the fallback index they share.
    at_once(&s, &names, |name| {
        vec!["sign", "--key", name, "--format", "bundle"]
    });
    let (_, index) = raw.tag(&attachment_tag(&s.digest, "")).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 4, "{index:#}");

    // A .sig layer that claims 64 MiB is reported, not downloaded.
    s.ok(&["sign", "--key", &s.key("alice")]);
    let sig_tag = attachment_tag(&s.digest, ".sig");
    let mut sig = raw.manifest(&sig_tag);
    let mut huge = sig.layers[0].clone();
    huge.size = 64 << 20;
    sig.layers.push(huge);
    raw.put_manifest(&sig_tag, &sig);
    let (code, stdout, _) = s.run(&["verify", "--key", &s.public("alice")]);
    assert_eq!(code, 0, "the valid signature still counts: {stdout}");
    assert!(stdout.contains("over the 1 MiB limit"), "{stdout}");
}

/// Runs one `modelark COMMAND REMOTE ...` per key file (`NAME.key`) at the same time; all
/// must succeed.
fn at_once(s: &Setup, names: &[&str], command: impl Fn(&str) -> Vec<&str>) {
    let keys: Vec<String> = names.iter().map(|name| format!("{name}.key")).collect();
    let children: Vec<_> = keys
        .iter()
        .map(|key| {
            let mut args = command(key);
            args.insert(1, s.remote.as_str());
            args.push("--plain-http");
            s.env.cmd(&args).spawn().unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
}

/// cosign's documented flow for signatures made by other tools
/// (`cosign attach signature --payload payload.json --signature payload.sig`, where
/// `payload.sig` is `openssl dgst -sign ... | base64`) stores base64 wrapped at 76 columns with
/// a trailing newline; cosign reads it, and so must modelark.
#[test]
fn signatures_in_wrapped_base64_verify_as_cosign_reads_them() {
    let s = setup();
    let env = &s.env;
    s.ok(&["sign", "--key", &s.key("alice")]);
    let raw = s.raw();
    let sig_tag = attachment_tag(&s.digest, ".sig");
    let mut manifest = raw.manifest(&sig_tag);
    std::fs::write(env.path("payload.json"), raw.blob(&manifest.layers[0])).unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new(crate::harness::which("openssl"))
            .args(args)
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        crate::harness::assert_ran(&out);
    };
    env.openssl_key_pair("ec");
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        "ec.pem",
        "-out",
        "payload.der",
        "payload.json",
    ]);
    let wrapped = std::process::Command::new("base64")
        .arg("-w")
        .arg("76")
        .arg(env.path("payload.der"))
        .output()
        .unwrap();
    let wrapped = String::from_utf8(wrapped.stdout).unwrap();
    let der_len = std::fs::metadata(env.path("payload.der")).unwrap().len();
    assert!(der_len > 57, "a P-256 DER signature wraps: {der_len} bytes");
    assert!(wrapped.trim_end().contains('\n'), "{wrapped:?}");
    manifest.layers[0]
        .annotations
        .insert("dev.cosignproject.cosign/signature".into(), wrapped);
    raw.put_manifest(&sig_tag, &manifest);
    let public = env.path("ec.pub").display().to_string();
    let stdout = s.ok(&["verify", "--key", &public]);
    assert!(stdout.contains("ok    signature by"), "{stdout}");
    // A signature that really is not base64 is reported as unreadable, never as "none".
    manifest.layers[0].annotations.insert(
        "dev.cosignproject.cosign/signature".into(),
        "%%% not base64".into(),
    );
    raw.put_manifest(&sig_tag, &manifest);
    let (code, _, stderr) = s.run(&["verify", "--key", &public]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no signature could be read"), "{stderr}");
    assert!(!stderr.contains("has no signatures"), "{stderr}");
    // The hint fits the command: verify is not told to run verify.
    assert!(stderr.contains("hint: the lines above say why"), "{stderr}");
    assert!(!stderr.contains("`modelark verify"), "{stderr}");
    let out = env.path("out");
    let stderr = s.fails(&["pull", "--key", &public, "-o", out.to_str().unwrap()], 1);
    assert!(
        stderr.contains("nothing was fetched or written; `modelark verify"),
        "{stderr}"
    );
}
