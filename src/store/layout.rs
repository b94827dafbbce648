//! An OCI image layout on disk (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>):
//! `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
//!
//! Blobs are written to a temp file beside their final place, hashed while written, verified
//! and renamed, so a crash never leaves a corrupt blob. `index.json` is replaced atomically
//! under an exclusive lock. Writers hold a shared "gc" lock while their blobs are not yet
//! referenced; garbage collection takes it exclusively, so it never deletes them.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::Error;
use crate::digest::{self, Algorithm, Digest, Hasher, VerifyingReader};
use crate::media_types;
use crate::oci::{Descriptor, Index, MAX_MANIFEST_SIZE, Manifest};

const LAYOUT_FILE: &str = "oci-layout";
pub(crate) const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const INDEX_FILE: &str = "index.json";
const INDEX_LOCK: &str = ".modelark-index.lock";
const GC_LOCK: &str = ".modelark-gc.lock";
const TEMP_PREFIX: &str = ".tmp-";
/// Records of unpacks in progress (see [`Layout::record_unpack`]).
const UNPACK_RECORDS: &str = ".modelark-unpacking";
/// The buffer of [`copy`]: large enough that a multi-GB blob takes few system calls.
const COPY_BUFFER: usize = 1 << 20;
/// `index.json` of a store with many thousands of models stays well under this.
const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

/// Held while blobs are written but not yet referenced from `index.json`; keeps garbage
/// collection away. Dropping it releases the lock.
#[derive(Debug)]
pub struct WriteGuard {
    _lock: File,
}

/// A file held under an exclusive `flock` for as long as this value lives, and removed
/// (while still held) when it is dropped. Two uses: the lock of one blob's download
/// (`blobs/<alg>/.partial-<hex>.lock`: while it is held, no other process or task writes that
/// blob's partial file), and the record of an unpack in progress
/// (`.modelark-unpacking/unpack-*`, naming its temp directory for [`Layout::gc`]).
#[derive(Debug)]
pub struct HeldFile {
    file: File,
    path: PathBuf,
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        // Removed while still held: a waiter that opened this file sees, once it gets the
        // lock, that the path no longer names its file and starts over (see `lock_blob`).
        let _ = fs_err::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// What [`Layout::gc`] removed.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Leftovers of interrupted work deleted: temp files, partial downloads no process is
    /// continuing, stale lock files, unpack directories of processes that died.
    pub leftovers: usize,
}

impl Layout {
    /// Opens an existing layout.
    ///
    /// # Errors
    /// [`Error::NotALayout`] when `root` has no `oci-layout` file.
    pub fn open(root: impl Into<PathBuf>) -> Result<Layout, Error> {
        let root = root.into();
        if !root.join(LAYOUT_FILE).is_file() {
            return Err(Error::NotALayout { path: root });
        }
        Ok(Layout { root })
    }

    /// Opens a layout, creating the directory and its files when missing.
    ///
    /// # Errors
    /// I/O errors naming the path; [`Error::NotALayout`] when `root` is a non-empty
    /// directory that is not a layout.
    pub fn create(root: impl Into<PathBuf>) -> Result<Layout, Error> {
        let root = root.into();
        if root.join(LAYOUT_FILE).is_file() {
            return Ok(Layout { root });
        }
        if root.is_dir() {
            // Another process may be creating this layout right now: its files are fine.
            for entry in fs_err::read_dir(&root)? {
                let name = entry?.file_name();
                let name = name.to_string_lossy();
                let ours = matches!(name.as_ref(), "blobs" | INDEX_FILE | LAYOUT_FILE)
                    || name.starts_with(".modelark-")
                    || name.starts_with(TEMP_PREFIX);
                if !ours {
                    return Err(Error::NotALayout { path: root });
                }
            }
        }
        fs_err::create_dir_all(root.join("blobs").join(Algorithm::Sha256.as_str()))?;
        let layout = Layout { root };
        // oci-layout first: from then on the directory opens as a layout, and a missing
        // index.json reads as empty until update_index writes it.
        if !layout.root.join(LAYOUT_FILE).is_file() {
            write_store_file(&layout.root.join(LAYOUT_FILE), LAYOUT_CONTENT)?;
        }
        layout.update_index(|_| Ok(()))?;
        Ok(layout)
    }

