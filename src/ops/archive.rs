//! Export and import: a model with its signatures as an OCI layout tar archive, which any
//! OCI tool reads (`skopeo copy oci-archive:`), and back into the local store. Both do
//! blocking file I/O: async front ends run them on a blocking thread.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Error;
use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::reference::{Location, Reference, Tag};
use crate::sign::attach;
use crate::store::{self, LayoutRepo, archive};

/// What export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// The model as asked for.
    pub reference: Reference,
    /// Its manifest digest.
    pub digest: Digest,
    /// The archive (`-` for a stream).
    pub output: PathBuf,
}

/// Writes `reference` (local store or `oci:` layout) as an archive at `path`, atomically:
/// the file appears complete or not at all.
///
/// # Errors
/// Missing or corrupt blobs (verified while copied); I/O errors naming the file.
pub fn export(ctx: &Context, reference: &Reference, path: &Path) -> Result<Exported> {
    let what = || format!("failed to export {reference} to {}", path.display());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let io = |e: io::Error| crate::Error::from(store::Error::from(e));
    let mut file = tempfile::Builder::new()
        .prefix(".modelark-export-")
        .tempfile_in(&dir)
        .map_err(io)
        .op(|| format!("failed to create a temp file in {}", dir.display()))?;
    let mut exported = export_to(ctx, reference, &mut io::BufWriter::new(&mut file))?;
    file.as_file().sync_all().map_err(io).op(what)?;
    file.persist(path).map_err(|e| io(e.error)).op(what)?;
    exported.output = path.to_owned();
    Ok(exported)
}

/// Writes `reference` as an archive to `out` (e.g. stdout), with its signatures,
/// attestations and referrers so an air-gapped site can verify it offline.
///
/// # Errors
/// Missing or corrupt blobs; I/O errors.
pub fn export_to(ctx: &Context, reference: &Reference, out: &mut dyn Write) -> Result<Exported> {
    let repo = ctx.local(reference, false)?;
    let (descriptor, manifest) = repo
        .manifest(reference)
        .op(|| format!("failed to read {reference}"))?;
    let tag = reference.tag().cloned().unwrap_or_else(Tag::latest);
    let full_name = reference.with_tag(tag.clone()).to_string();
    let digest = &descriptor.digest;
    let wanted = [
        attach::sig_tag(digest),
        attach::att_tag(digest),
        attach::fallback_tag(digest),
    ];
    let attachments: Vec<(Tag, String, _)> = repo
        .entries()
        .op(|| format!("failed to read {reference}"))?
        .into_iter()
        .filter(|e| wanted.contains(&e.tag))
        .map(|e| {
            let name = reference.with_tag(e.tag.clone()).to_string();
            (e.tag, name, e.descriptor)
        })
        .collect();
    archive::export(
        repo.layout(),
        &descriptor,
        &manifest,
        &tag,
        &full_name,
        &attachments,
        out,
    )
    .op(|| format!("failed to export {reference}"))?;
    Ok(Exported {
        reference: reference.clone(),
        digest: descriptor.digest.clone(),
        output: PathBuf::from("-"),
    })
}

/// One model imported.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    /// Where it is in the local store.
    pub reference: Reference,
    /// Its manifest digest.
    pub digest: Digest,
}

/// Reads the archive file at `path` into the local store, as the names it records or as
/// `target`. Only blobs the archive's index reaches are written, each verified; a failed
/// import leaves nothing behind.
///
/// # Errors
/// [`Error::ArchiveHoldsMany`], [`Error::ArchiveUnnamed`], [`Error::NotLocal`]; corrupt,
/// missing or malformed archive content.
pub fn import(ctx: &Context, path: &Path, target: Option<&Reference>) -> Result<Vec<Imported>> {
    import_with(ctx, path, target, |layout| {
        archive::import_file(layout, path)
    })
}

/// Reads an archive stream (e.g. stdin) into the local store; `name` is what messages
/// call it. As [`import`].
///
/// # Errors
/// As [`import`].
pub fn import_from(
    ctx: &Context,
    input: impl Read,
    name: &Path,
    target: Option<&Reference>,
) -> Result<Vec<Imported>> {
    import_with(ctx, name, target, |layout| {
        archive::import(layout, input, name)
    })
}

fn import_with(
    ctx: &Context,
    path: &Path,
    target: Option<&Reference>,
    read: impl FnOnce(&store::Layout) -> Result<Vec<archive::Imported>, store::Error>,
) -> Result<Vec<Imported>> {
    let store_ref: Reference = "modelark-import".parse()?;
    let store = LayoutRepo::open(&store_ref, ctx.home(), true)
        .op(|| "failed to open the local store".into())?;
    let layout = store.layout();
    let what = || format!("failed to import {}", path.display());
    let guard = layout.write_guard().op(what)?;
    let found = match read(layout) {
        Ok(found) => found,
        Err(e) => {
            drop(guard);
            // Blobs that arrived before the failure belong to nothing: free them.
            let _ = layout.gc();
            return Err(e).op(what);
        }
    };
    let is_attachment = |item: &archive::Imported| {
        item.ref_name
            .as_deref()
            .is_some_and(|r| r.starts_with("sha256-"))
    };
    let models = found.iter().filter(|i| !is_attachment(i)).count();
    if target.is_some() && models != 1 {
        return Err(Error::ArchiveHoldsMany {
            path: path.to_owned(),
            models,
        }
        .into());
    }
    let mut imported = Vec::new();
    for item in found {
        let name = match target {
            Some(target) if is_attachment(&item) => {
                let tag: Tag = item
                    .ref_name
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|reason| Error::ArchiveTag { reason })?;
                target.with_tag(tag)
            }
            Some(target) => target.clone(),
            None => archive_name(&item).ok_or_else(|| Error::ArchiveUnnamed {
                path: path.to_owned(),
            })?,
        };
        let Location::Local { .. } = name.location() else {
            return Err(Error::NotLocal {
                reference: name.to_string(),
            }
            .into());
        };
        let repo = ctx.local(&name, true)?;
        let tag = name.tag_or_latest();
        repo.set_tag(&tag, &item.descriptor)
            .op(|| format!("failed to tag {name}"))?;
        if !is_attachment(&item) {
            imported.push(Imported {
                reference: name.with_tag(tag),
                digest: item.descriptor.digest.clone(),
            });
        }
    }
    drop(guard);
    Ok(imported)
}

/// The local name an archive entry records: its containerd name (a local reference, or a
/// registry one whose repository becomes the local name), else none.
fn archive_name(item: &archive::Imported) -> Option<Reference> {
    let name: Reference = item.name.as_deref()?.parse().ok()?;
    match name.location() {
        Location::Local { .. } => Some(name),
        Location::Registry { repository, .. } => {
            let local: Reference = repository.as_str().parse().ok()?;
            Some(match name.tag() {
                Some(tag) => local.with_tag(tag.clone()),
                None => local,
            })
        }
        Location::Layout { .. } => None,
    }
}
