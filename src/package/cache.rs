//! File digests remembered across runs, keyed by path, size, modification and change time,
//! inode and device: re-packing or re-pushing an unchanged multi-GB model re-hashes nothing,
//! and any change to a file (even one that keeps its size) misses the cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::digest::{Digest, Stamp};

/// A persistent map from file identity to digest.
#[derive(Debug)]
pub struct DigestCache {
    path: PathBuf,
    entries: Mutex<HashMap<String, Digest>>,
}

/// The cache key of a file: everything that changes when its content may have.
fn key(path: &Path, metadata: &std::fs::Metadata) -> Option<String> {
    let stamp = Stamp::of(metadata);
    stamp
        .is_precise()
        .then(|| format!("{stamp}:{}", path.display()))
}

impl DigestCache {
    /// Loads the cache at `path`; a missing or unreadable file is an empty cache.
    pub fn load(path: PathBuf) -> DigestCache {
        let entries = fs_err::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        DigestCache {
            path,
            entries: Mutex::new(entries),
        }
    }

    /// The remembered digest of the file, if it has not changed since.
    pub fn get(&self, path: &Path, metadata: &std::fs::Metadata) -> Option<Digest> {
        let key = key(path, metadata)?;
        self.entries
            .lock()
            .expect("not poisoned")
            .get(&key)
            .cloned()
    }

    /// Remembers a file's digest.
    pub fn insert(&self, path: &Path, metadata: &std::fs::Metadata, digest: Digest) {
        if let Some(key) = key(path, metadata) {
            self.entries
                .lock()
                .expect("not poisoned")
                .insert(key, digest);
        }
    }

    /// Writes the cache atomically, keeping only entries for files that still exist.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self) -> std::io::Result<()> {
        let mut entries = self.entries.lock().expect("not poisoned").clone();
        entries.retain(|key, _| {
            let path = key.splitn(6, ':').nth(5).unwrap_or_default();
            Path::new(path).exists()
        });
        if let Some(dir) = self.path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(&entries).expect("a map of strings serializes");
        crate::store::layout::write_atomic(&self.path, &bytes)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_misses_and_an_unchanged_one_hits_after_reload() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.bin");
        fs_err::write(&file, b"one").unwrap();
        let cache = DigestCache::load(dir.path().join("cache.json"));
        let metadata = fs_err::metadata(&file).unwrap();
        cache.insert(&file, &metadata, Digest::sha256_of(b"one"));
        cache.save().unwrap();
        let reloaded = DigestCache::load(dir.path().join("cache.json"));
        assert_eq!(
            reloaded.get(&file, &metadata),
            Some(Digest::sha256_of(b"one"))
        );
        // Same size, new content: the change time moves, so the entry no longer matches.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs_err::write(&file, b"two").unwrap();
        assert_eq!(reloaded.get(&file, &fs_err::metadata(&file).unwrap()), None);
    }
}
