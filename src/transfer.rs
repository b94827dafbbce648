//! Moving models between places: the local store, `oci:` layouts and registries, in any
//! direction, several blobs at a time, skipping blobs the target has. Registry to registry
//! uses a cross-repository mount on one host and streams blobs through memory otherwise;
//! nothing touches the disk that need not.

use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::error::Result;
use crate::governance::versions;
use crate::oci::{Descriptor, MAX_MANIFEST_SIZE, Manifest};
use crate::package::{self, Packed};
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
    async fn put_manifest(&self, tag: Option<&Tag>, resolved: &Resolved) -> Result<()> {
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

/// Copies `blobs` from `source` to `target`, `concurrency` at a time.
///
/// # Errors
/// The first blob that fails (others in flight finish or stop).
pub async fn copy_blobs(
    source: &Endpoint,
    target: &Endpoint,
    blobs: &[Descriptor],
    concurrency: usize,
    reporter: Arc<dyn Reporter>,
) -> Result<()> {
    reporter.total(blobs.iter().map(|b| b.size).sum());
    stream::iter(blobs.iter().enumerate())
        .map(|(id, blob)| copy_blob(source, target, blob, Arc::clone(&reporter), id))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

async fn copy_blob(
    source: &Endpoint,
    target: &Endpoint,
    blob: &Descriptor,
    reporter: Arc<dyn Reporter>,
    id: usize,
) -> Result<()> {
    match (source, target) {
        (Endpoint::Layout(from), Endpoint::Layout(to)) => {
            let (from, to, blob) = (from.layout().clone(), to.layout().clone(), blob.clone());
            tokio::task::spawn_blocking(move || -> Result<()> {
                if !to.has_blob(&blob) {
                    let mut reader = from.open_blob(&blob)?;
                    to.copy_blob(&mut reader, &blob)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .map_err(crate::store::Error::from)??;
        }
        (Endpoint::Layout(from), Endpoint::Registry(to)) => {
            let path = from.layout().blob_path(&blob.digest);
            if !from.layout().has_blob(blob) {
                return Err(crate::store::Error::BlobMissing {
                    digest: blob.digest.clone(),
                    layout: from.layout().root().to_owned(),
                }
                .into());
            }
            to.push_blob(blob, BlobSource::File(path), reporter, id)
                .await?;
        }
        (Endpoint::Registry(from), Endpoint::Layout(to)) => {
            from.pull_blob(blob, to.layout(), reporter, id).await?;
        }
        (Endpoint::Registry(from), Endpoint::Registry(to)) => {
            if to.has_blob(blob).await? {
                return Ok(());
            }
            if from.host() == to.host() && to.mount(blob, from.name()).await? {
                return Ok(());
            }
            to.relay_blob(blob, from, reporter, id).await?;
        }
    }
    Ok(())
}

/// Copies a resolved model to `target`: its blobs, then its manifest under `tag`. A version
/// tag that already names another model is refused (before any blob moves) unless `force`.
///
/// # Errors
/// As [`copy_blobs`]; [`crate::governance::Error::VersionExists`]; the manifest is written
/// only after every blob arrived.
pub async fn copy(
    source: &Endpoint,
    resolved: &Resolved,
    target: &Endpoint,
    tag: Option<&Tag>,
    force: bool,
    concurrency: usize,
    reporter: Arc<dyn Reporter>,
) -> Result<()> {
    if let Some(tag) = tag {
        versions::guard_version(target, tag, &resolved.descriptor.digest, force).await?;
    }
    // Blobs written to a layout are unreferenced until the tag: keep GC away meanwhile.
    let _guard = match target {
        Endpoint::Layout(repo) => Some(repo.layout().write_guard()?),
        Endpoint::Registry(_) => None,
    };
    copy_blobs(source, target, &resolved.blobs(), concurrency, reporter).await?;
    target.put_manifest(tag, resolved).await
}

/// Pushes a model directory straight from disk: no local copy is made. A file whose digest
/// the cache remembers is skipped when the registry has it; any other file is hashed while
/// it uploads (see [`Repository::push_file`]). The manifest goes last, once every blob is in,
/// and not at all when `tag` is a version that names another model (unless `force`).
///
/// # Errors
/// Packing, transport and registry errors; [`crate::governance::Error::VersionExists`].
pub async fn push_directory(
    dir: &Path,
    options: &package::pack::Options,
    target: &Repository,
    tag: &Tag,
    force: bool,
    concurrency: usize,
    reporter: Arc<dyn Reporter>,
) -> Result<Packed> {
    let scan = {
        let (dir, options) = (dir.to_owned(), options.clone());
        tokio::task::spawn_blocking(move || package::pack::scan(&dir, &options))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .map_err(crate::store::Error::from)??
    };
    let cache = options.cache.clone();
    reporter.total(scan.files().iter().map(|f| f.size).sum());
    let digests: Vec<crate::Digest> = stream::iter(scan.files().iter().enumerate())
        .map(|(id, file)| {
            let (reporter, cache) = (Arc::clone(&reporter), cache.clone());
            async move {
                let metadata = fs_err::metadata(&file.path).map_err(crate::store::Error::from)?;
                let media_type = "application/octet-stream";
                if let Some(digest) = cache.as_ref().and_then(|c| c.get(&file.path, &metadata)) {
                    let descriptor = Descriptor::new(media_type, digest.clone(), file.size);
                    target
                        .push_blob(
                            &descriptor,
                            BlobSource::File(file.path.clone()),
                            reporter,
                            id,
                        )
                        .await?;
                    return Ok::<_, crate::Error>(digest);
                }
                let digest = target
                    .push_file(&file.path, file.size, media_type, reporter, id)
                    .await?;
                if let Some(cache) = &cache {
                    cache.insert(&file.path, &metadata, digest.clone());
                }
                Ok(digest)
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let packed = package::pack::assemble(&scan, digests, options)?;
    let config = packed.manifest.config.clone();
    let id = scan.files().len();
    target
        .push_blob(
            &config,
            BlobSource::Bytes(packed.config_bytes.clone().into()),
            reporter,
            id,
        )
        .await?;
    let endpoint = Endpoint::Registry(target.clone());
    versions::guard_version(&endpoint, tag, &packed.descriptor.digest, force).await?;
    target
        .put_manifest(tag.as_str(), &packed.descriptor, &packed.manifest_bytes)
        .await?;
    if let Some(cache) = &cache
        && let Err(e) = cache.save()
    {
        tracing::warn!("could not save the digest cache: {e}");
    }
    Ok(packed)
}