    /// The layout's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// True when the blob is present with the descriptor's size. (Its content is verified
    /// whenever it is read.)
    pub fn has_blob(&self, descriptor: &Descriptor) -> bool {
        fs_err::metadata(self.blob_path(&descriptor.digest))
            .is_ok_and(|m| m.is_file() && m.len() == descriptor.size)
    }

    /// Opens a blob for reading; the reader fails at the end if the content does not match
    /// the descriptor.
    ///
    /// # Errors
    /// [`Error::BlobMissing`] or [`Error::Corrupt`] (wrong size on disk).
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<VerifyingReader<File>, Error> {
        let path = self.blob_path(&descriptor.digest);
        // Only regular files: opening a FIFO (or a device) put where a blob should be would
        // block, or read forever.
        match fs_err::symlink_metadata(&path) {
            Ok(m) if !m.is_file() => return Err(Error::NotAFile { path }),
            _ => {}
        }
        let file = match fs_err::File::open(&path) {
            Ok(file) => file.into_file(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::BlobMissing {
                    digest: descriptor.digest.clone(),
                    layout: self.root.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let actual = file.metadata()?.len();
        if actual != descriptor.size {
            return Err(Error::Corrupt {
                path,
                source: digest::Error::SizeMismatch {
                    digest: descriptor.digest.clone(),
                    expected: descriptor.size,
                    actual,
                },
            });
        }
        Ok(VerifyingReader::new(
            file,
            descriptor.digest.clone(),
            descriptor.size,
        ))
    }

    /// Reads and verifies a small blob (manifest, config) of at most `max` bytes.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::BlobMissing`], [`Error::Corrupt`].
    pub fn read_blob(&self, descriptor: &Descriptor, max: u64) -> Result<Vec<u8>, Error> {
        if descriptor.size > max {
            return Err(Error::TooLarge {
                digest: descriptor.digest.clone(),
                size: descriptor.size,
                limit: max,
            });
        }
        let mut bytes = Vec::with_capacity(descriptor.size as usize);
        self.open_blob(descriptor)?
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(&descriptor.digest, e))?;
        Ok(bytes)
    }

    /// Reads, verifies and decodes the manifest `descriptor` points at.
    ///
    /// # Errors
    /// As [`Layout::read_blob`], plus [`Error::Oci`] for a malformed manifest.
    pub fn read_manifest(&self, descriptor: &Descriptor) -> Result<Manifest, Error> {
        let bytes = self.read_blob(descriptor, MAX_MANIFEST_SIZE)?;
        Ok(Manifest::from_slice(&bytes, &descriptor.digest)?)
    }

    /// Turns a read error into [`Error::Corrupt`] when it is a verification failure.
    pub fn read_error(&self, digest: &Digest, error: io::Error) -> Error {
        if digest::verification_error(&error).is_none() {
            return Error::Io(error);
        }
        match error
            .into_inner()
            .map(|inner| inner.downcast::<digest::Error>())
        {
            Some(Ok(source)) => Error::Corrupt {
                path: self.blob_path(digest),
                source: *source,
            },
            _ => unreachable!("verification_error found a digest error"),
        }
    }

    /// Where an interrupted download of `digest` keeps its bytes, so the next attempt (in
    /// this process or a later one) resumes instead of starting over.
    pub fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(format!(".partial-{}", digest.hex()))
    }

    /// Where the lock of a download of `digest` lives.
    pub fn blob_lock_path(&self, digest: &Digest) -> PathBuf {
        let mut path = self.partial_path(digest).into_os_string();
        path.push(".lock");
        PathBuf::from(path)
    }

    /// Waits for exclusive hold on downloading `digest` (blocking: call it off the async
    /// runtime). Two pulls of one blob into one store then never share its partial file;
    /// the second finds the blob in place when the first is done.
    ///
    /// # Errors
    /// I/O errors on the lock file.
    pub fn lock_blob(&self, digest: &Digest) -> Result<HeldFile, Error> {
        self.acquire_blob_lock(digest, true)
            .map(|lock| lock.expect("a blocking lock is always acquired"))
    }

    /// Like [`Layout::lock_blob`], but `None` at once when another holder has it.
    ///
    /// # Errors
    /// I/O errors on the lock file.
    pub fn try_lock_blob(&self, digest: &Digest) -> Result<Option<HeldFile>, Error> {
        self.acquire_blob_lock(digest, false)
    }

    fn acquire_blob_lock(&self, digest: &Digest, wait: bool) -> Result<Option<HeldFile>, Error> {
        let path = self.blob_lock_path(digest);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        loop {
            let file = open_lock_file(&path)?;
            if wait {
                file.lock().map_err(|e| lock_error(&path, e))?;
            } else {
                match file.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(&path, e).into()),
                }
            }
            // The holder before us removes the file when done: ours counts only when the
            // path still names the file we locked.
            if same_file(&file, &path) {
                return Ok(Some(HeldFile { file, path }));
            }
        }
    }

    /// Publishes a verified partial download as the blob `digest`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn commit_partial(&self, partial: &Path, digest: &Digest) -> Result<(), Error> {
        fs_err::rename(partial, self.blob_path(digest))?;
        Ok(())
    }

    /// Keeps garbage collection away until the guard is dropped.
    ///
    /// # Errors
    /// I/O errors on the lock file.
    pub fn write_guard(&self) -> Result<WriteGuard, Error> {
        Ok(WriteGuard {
            _lock: self.lock(GC_LOCK, false)?,
        })
    }

    /// Starts writing a blob. Call [`BlobWriter::commit`] to publish it.
    ///
    /// # Errors
    /// I/O errors creating the temp file.
    pub fn blob_writer(&self) -> Result<BlobWriter, Error> {
        let dir = self.root.join("blobs").join(Algorithm::Sha256.as_str());
        fs_err::create_dir_all(&dir)?;
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("failed to create a temp file in {}: {e}", dir.display()),
                )
            })?;
        Ok(BlobWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Hasher::new(Algorithm::Sha256),
            size: 0,
            layout: self.clone(),
        })
    }

    /// Writes a small blob from memory and returns its digest.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256_of(bytes);
        if self.blob_path(&digest).is_file() {
            return Ok(digest);
        }
        let mut writer = self.blob_writer()?;
        writer.write_all(bytes)?;
        writer.commit(None)
    }

    /// Streams `reader` into a blob, verifying it against `expected` when given.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the content does not match; I/O errors.
    pub fn copy_blob(&self, reader: &mut impl Read, expected: &Descriptor) -> Result<(), Error> {
        if self.has_blob(expected) {
            return Ok(());
        }
        let mut writer = self.blob_writer()?;
        copy(reader, &mut writer).map_err(|e| self.read_error(&expected.digest, e))?;
        writer.commit(Some(expected))?;
        Ok(())
    }

    /// Reads `index.json`.
    ///
    /// # Errors
    /// I/O errors; [`Error::Index`] when it is malformed.
    pub fn index(&self) -> Result<Index, Error> {
        let path = self.root.join(INDEX_FILE);
        let file = match fs_err::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Index::new()),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::new();
        file.take(MAX_INDEX_SIZE + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_INDEX_SIZE {
            return Err(Error::IndexTooLarge { path });
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::Index { path, source })
    }

    /// Reads, changes and atomically rewrites `index.json` under an exclusive lock.
    ///
    /// # Errors
    /// Whatever `change` returns, or I/O errors.
    pub fn update_index<T>(
        &self,
        change: impl FnOnce(&mut Index) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let _gc = self.lock(GC_LOCK, false)?;
        let _lock = self.lock(INDEX_LOCK, true)?;
        let mut index = self.index()?;
        let before = index.clone();
        let result = change(&mut index)?;
        if index != before || !self.root.join(INDEX_FILE).is_file() {
            write_store_file(&self.root.join(INDEX_FILE), &index.to_bytes())?;
        }
        Ok(result)
    }

    /// Records that an unpack is writing into `staging`, so that [`Layout::gc`] can remove
    /// it should the process die before it is renamed into place; dropping the record
    /// removes it.
    ///
    /// # Errors
    /// I/O errors writing the record.
    pub fn record_unpack(&self, staging: &Path) -> Result<HeldFile, Error> {
        let dir = self.root.join(UNPACK_RECORDS);
        fs_err::create_dir_all(&dir)?;
        let mut named = tempfile::Builder::new()
            .prefix("unpack-")
            .tempfile_in(&dir)
            .map_err(|e| lock_error(&dir, e))?;
        let absolute = std::path::absolute(staging)?;
        named.write_all(absolute.as_os_str().as_encoded_bytes())?;
        named.as_file().sync_all()?;
        let (file, path) = named.keep().map_err(|e| lock_error(&dir, e.error))?;
        file.lock().map_err(|e| lock_error(&path, e))?;
        Ok(HeldFile { file, path })
    }

    /// Deletes every blob no index entry reaches, and what interrupted work left: temp
    /// files, partial downloads that no running process holds, stale lock files, and the
    /// temp directories of unpacks whose process died.
    ///
    /// # Errors
    /// I/O errors, or an unreadable manifest (then nothing is deleted).
    pub fn gc(&self) -> Result<GcReport, Error> {
        let _gc = self.lock(GC_LOCK, true)?;
        let index = self.index()?;
        let mut keep = BTreeSet::new();
        let mut pending: Vec<Descriptor> = index.manifests.clone();
        while let Some(descriptor) = pending.pop() {
            if !keep.insert(descriptor.digest.clone()) || !self.has_blob(&descriptor) {
                continue;
            }
            let children = self.children(&descriptor)?;
            pending.extend(children);
        }
        let mut report = GcReport::default();
        let blobs = self.root.join("blobs");
        for algorithm_dir in fs_err::read_dir(&blobs)? {
            let algorithm_dir = algorithm_dir?;
            let algorithm = algorithm_dir.file_name().to_string_lossy().into_owned();
            for entry in fs_err::read_dir(algorithm_dir.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let size = entry.metadata().map_or(0, |m| m.len());
                if let Ok(digest) = format!("{algorithm}:{name}").parse::<Digest>() {
                    if !keep.contains(&digest) {
                        remove_file_if_there(&entry.path())?;
                        report.bytes += size;
                        report.blobs += 1;
                    }
                } else if name.starts_with(TEMP_PREFIX) {
                    // Writers hold the shared lock this exclusive one excludes: no temp
                    // file is being written now.
                    remove_file_if_there(&entry.path())?;
                    report.bytes += size;
                    report.leftovers += 1;
                } else if let Some(digest) = partial_digest(&algorithm, &name)
                    && let Some(_lock) = self.try_lock_blob(&digest)?
                {
                    // Nobody is downloading this blob: its partial file is stale.
                    for path in [
                        self.partial_path(&digest),
                        progress_path(&self.partial_path(&digest)),
                    ] {
                        if let Ok(m) = fs_err::metadata(&path) {
                            remove_file_if_there(&path)?;
                            report.bytes += m.len();
                            report.leftovers += 1;
                        }
                    }
                }
            }
        }
        report.leftovers += self.remove_dead_unpacks()?;
        Ok(report)
    }

    /// Removes the temp directories of unpacks whose process is gone (their record is no
    /// longer locked).
    fn remove_dead_unpacks(&self) -> Result<usize, Error> {
        let dir = self.root.join(UNPACK_RECORDS);
        let Ok(records) = fs_err::read_dir(&dir) else {
            return Ok(0);
        };
        let mut removed = 0;
        for record in records {
            let path = record?.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            if file.try_lock().is_err() || !same_file(&file, &path) {
                continue;
            }
            let staging = PathBuf::from(fs_err::read_to_string(&path)?);
            // Only ever a directory modelark made for an unpack.
            let ours = staging
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".modelark-unpack-"));
            if ours && staging.is_dir() {
                fs_err::remove_dir_all(&staging)?;
                removed += 1;
            }
            remove_file_if_there(&path)?;
        }
        Ok(removed)
    }

    /// The descriptors a manifest or index blob points at.
    pub(crate) fn children(&self, descriptor: &Descriptor) -> Result<Vec<Descriptor>, Error> {
        let json = matches!(
            descriptor.media_type.as_str(),
            media_types::OCI_MANIFEST | media_types::OCI_INDEX | media_types::DOCKER_MANIFEST
        );
        if !json {
            return Ok(Vec::new());
        }
        let bytes = self.read_blob(descriptor, MAX_MANIFEST_SIZE)?;
        if descriptor.media_type == media_types::OCI_INDEX {
            return Ok(Index::from_slice(&bytes, &descriptor.digest)?.manifests);
        }
        let manifest = Manifest::from_slice(&bytes, &descriptor.digest)?;
        let mut children = vec![manifest.config];
        children.extend(manifest.layers);
        Ok(children)
    }

    fn lock(&self, name: &str, exclusive: bool) -> Result<File, Error> {
        let path = self.root.join(name);
        let file = open_lock_file(&path)?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| lock_error(&path, e))?;
        Ok(file)
    }
}

