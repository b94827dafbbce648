//! Blob uploads streamed from a file: `POST` then a monolithic `PUT`, or `POST`, `PATCH`
//! chunks (following the new `Location` each time) and a closing `PUT` when a chunk size is
//! set. A failed chunk resumes from the offset the registry reports; anything else restarts
//! only this blob.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Body, StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::urls::{redact, with_digest};
use super::{Access, Error, Repository};
use crate::digest::Stamp;
use crate::oci::Descriptor;
use crate::progress::Reporter;

const READ_CHUNK: usize = 1 << 20;

/// Where the bytes of a blob to upload come from.
#[derive(Clone, Debug)]
pub enum BlobSource {
    /// A file: a model file or a blob in a layout.
    File(PathBuf),
    /// Bytes in memory (configs and other small blobs).
    Bytes(Bytes),
}

impl Repository {
    /// Uploads the file at `path` as the blob `descriptor` names, unless the repository
    /// already has it.
    ///
    /// # Errors
    /// Transport, status and I/O errors after retries.
    pub async fn push_blob(
        &self,
        descriptor: &Descriptor,
        source: BlobSource,
        reporter: Arc<dyn Reporter>,
        id: usize,
    ) -> Result<(), Error> {
        if self.has_blob(descriptor).await? {
            return Ok(());
        }
        reporter.begin(id, &descriptor.digest.short(), descriptor.size);
        let result = self
            .with_restarts(&descriptor.digest.to_string(), || async {
                match (&source, self.client.options.chunk_size) {
                    (BlobSource::File(path), Some(chunk)) => {
                        let location = self
                            .send_chunks(path, descriptor.size, chunk.max(1), reporter.as_ref(), id)
                            .await?;
                        self.finish_upload(location, &descriptor.digest).await
                    }
                    _ => {
                        self.upload_monolithic(descriptor, &source, &reporter, id)
                            .await
                    }
                }
            })
            .await;
        reporter.end(id);
        result
    }

    async fn start_upload(&self) -> Result<Url, Error> {
        let url = self.urls.start_upload(&self.name);
        let response = self
            .send("start upload to", &Access::Push, |http| {
                http.post(url.clone()).header(CONTENT_LENGTH, 0)
            })
            .await?;
        let response = self
            .expect(response, &[StatusCode::ACCEPTED], "start upload to", &url)
            .await?;
        self.location(&response, &url)
    }

