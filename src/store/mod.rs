//! Where models live on disk: the local store under `$MODELARK_HOME` (one OCI image layout
//! holding every repository, index entries named `NAME:TAG`) and any `oci:` layout directory
//! (entries named by tag, as skopeo writes them).

pub mod archive;
pub mod cache;
pub mod endpoint;
pub mod layout;
pub mod maintain;
pub mod registry;

use std::io;
use std::path::{Path, PathBuf};

pub use endpoint::{Endpoint, Resolved};
pub use layout::{GcReport, Layout};

use crate::digest::{self, Digest};
use crate::media_types;
use crate::oci::{self, Descriptor, Manifest};
use crate::reference::{Location, Reference, Tag};

/// Errors from the on-disk stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed (the message names the path).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The directory is not an OCI image layout.
    #[error("{} is not an OCI image layout (it has no oci-layout file)", path.display())]
    NotALayout {
        /// The directory.
        path: PathBuf,
    },
    /// `index.json` is not valid JSON of an index.
    #[error("malformed index {}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// `index.json` is unreasonably large.
    #[error("index {} is larger than 64 MiB", path.display())]
    IndexTooLarge {
        /// The index file.
        path: PathBuf,
    },
    /// No index entry matches the reference.
    #[error("{reference} was not found")]
    NotFound {
        /// The reference as given.
        reference: String,
    },
    /// A referenced blob is not in the layout.
    #[error("blob {digest} is missing from {}", layout.display())]
    BlobMissing {
        /// The missing blob.
        digest: Digest,
        /// The layout.
        layout: PathBuf,
    },
    /// A blob's content does not match its descriptor.
    #[error("blob {} is corrupt", path.display())]
    Corrupt {
        /// Where the blob is (or would be).
        path: PathBuf,
        /// Expected and actual digest or size.
        #[source]
        source: digest::Error,
    },
    /// A manifest or config is larger than modelark reads into memory.
    #[error("{digest} is {size} bytes, over the {limit}-byte limit for manifests and configs")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Something other than a regular file (a FIFO, a device) where a blob should be.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// An archive whose index lists no model.
    #[error("archive {} lists no model in its index.json", path.display())]
    EmptyArchive {
        /// The archive.
        path: std::path::PathBuf,
    },
    /// A manifest did not decode.
    #[error(transparent)]
    Oci(#[from] oci::Error),
}

/// The modelark data directory (the CLI uses `$MODELARK_HOME`, else `<XDG data dir>/modelark`).
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The local store's OCI layout directory.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store")
    }
}

/// The tags of one repository inside a layout: a single name's `NAME:TAG` entries in the
/// local store, or every tag of an `oci:` layout.
#[derive(Clone, Debug)]
pub struct LayoutRepo {
    layout: Layout,
    name: Option<String>,
}

/// One tagged entry of a layout.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The repository (local store only): `NAME`, or `HOST/REPO` for models pulled from a
    /// registry.
    pub name: Option<String>,
    /// The tag.
    pub tag: Tag,
    /// The manifest descriptor.
    pub descriptor: Descriptor,
}

impl LayoutRepo {
    /// The repository a reference names on disk: a local name or an `oci:` layout, or, for
    /// a registry reference, the local store's copy of that repository (what `pull` keeps).
    /// With `create`, a missing layout (or local store) is created.
    ///
    /// # Errors
    /// [`Error::NotALayout`]; I/O errors.
    pub fn open(reference: &Reference, home: &Home, create: bool) -> Result<LayoutRepo, Error> {
        let (root, name) = match reference.location() {
            Location::Local { name } => (home.store_path(), Some(name.to_string())),
            Location::Layout { path } => (path.clone(), None),
            Location::Registry { host, repository } => {
                (home.store_path(), Some(format!("{host}/{repository}")))
            }
        };
        let layout = if create || (name.is_some() && !root.exists()) {
            Layout::create(root)?
        } else {
            Layout::open(root)?
        };
        Ok(LayoutRepo { layout, name })
    }

