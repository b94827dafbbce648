//! Model directory → ModelPack artifact in an OCI layout: walk in sorted order, stream each
//! file into a blob (hashed while copied, never held in memory), build config and manifest.
//! The same directory and metadata always give the same manifest digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::Error;
use super::classify::{Classification, Classifier, Kind};
use crate::digest::Digest;
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
    /// The file modification time recorded in layer metadata (seconds since the epoch);
    /// 0 unless a build time is asked for, so builds are reproducible.
    pub mtime: i64,
    /// How many files to copy at once.
    pub concurrency: usize,
}

/// A packed model: its manifest is in the layout but not yet tagged.
#[derive(Debug)]
pub struct Packed {
    /// The manifest descriptor, ready to tag.
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// Keeps garbage collection away until the manifest is tagged.
    pub guard: WriteGuard,
}

/// One file found in the model directory.
#[derive(Debug)]
struct Source {
    relative: String,
    path: PathBuf,
    size: u64,
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

/// Packs `dir` into `layout`.
///
/// # Errors
/// [`Error`] naming the file or field at fault; nothing is tagged on error.
pub fn pack(
    dir: &Path,
    layout: &Layout,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Packed, Error> {
    options.metadata.validate()?;
    if options.metadata.name.is_none() {
        return Err(Error::NoName);
    }
    let classifier = Classifier::new(&options.kinds).map_err(Error::Pattern)?;
    let exclude = glob_set(&options.exclude)?;
    let root = fs_err::canonicalize(dir)?;
    if !root.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let mut sources = Vec::new();
    walk(
        &root,
        &root,
        "",
        &exclude,
        &classifier,
        options.dereference,
        &mut sources,
    )?;
    if sources.is_empty() {
        return Err(Error::EmptyModel {
            path: dir.to_owned(),
        });
    }
    sources.sort_by(|a, b| a.relative.cmp(&b.relative));

    let guard = layout.write_guard()?;
    let digests = copy_all(&sources, layout, options.concurrency.max(1), reporter)?;
    let mtime =
        metadata::format_unix_time(options.mtime).map_err(|reason| Error::Time { reason })?;
    let layers: Vec<Descriptor> = sources
        .iter()
        .zip(&digests)
        .map(|(source, digest)| layer(source, digest, &mtime))
        .collect();

    let config = options.metadata.to_config(digests);
    let config_bytes = serde_json::to_vec(&config).expect("a config always serializes");
    let config_digest = layout.write_blob(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.into()),
        artifact_type: Some(media_types::MODEL_ARTIFACT.into()),
        config: Descriptor::new(
            media_types::MODEL_CONFIG,
            config_digest,
            config_bytes.len() as u64,
        ),
        layers,
        subject: None,
        annotations: annotations(options)?,
    };
    let bytes = manifest.to_bytes();
    if bytes.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(Error::ManifestTooLarge {
            size: bytes.len() as u64,
            files: sources.len(),
        });
    }
    let digest = layout.write_blob(&bytes)?;
    let mut descriptor = Descriptor::new(media_types::OCI_MANIFEST, digest, bytes.len() as u64);
    descriptor.artifact_type = manifest.artifact_type.clone();
    Ok(Packed {
        descriptor,
        manifest,
        guard,
    })
}

fn glob_set(globs: &[String]) -> Result<GlobSet, Error> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(
            Glob::new(glob).map_err(|e| Error::Pattern(format!("invalid glob {glob:?}: {e}")))?,
        );
    }
    builder.build().map_err(|e| Error::Pattern(e.to_string()))
}

/// Collects the regular files under `dir`, checking every symlink.
fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    exclude: &GlobSet,
    classifier: &Classifier,
    dereference: bool,
    out: &mut Vec<Source>,
) -> Result<(), Error> {
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
            if !target.starts_with(root) && !dereference {
                return Err(Error::SymlinkOutside { path, target });
            }
            metadata = fs_err::metadata(&target)?;
            if metadata.is_dir() {
                return Err(Error::SymlinkToDirectory { path });
            }
        }
        if metadata.is_dir() {
            walk(
                root,
                &path,
                &relative,
                exclude,
                classifier,
                dereference,
                out,
            )?;
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

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Copies every source into a blob, `concurrency` files at a time, keeping input order.
fn copy_all(
    sources: &[Source],
    layout: &Layout,
    concurrency: usize,
    reporter: &dyn Reporter,
) -> Result<Vec<Digest>, Error> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Digest, Error>>>> =
        Mutex::new((0..sources.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(sources.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(source) = sources.get(i) else { break };
                    let result = copy_one(source, i, layout, reporter);
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
    layout: &Layout,
    reporter: &dyn Reporter,
) -> Result<Digest, Error> {
    reporter.begin(id, &source.relative, source.size);
    let result = (|| {
        let file = fs_err::File::open(&source.path)?;
        let mut writer = ProgressWriter::new(layout.blob_writer()?, reporter, id);
        // Copy at most one byte more than stat said, to notice a file growing meanwhile.
        layout::copy(&mut file.take(source.size + 1), &mut writer)?;
        let writer = writer.into_inner();
        if writer.size() != source.size {
            return Err(Error::ChangedWhilePacking {
                path: source.path.clone(),
            });
        }
        Ok(writer.commit(None)?)
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
