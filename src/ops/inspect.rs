//! Inspect, list and unpack: what a model is, what a place holds, and a model's files on disk.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::Serialize;

use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::package::{self, ModelView, unpack as unpacking};
use crate::reference::Reference;
use crate::store::{self, Endpoint, Entry, Layout};

/// A model's metadata, files, sizes and digests.
#[derive(Clone, Debug, Serialize)]
pub struct Inspected {
    /// The model as asked for.
    pub reference: Reference,
    /// What it is.
    #[serde(flatten)]
    pub view: ModelView,
}

/// Reads a model's manifest and (ModelPack) config from wherever it lives; never weights.
///
/// # Errors
/// Not found, transport and verification errors.
pub async fn inspect(ctx: &Context, reference: &Reference) -> Result<Inspected> {
    let endpoint = ctx.endpoint(reference, false)?;
    let what = || format!("failed to read {reference}");
    let resolved = endpoint.resolve(reference).await.op(what)?;
    let config = if package::has_modelpack_config(&resolved.manifest) {
        Some(
            endpoint
                .small_blob(&resolved.manifest.config)
                .await
                .op(what)?,
        )
    } else {
        None
    };
    let view =
        package::describe(&resolved.descriptor, &resolved.manifest, config.as_deref()).op(what)?;
    Ok(Inspected {
        reference: reference.clone(),
        view,
    })
}

/// What `list` lists.
#[derive(Clone, Debug)]
pub enum ListTarget {
    /// Everything in the local store.
    Store,
    /// A registry's repositories under a prefix (`HOST/` or `HOST/PREFIX/`).
    Catalog {
        /// The registry.
        host: String,
        /// Only repositories under this prefix; all when empty.
        prefix: String,
    },
    /// One repository's tags: a local name, an `oci:` layout or a registry repository.
    Repository(Reference),
}

impl std::str::FromStr for ListTarget {
    type Err = crate::reference::Error;

