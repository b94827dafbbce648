//! `modelark push`, `pull` and `copy`: models between directories, stores and registries.

use std::path::PathBuf;

use anyhow::Context;
use globset::{Glob, GlobSetBuilder};
use modelark::package::{self, cache::DigestCache, unpack};
use modelark::reference::{Location, Reference};
use modelark::store::Endpoint;
use modelark::store::{Home, LayoutRepo};
use modelark::transfer;
use modelark::verify::Policy;
use serde::Serialize;

use super::pack::ModelArgs;
use super::verify::{TrustArgs, alias_of, enforce, load_policy};
use super::{Op, RegistryArgs, endpoint, output};

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// A model directory, or a stored model (NAME:TAG, oci:PATH:TAG, HOST/REPO:TAG).
    source: String,
    /// The registry reference to push to (HOST/REPO[:TAG]; the tag defaults to the source's, else latest).
    target: Reference,
    #[command(flatten)]
    model: ModelArgs,
    /// Move a version tag that already names another model (versions are immutable).
    #[arg(long)]
    force: bool,
    /// With --force: the policy whose rule for the target must set overwriteVersions: true.
    #[arg(long, value_name = "FILE", requires = "force")]
    policy: Option<PathBuf>,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The model on a registry: HOST/REPO[:TAG][@DIGEST].
    reference: Reference,
    /// Also unpack it into this directory (same safety rules as `unpack`).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// With -o: fetch and unpack only files matching GLOB (repeatable).
    #[arg(long = "include", value_name = "GLOB", requires = "output")]
    include: Vec<String>,
    /// With -o: replace DIR if it exists and is not empty.
    #[arg(long, requires = "output")]
    force: bool,
    #[command(flatten)]
    trust: TrustArgs,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// From: NAME:TAG, oci:PATH:TAG or HOST/REPO:TAG.
    source: Reference,
    /// To: NAME[:TAG], oci:PATH[:TAG] or HOST/REPO[:TAG] (the tag defaults to the source's).
    target: Reference,
    #[command(flatten)]
    trust: TrustArgs,
    /// Move a version tag that already names another model (versions are immutable); with
    /// --policy, only where its rule for the target sets overwriteVersions: true.
    #[arg(long)]
    force: bool,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `--force`, and the policy file that must allow it (when one is given).
struct Overwrite<'a> {
    force: bool,
    policy: Option<&'a Policy>,
}

impl Overwrite<'_> {
    /// Whether a version tag in `target` may be moved.
    fn allowed(&self, target: &Endpoint) -> anyhow::Result<bool> {
        let repository = target.display_name();
        match self.policy {
            Some(policy) if self.force && !policy.allows_overwrite(&repository) => anyhow::bail!(
                "the policy does not allow moving version tags in {repository}; versions stay immutable (a rule with overwriteVersions: true allows --force)"
            ),
            _ => Ok(self.force),
        }
    }
}

#[derive(Serialize)]
struct Outcome {
    reference: String,
    digest: String,
    size: u64,
}

fn print(
    json: bool,
    reference: &Reference,
    digest: &modelark::Digest,
    size: u64,
) -> anyhow::Result<()> {
    let pinned = reference.with_digest(digest.clone());
    if json {
        return output::json(&Outcome {
            reference: pinned.to_string(),
            digest: digest.to_string(),
            size,
        });
    }
    output::line(pinned)
}

/// The target tag: the target's, else the source's, else latest.
fn target_tag(target: &Reference, source: Option<&Reference>) -> modelark::reference::Tag {
    target
        .tag()
        .or_else(|| source.and_then(Reference::tag))
        .cloned()
        .unwrap_or_else(modelark::reference::Tag::latest)
}

