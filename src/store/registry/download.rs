//! Blob downloads into an OCI layout: streamed to a `.partial-<hex>` file beside the blobs,
//! hashed as written, resumed with `Range` after a dropped connection (in this run, or the
//! next one after a crash or Ctrl-C), verified, then renamed into place.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::RANGE;
use tokio::sync::mpsc;

use super::pool::{POOL_BUFFERS, Pool, Shared};
use super::urls::redact;
use super::{Access, Error, Repository};
use crate::digest::{self, Hasher};
use crate::oci::Descriptor;
use crate::progress::Reporter;
use crate::store::Layout;
use crate::store::layout::HeldFile;

/// A blob's partial file and the lock that makes this run its only writer.
pub(super) struct Partial {
    pub(super) path: PathBuf,
    pub(super) lock: Arc<HeldFile>,
}

/// How a download attempt ended.
enum Attempt {
    /// Every byte arrived.
    Complete(Box<Hasher>, u64),
    /// The connection broke or stalled after some bytes; resume.
    Broken(reqwest::Error),
}

impl Repository {
    /// Downloads a blob into `layout` unless it is there already.
    ///
    /// # Errors
    /// [`Error::Verification`] when the content does not match (the partial file is
    /// deleted); transport errors after retries (the partial file is kept for resuming).
    pub async fn pull_blob(
        &self,
        descriptor: &Descriptor,
        layout: &Layout,
        reporter: Arc<dyn Reporter>,
        id: usize,
    ) -> Result<(), Error> {
        if layout.has_blob(descriptor) {
            return Ok(());
        }
        // One writer per blob and store: another pull of the same blob (in this process or
        // another) waits here, then finds the blob in place. The threads that write the
        // partial file hold the lock too: when the work is dropped (Ctrl-C), they finish the
        // buffers they were given, and only then may another pull take the file over.
        let lock = {
            let (layout, digest) = (layout.clone(), descriptor.digest.clone());
            tokio::task::spawn_blocking(move || layout.lock_blob(&digest))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??
        };
        if layout.has_blob(descriptor) {
            return Ok(());
        }
        let partial = Partial {
            path: layout.partial_path(&descriptor.digest),
            lock: Arc::new(lock),
        };
        reporter.begin(id, &descriptor.digest.short(), descriptor.size);
        let result = async {
            #[cfg(unix)]
            {
                let options = &self.client.options;
                let parts = (descriptor.size / options.min_part_size.max(1))
                    .min(self.connections_per_blob());
                // A partial file without part progress came from a one-connection download:
                // continue that one rather than starting over.
                let single_partial = partial.path.exists()
                    && !crate::store::layout::progress_path(&partial.path).exists();
                if parts > 1
                    && !single_partial
                    && self
                        .download_ranges(descriptor, layout, &partial, parts, &reporter, id)
                        .await?
                {
                    return Ok(());
                }
            }
            self.download(descriptor, layout, &partial, reporter.as_ref(), id)
                .await
        }
        .await;
        reporter.end(id);
        result
    }

