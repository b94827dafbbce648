//! `modelark tag SRC NEW` and `modelark rm REF`, on the local store, layouts and registries.

use modelark::reference::{Location, Reference};
use modelark::store::Endpoint;
use modelark::transfer;
use serde::Serialize;

use super::{CliError, Op, RegistryArgs, endpoint, output};

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The existing model.
    source: Reference,
    /// The new reference: in the same store, the same layout, or on the same registry.
    target: Reference,
    /// Move a version tag (e.g. 1.4.0) that already names another model; versions are
    /// immutable otherwise. Aliases (production) move without it.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// NAME:TAG removes that tag; NAME@DIGEST removes every tag pointing at DIGEST. On a
    /// registry the manifest is deleted by digest, which removes every tag pointing at it.
    reference: Reference,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// True when both references live in one store, layout or registry.
fn same_place(a: &Reference, b: &Reference) -> bool {
    match (a.location(), b.location()) {
        (Location::Local { .. }, Location::Local { .. }) => true,
        (Location::Layout { path: a }, Location::Layout { path: b }) => {
            std::path::absolute(a).ok() == std::path::absolute(b).ok()
        }
        (Location::Registry { host: a, .. }, Location::Registry { host: b, .. }) => a == b,
        _ => false,
    }
}

pub async fn tag(args: TagArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let (source, target) = (&args.source, &args.target);
    if !same_place(source, target) {
        return Err(CliError::DifferentStores(source.to_string(), target.to_string()).into());
    }
    let from = endpoint(source, registry, false)?;
    let resolved = from
        .resolve(source)
        .await
        .op(|| format!("failed to read {source}"))?;
    let to = endpoint(target, registry, false)?;
    let tag = target.tag_or_latest();
    if let Endpoint::Layout(repo) = &to
        && let Some(previous) = repo
            .resolve(&target.with_tag(tag.clone()))
            .ok()
            .filter(|p| p.digest != resolved.descriptor.digest)
    {
        tracing::warn!(
            "moving tag {} from {}",
            target.with_tag(tag.clone()),
            previous.digest
        );
    }
    // Within one registry the blobs are mounted (or already there); nothing is downloaded.
    let reporter = output::reporter(true, false);
    transfer::copy(&from, &resolved, &to, Some(&tag), args.force, 4, reporter)
        .await
        .op(|| format!("failed to tag {target}"))?;
    output::line(target.with_tag(tag).with_digest(resolved.descriptor.digest))
}

#[derive(Serialize)]
struct Removed {
    removed: Vec<String>,
}

pub async fn rm(args: RmArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let reference = &args.reference;
    let what = || format!("failed to remove {reference}");
    let removed: Vec<String> = match endpoint(reference, registry, false)? {
        Endpoint::Layout(repo) => {
            let tags = repo.remove(reference).op(what)?;
            tags.into_iter()
                .map(|t| reference.with_tag(t).to_string())
                .collect()
        }
        Endpoint::Registry(repo) => {
            let resolved = Endpoint::Registry(repo.clone())
                .resolve(reference)
                .await
                .op(what)?;
            let digest = resolved.descriptor.digest;
            // Registries delete manifests, not tags: every tag on this digest goes. Only do
            // that silently when the user named the digest.
            if reference.digest().is_none() {
                let mut others = Vec::new();
                for tag in repo.tags().await.op(what)? {
                    if Some(tag.as_str()) != reference.tag().map(|t| t.as_str())
                        && repo
                            .manifest(&tag)
                            .await
                            .is_ok_and(|(d, _)| d.digest == digest)
                    {
                        others.push(tag);
                    }
                }
                if !others.is_empty() {
                    return Err(CliError::SharedManifest {
                        reference: reference.to_string(),
                        others: others.join(", "),
                        digest: reference.with_digest(digest).to_string(),
                    }
                    .into());
                }
            }
            repo.delete_manifest(&digest).await.op(what)?;
            vec![reference.with_digest(digest).to_string()]
        }
    };
    if args.json {
        return output::json(&Removed { removed });
    }
    for r in removed {
        output::line(format!("removed {r}"))?;
    }
    Ok(())
}
