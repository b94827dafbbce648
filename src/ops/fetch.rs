//! Fetch: a model, verified, as a read-only directory in a content-addressed cache under
//! the home (`HOME/fetched/sha256/<hex>`), for a deployment to load from
//! (`from_pretrained(path)`). A second fetch of a digest the cache holds writes nothing,
//! and one pinned by digest needs no network at all.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::transfer::{Unpack, pull};
use super::verify::{Trust, alias_of, enforce};
use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::reference::{Location, Reference};
use crate::store;

/// What fetch returned.
#[derive(Clone, Debug, Serialize)]
pub struct Fetched {
    /// The model, pinned.
    pub reference: Reference,
    /// Its manifest digest.
    pub digest: Digest,
    /// The read-only directory holding its files.
    pub path: PathBuf,
    /// The cache already held it; nothing was downloaded or written.
    pub cached: bool,
}

/// The cache directory for `digest` under `ctx`'s home.
pub fn fetched_path(ctx: &Context, digest: &Digest) -> PathBuf {
    ctx.home()
        .root()
        .join("fetched")
        .join(digest.algorithm().as_str())
        .join(digest.hex())
}

/// Fetches `reference` (a registry, the local store or an `oci:` layout) into the fetch
/// cache and returns its directory. With `trust`, the model is verified first, every time
/// (a model that no longer verifies is refused even when cached): a reference pinned by
/// digest against the local store's copy of its signatures (no network), any other
/// against where it lives. A new directory appears complete or not at all, and read-only.
///
/// # Errors
/// [`crate::verify::Error::PolicyViolation`]; transport, store and unpacking errors.
pub async fn fetch(ctx: &Context, reference: &Reference, trust: Option<&Trust>) -> Result<Fetched> {
    let what = || format!("failed to fetch {reference}");
    let registry = matches!(reference.location(), Location::Registry { .. });
    // A pinned registry model the store already holds is verified there, offline.
    let offline = ctx.clone().with_offline(true);
    let local_copy = registry && reference.digest().is_some() && !ctx.offline();
    let near = if local_copy && is_stored(&offline, reference) {
        &offline
    } else {
        ctx
    };
    let endpoint = near.endpoint(reference, false)?;
    let digest = match trust {
        Some(trust) => {
            enforce(&endpoint, reference, trust.rules(), alias_of(reference))
                .await?
                .resolved
                .descriptor
                .digest
        }
        None => {
            endpoint
                .resolve(reference)
                .await
                .op(what)?
                .descriptor
                .digest
        }
    };
    let pinned = reference.with_digest(digest.clone());
    let path = fetched_path(ctx, &digest);
    if path.is_dir() {
        return Ok(Fetched {
            reference: pinned,
            digest,
            path,
            cached: true,
        });
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)
        .map_err(store::Error::from)
        .op(what)?;
    let scratch = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .map_err(store::Error::from)
        .op(what)?;
    let staging = scratch.path().join("model");
    if registry && !ctx.offline() {
        // Pinned: what was verified above is exactly what is pulled; already verified, so
        // pull need not check again.
        let unpack = Unpack {
            dir: staging.clone(),
            ..Unpack::default()
        };
        pull(ctx, &pinned, None, Some(&unpack)).await?;
    } else {
        super::unpack(near, &pinned, &staging, &[], false, None).await?;
    }
    set_writable(&staging, false)
        .map_err(store::Error::from)
        .op(what)?;
    match crate::package::unpack::rename_noreplace(&staging, &path) {
        Ok(()) => {}
        // Another fetch of the same digest finished first: its directory is as good.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || path.is_dir() => {
            set_writable(&staging, true)
                .map_err(store::Error::from)
                .op(what)?;
        }
        Err(e) => return Err(store::Error::from(e)).op(what),
    }
    Ok(Fetched {
        reference: pinned,
        digest,
        path,
        cached: false,
    })
}

/// Whether the local store holds `reference` (a pinned registry model).
fn is_stored(offline: &Context, reference: &Reference) -> bool {
    offline
        .local(reference, false)
        .and_then(|repo| repo.resolve(reference).map_err(Into::into))
        .is_ok()
}

/// Takes write permission away from (or gives it back to) `path` and everything under it;
/// given back so that a directory that lost a race can be removed.
fn set_writable(path: &Path, writable: bool) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mut permissions = meta.permissions();
    if meta.is_dir() {
        if writable {
            permissions_set(&mut permissions, true);
            std::fs::set_permissions(path, permissions.clone())?;
        }
        for entry in std::fs::read_dir(path)? {
            set_writable(&entry?.path(), writable)?;
        }
        if !writable {
            permissions_set(&mut permissions, false);
            std::fs::set_permissions(path, permissions)?;
        }
        return Ok(());
    }
    permissions_set(&mut permissions, writable);
    std::fs::set_permissions(path, permissions)
}

#[cfg(unix)]
fn permissions_set(permissions: &mut std::fs::Permissions, writable: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = permissions.mode();
    permissions.set_mode(if writable {
        mode | 0o200
    } else {
        mode & !0o222
    });
}

#[cfg(not(unix))]
fn permissions_set(permissions: &mut std::fs::Permissions, writable: bool) {
    permissions.set_readonly(!writable);
}
