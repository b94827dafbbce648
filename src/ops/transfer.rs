//! Push, pull and copy: models between directories, the local store, `oci:` layouts and
//! registries. Whatever is verified is verified first, by digest, and nothing is written
//! when it fails.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSetBuilder};
use serde::Serialize;

use super::Error;
use super::pack::{ModelInput, digest_cache};
use super::verify::{Trust, alias_of, enforce};
use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::governance::versions::{self, Overwrite};
use crate::package::{self, unpack as unpacking};
use crate::reference::{Location, Reference, Tag};
use crate::sign::attach;
use crate::store::{Endpoint, Resolved};
use crate::transfer;

/// What push sends: a model directory (packed on the fly, no local copy) or a stored model.
#[derive(Clone, Debug)]
pub enum Source {
    /// A directory with what to say about it.
    Directory(Box<ModelInput>),
    /// A model in the local store, an `oci:` layout or a registry.
    Model(Reference),
}

impl Source {
    /// A directory when `text` names one, else the reference it parses as.
    ///
    /// # Errors
    /// [`Error::NotASource`].
    pub fn parse(text: &str) -> Result<Source> {
        if Path::new(text).is_dir() {
            return Ok(Source::Directory(Box::new(ModelInput::new(text))));
        }
        text.parse().map(Source::Model).map_err(|source| {
            Error::NotASource {
                source_text: text.to_owned(),
                source,
            }
            .into()
        })
    }
}

/// Where a model was pushed or copied to.
#[derive(Clone, Debug, Serialize)]
pub struct Pushed {
    /// The target, pinned: `HOST/REPO:TAG@DIGEST`.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// Total layer size.
    pub size: u64,
    /// What was left out of a pushed directory's metadata (model card fields that do not
    /// map); empty for a copy.
    pub warnings: Vec<String>,
}

/// [`Error::NotARegistry`] unless `reference` names a registry repository.
fn registry_only(reference: &Reference, operation: &'static str) -> Result<()> {
    match reference.location() {
        Location::Registry { .. } => Ok(()),
        _ => Err(Error::NotARegistry {
            reference: reference.to_string(),
            operation,
        }
        .into()),
    }
}

/// The target tag: the target's, else the source's, else latest.
fn target_tag(target: &Reference, source: Option<&Reference>) -> Tag {
    target
        .tag()
        .or_else(|| source.and_then(Reference::tag))
        .cloned()
        .unwrap_or_else(Tag::latest)
}

/// Pushes a directory or a stored model to the registry `target`. A version tag that names
/// another model is refused before any blob moves, unless `overwrite` permits it.
///
/// # Errors
/// [`Error::NotARegistry`]; packing, transport and registry errors;
/// [`crate::governance::Error::VersionExists`].
pub async fn push(
    ctx: &Context,
    source: &Source,
    target: &Reference,
    overwrite: Overwrite<'_>,
) -> Result<Pushed> {
    registry_only(target, "push")?;
    match source {
        Source::Model(source) => copy(ctx, source, target, None, overwrite).await,
        Source::Directory(model) => push_directory(ctx, model, target, overwrite).await,
    }
}

async fn push_directory(
    ctx: &Context,
    model: &ModelInput,
    target: &Reference,
    overwrite: Overwrite<'_>,
) -> Result<Pushed> {
    let endpoint = ctx.endpoint(target, false)?;
    let Endpoint::Registry(repo) = &endpoint else {
        return Err(Error::Offline.into());
    };
    let tag = target_tag(target, None);
    let mut options = model.options(target, ctx)?;
    options.cache = Some(digest_cache(ctx));
    let what = || format!("failed to push {} to {target}", model.dir.display());
    // A version that exists must not change: hash locally first (cached digests make that
    // cheap), so a refused push uploads nothing.
    super::pack::refuse_moved_version(model, &options, &endpoint, target, &tag, overwrite)
        .await
        .op(what)?;
    // A model signature beside the files must sign exactly them: checked (from cached
    // digests where the files are unchanged) before anything is uploaded.
    let signature = model.model_signature()?;
    if let Some((_, signature)) = &signature {
        let hashed = super::pack::hash_only(model, &options).await.op(what)?;
        super::pack::signs_these_files(model, signature, &hashed.manifest)?;
    }
    let force = overwrite.permitted(&endpoint.display_name()).op(what)?;
    let packed = transfer::push_directory(
        &model.dir,
        &options,
        repo,
        &tag,
        force,
        ctx.concurrency(),
        ctx.reporter(),
    )
    .await
    .op(what)?;
    if let Some((bytes, _)) = signature {
        super::pack::attach_model_signature(&endpoint, &packed.descriptor, bytes)
            .await
            .op(|| format!("failed to attach the model signature to {target}"))?;
    }
    Ok(Pushed {
        reference: target
            .with_tag(tag)
            .with_digest(packed.descriptor.digest.clone()),
        digest: packed.descriptor.digest,
        size: packed.manifest.layers.iter().map(|l| l.size).sum(),
        warnings: options.warnings,
    })
}

