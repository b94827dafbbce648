//! Model directory → ModelPack artifact in an OCI layout: walk in sorted order, stream each
//! file into a blob (hashed while copied, never held in memory), build config and manifest.
//! The same directory and metadata always give the same manifest digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::Error;
use super::cache::DigestCache;
use super::classify::{Classification, Classifier, Kind};
use crate::digest::{Algorithm, Digest, Hasher, Stamp};
use crate::media_types;
use crate::metadata::{self, ModelMetadata};
use crate::oci::{Descriptor, MAX_MANIFEST_SIZE, Manifest};
use crate::progress::{ProgressWriter, Reporter};
use crate::store::Layout;
use crate::store::layout::{self, WriteGuard};

/// The most bytes of manifest annotations pack writes (user and metadata together).
pub const MAX_ANNOTATIONS_SIZE: usize = 256 * 1024;

/// How to pack a directory.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Registry metadata (model file merged with flags); `name` must be set.
    pub metadata: ModelMetadata,
    /// Kind overrides, first match wins.
    pub kinds: Vec<(String, Kind)>,
    /// Globs of files to leave out (`.git/` is always left out).
    pub exclude: Vec<String>,
    /// Extra manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Pack the targets of symlinks that point outside the directory.
    pub dereference: bool,
    /// Symlinks may point anywhere inside this directory rather than only inside the
    /// model directory (a Hugging Face cache snapshot links into its repository's `blobs/`).
    pub links_within: Option<std::path::PathBuf>,
    /// The file modification time recorded in layer metadata (seconds since the epoch);
    /// 0 unless a build time is asked for, so builds are reproducible.
    pub mtime: i64,
    /// How many files to copy at once.
    pub concurrency: usize,
    /// Remembered file digests, so unchanged files are not hashed again.
    pub cache: Option<Arc<DigestCache>>,
    /// What the metadata sources said that could not be used (model card fields that do
    /// not map), one sentence each: reported with the result, never a failure.
    pub warnings: Vec<String>,
}

/// Where packed blobs go.
#[derive(Clone, Copy, Debug)]
pub enum Blobs<'a> {
    /// Copied into a layout (hashed while copied).
    Store(&'a Layout),
    /// Only hashed; the files stay where they are (for pushing straight from the directory).
    HashOnly,
}

/// A packed model. With [`Blobs::Store`] every blob is in the layout and the manifest is
/// ready to tag; with [`Blobs::HashOnly`] the layer bytes are still only in `files`.
#[derive(Debug)]
pub struct Packed {
    /// The manifest descriptor.
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The manifest's bytes.
    pub manifest_bytes: Vec<u8>,
    /// The config's bytes.
    pub config_bytes: Vec<u8>,
    /// The file each layer was read from, in layer order.
    pub files: Vec<PathBuf>,
    /// With [`Blobs::Store`], keeps garbage collection away until the manifest is tagged.
    pub guard: Option<WriteGuard>,
}

/// One file found in the model directory.
#[derive(Debug)]
pub struct Source {
    /// Its path relative to the model root, `/`-separated.
    pub relative: String,
    /// Its path on disk.
    pub path: PathBuf,
    /// Its size when scanned.
    pub size: u64,
    executable: bool,
    class: Classification,
}

/// ModelPack file metadata (`org.cncf.model.file.metadata+json`), in the spec's field order.
#[derive(Serialize)]
struct FileMetadata<'a> {
    name: &'a str,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: &'a str,
    typeflag: u8,
}

/// A model directory's files, found, checked and classified, in layer order; nothing read yet.
#[derive(Debug)]
pub struct Scan {
    sources: Vec<Source>,
}

impl Scan {
    /// The files in layer order.
    pub fn files(&self) -> &[Source] {
        &self.sources
    }
}

/// Finds and classifies the files of `dir` (sorted by path), checking every symlink.
///
/// # Errors
/// [`Error`] naming the file or field at fault.
pub fn scan(dir: &Path, options: &Options) -> Result<Scan, Error> {
    options.metadata.validate()?;
    if options.metadata.name.is_none() {
        return Err(Error::NoName);
    }
    let classifier = Classifier::new(&options.kinds)?;
    let exclude = glob_set(&options.exclude)?;
    let root = fs_err::canonicalize(dir)?;
    if !root.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let links = match &options.links_within {
        Some(dir) => fs_err::canonicalize(dir)?,
        None => root.clone(),
    };
    let mut sources = Vec::new();
    let walker = Walker {
        links: &links,
        exclude: &exclude,
        classifier: &classifier,
        dereference: options.dereference,
    };
    walker.walk(&root, "", &mut sources)?;
    if sources.is_empty() {
        return Err(Error::EmptyModel {
            path: dir.to_owned(),
        });
    }
    sources.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(Scan { sources })
}

