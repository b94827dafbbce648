//! `modelark tag SRC NEW` and `modelark rm REF`, on the local store, layouts and registries.

use modelark::governance::versions::Overwrite;
use modelark::ops;
use modelark::reference::Reference;

use super::{Env, output};

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
    /// Print JSON.
    #[arg(long)]
    json: bool,
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

pub async fn tag(args: TagArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    let overwrite = Overwrite {
        force: args.force,
        policy: None,
    };
    let tagged = ops::tag(&ctx, &args.source, &args.target, overwrite).await?;
    if args.json {
        return output::json(&tagged);
    }
    if let Some(previous) = &tagged.replaced {
        tracing::warn!(
            "moving tag {} from {previous}",
            args.target.with_tag(args.target.tag_or_latest())
        );
    }
    output::line(&tagged.reference)
}

pub async fn rm(args: RmArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    let removed = ops::rm(&ctx, &args.reference).await?;
    if args.json {
        return output::json(&removed);
    }
    for r in removed.removed {
        output::line(format!("removed {r}"))?;
    }
    Ok(())
}
