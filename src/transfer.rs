//! Moving models between places: the local store, `oci:` layouts and registries, in any
//! direction, several blobs at a time, skipping blobs the target has. Registry to registry
//! uses a cross-repository mount on one host and streams blobs through memory otherwise;
//! nothing touches the disk that need not.

use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::error::Result;
use crate::governance::versions;
use crate::oci::Descriptor;
use crate::package::{self, Packed};
use crate::progress::Reporter;
use crate::reference::Tag;
use crate::store::registry::{BlobSource, Repository};
use crate::store::{Endpoint, Resolved};

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
