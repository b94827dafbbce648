//! Local store upkeep: remove a local copy, collect garbage, check every blob.

use crate::context::Context;
use crate::error::{Op, Result};
use crate::reference::Reference;
use crate::store::{GcReport, Layout, LayoutRepo, maintain::FsckReport};

use super::Error;
use super::tags::Removed;

fn open(ctx: &Context) -> Result<Option<Layout>> {
    let path = ctx.home().store_path();
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(
        Layout::open(path).op(|| "failed to open the local store".into())?,
    ))
}

/// Removes a model's local copy (a local `NAME:TAG`, or a `HOST/REPO:TAG` pulled from a
/// registry, which is not touched) and frees the blobs nothing else uses.
///
/// # Errors
/// Not found; store errors.
pub fn store_rm(ctx: &Context, reference: &Reference) -> Result<Removed> {
    let what = || format!("failed to remove the local copy of {reference}");
    let repo = LayoutRepo::open(reference, ctx.home(), false).op(what)?;
    let removed = repo
        .remove(reference)
        .op(what)?
        .into_iter()
        .map(|tag| reference.with_tag(tag).to_string())
        .collect();
    Ok(Removed { removed })
}

/// Frees unreferenced blobs and what interrupted work left behind (temp files, partial
/// downloads no process is continuing, unpack directories of processes that died).
///
/// # Errors
/// Store errors.
pub fn store_gc(ctx: &Context) -> Result<GcReport> {
    let Some(layout) = open(ctx)? else {
        return Ok(GcReport::default());
    };
    layout
        .gc()
        .op(|| "failed to collect garbage in the local store".into())
}

/// Re-hashes every blob and checks every entry; with `repair`, deletes corrupt blobs. The
/// report says what is damaged; [`FsckReport::is_clean`] whether anything is.
///
/// # Errors
/// Store errors (not damage: that is in the report).
pub fn store_fsck(ctx: &Context, repair: bool) -> Result<FsckReport> {
    let Some(layout) = open(ctx)? else {
        return Ok(FsckReport::default());
    };
    crate::store::maintain::fsck(&layout, repair).op(|| "failed to check the local store".into())
}

/// The error a damaged store is, for front ends that fail on one.
pub fn damaged(ctx: &Context, report: &FsckReport) -> Option<crate::Error> {
    (!report.is_clean()).then(|| {
        Error::Damaged {
            path: ctx.home().store_path(),
            corrupt: report.corrupt.len(),
            broken: report.broken.len(),
        }
        .into()
    })
}