/// Builds layers, config and manifest from a scan and each file's digest (in scan order).
///
/// # Errors
/// Size bounds of annotations and manifest.
pub fn assemble(scan: &Scan, digests: Vec<Digest>, options: &Options) -> Result<Packed, Error> {
    let mtime =
        metadata::format_unix_time(options.mtime).map_err(|reason| Error::Time { reason })?;
    let layers: Vec<Descriptor> = scan
        .sources
        .iter()
        .zip(&digests)
        .map(|(source, digest)| layer(source, digest, &mtime))
        .collect();
    let config = options.metadata.to_config(digests);
    let config_bytes = serde_json::to_vec(&config).expect("a config always serializes");
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.into()),
        artifact_type: Some(media_types::MODEL_ARTIFACT.into()),
        config: Descriptor::of(media_types::MODEL_CONFIG, &config_bytes),
        layers,
        subject: None,
        annotations: annotations(options)?,
    };
    let bytes = manifest.to_bytes();
    if bytes.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(Error::ManifestTooLarge {
            size: bytes.len() as u64,
            files: scan.sources.len(),
        });
    }
    let mut descriptor = Descriptor::of(media_types::OCI_MANIFEST, &bytes);
    descriptor.artifact_type = manifest.artifact_type.clone();
    Ok(Packed {
        descriptor,
        manifest,
        manifest_bytes: bytes,
        config_bytes,
        files: scan.sources.iter().map(|s| s.path.clone()).collect(),
        guard: None,
    })
}

/// Packs `dir`: copies every file into `layout` ([`Blobs::Store`]) or only hashes it
/// ([`Blobs::HashOnly`]), then assembles the artifact.
///
/// # Errors
/// [`Error`] naming the file or field at fault; nothing is tagged on error.
pub fn pack(
    dir: &Path,
    blobs: Blobs<'_>,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Packed, Error> {
    let scan = scan(dir, options)?;
    let guard = match blobs {
        Blobs::Store(layout) => Some(layout.write_guard()?),
        Blobs::HashOnly => None,
    };
    reporter.total(scan.sources.iter().map(|s| s.size).sum());
    let digests = copy_all(&scan.sources, blobs, options, reporter)?;
    let mut packed = assemble(&scan, digests, options)?;
    if let Blobs::Store(layout) = blobs {
        layout.write_blob(&packed.config_bytes)?;
        layout.write_blob(&packed.manifest_bytes)?;
    }
    if let Some(cache) = &options.cache {
        // A cache that cannot be saved only costs re-hashing next time.
        if let Err(e) = cache.save() {
            tracing::warn!("could not save the digest cache: {e}");
        }
    }
    packed.guard = guard;
    Ok(packed)
}

fn glob_set(globs: &[String]) -> Result<GlobSet, Error> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|source| Error::Pattern {
            glob: glob.clone(),
            source,
        })?);
    }
    builder.build().map_err(|source| Error::Pattern {
        glob: globs.join(" "),
        source,
    })
}

/// What a directory walk keeps and where its symlinks may point.
struct Walker<'a> {
    /// Symlink targets must be inside this (canonical) directory, unless `dereference`.
    links: &'a Path,
    exclude: &'a GlobSet,
    classifier: &'a Classifier,
    dereference: bool,
}

