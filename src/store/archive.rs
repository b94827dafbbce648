//! OCI layout tar archives (what `skopeo copy oci-archive:` and `docker load` of OCI
//! archives read): [`export`] one model with all its blobs, [`import`] one back, streaming
//! every blob and verifying it against its digest.
//!
//! Archives are deterministic: fixed entry order, zero mtime/uid/gid, mode 0644.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{Error, Layout};
use crate::digest::Digest;
use crate::media_types;
use crate::oci::{Descriptor, Index, MAX_MANIFEST_SIZE, Manifest};
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

/// Imports an archive file into `layout`, writing only the blobs its index reaches: a first
/// pass finds where each entry is, the manifests are read from there, and only then are the
/// referenced blobs copied, each verified while it is written. Entries nothing references
/// are never written, in whatever order the archive holds them (skopeo writes blobs before
/// `index.json`). Returns the manifests the index lists; the caller tags them.
///
/// # Errors
/// [`Error::Corrupt`] for a blob whose content or size does not match; [`Error::BlobMissing`]
/// when the archive lacks a blob a manifest needs; [`Error::NotALayout`] when it has no
/// `index.json` or `oci-layout`; [`Error::EmptyArchive`] when its index lists nothing.
pub fn import_file(layout: &Layout, path: &Path) -> Result<Vec<Imported>, Error> {
    let mut file = fs_err::File::open(path)?;
    let mut found = Scan::default();
    // Seeking past each entry's data: the first pass reads headers, index.json, nothing else.
    for entry in tar::Archive::new(&mut file).entries_with_seek()? {
        let mut entry = entry?;
        let offset = entry.raw_file_position();
        let size = entry.header().size()?;
        match found.classify(&mut entry, path)? {
            Some(digest) => {
                found.blobs.insert(digest, (offset, size));
            }
            None => continue,
        }
    }
    let index = found.index(path)?;
    let mut read_at = |offset: u64, size: u64, max: u64| -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(offset))?;
        (&mut file).take(size.min(max)).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    // Every blob the index reaches, through manifests and indexes (referrer lists), in order.
    let mut wanted: Vec<Descriptor> = Vec::new();
    let mut pending: Vec<Descriptor> = index.manifests.clone();
    while let Some(next) = pending.pop() {
        if wanted.iter().any(|w| w.digest == next.digest) {
            continue;
        }
        let Some(&(offset, size)) = found.blobs.get(&next.digest) else {
            return Err(Error::BlobMissing {
                digest: next.digest.clone(),
                layout: path.to_owned(),
            });
        };
        check_size(&next, size, path)?;
        if is_manifest(&next) {
            let bytes = read_at(offset, size, MAX_MANIFEST_SIZE)?;
            pending.extend(children(&next, &bytes, path)?);
        }
        wanted.push(next);
    }
    for blob in &wanted {
        if layout.has_blob(blob) {
            continue;
        }
        let (offset, size) = found.blobs[&blob.digest];
        file.seek(SeekFrom::Start(offset))?;
        layout.copy_blob(&mut (&mut file).take(size), blob)?;
    }
    Ok(imported(index))
}

/// Imports an archive read as a stream (standard input): blobs are written only once the
/// index (and the manifests before them) show they are needed. Archives written by
/// `modelark export` list `index.json` and each manifest before its blobs; small entries
/// that come early are held in memory until the index says whether they are needed, and a
/// large one that nothing has asked for yet is skipped (then reported missing: import such
/// an archive from a file).
///
/// # Errors
/// As [`import_file`].
pub fn import(layout: &Layout, input: impl Read, source: &Path) -> Result<Vec<Imported>, Error> {
    let mut found = Scan::default();
    let mut wanted: BTreeMap<Digest, Descriptor> = BTreeMap::new();
    let mut early: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    let mut held = 0u64;
    let mut index: Option<Index> = None;
    for entry in tar::Archive::new(input).entries()? {
        let mut entry = entry?;
        let size = entry.header().size()?;
        let Some(digest) = found.classify(&mut entry, source)? else {
            if index.is_none() && found.index.is_some() && found.layout {
                let listed = found.index(source)?;
                for descriptor in &listed.manifests {
                    wanted.insert(descriptor.digest.clone(), descriptor.clone());
                }
                index = Some(listed);
                take_early(layout, &mut wanted, &mut early, source)?;
            }
            continue;
        };
        if let Some(descriptor) = wanted.get(&digest).cloned() {
            check_size(&descriptor, size, source)?;
            if is_manifest(&descriptor) {
                let bytes = read_small(&mut entry, size)?;
                store_manifest(layout, &descriptor, &bytes, &mut wanted, source)?;
                take_early(layout, &mut wanted, &mut early, source)?;
            } else if !layout.has_blob(&descriptor) {
                layout.copy_blob(&mut entry, &descriptor)?;
            }
        } else if size <= MAX_MANIFEST_SIZE && held + size <= MAX_EARLY_BYTES {
            held += size;
            early.insert(digest, read_small(&mut entry, size)?);
        }
    }
    let index = match index {
        Some(index) => index,
        None => {
            let index = found.index(source)?;
            for descriptor in &index.manifests {
                wanted.insert(descriptor.digest.clone(), descriptor.clone());
            }
            take_early(layout, &mut wanted, &mut early, source)?;
            index
        }
    };
    for descriptor in wanted.values() {
        if !layout.has_blob(descriptor) {
            return Err(Error::BlobMissing {
                digest: descriptor.digest.clone(),
                layout: source.to_owned(),
            });
        }
    }
    Ok(imported(index))
}

