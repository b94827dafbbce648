//! The OCI image-spec documents modelark reads and writes: [`Descriptor`], [`Manifest`]
//! and [`Index`] (<https://github.com/opencontainers/image-spec>).
//!
//! These are our own small types rather than `oci-spec`'s builders: modelark needs exact
//! control of the serialized bytes (reproducible digests) and must read foreign manifests
//! leniently, keeping fields it does not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::media_types;

/// The largest manifest or index modelark writes or reads (the limit CNCF distribution and
/// most registries enforce).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// Errors from decoding OCI documents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not JSON of the expected shape.
    #[error("malformed {what} {digest}")]
    Malformed {
        /// `manifest` or `index`.
        what: &'static str,
        /// The digest of the document.
        digest: Digest,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The document is an index or another kind of manifest than expected.
    #[error("{digest} has media type {media_type}, not an OCI image manifest")]
    NotAManifest {
        /// The digest of the document.
        digest: Digest,
        /// What it declares itself to be.
        media_type: String,
    },
    /// `schemaVersion` is not 2.
    #[error("{digest} has schemaVersion {version}; only 2 is defined")]
    SchemaVersion {
        /// The digest of the document.
        digest: Digest,
        /// The version found.
        version: u32,
    },
}

/// A content descriptor: what a manifest or index points at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size in bytes of the referenced content.
    pub size: u64,
    /// The artifact type of a referenced manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations, sorted by key so serialization is deterministic.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields of the descriptor modelark does not interpret (platform, urls, data).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Descriptor {
    /// A descriptor with no annotations.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            other: BTreeMap::new(),
        }
    }

    /// The descriptor of `bytes` held in memory (a config, manifest or small blob).
    pub fn of(media_type: impl Into<String>, bytes: &[u8]) -> Self {
        Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64)
    }

    /// A copy naming only the content (media type, digest, size, artifactType), without
    /// annotations: what an index entry or a `subject` starts from.
    pub fn pointer(&self) -> Self {
        Descriptor {
            artifact_type: self.artifact_type.clone(),
            ..Descriptor::new(&self.media_type, self.digest.clone(), self.size)
        }
    }
}

/// An OCI image manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json` for what modelark writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// What kind of artifact this is (ModelPack: `application/vnd.cncf.model.manifest.v1+json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, attestations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Manifest annotations, sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Decodes a manifest, refusing indexes and unknown schema versions.
    ///
    /// # Errors
    /// [`Error`] when `bytes` is not an image manifest.
    pub fn from_slice(bytes: &[u8], digest: &Digest) -> Result<Manifest, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let malformed = |source| Error::Malformed {
            what: "manifest",
            digest: digest.clone(),
            source,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(malformed)?;
        let media_type = probe.media_type.as_deref();
        let is_index = probe.manifests.is_some()
            || matches!(
                media_type,
                Some(media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST)
            );
        if is_index
            || !matches!(
                media_type,
                None | Some(media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST)
            )
        {
            return Err(Error::NotAManifest {
                digest: digest.clone(),
                media_type: media_type.unwrap_or(media_types::OCI_INDEX).to_owned(),
            });
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(malformed)?;
        if manifest.schema_version != 2 {
            return Err(Error::SchemaVersion {
                digest: digest.clone(),
                version: manifest.schema_version,
            });
        }
        Ok(manifest)
    }

    /// The canonical bytes modelark writes: compact JSON with sorted annotations.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes")
    }
}

/// An OCI image index (also the `index.json` of an OCI image layout).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests this index lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Index annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields modelark does not interpret (artifactType, subject), kept on rewrite.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Index {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.to_owned()),
            ..Index::default()
        }
    }

    /// Decodes an index.
    ///
    /// # Errors
    /// [`Error::Malformed`] when `bytes` is not an index.
    pub fn from_slice(bytes: &[u8], digest: &Digest) -> Result<Index, Error> {
        serde_json::from_slice(bytes).map_err(|source| Error::Malformed {
            what: "index",
            digest: digest.clone(),
            source,
        })
    }

    /// Compact JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an index always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"x")
    }

    #[test]
    fn manifest_round_trips_and_keeps_unknown_descriptor_fields() {
        let json = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"platform":{"os":"linux"}},"layers":[]}"#;
        let manifest = Manifest::from_slice(json, &digest()).unwrap();
        assert_eq!(manifest.config.other["platform"]["os"], "linux");
        assert_eq!(manifest.to_bytes(), json.to_vec());
    }

    #[test]
    fn refuses_indexes_and_wrong_versions() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Manifest::from_slice(index, &digest()),
            Err(Error::NotAManifest { .. })
        ));
        let v1 = br#"{"schemaVersion":1,"config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}"#;
        assert!(matches!(
            Manifest::from_slice(v1, &digest()),
            Err(Error::SchemaVersion { version: 1, .. })
        ));
        assert!(matches!(
            Manifest::from_slice(b"{not json", &digest()),
            Err(Error::Malformed { .. })
        ));
    }
}