    fn location(&self, response: &reqwest::Response, url: &Url) -> Result<Url, Error> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol {
                url: redact(url),
                reason: "the upload answer has no Location".into(),
            })?;
        self.urls
            .resolve(location)
            .map_err(|reason| Error::Protocol {
                url: redact(url),
                reason,
            })
    }

    async fn upload_monolithic(
        &self,
        descriptor: &Descriptor,
        source: &BlobSource,
        reporter: &Arc<dyn Reporter>,
        id: usize,
    ) -> Result<(), Error> {
        let location = with_digest(self.start_upload().await?, &descriptor.digest);
        let response = self
            .send("upload blob to", &Access::Push, |http| {
                http.put(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, descriptor.size)
                    .body(match source {
                        BlobSource::File(path) => file_body(path, Arc::clone(reporter), id),
                        BlobSource::Bytes(bytes) => Body::from(bytes.clone()),
                    })
            })
            .await?;
        self.expect(
            response,
            &[StatusCode::CREATED],
            "upload blob to",
            &location,
        )
        .await?;
        Ok(())
    }

    /// `POST` then `PATCH` chunks of `chunk` bytes read from `path`; returns the location
    /// to finish at. A failed chunk resumes from the offset the registry reports.
    async fn send_chunks(
        &self,
        path: &Path,
        size: u64,
        chunk: u64,
        reporter: &dyn Reporter,
        id: usize,
    ) -> Result<Url, Error> {
        let mut location = self.start_upload().await?;
        let mut file = tokio::fs::File::open(path).await?;
        let mut offset = 0u64;
        while offset < size {
            let length = chunk.min(size - offset);
            file.seek(std::io::SeekFrom::Start(offset)).await?;
            let mut buffer = vec![0u8; length as usize];
            file.read_exact(&mut buffer).await?;
            let body = Bytes::from(buffer);
            let range = format!("{}-{}", offset, offset + length - 1);
            let current = location.clone();
            let sent = self
                .send("upload chunk to", &Access::Push, |http| {
                    http.patch(current.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, length)
                        .header("Content-Range", range.clone())
                        .body(body.clone())
                })
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    // Ask where the session stands and continue from there.
                    let (resumed, next) = self.upload_status(&current).await.map_err(|_| e)?;
                    tracing::info!("resuming upload of {} at byte {next}", path.display());
                    location = resumed;
                    offset = next;
                    continue;
                }
            };
            // ECR answers 201 to the first chunk; treat it like 202.
            let ok = [
                StatusCode::ACCEPTED,
                StatusCode::CREATED,
                StatusCode::NO_CONTENT,
            ];
            let response = self
                .expect(response, &ok, "upload chunk to", &current)
                .await?;
            location = self.location(&response, &current).unwrap_or(current);
            offset += length;
            reporter.advance(id, length);
        }
        Ok(location)
    }

    /// `POST` then one `PATCH` streaming the whole file; returns the location to finish at.
    async fn send_stream(
        &self,
        path: &Path,
        size: u64,
        reporter: &Arc<dyn Reporter>,
        id: usize,
    ) -> Result<Url, Error> {
        let location = self.start_upload().await?;
        let response = self
            .send("upload blob to", &Access::Push, |http| {
                http.patch(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(file_body(path, Arc::clone(reporter), id))
            })
            .await?;
        let ok = [
            StatusCode::ACCEPTED,
            StatusCode::CREATED,
            StatusCode::NO_CONTENT,
        ];
        let response = self
            .expect(response, &ok, "upload blob to", &location)
            .await?;
        Ok(self.location(&response, &location).unwrap_or(location))
    }

    /// The closing `PUT ?digest=` of an upload session; the registry checks the digest.
    async fn finish_upload(&self, location: Url, digest: &crate::Digest) -> Result<(), Error> {
        let finish = with_digest(location, digest);
        let response = self
            .send("finish upload to", &Access::Push, |http| {
                http.put(finish.clone()).header(CONTENT_LENGTH, 0)
            })
            .await?;
        self.expect(
            response,
            &[StatusCode::CREATED],
            "finish upload to",
            &finish,
        )
        .await?;
        Ok(())
    }

    /// Uploads a file whose digest is not known yet and returns it. The file is hashed on
    /// a blocking thread while it uploads; once the digest is known the registry is asked
    /// whether it has the blob already, and if so the upload is abandoned. So nothing waits
    /// for a separate hashing pass, and content the registry has is not sent in full.
    ///
    /// # Errors
    /// Transport and status errors after retries; a file that changed size while read.
    pub async fn push_file(
        &self,
        path: &Path,
        size: u64,
        media_type: &str,
        reporter: Arc<dyn Reporter>,
        id: usize,
    ) -> Result<crate::Digest, Error> {
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        reporter.begin(id, &label, size);
        let result = self
            .with_restarts(&path.display().to_string(), || {
                self.push_file_once(path, size, media_type, &reporter, id)
            })
            .await;
        reporter.end(id);
        result
    }

    async fn push_file_once(
        &self,
        path: &Path,
        size: u64,
        media_type: &str,
        reporter: &Arc<dyn Reporter>,
        id: usize,
    ) -> Result<crate::Digest, Error> {
        let before = Stamp::read(path)?;
        let hashing = {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || hash_file(&path))
        };
        let upload = {
            let (repo, path, reporter) = (self.clone(), path.to_owned(), Arc::clone(reporter));
            tokio::spawn(async move {
                match repo.client.options.chunk_size {
                    Some(chunk) => {
                        repo.send_chunks(&path, size, chunk.max(1), reporter.as_ref(), id)
                            .await
                    }
                    None => repo.send_stream(&path, size, &reporter, id).await,
                }
            })
        };
        let joined = |e: tokio::task::JoinError| Error::Io(std::io::Error::other(e.to_string()));
        let (digest, hashed) = hashing.await.map_err(joined)??;
        let changed = || Error::ChangedWhileReading {
            path: path.to_owned(),
        };
        if hashed != size || Stamp::read(path)? != before {
            upload.abort();
            return Err(changed());
        }
        let descriptor = Descriptor::new(media_type, digest.clone(), size);
        if self.has_blob(&descriptor).await? {
            upload.abort();
            return Ok(digest);
        }
        let uploaded = upload.await.map_err(joined)?;
        // The upload read the file a second time: it must still be the file that was hashed.
        if Stamp::read(path)? != before {
            return Err(changed());
        }
        match uploaded {
            Ok(location) => self.finish_upload(location, &digest).await?,
            // GHCR refuses PATCH bodies over 4 MiB, GAR has no chunked upload: send this blob
            // (and, from now on, every blob) in one PUT now that its digest is known.
            Err(Error::Registry { status, .. }) if refuses_streaming(status) => {
                tracing::info!(
                    "{} refused a streamed upload ({status}); using single PUTs",
                    self.host
                );
                self.client
                    .streaming_refused
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.upload_monolithic(
                    &descriptor,
                    &BlobSource::File(path.to_owned()),
                    reporter,
                    id,
                )
                .await?;
            }
            Err(e) => return Err(e),
        }
        Ok(digest)
    }

    /// Streams a blob from another registry's repository into this one, through memory.
    /// Both registries verify: the target checks the digest before it accepts the upload.
    ///
    /// # Errors
    /// Transport and status errors after retries.
    pub async fn relay_blob(
        &self,
        descriptor: &Descriptor,
        from: &Repository,
        reporter: Arc<dyn Reporter>,
        id: usize,
    ) -> Result<(), Error> {
        reporter.begin(id, &descriptor.digest.short(), descriptor.size);
        let result = self
            .with_restarts(&descriptor.digest.to_string(), || async {
                let download = from.blob_response(descriptor).await?;
                let location = with_digest(self.start_upload().await?, &descriptor.digest);
                let reporter = Arc::clone(&reporter);
                let body = download.bytes_stream().inspect(move |chunk| {
                    if let Ok(chunk) = chunk {
                        reporter.advance(id, chunk.len() as u64);
                    }
                });
                // A streamed body cannot be sent twice: a failure restarts this whole relay.
                let body = std::sync::Mutex::new(Some(Body::wrap_stream(body)));
                let response = self
                    .send("upload blob to", &Access::Push, |http| {
                        let request = http
                            .put(location.clone())
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header(CONTENT_LENGTH, descriptor.size);
                        match body.lock().expect("not poisoned").take() {
                            Some(body) => request.body(body),
                            None => request.body(Body::from(Bytes::new())),
                        }
                    })
                    .await?;
                self.expect(
                    response,
                    &[StatusCode::CREATED],
                    "upload blob to",
                    &location,
                )
                .await?;
                Ok(())
            })
            .await;
        reporter.end(id);
        result
    }

    /// `GET` on an upload session: its location and the next byte it expects.
    async fn upload_status(&self, location: &Url) -> Result<(Url, u64), Error> {
        let response = self
            .send("check upload", &Access::Push, |http| {
                http.get(location.clone())
            })
            .await?;
        let response = self
            .expect(
                response,
                &[StatusCode::NO_CONTENT],
                "check upload",
                location,
            )
            .await?;
        let next = response
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.rsplit('-').next())
            .and_then(|end| end.parse::<u64>().ok())
            .map_or(0, |end| end + 1);
        let location = self
            .location(&response, location)
            .unwrap_or_else(|_| location.clone());
        Ok((location, next))
    }
}

