//! `modelark tag SRC NEW` and `modelark rm REF`.

use modelark::reference::{Location, Reference};
use serde::Serialize;

use super::{CliError, Op, open_repo, output};

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The existing model.
    source: Reference,
    /// The new reference, in the same store (NAME:TAG) or the same layout (oci:PATH:TAG).
    target: Reference,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// NAME:TAG removes that tag; NAME@DIGEST removes every tag of NAME pointing at DIGEST.
    reference: Reference,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn tag(args: TagArgs) -> anyhow::Result<()> {
    let (source, target) = (&args.source, &args.target);
    let same_store = match (source.location(), target.location()) {
        (Location::Local { .. }, Location::Local { .. }) => true,
        (Location::Layout { path: a }, Location::Layout { path: b }) => {
            std::path::absolute(a).ok() == std::path::absolute(b).ok()
        }
        _ => false,
    };
    if !same_store {
        return Err(CliError::DifferentStores(source.to_string(), target.to_string()).into());
    }
    let from = open_repo(source, false)?;
    let descriptor = from
        .resolve(source)
        .op(|| format!("failed to read {source}"))?;
    let to = open_repo(target, false)?;
    let tag = target.tag_or_latest();
    let previous = to
        .set_tag(&tag, &descriptor)
        .op(|| format!("failed to tag {target}"))?;
    if let Some(previous) = previous.filter(|p| p.digest != descriptor.digest) {
        tracing::warn!(
            "moved tag {} from {}",
            target.with_tag(tag.clone()),
            previous.digest
        );
    }
    output::line(target.with_tag(tag).with_digest(descriptor.digest))
}

#[derive(Serialize)]
struct Removed {
    removed: Vec<String>,
}

pub fn rm(args: RmArgs) -> anyhow::Result<()> {
    let reference = &args.reference;
    let repo = open_repo(reference, false)?;
    let tags = repo
        .remove(reference)
        .op(|| format!("failed to remove {reference}"))?;
    let removed: Vec<String> = tags
        .into_iter()
        .map(|t| reference.with_tag(t).to_string())
        .collect();
    if args.json {
        return output::json(&Removed { removed });
    }
    for r in removed {
        output::line(format!("removed {r}"))?;
    }
    Ok(())
}