    /// `HOST/` or `HOST/PREFIX/` is a catalog; anything else a repository reference.
    fn from_str(text: &str) -> Result<ListTarget, Self::Err> {
        if let Some(stripped) = text.strip_suffix('/') {
            let (host, prefix) = stripped.split_once('/').unwrap_or((stripped, ""));
            // Validate the host the way a reference would.
            format!("{host}/x").parse::<Reference>()?;
            return Ok(ListTarget::Catalog {
                host: host.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        text.parse().map(ListTarget::Repository)
    }
}

/// One tag in a listing.
#[derive(Clone, Debug, Serialize)]
pub struct ListEntry {
    /// The repository (local store only).
    pub name: Option<String>,
    /// The tag.
    pub tag: String,
    /// The manifest digest (empty when the manifest could not be read).
    pub digest: String,
    /// Total layer size, when the manifest was read.
    pub size: Option<u64>,
    /// The model version, when recorded.
    pub version: Option<String>,
    /// The manifest's artifact type.
    pub artifact_type: Option<String>,
}

/// One repository of a registry catalog.
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryEntry {
    /// The repository name (without the host).
    pub repository: String,
}

/// What a place holds.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Listed {
    /// A registry's repositories.
    Repositories(Vec<RepositoryEntry>),
    /// Tagged models.
    Models(Vec<ListEntry>),
}

/// Lists the local store, a registry's repositories, or one repository's tags (with each
/// manifest read for its digest, size and version; never weights). Signature and
/// attestation tags are left out unless `all`.
///
/// # Errors
/// Transport and store errors.
pub async fn list(ctx: &Context, target: &ListTarget, all: bool) -> Result<Listed> {
    let keep = |tag: &str| all || !tag.starts_with("sha256-");
    match target {
        ListTarget::Catalog { host, prefix } => {
            let repo = ctx.client()?.repository(host, "");
            let mut names = repo
                .catalog()
                .await
                .op(|| format!("failed to list the repositories of {host}"))?;
            if !prefix.is_empty() {
                names.retain(|n| n.starts_with(&format!("{prefix}/")));
            }
            Ok(Listed::Repositories(
                names
                    .into_iter()
                    .map(|repository| RepositoryEntry { repository })
                    .collect(),
            ))
        }
        ListTarget::Repository(reference) => {
            let repository = reference.without_selector();
            match ctx.endpoint(&repository, false)? {
                Endpoint::Registry(repo) => list_registry(ctx, &repo, reference, &keep).await,
                Endpoint::Layout(repo) => {
                    let entries = repo
                        .entries()
                        .op(|| format!("failed to list {reference}"))?;
                    Ok(rows(repo.layout(), entries, &keep))
                }
            }
        }
        ListTarget::Store => {
            let path = ctx.home().store_path();
            if !path.exists() {
                return Ok(Listed::Models(Vec::new()));
            }
            let layout = Layout::open(path).op(|| "failed to open the local store".into())?;
            let mut entries =
                store::entries(&layout, true).op(|| "failed to list the local store".into())?;
            entries.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
            Ok(rows(&layout, entries, &keep))
        }
    }
}

fn rows(layout: &Layout, entries: Vec<Entry>, keep: &dyn Fn(&str) -> bool) -> Listed {
    Listed::Models(
        entries
            .into_iter()
            .filter(|e| keep(e.tag.as_str()))
            .map(|e| entry(layout, e))
            .collect(),
    )
}

/// Tags of a registry repository, each manifest fetched for its digest, size and version.
async fn list_registry(
    ctx: &Context,
    repo: &store::registry::Repository,
    reference: &Reference,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Listed> {
    let tags = repo
        .tags()
        .await
        .op(|| format!("failed to list {reference}"))?;
    let tags: Vec<String> = tags.into_iter().filter(|t| keep(t)).collect();
    let rows = futures_util::stream::iter(tags)
        .map(|tag| async move {
            let manifest = repo.manifest(&tag).await;
            let (digest, parsed) = match &manifest {
                Ok((descriptor, bytes)) => (
                    descriptor.digest.to_string(),
                    crate::oci::Manifest::from_slice(bytes, &descriptor.digest).ok(),
                ),
                Err(_) => (String::new(), None),
            };
            ListEntry {
                name: None,
                tag,
                digest,
                size: parsed
                    .as_ref()
                    .map(|m| m.layers.iter().map(|l| l.size).sum()),
                version: parsed
                    .as_ref()
                    .and_then(|m| m.annotations.get(crate::metadata::keys::VERSION).cloned()),
                artifact_type: parsed.and_then(|m| m.artifact_type),
            }
        })
        .buffered(ctx.concurrency().max(8))
        .collect()
        .await;
    Ok(Listed::Models(rows))
}

fn entry(layout: &Layout, entry: Entry) -> ListEntry {
    // A manifest that cannot be read still lists; inspect says what is wrong with it.
    let manifest = layout.read_manifest(&entry.descriptor).ok();
    let version = manifest
        .as_ref()
        .and_then(|m| m.annotations.get(crate::metadata::keys::VERSION).cloned());
    ListEntry {
        name: entry.name,
        tag: entry.tag.to_string(),
        digest: entry.descriptor.digest.to_string(),
        size: manifest
            .as_ref()
            .map(|m| m.layers.iter().map(|l| l.size).sum()),
        version,
        artifact_type: entry
            .descriptor
            .artifact_type
            .or_else(|| manifest.and_then(|m| m.artifact_type)),
    }
}

/// What unpack wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Unpacked {
    /// The model as asked for.
    pub reference: Reference,
    /// Its manifest digest.
    pub digest: Digest,
    /// The directory.
    pub output: PathBuf,
    /// Files there.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Layers left out (no file name, or one not safe to write).
    pub skipped: Vec<String>,
    /// The directory already held exactly this model; nothing was written.
    pub unchanged: bool,
}

/// Writes a stored model's files (only those matching `include`, when given) into `dir`,
/// verifying every blob; `dir` appears complete or not at all, and an existing non-empty
/// one is replaced only with `force`. With `model_sig`, the model's OpenSSF model
/// signature is written as `DIR/model.sig` (one those keys verify, unless none is given). Offline, a registry reference names the local
/// store's pulled copy.
///
/// # Errors
/// [`super::Error::RegistryReference`] online; unpacking errors (unsafe paths, an
/// existing directory, corrupt blobs).
pub async fn unpack(
    ctx: &Context,
    reference: &Reference,
    dir: &Path,
    include: &[String],
    force: bool,
    model_sig: Option<&[crate::verify::TrustedKey]>,
) -> Result<Unpacked> {
    let repo = ctx.local(reference, false)?;
    let (descriptor, manifest) = repo
        .manifest(reference)
        .op(|| format!("failed to read {reference}"))?;
    let mut extra = Vec::new();
    if let Some(keys) = model_sig {
        if !include.is_empty() {
            return Err(super::Error::ModelSigPartial.into());
        }
        let endpoint = crate::store::Endpoint::Layout(repo.clone());
        let attachments = crate::sign::attach::fetch_attached(&endpoint, &descriptor.digest)
            .await
            .op(|| format!("failed to read the signatures of {reference}"))?;
        extra.push(super::verify_dir::choose_signature(
            &reference.to_string(),
            &attachments,
            &manifest,
            Some(keys).filter(|k| !k.is_empty()),
            None,
        )?);
    }
    let options = unpacking::Options {
        include: include.to_vec(),
        force,
        verified: Default::default(),
        output: None,
        extra,
    };
    let resolved = crate::store::Resolved {
        descriptor: descriptor.clone(),
        bytes: Vec::new(),
        manifest,
    };
    let report = super::transfer::unpack_blocking(ctx, repo.layout(), &resolved, dir, options)
        .await
        .op(|| format!("failed to unpack {reference} into {}", dir.display()))?;
    Ok(Unpacked {
        reference: reference.clone(),
        digest: descriptor.digest,
        output: dir.to_owned(),
        files: report.files,
        bytes: report.bytes,
        skipped: report.skipped,
        unchanged: report.unchanged,
    })
}
