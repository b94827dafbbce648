//! OCI layout tar archives (what `skopeo copy oci-archive:` and `docker load` of OCI
//! archives read): [`export`] one model with all its blobs, [`import`] one back, streaming
//! every blob and verifying it against its digest.
//!
//! Archives are deterministic: fixed entry order, zero mtime/uid/gid, mode 0644.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::{Error, Layout};
use crate::digest::Digest;
use crate::media_types;
use crate::oci::{Descriptor, Index, Manifest};
use crate::reference::Tag;

/// The most bytes an archive's `index.json` may have.
const MAX_ARCHIVE_INDEX: u64 = 4 * 1024 * 1024;

/// Writes an OCI layout tar holding one manifest, tagged `tag`, with `full_name` (e.g.
/// `bert:1.0`) recorded as `io.containerd.image.name` so [`import`] can restore it. Each of
/// `attachments` (signature, attestation and referrer tags, with their full names) goes
/// along with every blob it reaches.
///
/// # Errors
/// Missing or corrupt blobs (verified while copied), I/O errors.
pub fn export(
    layout: &Layout,
    descriptor: &Descriptor,
    manifest: &Manifest,
    tag: &Tag,
    full_name: &str,
    attachments: &[(Tag, String, Descriptor)],
    out: impl Write,
) -> Result<(), Error> {
    let entry = |descriptor: &Descriptor, tag: &Tag, full_name: &str| {
        let mut entry = descriptor.pointer();
        entry
            .annotations
            .insert(media_types::OCI_REF_NAME.into(), tag.to_string());
        entry.annotations.insert(
            media_types::CONTAINERD_IMAGE_NAME.into(),
            full_name.to_owned(),
        );
        entry
    };
    let mut index = Index::new();
    index.manifests.push(entry(descriptor, tag, full_name));
    let mut attached_blobs = Vec::new();
    for (tag, full_name, descriptor) in attachments {
        index.manifests.push(entry(descriptor, tag, full_name));
        let mut pending = vec![descriptor.clone()];
        while let Some(next) = pending.pop() {
            pending.extend(layout.children(&next)?);
            attached_blobs.push(next);
        }
    }

    let mut builder = tar::Builder::new(out);
    let layout_file = super::layout::LAYOUT_CONTENT;
    append(
        &mut builder,
        "oci-layout",
        layout_file.len() as u64,
        &mut &layout_file[..],
    )?;
    let index_bytes = index.to_bytes();
    append(
        &mut builder,
        "index.json",
        index_bytes.len() as u64,
        &mut &index_bytes[..],
    )?;
    let mut blobs = vec![descriptor.clone(), manifest.config.clone()];
    blobs.extend(manifest.layers.iter().cloned());
    blobs.extend(attached_blobs);
    let mut written = std::collections::BTreeSet::new();
    for blob in blobs {
        if !written.insert(blob.digest.clone()) {
            continue;
        }
        let name = format!(
            "blobs/{}/{}",
            blob.digest.algorithm().as_str(),
            blob.digest.hex()
        );
        let mut reader = layout.open_blob(&blob)?;
        append(&mut builder, &name, blob.size, &mut reader).map_err(|e| match e {
            Error::Io(io) => layout.read_error(&blob.digest, io),
            other => other,
        })?;
    }
    builder.into_inner()?.flush()?;
    Ok(())
}

fn append(
    builder: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    data: &mut impl Read,
) -> Result<(), Error> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, data)?;
    Ok(())
}

/// One manifest found in an imported archive.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The manifest descriptor (its blobs are all in the layout now).
    pub descriptor: Descriptor,
    /// The archive's `io.containerd.image.name`, if any.
    pub name: Option<String>,
    /// The archive's `org.opencontainers.image.ref.name`, if any.
    pub ref_name: Option<String>,
}

/// Streams an archive's blobs into `layout` and returns the manifests its index lists,
/// each checked to have all its blobs. The caller tags them.
///
/// # Errors
/// [`Error::Corrupt`] for a blob whose content does not match its name; [`Error::BlobMissing`]
/// when the archive lacks a blob a manifest needs; [`Error::NotALayout`] when the archive
/// has no `index.json`.
pub fn import(
    layout: &Layout,
    input: impl Read,
    source: &std::path::Path,
) -> Result<Vec<Imported>, Error> {
    let mut archive = tar::Archive::new(input);
    let mut index_bytes = None;
    let mut seen_layout = false;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = path.trim_start_matches("./");
        if path == "index.json" {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_ARCHIVE_INDEX + 1)
                .read_to_end(&mut bytes)?;
            if bytes.len() as u64 > MAX_ARCHIVE_INDEX {
                return Err(Error::IndexTooLarge {
                    path: source.join("index.json"),
                });
            }
            index_bytes = Some(bytes);
        } else if path == "oci-layout" {
            seen_layout = true;
        } else if let Some(rest) = path.strip_prefix("blobs/") {
            let Some((algorithm, hex)) = rest.split_once('/') else {
                continue;
            };
            let Ok(digest) = format!("{algorithm}:{hex}").parse::<Digest>() else {
                continue;
            };
            let size = entry.header().size()?;
            layout.copy_blob(&mut entry, &Descriptor::new("", digest, size))?;
        }
    }
    let (Some(index_bytes), true) = (index_bytes, seen_layout) else {
        return Err(Error::NotALayout {
            path: source.to_owned(),
        });
    };
    let index_digest = Digest::sha256_of(&index_bytes);
    let index = Index::from_slice(&index_bytes, &index_digest)?;
    let mut imported = Vec::new();
    for descriptor in index.manifests {
        // Every blob the entry reaches (through an index too, for referrer lists) is here.
        let mut pending = vec![descriptor.clone()];
        while let Some(next) = pending.pop() {
            if !layout.has_blob(&next) {
                return Err(Error::BlobMissing {
                    digest: next.digest.clone(),
                    layout: source.to_owned(),
                });
            }
            pending.extend(layout.children(&next)?);
        }
        let annotations: &BTreeMap<String, String> = &descriptor.annotations;
        imported.push(Imported {
            name: annotations.get(media_types::CONTAINERD_IMAGE_NAME).cloned(),
            ref_name: annotations.get(media_types::OCI_REF_NAME).cloned(),
            descriptor,
        });
    }
    Ok(imported)
}
