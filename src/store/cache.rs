//! A bounded cache of verified blobs on local disk, named by digest: what a long-running
//! process (`modelark serve`) keeps so that a blob it fetched and verified once is served
//! again from disk, neither fetched nor hashed again. Only bytes already verified against
//! their digest go in (the caller's stream checked them); the least recently used blobs
//! go first when the cache outgrows its bound. Several processes may share the directory.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tempfile::NamedTempFile;

use crate::oci::Descriptor;

/// Temp files of writes in progress (left behind only by a crash; removed on open).
const TEMP_PREFIX: &str = ".partial-";

/// A directory of verified blobs, `DIR/<algorithm>/<hex>`, at most `max` bytes in all.
#[derive(Debug)]
pub struct BlobCache {
    dir: PathBuf,
    max: u64,
    /// Bytes cached, as last counted (a scan corrects what other processes changed).
    used: Mutex<u64>,
    counts: Counts,
}

/// What a cache did since it was opened.
#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    kept: AtomicU64,
    evicted: AtomicU64,
}

/// A cache's numbers, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blobs found in the cache.
    pub hits: u64,
    /// Blobs looked for and not found.
    pub misses: u64,
    /// Blobs kept after they verified.
    pub kept: u64,
    /// Blobs removed to stay within the bound.
    pub evicted: u64,
    /// Bytes cached, as last counted.
    pub bytes: u64,
    /// The bound, in bytes.
    pub max_bytes: u64,
}

impl BlobCache {
    /// Opens (creating) the cache at `dir`, holding at most `max` bytes; removes the temp
    /// files a crash left and trims the cache to its bound.
    ///
    /// # Errors
    /// I/O errors creating or reading `dir`.
    pub fn open(dir: impl Into<PathBuf>, max: u64) -> io::Result<Arc<BlobCache>> {
        let dir = dir.into();
        fs_err::create_dir_all(dir.join("sha256"))?;
        for entry in fs_err::read_dir(dir.join("sha256"))? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let cache = Arc::new(BlobCache {
            dir,
            max,
            used: Mutex::new(0),
            counts: Counts::default(),
        });
        cache.trim()?;
        Ok(cache)
    }

    /// Where `layer`'s blob is kept.
    fn path(&self, layer: &Descriptor) -> PathBuf {
        self.dir
            .join(layer.digest.algorithm().as_str())
            .join(layer.digest.hex())
    }

    /// What it did since it was opened, and how full it is.
    pub fn stats(&self) -> Stats {
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Stats {
            hits: count(&self.counts.hits),
            misses: count(&self.counts.misses),
            kept: count(&self.counts.kept),
            evicted: count(&self.counts.evicted),
            bytes: *self.used.lock().unwrap_or_else(|e| e.into_inner()),
            max_bytes: self.max,
        }
    }

    /// The cached copy of `layer`, when there is one of its size; marked as just used.
    pub fn get(&self, layer: &Descriptor) -> Option<PathBuf> {
        let path = self.path(layer);
        let found = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == layer.size);
        let counter = if found {
            &self.counts.hits
        } else {
            &self.counts.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !found {
            return None;
        }
        // Least recently used goes first: a hit counts as a use. Failing to mark it only
        // makes it an earlier candidate for eviction.
        if let Ok(file) = File::options().append(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(path)
    }

    /// Starts keeping `layer`'s bytes as they stream by; `None` when it cannot be cached
    /// (larger than the whole cache, or no temp file could be made).
    pub fn writer(self: &Arc<BlobCache>, layer: &Descriptor) -> Option<CacheWriter> {
        if layer.size > self.max {
            return None;
        }
        let dir = self.dir.join(layer.digest.algorithm().as_str());
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| tracing::warn!("cannot cache {}: {e}", layer.digest))
            .ok()?;
        Some(CacheWriter {
            file: io::BufWriter::with_capacity(1 << 20, file),
            written: 0,
            layer: layer.clone(),
            cache: Arc::clone(self),
        })
    }

