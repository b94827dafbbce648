//! Model directories ↔ ModelPack artifacts: classify files, [`pack()`] a directory, [`unpack()`]
//! an artifact safely, and [`describe`] any OCI artifact (ModelPack, legacy `cnai`, KitOps,
//! ORAS) for `inspect`.

pub mod cache;
pub mod classify;
pub mod modelfile;
pub mod pack;
pub mod unpack;

use std::io;
use std::path::PathBuf;

use serde::Serialize;

pub use classify::{Classifier, Kind};
pub use modelfile::ModelFile;
pub use pack::{Blobs, Packed, pack};
pub use unpack::unpack;

use crate::digest::Digest;
use crate::media_types;
use crate::metadata::{self, ModelMetadata, ModelPackConfig};
use crate::oci::{Descriptor, Manifest};
use crate::store;

/// Errors from packing, unpacking and describing models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed (the message names the path).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The metadata is invalid.
    #[error(transparent)]
    Metadata(#[from] metadata::Error),
    /// The model file is invalid.
    #[error("invalid model file {}: {reason}", path.display())]
    ModelFile {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A glob (of an exclude or kind rule, or an include) is malformed.
    #[error("invalid glob {glob:?}")]
    Pattern {
        /// The glob.
        glob: String,
        /// Why.
        #[source]
        source: globset::Error,
    },
    /// The model has no name.
    #[error("the model has no name")]
    NoName,
    /// A time is out of range.
    #[error("invalid time: {reason}")]
    Time {
        /// What is wrong.
        reason: String,
    },
    /// The path to pack is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory has no files to pack.
    #[error("{} has no files to pack", path.display())]
    EmptyModel {
        /// The directory.
        path: PathBuf,
    },
    /// A file name is not UTF-8.
    #[error("{} has a name that is not UTF-8", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// A symlink points outside the model directory.
    #[error("symlink {} points outside the model directory (to {})", path.display(), target.display())]
    SymlinkOutside {
        /// The symlink.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A symlink points to a directory.
    #[error("symlink {} points to a directory", path.display())]
    SymlinkToDirectory {
        /// The symlink.
        path: PathBuf,
    },
    /// A socket, FIFO or device file is in the model directory.
    #[error("{} is not a regular file", path.display())]
    SpecialFile {
        /// The path.
        path: PathBuf,
    },
    /// A file changed (size, modification or change time, or identity) while it was read.
    #[error("{} changed while it was being packed", path.display())]
    ChangedWhilePacking {
        /// The file.
        path: PathBuf,
    },
    /// The manifest would be larger than registries accept.
    #[error("the manifest for {files} files would be {size} bytes, over the 4 MiB registry limit")]
    ManifestTooLarge {
        /// Its size.
        size: u64,
        /// How many files.
        files: usize,
    },
    /// A user annotation would overwrite one modelark manages.
    #[error("annotation {key} is managed by modelark")]
    ManagedAnnotation {
        /// The key.
        key: String,
    },
    /// Manifest annotations are too large.
    #[error("manifest annotations are {size} bytes, over the {limit}-byte limit")]
    AnnotationsTooLarge {
        /// Their size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A layer names a path that would escape the output directory.
    #[error("refusing file path {path:?}: {reason}")]
    UnsafePath {
        /// The path as the artifact names it.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two layers name the same file.
    #[error("two layers name the same file {path}")]
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// A tar layer holds a symlink, hard link or device.
    #[error("refusing tar entry {path:?} of type {kind}: only files and directories are unpacked")]
    UnsupportedEntry {
        /// The entry's path.
        path: String,
        /// Its type.
        kind: String,
    },
    /// A layer uses a compression modelark does not read.
    #[error("layer {digest} has media type {media_type}, which modelark cannot unpack")]
    UnsupportedLayer {
        /// The layer.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// The output directory exists and is not empty.
    #[error("{} already exists and is not empty", path.display())]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },
    /// The output path changed while the model was unpacked (a directory appeared, was
    /// replaced, or got files); nothing there was replaced.
    #[error("{} changed while the model was being unpacked; nothing there was replaced", path.display())]
    OutputChanged {
        /// The directory.
        path: PathBuf,
    },
    /// The output path is a file.
    #[error("{} exists and is not a directory", path.display())]
    OutputNotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The config blob is not a ModelPack config.
    #[error("malformed ModelPack config {digest}")]
    Config {
        /// The config blob.
        digest: Digest,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// What kind of artifact a manifest describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// CNCF ModelPack.
    Modelpack,
    /// ModelPack under its pre-CNCF `cnai` names.
    ModelpackLegacy,
    /// A KitOps ModelKit.
    Kitops,
    /// Any other OCI artifact or image.
    Other,
}

/// One file (or archive layer) of an artifact.
#[derive(Clone, Debug, Serialize)]
pub struct FileView {
    /// The path it unpacks to; `None` for archive layers without one.
    pub path: Option<String>,
    /// The ModelPack kind, when the media type names one.
    pub kind: Option<String>,
    /// The layer media type.
    pub media_type: String,
    /// The layer digest.
    pub digest: Digest,
    /// The layer size.
    pub size: u64,
    /// True when the packager guessed the kind.
    pub untested: bool,
}

/// Everything `inspect` shows about an artifact.
#[derive(Clone, Debug, Serialize)]
pub struct ModelView {
    /// The manifest digest.
    pub digest: Digest,
    /// What kind of artifact it is.
    pub kind: ArtifactKind,
    /// The manifest `artifactType`.
    pub artifact_type: Option<String>,
    /// The config media type.
    pub config_media_type: String,
    /// Registry metadata read from config and annotations.
    pub metadata: ModelMetadata,
    /// The files.
    pub files: Vec<FileView>,
    /// Total size of all layers.
    pub size: u64,
    /// All manifest annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// True when the manifest's config is a ModelPack config that [`describe`] reads.
pub fn has_modelpack_config(manifest: &Manifest) -> bool {
    matches!(
        manifest.config.media_type.as_str(),
        media_types::MODEL_CONFIG | media_types::LEGACY_MODEL_CONFIG
    )
}

/// Describes an artifact from its manifest and, when [`has_modelpack_config`], its config
/// bytes (already verified by whoever fetched them).
///
/// # Errors
/// [`Error::Config`] for a malformed ModelPack config; [`Error::Metadata`] for unreadable
/// modelark annotations.
pub fn describe(
    descriptor: &Descriptor,
    manifest: &Manifest,
    config: Option<&[u8]>,
) -> Result<ModelView, Error> {
    let config_type = manifest.config.media_type.as_str();
    let artifact_type = manifest.artifact_type.as_deref();
    let kind = if artifact_type == Some(media_types::MODEL_ARTIFACT)
        || config_type == media_types::MODEL_CONFIG
    {
        ArtifactKind::Modelpack
    } else if artifact_type == Some(media_types::LEGACY_MODEL_ARTIFACT)
        || config_type == media_types::LEGACY_MODEL_CONFIG
    {
        ArtifactKind::ModelpackLegacy
    } else if config_type.starts_with("application/vnd.kitops.") {
        ArtifactKind::Kitops
    } else {
        ArtifactKind::Other
    };
    let config: Option<ModelPackConfig> = match config {
        Some(bytes) if has_modelpack_config(manifest) => Some(
            serde_json::from_slice(bytes).map_err(|source| Error::Config {
                digest: manifest.config.digest.clone(),
                source,
            })?,
        ),
        _ => None,
    };
    let metadata = ModelMetadata::from_parts(config.as_ref(), &manifest.annotations)?;
    let files = manifest
        .layers
        .iter()
        .map(|layer| FileView {
            path: unpack::layer_path(layer).map(str::to_owned),
            kind: Kind::from_media_type(&layer.media_type).map(|k| k.to_string()),
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            untested: layer
                .annotations
                .get(media_types::ANNOTATION_UNTESTED)
                .is_some_and(|v| v == "true"),
        })
        .collect();
    Ok(ModelView {
        digest: descriptor.digest.clone(),
        kind,
        artifact_type: manifest.artifact_type.clone(),
        config_media_type: config_type.to_owned(),
        metadata,
        files,
        size: manifest.layers.iter().map(|l| l.size).sum(),
        annotations: manifest.annotations.clone(),
    })
}