    /// A short name for messages: the local name, or `oci:PATH`.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("oci:{}", self.layout.root().display()),
        }
    }

    /// The underlying layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn ref_name(&self, tag: &Tag) -> String {
        match &self.name {
            Some(name) => format!("{name}:{tag}"),
            None => tag.to_string(),
        }
    }

    /// The tagged entries of this repository, sorted by tag.
    ///
    /// # Errors
    /// Reading `index.json`.
    pub fn entries(&self) -> Result<Vec<Entry>, Error> {
        let mut entries: Vec<Entry> = entries(&self.layout, self.name.is_some())?
            .into_iter()
            .filter(|e| e.name == self.name)
            .collect();
        entries.sort_by(|a, b| a.tag.cmp(&b.tag));
        Ok(entries)
    }

    /// The manifest descriptor a reference names: by digest when it has one (which must be
    /// in this repository), else by tag (`latest` when none).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn resolve(&self, reference: &Reference) -> Result<Descriptor, Error> {
        let entries = self.entries()?;
        let found = match reference.digest() {
            Some(digest) => entries.into_iter().find(|e| e.descriptor.digest == *digest),
            None => {
                let tag = reference.tag_or_latest();
                entries.into_iter().find(|e| e.tag == tag)
            }
        };
        found.map(|e| e.descriptor).ok_or_else(|| Error::NotFound {
            reference: reference.to_string(),
        })
    }

    /// Resolves and reads the manifest a reference names.
    ///
    /// # Errors
    /// As [`LayoutRepo::resolve`] and [`Layout::read_manifest`].
    pub fn manifest(&self, reference: &Reference) -> Result<(Descriptor, Manifest), Error> {
        let descriptor = self.resolve(reference)?;
        let manifest = self.layout.read_manifest(&descriptor)?;
        Ok((descriptor, manifest))
    }

    /// Points `tag` at `descriptor` (whose blobs must already be in the layout) and returns
    /// the descriptor it pointed at before, if any.
    ///
    /// # Errors
    /// I/O errors.
    pub fn set_tag(&self, tag: &Tag, descriptor: &Descriptor) -> Result<Option<Descriptor>, Error> {
        let ref_name = self.ref_name(tag);
        let mut entry = descriptor.pointer();
        entry
            .annotations
            .insert(media_types::OCI_REF_NAME.into(), ref_name.clone());
        self.layout.update_index(|index| {
            let position = index
                .manifests
                .iter()
                .position(|d| d.annotations.get(media_types::OCI_REF_NAME) == Some(&ref_name));
            Ok(match position {
                Some(i) => Some(std::mem::replace(&mut index.manifests[i], entry)),
                None => {
                    index.manifests.push(entry);
                    None
                }
            })
        })
    }

    /// Removes the tag a reference names, or every tag of this repository pointing at its
    /// digest, then deletes blobs nothing references any more. Returns the removed tags.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing matches; I/O errors.
    pub fn remove(&self, reference: &Reference) -> Result<Vec<Tag>, Error> {
        let target = self.resolve(reference)?;
        let entries = self.entries()?;
        let mut remove: Vec<String> = entries
            .iter()
            .filter(|e| match reference.digest() {
                Some(digest) => e.descriptor.digest == *digest,
                None => e.tag == reference.tag_or_latest() && e.descriptor.digest == target.digest,
            })
            .map(|e| self.ref_name(&e.tag))
            .collect();
        // When the model loses its last tag, its signatures, attestations and referrers
        // (`sha256-<hex>`, `.sig`, `.att`) go with it.
        let attachment_prefix = format!(
            "{}-{}",
            target.digest.algorithm().as_str(),
            target.digest.hex()
        );
        let is_attachment = |tag: &Tag| tag.as_str().starts_with(&attachment_prefix);
        let still_tagged = entries.iter().any(|e| {
            e.descriptor.digest == target.digest
                && !is_attachment(&e.tag)
                && !remove.contains(&self.ref_name(&e.tag))
        });
        if !still_tagged {
            remove.extend(
                entries
                    .iter()
                    .filter(|e| is_attachment(&e.tag))
                    .map(|e| self.ref_name(&e.tag)),
            );
        }
        let removed = self.layout.update_index(|index| {
            let mut removed = Vec::new();
            index.manifests.retain(|d| {
                let name = d.annotations.get(media_types::OCI_REF_NAME);
                let drop = name.is_some_and(|n| remove.contains(n));
                if drop {
                    removed.push(name.cloned().unwrap_or_default());
                }
                !drop
            });
            Ok(removed)
        })?;
        self.layout.gc()?;
        Ok(removed
            .iter()
            .filter_map(|n| n.rsplit(':').next().and_then(|t| t.parse::<Tag>().ok()))
            .filter(|t| !is_attachment(t))
            .collect())
    }
}

/// Every tagged entry of a layout. With `named`, ref names are `NAME:TAG` (the local store)
/// and entries whose ref name does not parse that way are skipped.
///
/// # Errors
/// Reading `index.json`.
pub fn entries(layout: &Layout, named: bool) -> Result<Vec<Entry>, Error> {
    let index = layout.index()?;
    let mut out = Vec::new();
    for descriptor in index.manifests {
        let Some(ref_name) = descriptor.annotations.get(media_types::OCI_REF_NAME) else {
            continue;
        };
        let (name, tag) = if named {
            // NAME:TAG or HOST[:PORT]/REPO:TAG; anything else is not ours to list.
            let Ok(reference) = ref_name.parse::<Reference>() else {
                continue;
            };
            let (Some(tag), None) = (reference.tag(), reference.digest()) else {
                continue;
            };
            if matches!(reference.location(), Location::Layout { .. }) {
                continue;
            }
            (Some(reference.without_selector().to_string()), tag.clone())
        } else {
            let Ok(tag) = ref_name.parse::<Tag>() else {
                continue;
            };
            (None, tag)
        };
        out.push(Entry {
            name,
            tag,
            descriptor,
        });
    }
    Ok(out)
}
