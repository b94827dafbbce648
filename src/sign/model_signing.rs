//! The OpenSSF model-signing format (v1.0, PyPI `model-signing`): a Sigstore bundle v0.3
//! holding a DSSE envelope around an in-toto statement whose predicate lists every file of
//! the model with its SHA-256, and whose one subject is the SHA-256 over those digests in
//! path order. It is what `model_signing sign` writes as `model.sig` and what
//! `model_signing verify` checks a directory against.
//!
//! A modelark model's file layers already carry each file's digest, so the statement is
//! built from the manifest without reading a file. Such a signature vouches for the files,
//! not for the registry metadata in the config: it counts for every manifest whose file
//! layers are exactly its resources. See docs/signing.md.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::Error;
use super::dsse::{Bundle, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, Statement, Subject};
use super::keys::{PrivateKey, PublicKey};
use crate::digest::{Algorithm, Digest};
use crate::media_types;
use crate::oci::Manifest;
use crate::package::unpack::{Format, layer_format, layer_path, safe_relative_path};

/// The predicate type of a model-signing v1.0 statement.
pub const PREDICATE_V1: &str = "https://model_signing/signature/v1.0";
/// The predicate type model-signing 0.2 wrote (one subject per file); read, never written.
pub const PREDICATE_V01: &str = "https://model_signing/Digests/v0.1";
/// The file name `model_signing` and modelark give the signature in a model directory.
pub const SIGNATURE_FILE: &str = "model.sig";
/// The git paths `model_signing` leaves out unless told otherwise (`--ignore-git-paths`).
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];
/// What modelark's statements list as left out: the git paths and the signature file, as
/// `model_signing sign` writes when the signature sits in the directory, so that a
/// directory unpacked by modelark verifies with either tool.
pub const DEFAULT_IGNORED: [&str; 5] = [
    GIT_PATHS[0],
    GIT_PATHS[1],
    GIT_PATHS[2],
    GIT_PATHS[3],
    SIGNATURE_FILE,
];

/// True when the relative `/`-separated `path` is `ignored` or lies under it.
pub fn is_under(path: &str, ignored: &str) -> bool {
    let ignored = ignored.trim_end_matches('/');
    path == ignored
        || path
            .strip_prefix(ignored)
            .is_some_and(|rest| rest.starts_with('/'))
}
/// The resource name of a model signed as one file rather than a directory.
pub const SINGLE_FILE: &str = ".";
/// More files than any model has; a statement listing more is refused unread.
const MAX_RESOURCES: usize = 100_000;

/// The files one model signature covers, and how the signer serialised the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    /// The subject's name: the model directory's name (informative only).
    pub model_name: String,
    /// Each file (`/`-separated path relative to the model root) and its SHA-256.
    pub files: BTreeMap<String, Digest>,
    /// Paths (files or directories, relative to the root) the signer left out.
    pub ignore_paths: Vec<String>,
    /// Whether the signer followed symbolic links.
    pub allow_symlinks: bool,
}

/// How a directory differs from what a signature covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Signed files that are not there.
    pub missing: Vec<String>,
    /// Files there that the signature does not cover.
    pub extra: Vec<String>,
    /// Files whose bytes are not the signed ones.
    pub changed: Vec<String>,
}

impl Comparison {
    /// True when the directory is exactly what was signed.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }

    /// One sentence per kind of difference (at most five paths each), for error messages.
    pub fn sentences(&self) -> Vec<String> {
        let list = |paths: &[String]| {
            let mut text = paths
                .iter()
                .take(5)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if paths.len() > 5 {
                text.push_str(&format!(" and {} more", paths.len() - 5));
            }
            text
        };
        let mut out = Vec::new();
        if !self.changed.is_empty() {
            out.push(format!("changed: {}", list(&self.changed)));
        }
        if !self.missing.is_empty() {
            out.push(format!("missing: {}", list(&self.missing)));
        }
        if !self.extra.is_empty() {
            out.push(format!("not signed: {}", list(&self.extra)));
        }
        out
    }
}

/// The order `model_signing` lists resources in (and hashes them for the subject): by path
/// component, so `a/b` comes before `a.txt`.
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