/// Small entries that arrived before anything asked for them; at most this much is held.
const MAX_EARLY_BYTES: u64 = 64 * 1024 * 1024;

/// Writes the early entries that are now wanted, following manifests to what they need.
fn take_early(
    layout: &Layout,
    wanted: &mut BTreeMap<Digest, Descriptor>,
    early: &mut BTreeMap<Digest, Vec<u8>>,
    source: &Path,
) -> Result<(), Error> {
    loop {
        let Some(digest) = early.keys().find(|d| wanted.contains_key(*d)).cloned() else {
            return Ok(());
        };
        let bytes = early.remove(&digest).expect("found above");
        let descriptor = wanted[&digest].clone();
        check_size(&descriptor, bytes.len() as u64, source)?;
        if is_manifest(&descriptor) {
            store_manifest(layout, &descriptor, &bytes, wanted, source)?;
        } else {
            layout.copy_blob(&mut &bytes[..], &descriptor)?;
        }
    }
}

/// Stores a wanted manifest or index and marks what it points at as wanted.
fn store_manifest(
    layout: &Layout,
    descriptor: &Descriptor,
    bytes: &[u8],
    wanted: &mut BTreeMap<Digest, Descriptor>,
    source: &Path,
) -> Result<(), Error> {
    let children = children(descriptor, bytes, source)?;
    layout.copy_blob(&mut &bytes[..], descriptor)?;
    for child in children {
        wanted.entry(child.digest.clone()).or_insert(child);
    }
    Ok(())
}

fn read_small(entry: &mut impl Read, size: u64) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::with_capacity(size.min(MAX_MANIFEST_SIZE) as usize);
    entry.take(MAX_MANIFEST_SIZE + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What the first look at an archive's entries found.
#[derive(Default)]
struct Scan {
    index: Option<Vec<u8>>,
    layout: bool,
    /// Blob entries: where their data starts in the archive, and their size.
    blobs: BTreeMap<Digest, (u64, u64)>,
}

impl Scan {
    /// Reads `index.json` and notes `oci-layout`; returns the digest a blob entry is named
    /// for, `None` for anything else.
    fn classify<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        source: &Path,
    ) -> Result<Option<Digest>, Error> {
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = path.trim_start_matches("./");
        if path == "index.json" {
            let mut bytes = Vec::new();
            entry.take(MAX_ARCHIVE_INDEX + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 > MAX_ARCHIVE_INDEX {
                return Err(Error::IndexTooLarge {
                    path: source.join("index.json"),
                });
            }
            self.index = Some(bytes);
        } else if path == "oci-layout" {
            self.layout = true;
        } else if let Some((algorithm, hex)) =
            path.strip_prefix("blobs/").and_then(|r| r.split_once('/'))
        {
            return Ok(format!("{algorithm}:{hex}").parse::<Digest>().ok());
        }
        Ok(None)
    }

    /// The archive's index; refuses an archive that is not a layout or lists nothing.
    fn index(&self, source: &Path) -> Result<Index, Error> {
        let (Some(bytes), true) = (&self.index, self.layout) else {
            return Err(Error::NotALayout {
                path: source.to_owned(),
            });
        };
        let index = Index::from_slice(bytes, &Digest::sha256_of(bytes))?;
        if index.manifests.is_empty() {
            return Err(Error::EmptyArchive {
                path: source.to_owned(),
            });
        }
        Ok(index)
    }
}

fn is_manifest(descriptor: &Descriptor) -> bool {
    matches!(
        descriptor.media_type.as_str(),
        media_types::OCI_MANIFEST | media_types::OCI_INDEX | media_types::DOCKER_MANIFEST
    )
}

fn check_size(descriptor: &Descriptor, size: u64, source: &Path) -> Result<(), Error> {
    if size == descriptor.size {
        return Ok(());
    }
    Err(Error::Corrupt {
        path: source.join(format!(
            "blobs/{}/{}",
            descriptor.digest.algorithm().as_str(),
            descriptor.digest.hex()
        )),
        source: crate::digest::Error::SizeMismatch {
            digest: descriptor.digest.clone(),
            expected: descriptor.size,
            actual: size,
        },
    })
}

/// What a manifest or index (verified against its descriptor) points at.
fn children(
    descriptor: &Descriptor,
    bytes: &[u8],
    source: &Path,
) -> Result<Vec<Descriptor>, Error> {
    let actual = Digest::sha256_of(bytes);
    if actual != descriptor.digest {
        return Err(Error::Corrupt {
            path: source.join(format!("blobs/sha256/{}", descriptor.digest.hex())),
            source: crate::digest::Error::Mismatch {
                expected: descriptor.digest.clone(),
                actual,
            },
        });
    }
    if descriptor.media_type == media_types::OCI_INDEX {
        return Ok(Index::from_slice(bytes, &descriptor.digest)?.manifests);
    }
    let manifest = Manifest::from_slice(bytes, &descriptor.digest)?;
    let mut children = vec![manifest.config];
    children.extend(manifest.layers);
    Ok(children)
}

fn imported(index: Index) -> Vec<Imported> {
    index
        .manifests
        .into_iter()
        .map(|descriptor| {
            let annotations = &descriptor.annotations;
            Imported {
                name: annotations.get(media_types::CONTAINERD_IMAGE_NAME).cloned(),
                ref_name: annotations.get(media_types::OCI_REF_NAME).cloned(),
                descriptor,
            }
        })
        .collect()
}
