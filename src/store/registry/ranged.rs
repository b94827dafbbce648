//! Large blobs over several connections: the blob is split into parts fetched at once with
//! `Range`, each written in place; a hashing thread follows the contiguous downloaded prefix,
//! so verification overlaps the download. Progress per part is kept beside the partial file
//! (`.partial-<hex>.parts`), so after a crash or Ctrl-C every part resumes where it stopped.
//! Worth it where one connection is capped (WAN links, CDNs, object stores behind registries).

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::RANGE;
use tokio::sync::mpsc;

use super::download::Partial;
use super::pool::{POOL_BUFFERS, Pool, Shared};
use super::urls::redact;
use super::{Access, Error, Repository};
use crate::digest::{self, Hasher};
use crate::oci::Descriptor;
use crate::progress::Reporter;
use crate::store::Layout;
use crate::store::layout::HeldFile;

/// One part of a blob: bytes `start..end`, of which `done` are on disk.
struct Part {
    start: u64,
    end: u64,
    done: AtomicU64,
}

/// What the parts of an interrupted download reached, as saved beside the partial file.
fn load_progress(path: &Path, parts: &[Part]) {
    let Ok(text) = fs_err::read_to_string(path) else {
        return;
    };
    let Ok(done): Result<Vec<u64>, _> = serde_json::from_str(&text) else {
        return;
    };
    if done.len() != parts.len() {
        return;
    }
    for (part, done) in parts.iter().zip(done) {
        part.done
            .store(done.min(part.end - part.start), Ordering::SeqCst);
    }
}

fn save_progress(path: &Path, parts: &[Part]) {
    let done: Vec<u64> = parts
        .iter()
        .map(|p| p.done.load(Ordering::SeqCst))
        .collect();
    // Losing this only costs re-downloading a little.
    let _ = crate::store::layout::write_atomic(
        path,
        serde_json::to_string(&done)
            .expect("numbers serialize")
            .as_bytes(),
    );
}

/// The number of bytes from the start of the blob that are all on disk.
fn contiguous(parts: &[Part]) -> u64 {
    let mut prefix = 0;
    for part in parts {
        let done = part.done.load(Ordering::SeqCst);
        prefix = part.start + done;
        if part.start + done < part.end {
            break;
        }
    }
    prefix
}

/// Tells the hashing thread that no more bytes come: when every part has ended
/// ([`Downloading::finish`]), or when the download is dropped first (Ctrl-C drops the work;
/// the thread would otherwise wait for the parts forever). A dropped download also saves each
/// part's progress, so the next run resumes where the parts stopped, not at the last save.
struct Downloading<'a> {
    finished: Arc<AtomicBool>,
    parts: Arc<Vec<Part>>,
    progress: &'a Path,
    ended: bool,
}

impl Downloading<'_> {
    fn finish(mut self) {
        self.ended = true;
    }
}

impl Drop for Downloading<'_> {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::SeqCst);
        if !self.ended {
            save_progress(self.progress, &self.parts);
        }
    }
}

impl Repository {
    /// Downloads `descriptor` in `count` parts at once into `partial`, then verifies it.
    /// Returns `Ok(false)` when the registry does not serve ranges (the caller then uses one
    /// connection).
    ///
    /// # Errors
    /// [`Error::Verification`] (the partial file is deleted), transport errors after retries
    /// (progress is kept for the next run).
    pub(super) async fn download_ranges(
        &self,
        descriptor: &Descriptor,
        layout: &Layout,
        partial: &Partial,
        count: u64,
        reporter: &Arc<dyn Reporter>,
        id: usize,
    ) -> Result<bool, Error> {
        let (lock, partial) = (&partial.lock, partial.path.as_path());
        let size = descriptor.size;
        let part_size = size.div_ceil(count);
        let parts: Arc<Vec<Part>> = Arc::new(
            (0..count)
                .map(|i| Part {
                    start: i * part_size,
                    end: ((i + 1) * part_size).min(size),
                    done: AtomicU64::new(0),
                })
                .filter(|p| p.start < p.end)
                .collect(),
        );
        let progress = crate::store::layout::progress_path(partial);
        if partial.exists() {
            load_progress(&progress, &parts);
        }
        let file = Arc::new(
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(partial)?,
        );
        // No `set_len(size)`: the size is the registry's claim, and a lying one must not
        // reserve (or, on file systems without sparse files, write) that much disk. Parts
        // extend the file as their bytes arrive.
        let already: u64 = parts.iter().map(|p| p.done.load(Ordering::SeqCst)).sum();
        reporter.advance(id, already);

        let finished = Arc::new(AtomicBool::new(false));
        let downloading = Downloading {
            finished: Arc::clone(&finished),
            parts: Arc::clone(&parts),
            progress: &progress,
            ended: false,
        };
        let hasher = {
            let (parts, finished, path) = (
                Arc::clone(&parts),
                Arc::clone(&finished),
                partial.to_owned(),
            );
            tokio::task::spawn_blocking(move || follow_and_hash(&path, &parts, size, &finished))
        };
        let downloads = futures_util::future::join_all((0..parts.len()).map(|i| {
            self.download_part(
                descriptor,
                Arc::clone(&file),
                Arc::clone(&parts),
                i,
                reporter.as_ref(),
                id,
                &progress,
                lock,
            )
        }))
        .await;
        downloading.finish();
        let hashed = hasher
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut unranged = false;
        for outcome in downloads {
            match outcome {
                Ok(true) => {}
                Ok(false) => unranged = true,
                Err(e) => {
                    save_progress(&progress, &parts);
                    return Err(e);
                }
            }
        }
        if unranged {
            drop(file);
            let _ = fs_err::remove_file(partial);
            let _ = fs_err::remove_file(&progress);
            return Ok(false);
        }
        file.sync_all()?;
        let actual = hashed?;
        if actual != descriptor.digest {
            let _ = fs_err::remove_file(partial);
            let _ = fs_err::remove_file(&progress);
            return Err(Error::Verification {
                what: format!("blob {}", descriptor.digest),
                url: redact(&self.urls.blob(&self.name, &descriptor.digest)),
                source: digest::Error::Mismatch {
                    expected: descriptor.digest.clone(),
                    actual,
                },
            });
        }
        layout.commit_partial(partial, &descriptor.digest)?;
        let _ = fs_err::remove_file(&progress);
        Ok(true)
    }