/// Copies a model between any two of: registry, local store, `oci:` layout, with its
/// signatures and attestations. Under `trust` the source is verified first (and, for an
/// alias, what the policy asks of that alias); a refused model leaves no trace in the
/// target. A version tag that names another model is refused before any blob moves,
/// unless `overwrite` permits it.
///
/// # Errors
/// [`crate::verify::Error::PolicyViolation`]; transport and store errors;
/// [`crate::governance::Error::VersionExists`].
pub async fn copy(
    ctx: &Context,
    source: &Reference,
    target: &Reference,
    trust: Option<&Trust>,
    overwrite: Overwrite<'_>,
) -> Result<Pushed> {
    let from = ctx.endpoint(source, false)?;
    // Verify before the target is even opened: a refused model leaves no trace there.
    let resolved = match trust {
        Some(trust) => {
            enforce(&from, source, trust.rules(), alias_of(source))
                .await?
                .resolved
        }
        None => from
            .resolve(source)
            .await
            .op(|| format!("failed to read {source}"))?,
    };
    let to = ctx.endpoint(target, true)?;
    let tag = target_tag(target, Some(source));
    let what = || format!("failed to copy {source} to {target}");
    let force = versions::check_write(&to, &tag, &resolved.descriptor.digest, overwrite)
        .await
        .op(what)?;
    transfer::copy(
        &from,
        &resolved,
        &to,
        Some(&tag),
        force,
        ctx.concurrency(),
        ctx.reporter(),
    )
    .await
    .op(what)?;
    attach::copy_attached(&from, &to, &resolved.descriptor.digest)
        .await
        .op(|| format!("failed to copy the signatures of {source} to {target}"))?;
    Ok(Pushed {
        reference: target
            .with_tag(tag)
            .with_digest(resolved.descriptor.digest.clone()),
        digest: resolved.descriptor.digest.clone(),
        size: resolved.manifest.layers.iter().map(|l| l.size).sum(),
        warnings: Vec::new(),
    })
}

/// Where pull writes, besides the local store.
#[derive(Clone, Debug, Default)]
pub struct Unpack {
    /// The directory to unpack into (same safety rules as [`super::unpack`]).
    pub dir: PathBuf,
    /// Only files matching these globs are fetched and unpacked (all when empty).
    pub include: Vec<String>,
    /// Replace the directory if it exists and is not empty.
    pub force: bool,
    /// Write the model's OpenSSF model signature as `DIR/model.sig` (one verified by the
    /// trusted keys, when pull verifies), so that `model_signing verify` and
    /// [`super::verify_dir()`] check the directory.
    pub model_sig: bool,
}

/// What pull fetched.
#[derive(Clone, Debug, Serialize)]
pub struct Pulled {
    /// The model, pinned: `HOST/REPO:TAG@DIGEST`.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// Total layer size.
    pub size: u64,
    /// The directory unpacked into.
    pub output: Option<PathBuf>,
    /// How many files are there.
    pub files: Option<usize>,
    /// The directory already held exactly this model; nothing was written.
    pub unchanged: bool,
    /// Layers left out because they name no file or one that is not safe to write.
    pub skipped: Vec<String>,
}