impl Repository {
    /// Runs one whole blob transfer, starting it over (with backoff) after failures that a
    /// new attempt can fix.
    async fn with_restarts<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let mut restarts = 0;
        loop {
            match attempt().await {
                Err(e) if restarts < self.client.options.retries && restartable(&e) => {
                    restarts += 1;
                    tracing::info!("restarting the transfer of {what}: {e}");
                    tokio::time::sleep(super::backoff(&self.client.options, restarts)).await;
                }
                other => return other,
            }
        }
    }
}

/// Statuses with which a registry says it does not take uploads as one streamed `PATCH`.
fn refuses_streaming(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 405 | 413 | 416 | 501)
}

/// SHA-256 and length of a file, read in 1 MiB blocks.
fn hash_file(path: &Path) -> std::io::Result<(crate::Digest, u64)> {
    use std::io::Read;
    let mut file = fs_err::File::open(path)?;
    let mut hasher = crate::digest::Hasher::new(crate::digest::Algorithm::Sha256);
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        crate::interrupt::check()?;
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((hasher.finish(), total));
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
}

/// Errors after which uploading the blob again from the start can succeed.
fn restartable(error: &Error) -> bool {
    match error {
        Error::Http { .. } => true,
        Error::Registry { status, code, .. } => {
            status.is_server_error()
                || *status == StatusCode::NOT_FOUND
                || *status == StatusCode::RANGE_NOT_SATISFIABLE
                || code.as_deref() == Some("BLOB_UPLOAD_UNKNOWN")
        }
        _ => false,
    }
}

/// A request body that streams the file in 1 MiB reads, reporting progress.
fn file_body(path: &Path, reporter: Arc<dyn Reporter>, id: usize) -> Body {
    let path = path.to_owned();
    let stream = futures_util::stream::unfold(None::<tokio::fs::File>, move |file| {
        let path = path.clone();
        let reporter = Arc::clone(&reporter);
        async move {
            let mut file = match file {
                Some(file) => file,
                None => match tokio::fs::File::open(&path).await {
                    Ok(file) => file,
                    Err(e) => return Some((Err(e), None)),
                },
            };
            let mut buffer = vec![0u8; READ_CHUNK];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    reporter.advance(id, n as u64);
                    Some((Ok(Bytes::from(buffer)), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    Body::wrap_stream(stream)
}
