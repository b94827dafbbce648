//! Where a model is read from or written to, whatever the kind of place: the local store or
//! an `oci:` layout ([`LayoutRepo`]) or a registry repository ([`Repository`]). Signing,
//! verification and governance work on an [`Endpoint`]; moving models between two of them is
//! [`crate::transfer`].

use std::sync::Arc;

use crate::error::Result;
use crate::oci::{Descriptor, MAX_MANIFEST_SIZE, Manifest};
use crate::progress::Reporter;
use crate::reference::{Reference, Tag};
use crate::store::LayoutRepo;
use crate::store::registry::{BlobSource, Repository};

/// Where a model is read from or written to.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// The local store or an `oci:` layout.
    Layout(LayoutRepo),
    /// A registry repository.
    Registry(Repository),
}

/// A manifest found by reference.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Its descriptor (digest, size, media type).
    pub descriptor: Descriptor,
    /// Its exact bytes.
    pub bytes: Vec<u8>,
    /// Decoded.
    pub manifest: Manifest,
}

impl Resolved {
    /// The config and layers, each once.
    pub fn blobs(&self) -> Vec<Descriptor> {
        let mut blobs = vec![self.manifest.config.clone()];
        for layer in &self.manifest.layers {
            if !blobs.iter().any(|b| b.digest == layer.digest) {
                blobs.push(layer.clone());
            }
        }
        blobs
    }
}

impl Endpoint {
    /// Finds and reads the manifest `reference` names (its digest when it has one, else its
    /// tag or `latest`).
    ///
    /// # Errors
    /// Not found, transport, verification, or a manifest that is an index.
    pub async fn resolve(&self, reference: &Reference) -> Result<Resolved> {
        let (descriptor, bytes) = match self {
            Endpoint::Layout(repo) => {
                let descriptor = repo.resolve(reference)?;
                let bytes = repo.layout().read_blob(&descriptor, MAX_MANIFEST_SIZE)?;
                (descriptor, bytes)
            }
            Endpoint::Registry(repo) => {
                let selector = match reference.digest() {
                    Some(digest) => digest.to_string(),
                    None => reference.tag_or_latest().to_string(),
                };
                repo.manifest(&selector).await?
            }
        };
        let manifest = Manifest::from_slice(&bytes, &descriptor.digest)?;
        Ok(Resolved {
            descriptor,
            bytes,
            manifest,
        })
    }

    /// Reads a small blob (a config) of at most 4 MiB, verified.
    ///
    /// # Errors
    /// Missing, corrupt or oversized blobs.
    pub async fn small_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        Ok(match self {
            Endpoint::Layout(repo) => repo.layout().read_blob(descriptor, MAX_MANIFEST_SIZE)?,
            Endpoint::Registry(repo) => {
                repo.fetch_small_blob(descriptor, MAX_MANIFEST_SIZE).await?
            }
        })
    }

    /// Points `tag` (or only the digest, when `None`) at a manifest whose blobs are all here.
    ///
    /// # Errors
    /// Transport and I/O errors.
    pub async fn put_manifest(&self, tag: Option<&Tag>, resolved: &Resolved) -> Result<()> {
        self.put_manifest_bytes(tag, &resolved.descriptor, &resolved.bytes)
            .await
    }

    /// Stores manifest or index bytes under `tag`, or by digest only when `None`. Every
    /// blob it names must already be here.
    ///
    /// # Errors
    /// Transport and I/O errors.
    pub async fn put_manifest_bytes(
        &self,
        tag: Option<&Tag>,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<()> {
        match self {
            Endpoint::Layout(repo) => {
                let digest = repo.layout().write_blob(bytes)?;
                debug_assert_eq!(digest, descriptor.digest);
                if let Some(tag) = tag {
                    repo.set_tag(tag, descriptor)?;
                }
            }
            Endpoint::Registry(repo) => {
                let reference = tag.map_or_else(|| descriptor.digest.to_string(), Tag::to_string);
                repo.put_manifest(&reference, descriptor, bytes).await?;
            }
        }
        Ok(())
    }

    /// Reads the manifest or index a tag points at, raw; `None` when the tag does not exist.
    ///
    /// # Errors
    /// Transport, I/O and verification errors.
    pub async fn fetch_tag(&self, tag: &Tag) -> Result<Option<(Descriptor, Vec<u8>)>> {
        match self {
            Endpoint::Layout(repo) => {
                let Some(entry) = repo.entries()?.into_iter().find(|e| e.tag == *tag) else {
                    return Ok(None);
                };
                let bytes = repo
                    .layout()
                    .read_blob(&entry.descriptor, MAX_MANIFEST_SIZE)?;
                Ok(Some((entry.descriptor, bytes)))
            }
            Endpoint::Registry(repo) => match repo.manifest(tag.as_str()).await {
                Ok(found) => Ok(Some(found)),
                Err(crate::store::registry::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Reads a manifest or index by digest, raw and verified.
    ///
    /// # Errors
    /// Not found, transport, I/O and verification errors.
    pub async fn fetch_manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        Ok(match self {
            Endpoint::Layout(repo) => repo.layout().read_blob(descriptor, MAX_MANIFEST_SIZE)?,
            Endpoint::Registry(repo) => repo.manifest(&descriptor.digest.to_string()).await?.1,
        })
    }

    /// Stores a small blob held in memory.
    ///
    /// # Errors
    /// Transport and I/O errors.
    pub async fn put_blob_bytes(&self, descriptor: &Descriptor, bytes: Vec<u8>) -> Result<()> {
        match self {
            Endpoint::Layout(repo) => {
                repo.layout().write_blob(&bytes)?;
            }
            Endpoint::Registry(repo) => {
                let silent: Arc<dyn Reporter> = Arc::new(crate::progress::Silent);
                repo.push_blob(descriptor, BlobSource::Bytes(bytes.into()), silent, 0)
                    .await?;
            }
        }
        Ok(())
    }

    /// The OCI 1.1 referrers index of `digest` when the registry offers the API; `None`
    /// for layouts and registries without it (callers use the fallback tag).
    ///
    /// # Errors
    /// Transport errors.
    pub async fn referrers_api(&self, digest: &crate::Digest) -> Result<Option<crate::oci::Index>> {
        match self {
            Endpoint::Layout(_) => Ok(None),
            Endpoint::Registry(repo) => Ok(repo.referrers(digest).await?),
        }
    }

    /// Every tag, sorted.
    ///
    /// # Errors
    /// Not found, transport and I/O errors.
    pub async fn tags(&self) -> Result<Vec<Tag>> {
        Ok(match self {
            Endpoint::Layout(repo) => repo.entries()?.into_iter().map(|e| e.tag).collect(),
            Endpoint::Registry(repo) => repo
                .tags()
                .await?
                .into_iter()
                .filter_map(|t| t.parse().ok())
                .collect(),
        })
    }

    /// The most layers a signature or attestation manifest here may have.
    pub fn max_attachment_layers(&self) -> usize {
        match self {
            Endpoint::Layout(_) => crate::store::registry::Options::default().max_attachment_layers,
            Endpoint::Registry(repo) => repo.client().options().max_attachment_layers,
        }
    }

    /// A short name for messages: `HOST/REPO`, a local name, or `oci:PATH`.
    pub fn display_name(&self) -> String {
        match self {
            Endpoint::Layout(repo) => repo.display_name(),
            Endpoint::Registry(repo) => format!("{}/{}", repo.host(), repo.name()),
        }
    }
}
