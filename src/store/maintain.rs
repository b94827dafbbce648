//! Keeping a store sound: [`fsck`] re-hashes every blob and checks that every index entry
//! has what it needs; [`Layout::gc`] frees unreferenced blobs and what crashed or killed
//! processes left behind (temp files, partial downloads, lock files, unpack directories).
//! Both run safely beside other modelark processes on the same store.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::{Error, Layout};
use crate::digest::{Digest, Hasher};
use crate::media_types;
use crate::oci::Descriptor;

/// What [`fsck`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FsckReport {
    /// Blobs re-hashed.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Blobs whose content does not hash to their name (or that are not regular files).
    pub corrupt: Vec<CorruptBlob>,
    /// Index entries missing a blob (or holding one of the wrong size) they need.
    pub broken: Vec<BrokenEntry>,
    /// Leftovers of interrupted work (`store gc` removes them).
    pub leftovers: Vec<PathBuf>,
    /// Corrupt blobs removed (with `repair`).
    pub removed: usize,
}

impl FsckReport {
    /// True when nothing is wrong (leftovers are not damage).
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.broken.is_empty()
    }
}

/// A blob that is not what its name says.
#[derive(Clone, Debug, Serialize)]
pub struct CorruptBlob {
    /// Its file.
    pub path: PathBuf,
    /// The digest it is named for.
    pub expected: String,
    /// What its content hashes to, or why it could not be hashed.
    pub actual: String,
}

/// An index entry that cannot be used as it is.
#[derive(Clone, Debug, Serialize)]
pub struct BrokenEntry {
    /// The entry's ref name (`NAME:TAG`).
    pub reference: String,
    /// The blob that is missing or has the wrong size.
    pub digest: String,
    /// What is wrong.
    pub problem: String,
}

/// Re-hashes every blob of `layout` (on every core) and checks every index entry. With
/// `repair`, corrupt blobs are deleted (pull, import or pack the model again to restore
/// them).
///
/// # Errors
/// I/O errors listing the blob directories or reading `index.json`.
pub fn fsck(layout: &Layout, repair: bool) -> Result<FsckReport, Error> {
    // A shared hold: writers go on, garbage collection waits.
    let _guard = layout.write_guard()?;
    let mut report = FsckReport::default();
    let mut blobs = Vec::new();
    for (digest, path) in blob_files(layout, &mut report.leftovers)? {
        blobs.push((digest, path));
    }
    let queue = Mutex::new(blobs.into_iter());
    let found = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some((digest, path)) = queue.lock().expect("not poisoned").next() else {
                        return;
                    };
                    let checked = check_blob(&digest, &path);
                    found
                        .lock()
                        .expect("not poisoned")
                        .push((digest, path, checked));
                }
            });
        }
    });
    let mut found = found.into_inner().expect("not poisoned");
    found.sort_by(|a, b| a.1.cmp(&b.1));
    for (digest, path, checked) in found {
        report.blobs += 1;
        match checked {
            Ok(size) => report.bytes += size,
            Err(actual) => {
                if repair && fs_err::remove_file(&path).is_ok() {
                    report.removed += 1;
                }
                report.corrupt.push(CorruptBlob {
                    path,
                    expected: digest.to_string(),
                    actual,
                });
            }
        }
    }
    report.broken = check_index(layout)?;
    Ok(report)
}

/// Every `blobs/<alg>/<hex>` file, with anything else found there listed as a leftover.
fn blob_files(
    layout: &Layout,
    leftovers: &mut Vec<PathBuf>,
) -> Result<Vec<(Digest, PathBuf)>, Error> {
    let mut out = Vec::new();
    let blobs = layout.root().join("blobs");
    if !blobs.is_dir() {
        return Ok(out);
    }
    for algorithm in fs_err::read_dir(&blobs)? {
        let algorithm = algorithm?;
        let name = algorithm.file_name().to_string_lossy().into_owned();
        for entry in fs_err::read_dir(algorithm.path())? {
            let entry = entry?;
            let file = entry.file_name().to_string_lossy().into_owned();
            match format!("{name}:{file}").parse::<Digest>() {
                Ok(digest) => out.push((digest, entry.path())),
                Err(_) => leftovers.push(entry.path()),
            }
        }
    }
    Ok(out)
}

/// The blob's size when it hashes to `digest`; else what it hashes to, or why not.
fn check_blob(digest: &Digest, path: &Path) -> Result<u64, String> {
    let metadata = fs_err::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    let mut file = fs_err::File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = io::Read::read(&mut file, &mut buffer).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    let actual = hasher.finish();
    if actual == *digest {
        Ok(size)
    } else {
        Err(actual.to_string())
    }
}

/// Index entries whose manifest, config or layers are missing or of the wrong size.
fn check_index(layout: &Layout) -> Result<Vec<BrokenEntry>, Error> {
    let mut broken = Vec::new();
    for entry in layout.index()?.manifests {
        let reference = entry
            .annotations
            .get(media_types::OCI_REF_NAME)
            .cloned()
            .unwrap_or_else(|| entry.digest.to_string());
        let mut pending: Vec<Descriptor> = vec![entry];
        while let Some(next) = pending.pop() {
            let problem = match fs_err::metadata(layout.blob_path(&next.digest)) {
                Err(_) => Some("missing".to_owned()),
                Ok(m) if m.len() != next.size => Some(format!(
                    "{} bytes, not the {} its descriptor says",
                    m.len(),
                    next.size
                )),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                broken.push(BrokenEntry {
                    reference: reference.clone(),
                    digest: next.digest.to_string(),
                    problem,
                });
                continue;
            }
            match layout.children(&next) {
                Ok(children) => pending.extend(children),
                Err(e) => broken.push(BrokenEntry {
                    reference: reference.clone(),
                    digest: next.digest.to_string(),
                    problem: e.to_string(),
                }),
            }
        }
    }
    Ok(broken)
}