#[derive(Serialize, Deserialize)]
struct Predicate {
    serialization: Serialization,
    resources: Vec<Resource>,
}

#[derive(Serialize, Deserialize)]
struct Serialization {
    method: String,
    hash_type: String,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_symlinks: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard_size: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Resource {
    name: String,
    algorithm: String,
    digest: String,
}

/// model-signing's compatibility path writes `"allow_symlinks": "false"`.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "allow_symlinks is {other}, not a boolean"
        ))),
    }
}

impl ModelFiles {
    /// The files of a model made of one raw layer per file (what modelark packs), named
    /// `model_name`.
    ///
    /// # Errors
    /// [`Error::Malformed`] for a layer that is an archive, names no file or an unsafe one,
    /// or has a digest other than SHA-256: its file digests are not in the manifest.
    pub fn from_manifest(model_name: &str, manifest: &Manifest) -> Result<ModelFiles, Error> {
        let refuse = |reason: String| Error::Malformed {
            what: "model for model signing".into(),
            reason,
        };
        let mut files = BTreeMap::new();
        for layer in &manifest.layers {
            let path = layer_path(layer)
                .ok_or_else(|| refuse(format!("layer {} names no file", layer.digest)))?;
            safe_relative_path(path).map_err(|e| refuse(e.to_string()))?;
            if layer_format(layer) != Format::Raw {
                return Err(refuse(format!(
                    "layer {path} is an archive ({}), so the manifest does not hold its files' \
                     digests; unpack the model and sign the directory with model_signing instead",
                    layer.media_type
                )));
            }
            if layer.digest.algorithm() != Algorithm::Sha256 {
                return Err(refuse(format!("layer {path} is not a SHA-256 digest")));
            }
            if files
                .insert(path.to_owned(), layer.digest.clone())
                .is_some()
            {
                return Err(refuse(format!("two layers are {path}")));
            }
        }
        Ok(ModelFiles {
            model_name: model_name.to_owned(),
            files,
            ignore_paths: DEFAULT_IGNORED.iter().map(|s| (*s).to_owned()).collect(),
            allow_symlinks: false,
        })
    }

    /// The resources in `model_signing`'s order.
    fn ordered(&self) -> Vec<(&String, &Digest)> {
        let mut files: Vec<_> = self.files.iter().collect();
        files.sort_by(|a, b| path_order(a.0, b.0));
        files
    }

    /// The subject digest: SHA-256 over the raw file digests in path order.
    pub fn root_digest(&self) -> Digest {
        let mut hasher = crate::digest::Hasher::new(Algorithm::Sha256);
        for (_, digest) in self.ordered() {
            hasher.update(&hex::decode(digest.hex()).unwrap_or_default());
        }
        hasher.finish()
    }

    /// The in-toto statement `model_signing` writes for these files.
    pub fn statement(&self) -> Statement {
        let predicate = Predicate {
            serialization: Serialization {
                method: "files".into(),
                hash_type: "sha256".into(),
                allow_symlinks: self.allow_symlinks,
                ignore_paths: self.ignore_paths.clone(),
                shard_size: None,
            },
            resources: self
                .ordered()
                .into_iter()
                .map(|(name, digest)| Resource {
                    name: name.clone(),
                    algorithm: "sha256".into(),
                    digest: digest.hex().to_owned(),
                })
                .collect(),
        };
        let root = self.root_digest();
        Statement {
            kind: super::dsse::STATEMENT_V1.to_owned(),
            subject: vec![Subject {
                name: self.model_name.clone(),
                digest: BTreeMap::from([("sha256".to_owned(), root.hex().to_owned())]),
            }],
            predicate_type: PREDICATE_V1.to_owned(),
            predicate: serde_json::to_value(predicate).unwrap_or_default(),
        }
    }