    /// Counts what is cached and removes the least recently used blobs beyond the bound.
    fn trim(&self) -> io::Result<()> {
        let mut blobs = Vec::new();
        for algorithm in fs_err::read_dir(&self.dir)? {
            let algorithm = algorithm?;
            if !algorithm.file_type()?.is_dir() {
                continue;
            }
            for entry in fs_err::read_dir(algorithm.path())? {
                let entry = entry?;
                if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    continue;
                }
                // Another process may have evicted it meanwhile.
                let Ok(metadata) = entry.metadata() else {
                    continue;
                };
                let used = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                blobs.push((used, metadata.len(), entry.path()));
            }
        }
        let mut total: u64 = blobs.iter().map(|(_, size, _)| size).sum();
        blobs.sort();
        for (_, size, path) in blobs {
            if total <= self.max {
                break;
            }
            if remove(&path).is_ok() {
                total -= size;
                self.counts.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        *self.used.lock().unwrap_or_else(|e| e.into_inner()) = total;
        Ok(())
    }

    fn added(&self, size: u64) {
        self.counts.kept.fetch_add(1, Ordering::Relaxed);
        let over = {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            *used += size;
            *used > self.max
        };
        if over && let Err(e) = self.trim() {
            tracing::warn!("cannot trim the blob cache {}: {e}", self.dir.display());
        }
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A blob being cached as it streams by; [`CacheWriter::commit`] keeps it once the stream
/// verified it. Dropped uncommitted, its temp file is removed.
pub struct CacheWriter {
    file: io::BufWriter<NamedTempFile>,
    written: u64,
    layer: Descriptor,
    cache: Arc<BlobCache>,
}

impl CacheWriter {
    /// Appends the next verified-so-far bytes.
    ///
    /// # Errors
    /// I/O errors (a full disk): the caller stops caching this blob.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Keeps the blob, now that its stream verified it whole.
    ///
    /// # Errors
    /// A size other than the layer's (nothing is kept); I/O errors.
    pub fn commit(self) -> io::Result<()> {
        if self.written != self.layer.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes cached of blob {} ({} bytes)",
                    self.written, self.layer.digest, self.layer.size
                ),
            ));
        }
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        let path = self.cache.path(&self.layer);
        file.persist(&path).map_err(|e| e.error)?;
        self.cache.added(self.layer.size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(bytes: &[u8]) -> Descriptor {
        Descriptor::of("application/octet-stream", bytes)
    }

    fn put(cache: &Arc<BlobCache>, bytes: &[u8]) {
        let mut writer = cache.writer(&layer(bytes)).unwrap();
        writer.write(bytes).unwrap();
        writer.commit().unwrap();
    }

    #[test]
    fn verified_blobs_are_kept_by_digest_and_the_least_recently_used_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path(), 10).unwrap();
        put(&cache, b"aaaa");
        std::thread::sleep(std::time::Duration::from_millis(20));
        put(&cache, b"bbbb");
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Using the older one makes the newer one the least recently used.
        let a = cache.get(&layer(b"aaaa")).unwrap();
        assert_eq!(std::fs::read(a).unwrap(), b"aaaa");
        std::thread::sleep(std::time::Duration::from_millis(20));
        put(&cache, b"cccc");
        assert!(cache.get(&layer(b"bbbb")).is_none(), "bbbb was evicted");
        assert!(cache.get(&layer(b"aaaa")).is_some());
        assert!(cache.get(&layer(b"cccc")).is_some());
        // Larger than the cache: never started.
        assert!(cache.writer(&layer(b"eleven byte")).is_none());
        // A short write is not kept, and leaves no temp file.
        let mut short = cache.writer(&layer(b"dddd")).unwrap();
        short.write(b"dd").unwrap();
        assert!(short.commit().is_err());
        assert!(cache.get(&layer(b"dddd")).is_none());
        let names: Vec<String> = std::fs::read_dir(dir.path().join("sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let stats = cache.stats();
        assert_eq!(
            (stats.kept, stats.evicted, stats.bytes),
            (3, 1, 8),
            "{stats:?}"
        );
        assert!(stats.hits >= 3 && stats.misses >= 2, "{stats:?}");
        // Reopened, the cache still serves what it had.
        let again = BlobCache::open(dir.path(), 10).unwrap();
        assert!(again.get(&layer(b"cccc")).is_some());
    }
}
