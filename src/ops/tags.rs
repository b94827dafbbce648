//! Tag and rm: names for models, on the local store, `oci:` layouts and registries.

use serde::Serialize;

use super::Error;
use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::governance::versions::Overwrite;
use crate::reference::{Location, Reference};
use crate::store::Endpoint;
use crate::transfer;

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

/// A tag written.
#[derive(Clone, Debug, Serialize)]
pub struct Tagged {
    /// The new reference, pinned.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// The model the tag named before, when it moved.
    pub replaced: Option<Digest>,
}

/// Points `target` (in the same store, layout or registry as `source`) at the model
/// `source` names. A version tag that names another model is refused unless `overwrite`
/// permits it; aliases move freely (promotion is [`super::promote`]).
///
/// # Errors
/// [`Error::DifferentStores`]; [`crate::governance::Error::VersionExists`]; transport errors.
pub async fn tag(
    ctx: &Context,
    source: &Reference,
    target: &Reference,
    overwrite: Overwrite<'_>,
) -> Result<Tagged> {
    if !same_place(source, target) {
        return Err(Error::DifferentStores {
            first: source.to_string(),
            second: target.to_string(),
        }
        .into());
    }
    let from = ctx.endpoint(source, false)?;
    let resolved = from
        .resolve(source)
        .await
        .op(|| format!("failed to read {source}"))?;
    let to = ctx.endpoint(target, false)?;
    let tag = target.tag_or_latest();
    let what = || format!("failed to tag {target}");
    let force =
        crate::governance::versions::check_write(&to, &tag, &resolved.descriptor.digest, overwrite)
            .await
            .op(what)?;
    let replaced = to
        .fetch_tag(&tag)
        .await
        .op(what)?
        .map(|(d, _)| d.digest)
        .filter(|d| *d != resolved.descriptor.digest);
    // Within one registry the blobs are mounted (or already there); nothing is downloaded.
    let silent = std::sync::Arc::new(crate::progress::Silent);
    transfer::copy(&from, &resolved, &to, Some(&tag), force, 4, silent)
        .await
        .op(what)?;
    Ok(Tagged {
        reference: target
            .with_tag(tag)
            .with_digest(resolved.descriptor.digest.clone()),
        digest: resolved.descriptor.digest,
        replaced,
    })
}

/// What rm removed.
#[derive(Clone, Debug, Serialize)]
pub struct Removed {
    /// The references removed.
    pub removed: Vec<String>,
}

/// Removes a tag (or, by digest, every tag of that model) and frees unused blobs. On a
/// registry the manifest is deleted by digest, which removes every tag on it: that is
/// refused for a tag when other tags share the manifest, unless the digest is named.
///
/// # Errors
/// [`Error::SharedManifest`]; not found; a registry that does not allow deletes.
pub async fn rm(ctx: &Context, reference: &Reference) -> Result<Removed> {
    let what = || format!("failed to remove {reference}");
    let removed = match ctx.endpoint(reference, false)? {
        Endpoint::Layout(repo) => repo
            .remove(reference)
            .op(what)?
            .into_iter()
            .map(|t| reference.with_tag(t).to_string())
            .collect(),
        Endpoint::Registry(repo) => {
            let endpoint = Endpoint::Registry(repo.clone());
            let digest = endpoint
                .resolve(reference)
                .await
                .op(what)?
                .descriptor
                .digest;
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
                    return Err(Error::SharedManifest {
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
    Ok(Removed { removed })
}