    /// Reads the files a model-signing statement covers, checking that its subject is the
    /// digest of its resources (as `model_signing verify` does).
    ///
    /// # Errors
    /// [`Error::Malformed`]: another predicate type, shard or non-SHA-256 serialisation,
    /// an unsafe or repeated path, a subject that does not match.
    pub fn from_statement(statement: &Statement) -> Result<ModelFiles, Error> {
        let refuse = |reason: String| Error::Malformed {
            what: "model signature".into(),
            reason,
        };
        if statement.predicate_type == PREDICATE_V01 {
            return from_v01(statement);
        }
        if statement.predicate_type != PREDICATE_V1 {
            return Err(refuse(format!(
                "predicate type `{}` is not {PREDICATE_V1}",
                statement.predicate_type
            )));
        }
        let [subject] = statement.subject.as_slice() else {
            return Err(refuse(format!(
                "{} subjects, not one",
                statement.subject.len()
            )));
        };
        let predicate: Predicate = serde_json::from_value(statement.predicate.clone())
            .map_err(|e| refuse(format!("predicate: {e}")))?;
        let s = &predicate.serialization;
        if s.method != "files" {
            return Err(refuse(format!(
                "serialization method `{}` is not supported (modelark reads `files`; sign \
                 without --use_shard_serialization)",
                s.method
            )));
        }
        if s.hash_type != "sha256" {
            return Err(refuse(format!(
                "hash type `{}` is not supported (modelark reads sha256)",
                s.hash_type
            )));
        }
        if predicate.resources.len() > MAX_RESOURCES {
            return Err(refuse(format!(
                "{} resources, over the limit of {MAX_RESOURCES}",
                predicate.resources.len()
            )));
        }
        let mut hasher = crate::digest::Hasher::new(Algorithm::Sha256);
        let mut files = BTreeMap::new();
        // A model that is one file (not a directory) is one resource named `.`.
        let single = predicate.resources.len() == 1 && predicate.resources[0].name == ".";
        for resource in predicate.resources {
            if single {
                let digest = resource_digest("file", &resource.algorithm, &resource.digest)
                    .map_err(refuse)?;
                hasher.update(&hex::decode(digest.hex()).unwrap_or_default());
                files.insert(SINGLE_FILE.to_owned(), digest);
                continue;
            }
            let digest = resource_digest(&resource.name, &resource.algorithm, &resource.digest)
                .map_err(refuse)?;
            hasher.update(&hex::decode(digest.hex()).unwrap_or_default());
            if files.insert(resource.name.clone(), digest).is_some() {
                return Err(refuse(format!("{} is listed twice", resource.name)));
            }
        }
        let root = hasher.finish();
        if subject.digest.get("sha256").map(String::as_str) != Some(root.hex()) {
            return Err(refuse(
                "its subject is not the digest of the files it lists".into(),
            ));
        }
        Ok(ModelFiles {
            model_name: subject.name.clone(),
            files,
            ignore_paths: s.ignore_paths.clone(),
            allow_symlinks: s.allow_symlinks,
        })
    }

