//! Entry points for the coverage-guided fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer):
//! one function per parser that untrusted bytes reach, each checking what must hold for
//! any input (no panic, round trips, a store left sound). The regression test below runs
//! every committed corpus and crash input through the same functions, so `cargo test`
//! replays what the fuzzers found.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use crate::digest::Digest;
use crate::governance::query::{Condition, Field, Fields};
use crate::metadata::{ModelMetadata, ModelPackConfig};
use crate::oci::{Index, Manifest};
use crate::reference::Reference;

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("reference", reference),
    ("manifest", manifest),
    ("config", config),
    ("modelfile", modelfile),
    ("policy", policy),
    ("key", key),
    ("payload", payload),
    ("envelope", envelope),
    ("headers", headers),
    ("archive", archive),
    ("query", query),
    ("model_card", model_card),
    ("model_signature", model_signature),
    ("certificate", certificate),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// References and digests: what parses prints back as something that parses to the same.
pub fn reference(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Ok(reference) = Reference::from_str(text) {
        let printed = reference.to_string();
        let again = Reference::from_str(&printed).expect("a printed reference parses");
        assert_eq!(again.to_string(), printed);
    }
    if let Ok(digest) = Digest::from_str(text) {
        assert_eq!(Digest::from_str(&digest.to_string()).ok(), Some(digest));
    }
}

/// Manifests and indexes: what decodes encodes to bytes that decode again.
pub fn manifest(data: &[u8]) {
    let digest = Digest::sha256_of(data);
    if let Ok(manifest) = Manifest::from_slice(data, &digest) {
        let bytes = manifest.to_bytes();
        Manifest::from_slice(&bytes, &Digest::sha256_of(&bytes)).expect("re-encoded manifest");
    }
    if let Ok(index) = Index::from_slice(data, &digest) {
        let bytes = index.to_bytes();
        Index::from_slice(&bytes, &Digest::sha256_of(&bytes)).expect("re-encoded index");
    }
}

/// ModelPack configs and manifest annotations into metadata, and metadata back out.
pub fn config(data: &[u8]) {
    let config: Option<ModelPackConfig> = serde_json::from_slice(data).ok();
    let annotations: BTreeMap<String, String> = serde_json::from_slice(data).unwrap_or_default();
    for config in [config.as_ref(), None] {
        if let Ok(metadata) = ModelMetadata::from_parts(config, &annotations)
            && metadata.validate().is_ok()
            && let Ok(written) = metadata.to_annotations()
        {
            ModelMetadata::from_parts(None, &written).expect("written annotations read back");
        }
    }
}

/// `modelark.yaml`.
pub fn modelfile(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::package::ModelFile::parse(text);
    }
}

/// Hugging Face model cards: any README parses without panicking, and what it maps to is
/// metadata a pack accepts (a card never fails a pack; what does not map is a warning).
pub fn model_card(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Some(card) = crate::metadata::model_card::parse(text)
        && let Err(e) = card.metadata.validate()
    {
        panic!("a model card mapped to invalid metadata: {e}");
    }
}

/// Trust policies (key paths point nowhere: only the text is under test).
pub fn policy(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::verify::Policy::parse(text, Path::new("/nonexistent/modelark-fuzz"), "fuzz");
    }
}

/// cosign private and public key PEMs.
pub fn key(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::sign::keys::PrivateKey::from_pem(text, b"");
        let _ = crate::sign::keys::PublicKey::from_pem(text);
    }
}

/// Simple-signing payloads.
pub fn payload(data: &[u8]) {
    let _ = crate::sign::payload::Payload::from_slice(data);
}

/// DSSE envelopes, Sigstore bundles (taken through keyless verification, which fails
/// cleanly under an empty trusted root) and cosign's Rekor bundle annotations.
pub fn envelope(data: &[u8]) {
    use crate::sign::keyless::{Keyless, Message};
    let _ = crate::sign::dsse::Envelope::from_slice(data);
    if let Ok(bundle) = crate::sign::dsse::Bundle::from_slice(data) {
        let keyless = Keyless {
            root: Default::default(),
            identities: Vec::new(),
        };
        assert!(keyless.verify_envelope(&bundle).is_err());
        assert!(
            keyless
                .verify_message(&bundle, Message::Sha256(&[0; 32]))
                .is_err()
        );
    }
    if let Some(text) = text(data)
        && let Ok(entry) = crate::sign::rekor::Entry::from_cosign_annotation(text)
    {
        let _ = entry.log_id();
    }
}