    /// Fetches one part, resuming after dropped connections; `Ok(false)` when the registry
    /// answers without `206 Partial Content`.
    #[allow(clippy::too_many_arguments)]
    async fn download_part(
        &self,
        descriptor: &Descriptor,
        file: Arc<std::fs::File>,
        parts: Arc<Vec<Part>>,
        index: usize,
        reporter: &dyn Reporter,
        id: usize,
        progress: &Path,
        lock: &Arc<HeldFile>,
    ) -> Result<bool, Error> {
        let url = self.urls.blob(&self.name, &descriptor.digest);
        let mut failures = 0;
        loop {
            let part = &parts[index];
            let from = part.start + part.done.load(Ordering::SeqCst);
            if from >= part.end {
                return Ok(true);
            }
            let range = format!("bytes={from}-{}", part.end - 1);
            let response = self
                .send("download blob", &Access::Pull, |http| {
                    http.get(url.clone()).header(RANGE, range.clone())
                })
                .await?;
            if response.status() != StatusCode::PARTIAL_CONTENT {
                if response.status() == StatusCode::OK {
                    return Ok(false);
                }
                self.expect(response, &[], "download blob", &url).await?;
                unreachable!("expect fails for an empty list");
            }
            // Chunks go through a buffer pool (see `pool.rs`); the writer appends each buffer
            // where the part continues.
            let (sender, mut receiver) = mpsc::channel::<Shared>(POOL_BUFFERS);
            let writer = {
                let (file, parts) = (Arc::clone(&file), Arc::clone(&parts));
                let path = progress.with_extension("");
                let lock = Arc::clone(lock);
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let _lock = lock;
                    let mut at = from;
                    while let Some(buffer) = receiver.blocking_recv() {
                        file.write_all_at(&buffer, at).map_err(|e| {
                            std::io::Error::new(
                                e.kind(),
                                format!("failed to write {}: {e}", path.display()),
                            )
                        })?;
                        at += buffer.len() as u64;
                        parts[index]
                            .done
                            .fetch_add(buffer.len() as u64, Ordering::SeqCst);
                    }
                    Ok(())
                })
            };
            let mut pool = Pool::new(POOL_BUFFERS);
            let mut body = response.bytes_stream();
            let mut offset = from;
            let mut broken = None;
            let mut since_save = 0u64;
            'receive: while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(chunk) => {
                        let length = (chunk.len() as u64).min(part.end - offset);
                        reporter.advance(id, length);
                        for full in pool.fill(&chunk[..length as usize]).await {
                            if sender.send(full).await.is_err() {
                                break 'receive;
                            }
                        }
                        offset += length;
                        since_save += length;
                        if since_save >= 16 << 20 {
                            since_save = 0;
                            save_progress(progress, &parts);
                        }
                        if offset >= part.end {
                            break;
                        }
                    }
                    Err(source) => {
                        broken = Some(self.body_error(
                            "download blob",
                            || format!("sending part {index} of blob {}", descriptor.digest),
                            &url,
                            source,
                        ));
                        break;
                    }
                }
            }
            if let Some(rest) = pool.flush() {
                let _ = sender.send(rest).await;
            }
            drop(sender);
            writer
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            match broken {
                Some(error) if failures < self.client.options.retries => {
                    failures += 1;
                    tracing::info!(
                        "part {index} of {} broke ({error}); resuming",
                        descriptor.digest
                    );
                    tokio::time::sleep(super::backoff(&self.client.options, failures)).await;
                }
                Some(error) => return Err(error),
                None => {}
            }
        }
    }
}

/// Hashes the file as its contiguous prefix grows, until `size` bytes are hashed or the
/// downloads have finished (then whatever is missing shows as a mismatch).
fn follow_and_hash(
    path: &Path,
    parts: &[Part],
    size: u64,
    finished: &AtomicBool,
) -> std::io::Result<crate::Digest> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Hasher::new(digest::Algorithm::Sha256);
    let mut buffer = vec![0u8; 1 << 20];
    let mut hashed = 0u64;
    while hashed < size {
        let available = contiguous(parts);
        if available <= hashed {
            if finished.load(Ordering::SeqCst) && contiguous(parts) <= hashed {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let want = ((available - hashed) as usize).min(buffer.len());
        let n = file.read(&mut buffer[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        hashed += n as u64;
    }
    Ok(hasher.finish())
}