pub async fn push(args: PushArgs, registry: &RegistryArgs, quiet: bool) -> anyhow::Result<()> {
    let target = &args.target;
    let Location::Registry { .. } = target.location() else {
        anyhow::bail!(
            "push sends to a registry (HOST/REPO:TAG); to store locally use `modelark pack` or `modelark copy`"
        );
    };
    let Endpoint::Registry(repo) = endpoint(target, registry, false)? else {
        unreachable!("a registry reference gives a registry endpoint")
    };
    let reporter = output::reporter(quiet, args.json);
    let dir = PathBuf::from(&args.source);
    if dir.is_dir() {
        let tag = target_tag(target, None);
        let mut options = super::pack::options(&args.model, &dir, target)?;
        options.concurrency = args.concurrency;
        let home = Home::from_env().op(|| "failed to locate the local store".into())?;
        options.cache = Some(DigestCache::load(home.root().join("cache/file-digests.json")).into());
        let policy = load_policy(args.policy.as_ref())?;
        let overwrite = Overwrite {
            force: args.force,
            policy: policy.as_ref(),
        };
        let force = overwrite.allowed(&Endpoint::Registry(repo.clone()))?;
        let packed = transfer::push_directory(
            &dir,
            &options,
            &repo,
            &tag,
            force,
            args.concurrency,
            reporter,
        )
        .await
        .op(|| format!("failed to push {} to {target}", dir.display()))?;
        let size = packed.manifest.layers.iter().map(|l| l.size).sum();
        return print(
            args.json,
            &target.with_tag(tag),
            &packed.descriptor.digest,
            size,
        );
    }
    let source: Reference = args.source.parse().with_context(|| {
        format!(
            "{} is neither a directory nor a model reference",
            args.source
        )
    })?;
    let policy = load_policy(args.policy.as_ref())?;
    let overwrite = Overwrite {
        force: args.force,
        policy: policy.as_ref(),
    };
    copy_between(
        &source,
        target,
        registry,
        None,
        overwrite,
        args.concurrency,
        args.json,
        quiet,
    )
    .await
}

pub async fn copy(args: CopyArgs, registry: &RegistryArgs, quiet: bool) -> anyhow::Result<()> {
    // One policy verifies the source and, from a file, governs overwriting the target.
    let policy = args.trust.load()?;
    let overwrite = Overwrite {
        force: args.force,
        policy: args.trust.policy_path().and(policy.as_ref()),
    };
    copy_between(
        &args.source,
        &args.target,
        registry,
        policy.as_ref(),
        overwrite,
        args.concurrency,
        args.json,
        quiet,
    )
    .await
}

#[allow(clippy::too_many_arguments)] // one call per command, each argument named there
async fn copy_between(
    source: &Reference,
    target: &Reference,
    registry: &RegistryArgs,
    verify: Option<&Policy>,
    overwrite: Overwrite<'_>,
    concurrency: usize,
    json: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let from = endpoint(source, registry, false)?;
    // Verify before the target is even opened: a refused model leaves no trace there.
    let resolved = match verify {
        Some(policy) => {
            enforce(&from, source, policy, alias_of(source))
                .await?
                .resolved
        }
        None => from
            .resolve(source)
            .await
            .op(|| format!("failed to read {source}"))?,
    };
    let to = endpoint(target, registry, true)?;
    let force = overwrite.allowed(&to)?;
    let tag = target_tag(target, Some(source));
    let reporter = output::reporter(quiet, json);
    transfer::copy(
        &from,
        &resolved,
        &to,
        Some(&tag),
        force,
        concurrency,
        reporter,
    )
    .await
    .op(|| format!("failed to copy {source} to {target}"))?;
    modelark::sign::attach::copy_attached(&from, &to, &resolved.descriptor.digest)
        .await
        .op(|| format!("failed to copy the signatures of {source} to {target}"))?;
    let size = resolved.manifest.layers.iter().map(|l| l.size).sum();
    print(
        json,
        &target.with_tag(tag),
        &resolved.descriptor.digest,
        size,
    )
}

#[derive(Serialize)]
struct Pulled {
    reference: String,
    digest: String,
    size: u64,
    output: Option<PathBuf>,
    files: Option<usize>,
}