/// Store files are world-readable and written only by their owner (0644), like the
/// directories around them; temp files start as 0600.
fn set_store_mode(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn remove_file_if_there(path: &Path) -> io::Result<()> {
    match fs_err::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The blob a `.partial-<hex>`, `.partial-<hex>.parts` or `.partial-<hex>.lock` file is for.
fn partial_digest(algorithm: &str, name: &str) -> Option<Digest> {
    let hex = name.strip_prefix(".partial-")?;
    let hex = hex
        .strip_suffix(".parts")
        .or_else(|| hex.strip_suffix(".lock"))
        .unwrap_or(hex);
    format!("{algorithm}:{hex}").parse().ok()
}

/// `.partial-<hex>.parts` beside a partial file: the progress of a ranged download.
pub(crate) fn progress_path(partial: &Path) -> PathBuf {
    let mut name = partial.file_name().unwrap_or_default().to_owned();
    name.push(".parts");
    partial.with_file_name(name)
}

/// Opens (creating, never truncating) a file to `flock`.
fn open_lock_file(path: &Path) -> io::Result<File> {
    Ok(fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?
        .into_file())
}

fn lock_error(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("failed to lock {}: {error}", path.display()),
    )
}

/// Whether `path` still names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.ino() == named.ino() && open.dev() == named.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// A blob being written: hashed as bytes arrive, published by [`BlobWriter::commit`].
/// Dropping it without committing deletes the temp file.
pub struct BlobWriter {
    file: BufWriter<NamedTempFile>,
    hasher: Hasher,
    size: u64,
    layout: Layout,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes, checks against `expected` (when given), and renames into place.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the content differs from `expected`; I/O errors.
    pub fn commit(self, expected: Option<&Descriptor>) -> Result<Digest, Error> {
        let digest = self.hasher.finish();
        let path = self.layout.blob_path(&digest);
        if let Some(expected) = expected {
            let mismatch = if expected.digest != digest {
                Some(digest::Error::Mismatch {
                    expected: expected.digest.clone(),
                    actual: digest.clone(),
                })
            } else if expected.size != self.size {
                Some(digest::Error::SizeMismatch {
                    digest: digest.clone(),
                    expected: expected.size,
                    actual: self.size,
                })
            } else {
                None
            };
            if let Some(source) = mismatch {
                return Err(Error::Corrupt {
                    path: self.layout.blob_path(&expected.digest),
                    source,
                });
            }
        }
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        set_store_mode(file.as_file())?;
        file.as_file().sync_all()?;
        file.persist(&path).map_err(|e| {
            io::Error::new(
                e.error.kind(),
                format!(
                    "failed to rename a blob into {}: {}",
                    path.display(),
                    e.error
                ),
            )
        })?;
        Ok(digest)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Copies `reader` to `writer` through one 1 MiB heap buffer (std's `io::copy` uses 8 KiB
/// unless the writer is a `BufWriter`), so multi-GB blobs take few system calls.
///
/// # Errors
/// The first read or write error.
pub fn copy(
    reader: &mut (impl Read + ?Sized),
    writer: &mut (impl Write + ?Sized),
) -> io::Result<u64> {
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut total = 0;
    loop {
        crate::interrupt::check()?;
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buffer[..n])?;
        total += n as u64;
    }
}

/// Replaces `path` with `bytes` atomically: temp file in the same directory, fsync, rename.
/// The file is readable by its owner only (0600: keys, credentials, caches).
///
/// # Errors
/// I/O errors naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_as(path, bytes, false)
}

/// [`write_atomic`] for store files, which are world-readable (0644) like the blobs.
fn write_store_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_as(path, bytes, true)
}

fn write_atomic_as(path: &Path, bytes: &[u8], store_file: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to create a temp file in {}: {e}", dir.display()),
            )
        })?;
    file.write_all(bytes)?;
    if store_file {
        set_store_mode(file.as_file())?;
    }
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| {
        io::Error::new(
            e.error.kind(),
            format!("failed to write {}: {}", path.display(), e.error),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().join("layout")).unwrap();
        (dir, layout)
    }

    #[test]
    fn create_writes_a_valid_empty_layout_and_is_idempotent() {
        let (_dir, layout) = layout();
        let oci_layout = fs_err::read(layout.root().join(LAYOUT_FILE)).unwrap();
        assert_eq!(oci_layout, LAYOUT_CONTENT);
        assert!(layout.index().unwrap().manifests.is_empty());
        Layout::create(layout.root()).unwrap();
        Layout::open(layout.root()).unwrap();
    }

    #[test]
    fn refuses_to_turn_a_non_empty_directory_into_a_layout() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("precious.txt"), "x").unwrap();
        assert!(matches!(
            Layout::create(dir.path()),
            Err(Error::NotALayout { .. })
        ));
        assert!(matches!(
            Layout::open(dir.path()),
            Err(Error::NotALayout { .. })
        ));
    }

    #[test]
    fn copy_blob_refuses_mismatched_content_and_leaves_nothing() {
        let (_dir, layout) = layout();
        let expected = Descriptor::new("x", Digest::sha256_of(b"good"), 4);
        let error = layout.copy_blob(&mut &b"evil"[..], &expected).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Corrupt {
                    source: digest::Error::Mismatch { .. },
                    ..
                }
            ),
            "{error}"
        );
        let files: Vec<_> = fs_err::read_dir(layout.root().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(files.is_empty(), "left behind: {files:?}");
    }

    #[test]
    fn reading_a_corrupted_blob_fails_with_both_digests() {
        let (_dir, layout) = layout();
        let digest = layout.write_blob(b"hello").unwrap();
        let descriptor = Descriptor::new("x", digest.clone(), 5);
        fs_err::write(layout.blob_path(&digest), b"jello").unwrap();
        let error = layout.read_blob(&descriptor, 100).unwrap_err();
        assert!(
            matches!(&error, Error::Corrupt { source: digest::Error::Mismatch { expected, .. }, .. } if *expected == digest)
        );
        fs_err::write(layout.blob_path(&digest), b"hell").unwrap();
        assert!(matches!(
            layout.open_blob(&descriptor),
            Err(Error::Corrupt {
                source: digest::Error::SizeMismatch { actual: 4, .. },
                ..
            })
        ));
    }

    #[test]
    fn gc_keeps_what_the_index_reaches() {
        let (_dir, layout) = layout();
        let config = layout.write_blob(b"{}").unwrap();
        let layer = layout.write_blob(b"weights").unwrap();
        let orphan = layout.write_blob(b"orphan").unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new("c", config.clone(), 2),
            layers: vec![Descriptor::new("l", layer.clone(), 7)],
            subject: None,
            annotations: Default::default(),
        };
        let bytes = manifest.to_bytes();
        let manifest_digest = layout.write_blob(&bytes).unwrap();
        layout
            .update_index(|index| {
                index.manifests.push(Descriptor::new(
                    media_types::OCI_MANIFEST,
                    manifest_digest.clone(),
                    bytes.len() as u64,
                ));
                Ok(())
            })
            .unwrap();
        let report = layout.gc().unwrap();
        assert_eq!(
            report,
            GcReport {
                blobs: 1,
                bytes: 6,
                leftovers: 0
            }
        );
        for kept in [&config, &layer, &manifest_digest] {
            assert!(layout.blob_path(kept).is_file());
        }
        assert!(!layout.blob_path(&orphan).exists());
    }
}