    /// Starts a blob download (following redirects to storage), failing on any status but 200.
    ///
    /// # Errors
    /// [`Error::NotFound`], transport and status errors.
    pub async fn blob_response(&self, descriptor: &Descriptor) -> Result<reqwest::Response, Error> {
        let url = self.urls.blob(&self.name, &descriptor.digest);
        let response = self
            .send("download blob", &Access::Pull, |http| http.get(url.clone()))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                reference: format!("{}/{}@{}", self.host, self.name, descriptor.digest),
            });
        }
        self.expect(response, &[StatusCode::OK], "download blob", &url)
            .await
    }

    /// Downloads a small blob (a config) into memory, refusing more than `max` bytes and
    /// verifying digest and size.
    ///
    /// # Errors
    /// [`Error::Verification`], [`Error::Protocol`] when too large, transport errors.
    pub async fn fetch_small_blob(
        &self,
        descriptor: &Descriptor,
        max: u64,
    ) -> Result<Vec<u8>, Error> {
        let url = self.urls.blob(&self.name, &descriptor.digest);
        if descriptor.size > max {
            return Err(Error::Protocol {
                url: redact(&url),
                reason: format!(
                    "blob {} is {} bytes, over the {max}-byte limit",
                    descriptor.digest, descriptor.size
                ),
            });
        }
        let mut response = self.blob_response(descriptor).await?;
        let mut bytes = Vec::with_capacity(descriptor.size as usize);
        while let Some(chunk) = response.chunk().await.map_err(|source| Error::Http {
            operation: "download blob",
            url: redact(&url),
            source,
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > descriptor.size {
                break;
            }
        }
        let actual = crate::digest::Digest::sha256_of(&bytes);
        let mismatch = if bytes.len() as u64 != descriptor.size {
            Some(digest::Error::SizeMismatch {
                digest: descriptor.digest.clone(),
                expected: descriptor.size,
                actual: bytes.len() as u64,
            })
        } else if actual != descriptor.digest {
            Some(digest::Error::Mismatch {
                expected: descriptor.digest.clone(),
                actual,
            })
        } else {
            None
        };
        match mismatch {
            Some(source) => Err(Error::Verification {
                what: format!("blob {}", descriptor.digest),
                url: redact(&url),
                source,
            }),
            None => Ok(bytes),
        }
    }

    async fn download(
        &self,
        descriptor: &Descriptor,
        layout: &Layout,
        partial: &Partial,
        reporter: &dyn Reporter,
        id: usize,
    ) -> Result<(), Error> {
        let (lock, partial) = (&partial.lock, &partial.path);
        let url = self.urls.blob(&self.name, &descriptor.digest);
        let mut failures = 0;
        loop {
            let have = fs_err::metadata(partial).map(|m| m.len()).unwrap_or(0);
            let have = if have > descriptor.size { 0 } else { have };
            let response = self
                .send("download blob", &Access::Pull, |http| {
                    let request = http.get(url.clone());
                    if have > 0 {
                        request.header(RANGE, format!("bytes={have}-"))
                    } else {
                        request
                    }
                })
                .await?;
            let offset = match response.status() {
                StatusCode::PARTIAL_CONTENT => have,
                StatusCode::OK => 0,
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    fs_err::remove_file(partial)?;
                    continue;
                }
                StatusCode::NOT_FOUND => {
                    return Err(Error::NotFound {
                        reference: format!("{}/{}@{}", self.host, self.name, descriptor.digest),
                    });
                }
                _ => {
                    self.expect(response, &[], "download blob", &url).await?;
                    unreachable!("expect fails for an empty list")
                }
            };
            if have > 0 {
                reporter.advance(id, offset);
            }
            match stream_to_partial(
                response,
                partial.clone(),
                offset,
                descriptor.size,
                reporter,
                id,
                Arc::clone(lock),
            )
            .await?
            {
                Attempt::Complete(hasher, size) => {
                    let actual = hasher.finish();
                    let mismatch = if size != descriptor.size {
                        Some(digest::Error::SizeMismatch {
                            digest: descriptor.digest.clone(),
                            expected: descriptor.size,
                            actual: size,
                        })
                    } else if actual != descriptor.digest {
                        Some(digest::Error::Mismatch {
                            expected: descriptor.digest.clone(),
                            actual,
                        })
                    } else {
                        None
                    };
                    if let Some(source) = mismatch {
                        fs_err::remove_file(partial)?;
                        return Err(Error::Verification {
                            what: format!("blob {}", descriptor.digest),
                            url: redact(&url),
                            source,
                        });
                    }
                    layout.commit_partial(partial, &descriptor.digest)?;
                    return Ok(());
                }
                Attempt::Broken(error) if failures < self.client.options.retries => {
                    failures += 1;
                    tracing::info!(
                        "download of {} broke ({error}); resuming",
                        descriptor.digest
                    );
                    tokio::time::sleep(super::backoff(&self.client.options, failures)).await;
                }
                Attempt::Broken(source) => {
                    return Err(self.body_error(
                        "download blob",
                        || format!("sending blob {}", descriptor.digest),
                        &url,
                        source,
                    ));
                }
            }
        }
    }
}