impl Walker<'_> {
    /// Collects the regular files under `dir`, checking every symlink.
    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<Source>) -> Result<(), Error> {
        let Walker {
            links,
            exclude,
            classifier,
            dereference,
        } = *self;
        for entry in fs_err::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| Error::NonUtf8Path { path: entry.path() })?;
            let relative = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            if relative == ".git" || exclude.is_match(&relative) {
                continue;
            }
            let path = entry.path();
            let mut metadata = fs_err::symlink_metadata(&path)?;
            if metadata.file_type().is_symlink() {
                let target = fs_err::canonicalize(&path)?;
                if !target.starts_with(links) && !dereference {
                    return Err(Error::SymlinkOutside { path, target });
                }
                metadata = fs_err::metadata(&target)?;
                if metadata.is_dir() {
                    return Err(Error::SymlinkToDirectory { path });
                }
            }
            if metadata.is_dir() {
                self.walk(&path, &relative, out)?;
            } else if metadata.is_file() {
                out.push(Source {
                    class: classifier.classify(&relative),
                    relative,
                    size: metadata.len(),
                    executable: is_executable(&metadata),
                    path,
                });
            } else {
                return Err(Error::SpecialFile { path });
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Copies (or hashes) every source, `options.concurrency` files at a time, keeping input order.
fn copy_all(
    sources: &[Source],
    blobs: Blobs<'_>,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Vec<Digest>, Error> {
    let concurrency = options.concurrency.max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Digest, Error>>>> =
        Mutex::new((0..sources.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(sources.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(source) = sources.get(i) else { break };
                    let result = copy_one(source, i, blobs, options.cache.as_deref(), reporter);
                    let failed = result.is_err();
                    results
                        .lock()
                        .expect("no worker panics while holding the lock")[i] = Some(result);
                    if failed {
                        // Stop handing out work; the first error in order is reported.
                        next.store(sources.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let results = results.into_inner().expect("workers finished");
    let mut digests = Vec::with_capacity(sources.len());
    for result in results {
        match result {
            Some(result) => digests.push(result?),
            None => break,
        }
    }
    Ok(digests)
}

fn copy_one(
    source: &Source,
    id: usize,
    blobs: Blobs<'_>,
    cache: Option<&DigestCache>,
    reporter: &dyn Reporter,
) -> Result<Digest, Error> {
    let file = fs_err::File::open(&source.path)?;
    let metadata = file.metadata()?;
    if let Some(digest) = cache.and_then(|c| c.get(&source.path, &metadata)) {
        let present = match blobs {
            Blobs::Store(layout) => {
                layout.has_blob(&Descriptor::new("", digest.clone(), source.size))
            }
            Blobs::HashOnly => true,
        };
        if present && metadata.len() == source.size {
            return Ok(digest);
        }
    }
    reporter.begin(id, &source.relative, source.size);
    let result = (|| {
        // Read at most one byte more than stat said, to notice a file growing meanwhile.
        let mut limited = file.take(source.size + 1);
        let (digest, size) = match blobs {
            Blobs::Store(layout) => {
                let mut writer = ProgressWriter::new(layout.blob_writer()?, reporter, id);
                layout::copy(&mut limited, &mut writer)?;
                let writer = writer.into_inner();
                let size = writer.size();
                if size != source.size {
                    return Err(Error::ChangedWhilePacking {
                        path: source.path.clone(),
                    });
                }
                (writer.commit(None)?, size)
            }
            Blobs::HashOnly => {
                let sink = Hasher::new(Algorithm::Sha256);
                let mut hasher = ProgressWriter::new(sink, reporter, id);
                let size = layout::copy(&mut limited, &mut hasher)?;
                (hasher.into_inner().finish(), size)
            }
        };
        // Same size is not enough: a file rewritten in place mixes old and new bytes.
        if size != source.size || Stamp::read(&source.path)? != Stamp::of(&metadata) {
            return Err(Error::ChangedWhilePacking {
                path: source.path.clone(),
            });
        }
        if let Some(cache) = cache {
            cache.insert(&source.path, &metadata, digest.clone());
        }
        Ok(digest)
    })();
    reporter.end(id);
    result
}

fn layer(source: &Source, digest: &Digest, mtime: &str) -> Descriptor {
    let name = source
        .relative
        .rsplit('/')
        .next()
        .unwrap_or(&source.relative);
    // Modes are normalised like git's so umask differences do not change digests.
    let mode = if source.executable { 0o755 } else { 0o644 };
    let file_metadata = FileMetadata {
        name,
        mode,
        uid: 0,
        gid: 0,
        size: source.size,
        mtime,
        typeflag: b'0',
    };
    let mut descriptor = Descriptor::new(
        source.class.kind.raw_media_type(),
        digest.clone(),
        source.size,
    );
    let annotations = &mut descriptor.annotations;
    annotations.insert(
        media_types::ANNOTATION_FILEPATH.into(),
        source.relative.clone(),
    );
    annotations.insert(
        media_types::ANNOTATION_FILE_METADATA.into(),
        serde_json::to_string(&file_metadata).expect("file metadata always serializes"),
    );
    annotations.insert(media_types::OCI_TITLE.into(), source.relative.clone());
    if source.class.guessed {
        annotations.insert(media_types::ANNOTATION_UNTESTED.into(), "true".into());
    }
    descriptor
}

/// Metadata annotations plus the user's, refusing keys modelark manages and oversize totals.
fn annotations(options: &Options) -> Result<BTreeMap<String, String>, Error> {
    let mut annotations = options.metadata.to_annotations()?;
    for (key, value) in &options.annotations {
        let managed = key.starts_with("dev.modelark.")
            || annotations.contains_key(key)
            || key == metadata::keys::CREATED
            || key == metadata::keys::VERSION;
        if managed {
            return Err(Error::ManagedAnnotation { key: key.clone() });
        }
        annotations.insert(key.clone(), value.clone());
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ANNOTATIONS_SIZE {
        return Err(Error::AnnotationsTooLarge {
            size,
            limit: MAX_ANNOTATIONS_SIZE,
        });
    }
    Ok(annotations)
}