/// Pulls a model from a registry into the local store (with its signatures), and unpacks
/// it into `unpack.dir` when given. The reference is resolved once: what `trust` verifies
/// is the digest fetched, even if the tag moves meanwhile, and nothing is written (the
/// store included) when verification fails. The output directory is checked before
/// anything is fetched and only what was seen then is replaced.
///
/// # Errors
/// [`Error::NotARegistry`], [`Error::Offline`]; [`crate::verify::Error::PolicyViolation`];
/// transport, verification and unpacking errors.
pub async fn pull(
    ctx: &Context,
    reference: &Reference,
    trust: Option<&Trust>,
    unpack: Option<&Unpack>,
) -> Result<Pulled> {
    registry_only(reference, "pull")?;
    if ctx.offline() {
        // Offline the "registry" would be the store itself: unpack is that.
        return Err(Error::Offline.into());
    }
    let from = ctx.endpoint(reference, false)?;
    let what = || format!("failed to pull {reference}");
    let resolved = match trust {
        Some(trust) => {
            enforce(&from, reference, trust.rules(), alias_of(reference))
                .await?
                .resolved
        }
        None => from.resolve(reference).await.op(what)?,
    };
    let partial = unpack.is_some_and(|u| !u.include.is_empty());
    let model_sig = unpack.is_some_and(|u| u.model_sig);
    if partial && model_sig {
        return Err(Error::ModelSigPartial.into());
    }
    // Everything that needs the registry comes before anything is committed: the
    // signatures first (small), then the blobs (into the store, untagged until all are in).
    let attachments = if partial {
        None
    } else {
        Some(
            attach::fetch_attached(&from, &resolved.descriptor.digest)
                .await
                .op(|| format!("failed to fetch the signatures of {reference}"))?,
        )
    };
    let extra = match (&attachments, model_sig) {
        (Some(attachments), true) => vec![super::verify_dir::choose_signature(
            &reference.to_string(),
            attachments,
            &resolved.manifest,
            trust.map(Trust::trusted_keys),
            trust.and_then(|t| t.rules().keyless()),
        )?],
        _ => Vec::new(),
    };
    // OUT is checked before any blob is fetched; unpacking replaces only what was seen here.
    let checked = match unpack {
        Some(u) if u.include.is_empty() => {
            Some(unpacking::prepare(&resolved.manifest, &u.dir, u.force, &extra).op(what)?)
        }
        Some(u) => Some(unpacking::check_output(&u.dir, u.force).op(what)?),
        None => None,
    };
    let cache = ctx.cache_for(reference).op(what)?;
    let to = Endpoint::Layout(cache.clone());
    let guard = cache.layout().write_guard().op(what)?;
    // Blobs downloaded now are verified while they stream; unpacking need not hash them again.
    let verified = resolved
        .manifest
        .layers
        .iter()
        .filter(|l| !cache.layout().has_blob(l))
        .map(|l| l.digest.clone())
        .collect();
    fetch(ctx, &from, &to, reference, &resolved, unpack).await?;
    if let Some(attachments) = attachments {
        attach::store_attached(&to, attachments)
            .await
            .op(|| format!("failed to keep the signatures of {reference}"))?;
    }
    let pinned = reference.with_digest(resolved.descriptor.digest.clone());
    let mut pulled = Pulled {
        reference: pinned.clone(),
        digest: resolved.descriptor.digest.clone(),
        size: resolved.manifest.layers.iter().map(|l| l.size).sum(),
        output: unpack.map(|u| u.dir.clone()),
        files: None,
        unchanged: false,
        skipped: Vec::new(),
    };
    if let Some(u) = unpack {
        let options = unpacking::Options {
            include: u.include.clone(),
            force: u.force,
            verified,
            output: checked,
            extra,
        };
        let report = unpack_blocking(ctx, cache.layout(), &resolved, &u.dir, options)
            .await
            .op(|| format!("failed to unpack {pinned} into {}", u.dir.display()))?;
        pulled.files = Some(report.files);
        pulled.unchanged = report.unchanged;
        pulled.skipped = report.skipped;
    }
    drop(guard);
    Ok(pulled)
}

/// Fetches what pull needs into the local store: the whole model, tagged (the local copy
/// follows the registry, so a cached version tag is replaced), or only the blobs of the
/// included files, untagged (the store never holds a manifest whose blobs are missing).
async fn fetch(
    ctx: &Context,
    from: &Endpoint,
    to: &Endpoint,
    reference: &Reference,
    resolved: &Resolved,
    unpack: Option<&Unpack>,
) -> Result<()> {
    let what = || format!("failed to pull {reference}");
    let include = unpack.map(|u| u.include.as_slice()).unwrap_or_default();
    if include.is_empty() {
        let tag = reference.tag().cloned();
        let (concurrency, reporter) = (ctx.concurrency(), ctx.reporter());
        return transfer::copy(
            from,
            resolved,
            to,
            tag.as_ref(),
            true,
            concurrency,
            reporter,
        )
        .await
        .op(what);
    }
    let globs = globs(include)?;
    let wanted: Vec<_> = resolved
        .manifest
        .layers
        .iter()
        .filter(|l| unpacking::layer_path(l).is_none_or(|p| globs.is_match(p)))
        .cloned()
        .collect();
    transfer::copy_blobs(from, to, &wanted, ctx.concurrency(), ctx.reporter())
        .await
        .op(what)
}

fn globs(include: &[String]) -> Result<globset::GlobSet> {
    let mut globs = GlobSetBuilder::new();
    for glob in include {
        globs.add(Glob::new(glob).map_err(|source| Error::Glob {
            glob: glob.clone(),
            source,
        })?);
    }
    globs.build().map_err(|source| {
        Error::Glob {
            glob: include.join(" "),
            source,
        }
        .into()
    })
}

/// Unpacks on a blocking thread.
pub(super) async fn unpack_blocking(
    ctx: &Context,
    layout: &crate::store::Layout,
    resolved: &Resolved,
    dir: &Path,
    options: unpacking::Options,
) -> Result<unpacking::Report> {
    let (layout, manifest, dir) = (layout.clone(), resolved.manifest.clone(), dir.to_owned());
    let reporter = ctx.reporter();
    let report = tokio::task::spawn_blocking(move || {
        package::unpack(&layout, &manifest, &dir, &options, reporter.as_ref())
    })
    .await
    .map_err(|e| crate::store::Error::from(std::io::Error::other(e)))??;
    Ok(report)
}