/// Writes the response body after `offset` bytes of `partial`. Two blocking threads take
/// the same buffers: one appends them to the file, one hashes them (after the kept prefix),
/// so hashing and writing overlap with each other and with the network.
///
/// Network chunks are copied into a small fixed pool of 1 MiB buffers and dropped at once.
/// Holding on to them instead makes the HTTP client allocate a fresh read buffer for every
/// read, which glibc serves with `mmap` and page faults: about a second of kernel time per
/// 2 GiB. The pool also fixes the memory a download uses.
async fn stream_to_partial(
    response: reqwest::Response,
    partial: PathBuf,
    offset: u64,
    expected_size: u64,
    reporter: &dyn Reporter,
    id: usize,
    lock: Arc<HeldFile>,
) -> Result<Attempt, Error> {
    let mut pool = Pool::new(POOL_BUFFERS);
    let (to_writer, from_network) = mpsc::channel::<Shared>(POOL_BUFFERS);
    let (to_hasher, for_hasher) = mpsc::channel::<Shared>(POOL_BUFFERS);
    // Owned senders: the closure hands out clones, the originals close the channels below.
    let writer = {
        let partial = partial.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = lock;
            append_partial(&partial, offset, from_network)
        })
    };
    let hasher = tokio::task::spawn_blocking(move || hash_partial(&partial, offset, for_hasher));
    let send = |buffer: Shared| {
        let (to_writer, to_hasher) = (to_writer.clone(), to_hasher.clone());
        async move {
            to_hasher.send(Arc::clone(&buffer)).await.is_ok()
                && to_writer.send(buffer).await.is_ok()
        }
    };
    let mut body = response.bytes_stream();
    let mut received = offset;
    let mut broken = None;
    'receive: while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                received += chunk.len() as u64;
                reporter.advance(id, chunk.len() as u64);
                for full in pool.fill(&chunk).await {
                    if !send(full).await {
                        break 'receive;
                    }
                }
                if received > expected_size {
                    break;
                }
            }
            Err(source) => {
                broken = Some(source);
                break;
            }
        }
    }
    if let Some(rest) = pool.flush() {
        send(rest).await;
    }
    drop((to_writer, to_hasher));
    let joined = |e: tokio::task::JoinError| std::io::Error::other(e.to_string());
    let written = writer.await.map_err(joined)??;
    let hasher = hasher.await.map_err(joined)??;
    Ok(match broken {
        Some(error) if written < expected_size => Attempt::Broken(error),
        _ => Attempt::Complete(Box::new(hasher), written),
    })
}

/// Keeps the first `offset` bytes of `path` and appends what arrives; returns the new length.
fn append_partial(
    path: &PathBuf,
    offset: u64,
    mut chunks: mpsc::Receiver<Shared>,
) -> std::io::Result<u64> {
    let file = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.set_len(offset)?;
    let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
    writer.seek(SeekFrom::Start(offset))?;
    let mut written = offset;
    let failed = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()))
    };
    while let Some(chunk) = chunks.blocking_recv() {
        writer.write_all(&chunk).map_err(failed)?;
        written += chunk.len() as u64;
    }
    writer
        .into_inner()
        .map_err(|e| failed(e.into_error()))?
        .sync_all()?;
    Ok(written)
}

/// Hashes the first `offset` bytes already in `path`, then every chunk that arrives.
fn hash_partial(
    path: &PathBuf,
    offset: u64,
    mut chunks: mpsc::Receiver<Shared>,
) -> std::io::Result<Hasher> {
    let mut hasher = Hasher::new(digest::Algorithm::Sha256);
    if offset > 0 {
        let mut prefix = std::fs::File::open(path)?.take(offset);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = prefix.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
    }
    while let Some(chunk) = chunks.blocking_recv() {
        hasher.update(&chunk);
    }
    Ok(hasher)
}