/// OpenSSF model signatures (`model.sig`): what parses lists safe paths whose digest is
/// the subject, and writes back as a statement that reads as the same files.
pub fn model_signature(data: &[u8]) {
    use crate::sign::model_signing::ModelFiles;
    let Ok(signature) = crate::sign::model_signing::ModelSignature::from_slice(data) else {
        return;
    };
    let files = &signature.files;
    for path in files.files.keys() {
        let single = path == crate::sign::model_signing::SINGLE_FILE && files.files.len() == 1;
        assert!(
            single || crate::package::unpack::safe_relative_path(path).is_ok(),
            "{path:?}"
        );
    }
    let again = ModelFiles::from_statement(&files.statement()).expect("its own statement reads");
    assert_eq!(&again, files);
    assert!(files.compare(&files.files).is_exact());
    let _ = signature.has_certificate();
}

/// X.509 certificates, RFC 3161 timestamps and Sigstore trusted roots (what keyless
/// verification parses from a bundle and a root): no panic; a certificate's precertificate
/// rebuilds to DER that parses.
pub fn certificate(data: &[u8]) {
    use crate::sign::x509::{Cert, precertificate_tbs};
    if let Ok(cert) = Cert::from_der(data) {
        let _ = (
            cert.subject_alt_names(),
            cert.oidc_issuer(),
            cert.github_claim("ref"),
        );
        let _ = (
            cert.can_sign(),
            cert.is_ca(),
            cert.validity(),
            cert.issued_by(&cert),
        );
        if let Some(tbs) = precertificate_tbs(&cert, "1.3.6.1.4.1.11129.2.4.2") {
            use x509_cert::der::Decode as _;
            assert!(
                x509_cert::TbsCertificate::from_der(&tbs).is_ok(),
                "a rebuilt precertificate does not parse"
            );
        }
    }
    let _ = crate::sign::timestamp::verify(data, b"signature", &[]);
    let _ = crate::sign::keyless::TrustedRoot::from_json(data);
}

/// `WWW-Authenticate` challenges and `Link` headers.
pub fn headers(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::store::registry::auth::Challenge::parse(text);
        let _ = crate::store::registry::urls::next_link(text);
    }
}

/// OCI layout tar import into an empty layout: whatever the archive holds, every blob left
/// in the layout hashes to its name and nothing half-written stays behind.
pub fn archive(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temp directory");
    let layout = crate::store::Layout::create(dir.path().join("layout")).expect("a layout");
    let _ = crate::store::archive::import(&layout, data, Path::new("fuzz.tar"));
    let report = crate::store::maintain::fsck(&layout, false).expect("fsck runs");
    assert!(report.corrupt.is_empty(), "{report:?}");
    assert!(report.leftovers.is_empty(), "{report:?}");
}

/// `--where` expressions, matched against a few fields.
pub fn query(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(condition) = Condition::from_str(text) else {
        return;
    };
    let mut fields = Fields::default();
    fields.0.insert("name".into(), Field::Text("bert".into()));
    fields
        .0
        .insert("metrics.accuracy".into(), Field::Number(0.91));
    fields
        .0
        .insert("version".into(), Field::Text("1.2.0".into()));
    fields
        .0
        .insert("licenses".into(), Field::List(vec!["Apache-2.0".into()]));
    let _ = condition.matches(&fields);
    let _ = condition.matches(&Fields::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays `fuzz/corpus/<target>/*` and `fuzz/regressions/<target>/*`: every input the
    /// fuzzers kept, and every crash they found (fixed since), passes again.
    #[test]
    fn committed_fuzz_inputs_still_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for (name, target) in TARGETS {
            for kind in ["corpus", "regressions"] {
                let Ok(entries) = fs_err::read_dir(root.join(kind).join(name)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.expect("a directory entry").path();
                    let data = fs_err::read(&path).expect("a readable input");
                    target(&data);
                    replayed += 1;
                }
            }
            assert!(
                root.join("corpus").join(name).is_dir(),
                "no committed corpus for the {name} target"
            );
        }
        assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
    }
}