pub async fn pull(args: PullArgs, registry: &RegistryArgs, quiet: bool) -> anyhow::Result<()> {
    let reference = &args.reference;
    let Location::Registry { .. } = reference.location() else {
        anyhow::bail!(
            "pull reads from a registry (HOST/REPO:TAG); for local models use `modelark unpack`"
        );
    };
    if registry.offline {
        // Offline the "registry" would be the store itself: `unpack --offline` is that.
        return Err(super::CliError::Offline.into());
    }
    let policy = args.trust.load()?;
    let from = endpoint(reference, registry, false)?;
    let what = || format!("failed to pull {reference}");
    // Resolve once: the digest resolved (and verified) here is the one fetched, even if the
    // tag moves. Verification comes before anything is written, the store included.
    let resolved = match &policy {
        Some(policy) => {
            enforce(&from, reference, policy, alias_of(reference))
                .await?
                .resolved
        }
        None => from.resolve(reference).await.op(what)?,
    };
    // OUT is checked before anything is fetched; unpacking replaces only what was seen here.
    let checked = match &args.output {
        Some(out) if args.include.is_empty() => {
            Some(package::unpack::prepare(&resolved.manifest, out, args.force).op(what)?)
        }
        Some(out) => Some(package::unpack::check_output(out, args.force).op(what)?),
        None => None,
    };
    let home = Home::from_env().op(|| "failed to locate the local store".into())?;
    let cache =
        LayoutRepo::open(reference, &home, true).op(|| "failed to open the local store".into())?;
    let pinned = reference.with_digest(resolved.descriptor.digest.clone());
    let reporter = output::reporter(quiet, args.json);
    let to = Endpoint::Layout(cache.clone());
    // Everything that needs the registry comes before anything is committed: the
    // signatures first (small), then the blobs (into the store, untagged until all are in).
    let attachments = if args.include.is_empty() {
        Some(
            modelark::sign::attach::fetch_attached(&from, &resolved.descriptor.digest)
                .await
                .op(|| format!("failed to fetch the signatures of {reference}"))?,
        )
    } else {
        None
    };
    let guard = cache.layout().write_guard().op(what)?;
    // Blobs downloaded now are verified while they stream; unpacking need not hash them again.
    let verified = resolved
        .manifest
        .layers
        .iter()
        .filter(|l| !cache.layout().has_blob(l))
        .map(|l| l.digest.clone())
        .collect();
    if args.include.is_empty() {
        let tag = reference.tag().cloned();
        // The local copy follows the registry: a cached version tag is replaced.
        transfer::copy(
            &from,
            &resolved,
            &to,
            tag.as_ref(),
            true,
            args.concurrency,
            reporter.clone(),
        )
        .await
        .op(what)?;
    } else {
        // Only the wanted files: their blobs go to the store, the manifest is not tagged
        // there (the store never holds a manifest whose blobs are missing).
        let mut globs = GlobSetBuilder::new();
        for glob in &args.include {
            globs.add(Glob::new(glob).with_context(|| format!("invalid glob {glob:?}"))?);
        }
        let globs = globs.build()?;
        let wanted: Vec<_> = resolved
            .manifest
            .layers
            .iter()
            .filter(|l| unpack::layer_path(l).is_none_or(|p| globs.is_match(p)))
            .cloned()
            .collect();
        transfer::copy_blobs(&from, &to, &wanted, args.concurrency, reporter.clone())
            .await
            .op(what)?;
    }
    if let Some(attachments) = attachments {
        modelark::sign::attach::store_attached(&to, attachments)
            .await
            .op(|| format!("failed to keep the signatures of {reference}"))?;
    }
    let (mut files, mut unchanged) = (None, false);
    if let Some(out) = &args.output {
        let options = unpack::Options {
            include: args.include.clone(),
            force: args.force,
            verified,
            output: checked,
        };
        let layout = cache.layout().clone();
        let (manifest, out_dir, reporter) =
            (resolved.manifest.clone(), out.clone(), reporter.clone());
        let report = tokio::task::spawn_blocking(move || {
            package::unpack(&layout, &manifest, &out_dir, &options, reporter.as_ref())
        })
        .await?
        .op(|| format!("failed to unpack {pinned} into {}", out.display()))?;
        output::warn_skipped(&report);
        unchanged = report.unchanged;
        files = Some(report.files);
    }
    drop(guard);
    let size = resolved.manifest.layers.iter().map(|l| l.size).sum();
    if args.json {
        return output::json(&Pulled {
            reference: pinned.to_string(),
            digest: resolved.descriptor.digest.to_string(),
            size,
            output: args.output.clone(),
            files,
        });
    }
    output::line(&pinned)?;
    if let (Some(out), Some(files)) = (&args.output, files) {
        if unchanged {
            return output::line(format!(
                "{} already holds this model ({files} files); nothing written",
                out.display()
            ));
        }
        output::line(format!(
            "unpacked {files} files ({}) into {}",
            output::size(size),
            out.display()
        ))?;
    }
    Ok(())
}