    /// How `actual` (path to SHA-256 of what is on disk) differs from the signed files.
    pub fn compare(&self, actual: &BTreeMap<String, Digest>) -> Comparison {
        let mut out = Comparison::default();
        for (path, digest) in &self.files {
            match actual.get(path) {
                None => out.missing.push(path.clone()),
                Some(found) if found != digest => out.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        out.extra = actual
            .keys()
            .filter(|p| !self.files.contains_key(*p))
            .cloned()
            .collect();
        out
    }

    /// True when `path` (relative, `/`-separated) is one the signer left out, or lies
    /// under one.
    pub fn ignores(&self, path: &str) -> bool {
        self.ignore_paths
            .iter()
            .any(|ignored| is_under(path, ignored))
    }
}

fn resource_digest(name: &str, algorithm: &str, hex_digest: &str) -> Result<Digest, String> {
    safe_relative_path(name).map_err(|e| e.to_string())?;
    if algorithm != "sha256" {
        return Err(format!("{name}: algorithm `{algorithm}` is not sha256"));
    }
    format!("sha256:{hex_digest}")
        .parse::<Digest>()
        .map_err(|e| format!("{name}: {e}"))
}

/// model-signing 0.2: one subject per file, no root digest and no serialisation record.
fn from_v01(statement: &Statement) -> Result<ModelFiles, Error> {
    let mut files = BTreeMap::new();
    for subject in &statement.subject {
        let hex_digest = subject
            .digest
            .get("sha256")
            .ok_or_else(|| Error::Malformed {
                what: "model signature".into(),
                reason: format!("{} has no sha256 digest", subject.name),
            })?;
        let digest = resource_digest(&subject.name, "sha256", hex_digest).map_err(|reason| {
            Error::Malformed {
                what: "model signature".into(),
                reason,
            }
        })?;
        files.insert(subject.name.clone(), digest);
    }
    Ok(ModelFiles {
        model_name: String::new(),
        files,
        ignore_paths: DEFAULT_IGNORED.iter().map(|s| (*s).to_owned()).collect(),
        allow_symlinks: false,
    })
}

/// The key hint `model_signing` writes and checks: the hex SHA-256 of the public key's
/// PEM (SubjectPublicKeyInfo, 64-column base64, LF line ends), not of its DER.
pub fn key_hint(key: &PublicKey) -> String {
    Digest::sha256_of(key.to_pem().unwrap_or_default().as_bytes())
        .hex()
        .to_owned()
}

/// Signs `files` with `key` into the bundle `model_signing sign key` writes.
pub fn sign(files: &ModelFiles, key: &PrivateKey) -> Bundle {
    let payload = serde_json::to_vec(&files.statement()).unwrap_or_default();
    let signature = key.sign(&super::dsse::pae(IN_TOTO_PAYLOAD_TYPE, &payload));
    let envelope = Envelope {
        payload: B64.encode(&payload),
        payload_type: IN_TOTO_PAYLOAD_TYPE.to_owned(),
        signatures: vec![EnvelopeSignature {
            keyid: String::new(),
            sig: B64.encode(signature),
        }],
    };
    Bundle {
        media_type: media_types::SIGSTORE_BUNDLE.to_owned(),
        verification_material: serde_json::json!({
            "publicKey": {"hint": key_hint(&key.public_key())},
            "tlogEntries": [],
        }),
        dsse_envelope: Some(envelope),
        message_signature: None,
    }
}

/// A model signature as read from `model.sig` or a bundle attachment.
#[derive(Clone, Debug)]
pub struct ModelSignature {
    /// The bundle.
    pub bundle: Bundle,
    /// The files it covers.
    pub files: ModelFiles,
}

impl ModelSignature {
    /// Parses a bundle holding a model-signing statement. The signature is not checked.
    ///
    /// # Errors
    /// [`Error::Malformed`] for anything that is not a model-signing bundle.
    pub fn from_slice(bytes: &[u8]) -> Result<ModelSignature, Error> {
        let bundle = Bundle::from_slice(bytes)?;
        Self::from_bundle(bundle)
    }

    /// Reads the statement of a bundle already parsed.
    ///
    /// # Errors
    /// As [`ModelSignature::from_slice`].
    pub fn from_bundle(bundle: Bundle) -> Result<ModelSignature, Error> {
        let envelope = bundle
            .dsse_envelope
            .as_ref()
            .ok_or_else(|| Error::Malformed {
                what: "model signature".into(),
                reason: "the bundle holds no DSSE envelope".into(),
            })?;
        let files = ModelFiles::from_statement(&envelope.statement()?)?;
        Ok(ModelSignature { bundle, files })
    }

    /// The envelope (always present once parsed).
    pub fn envelope(&self) -> &Envelope {
        self.bundle
            .dsse_envelope
            .as_ref()
            .unwrap_or_else(|| unreachable!("checked when parsed"))
    }

    /// True when the bundle names a signing certificate (keyless or certificate mode)
    /// rather than a key hint.
    pub fn has_certificate(&self) -> bool {
        super::dsse::has_certificate(&self.bundle)
    }

    /// True when `key` verifies the envelope's signature.
    pub fn verified_by(&self, key: &PublicKey) -> bool {
        self.envelope().verified_by(key)
    }

    /// True when the statement is a model-signing one: cheap check for sorting attachments.
    pub fn is_model_signing(statement: &Statement) -> bool {
        statement.predicate_type == PREDICATE_V1 || statement.predicate_type == PREDICATE_V01
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Descriptor;

    fn layer(path: &str, bytes: &[u8]) -> Descriptor {
        let mut d = Descriptor::of("application/vnd.cncf.model.weight.v1.raw", bytes);
        d.annotations
            .insert(media_types::ANNOTATION_FILEPATH.into(), path.into());
        d
    }

    fn manifest(layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.into()),
            artifact_type: Some(media_types::MODEL_ARTIFACT.into()),
            config: Descriptor::of(media_types::MODEL_CONFIG, b"{}"),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn resources_follow_model_signings_path_order() {
        assert_eq!(path_order("a/b", "a.txt"), Ordering::Less);
        assert_eq!("a/b".cmp("a.txt"), Ordering::Greater);
        let files = ModelFiles::from_manifest(
            "m",
            &manifest(vec![layer("a.txt", b"hello\n"), layer("a/b", b"x")]),
        )
        .unwrap();
        let statement = files.statement();
        let names: Vec<_> = statement.predicate["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a/b", "a.txt"]);
        // The subject is the SHA-256 over the raw digests in that order.
        let mut raw = hex::decode(Digest::sha256_of(b"x").hex()).unwrap();
        raw.extend(hex::decode(Digest::sha256_of(b"hello\n").hex()).unwrap());
        assert_eq!(
            statement.subject[0].digest["sha256"],
            Digest::sha256_of(&raw).hex()
        );
        assert_eq!(ModelFiles::from_statement(&statement).unwrap(), files);
    }

    #[test]
    fn signatures_verify_and_inconsistent_statements_are_refused() {
        let key = PrivateKey::generate().unwrap();
        let files =
            ModelFiles::from_manifest("m", &manifest(vec![layer("w.bin", b"weights")])).unwrap();
        let bundle = sign(&files, &key);
        let read = ModelSignature::from_slice(&bundle.to_bytes()).unwrap();
        assert!(read.verified_by(&key.public_key()));
        assert!(!read.verified_by(&PrivateKey::generate().unwrap().public_key()));
        assert!(!read.has_certificate());
        assert_eq!(
            bundle.verification_material["publicKey"]["hint"],
            key_hint(&key.public_key())
        );

        let mut statement = files.statement();
        statement.predicate["resources"][0]["digest"] =
            serde_json::json!(Digest::sha256_of(b"other").hex());
        let error = ModelFiles::from_statement(&statement).unwrap_err();
        assert!(error.to_string().contains("not the digest of the files"));

        let mut statement = files.statement();
        statement.predicate["resources"][0]["name"] = serde_json::json!("../escape");
        assert!(ModelFiles::from_statement(&statement).is_err());

        let mut statement = files.statement();
        statement.predicate["serialization"]["method"] = serde_json::json!("shards");
        let error = ModelFiles::from_statement(&statement).unwrap_err();
        assert!(error.to_string().contains("`shards` is not supported"));
    }

    #[test]
    fn archives_are_refused_and_comparisons_name_each_difference() {
        let mut tar = layer("code", b"tar");
        tar.media_type = "application/vnd.cncf.model.code.v1.tar".into();
        let error = ModelFiles::from_manifest("m", &manifest(vec![tar])).unwrap_err();
        assert!(error.to_string().contains("is an archive"), "{error}");

        let files =
            ModelFiles::from_manifest("m", &manifest(vec![layer("a", b"1"), layer("b", b"2")]))
                .unwrap();
        let actual = BTreeMap::from([
            ("a".to_owned(), Digest::sha256_of(b"changed")),
            ("c".to_owned(), Digest::sha256_of(b"3")),
        ]);
        let comparison = files.compare(&actual);
        assert_eq!(comparison.changed, ["a"]);
        assert_eq!(comparison.missing, ["b"]);
        assert_eq!(comparison.extra, ["c"]);
        assert!(!comparison.is_exact());
        assert!(files.ignores(".git/config"));
        assert!(files.ignores("model.sig"));
        assert!(!files.ignores(".gitx"));
    }
}
