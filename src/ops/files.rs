//! One file of a model as a stream of bytes, verified while it streams: what a service
//! serves for a download without writing the model anywhere.

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::Error;
use crate::context::Context;
use crate::digest::{Digest, Hasher};
use crate::error::{Op, Result};
use crate::oci::Descriptor;
use crate::package::unpack::{self, Format};
use crate::reference::Reference;
use crate::store::Endpoint;

/// A file of a model, ready to stream.
pub struct FileStream {
    /// The model's manifest digest.
    pub model: Digest,
    /// The file's layer (digest, size, media type).
    pub layer: Descriptor,
    /// The bytes. The stream ends with an error instead of its last chunk when the bytes
    /// do not match the layer's digest or size, so a consumer never takes wrong bytes for
    /// a complete file.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
    /// A verified copy on local disk the bytes come from (a hit in the context's blob
    /// cache): a range can be read from it directly.
    pub local: Option<std::path::PathBuf>,
}

/// One file of a model that [`open_file`] streams.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamableFile {
    /// Its path in the model directory.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its layer digest.
    pub digest: Digest,
}

/// The files of the model `reference` names that [`open_file`] can stream one by one
/// (layers stored as the file itself), sorted by path, with the model's digest.
///
/// # Errors
/// Not found and transport errors.
pub async fn streamable_files(
    ctx: &Context,
    reference: &Reference,
) -> Result<(Digest, Vec<StreamableFile>)> {
    let endpoint = ctx.endpoint(reference, false)?;
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    let mut files: Vec<StreamableFile> = resolved
        .manifest
        .layers
        .iter()
        .filter_map(|l| {
            Some(StreamableFile {
                path: streamable_path(l)?.to_owned(),
                size: l.size,
                digest: l.digest.clone(),
            })
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((resolved.descriptor.digest, files))
}

/// The path of a layer stored as the file itself (what can be streamed one by one).
fn streamable_path(layer: &Descriptor) -> Option<&str> {
    (unpack::layer_format(layer) == Format::Raw)
        .then(|| unpack::layer_path(layer))
        .flatten()
}

/// Opens the file at `path` in the model `reference` names (a layer stored as the file
/// itself, not a tar of a directory).
///
/// # Errors
/// [`Error::NoSuchFile`]; not found and transport errors.
pub async fn open_file(ctx: &Context, reference: &Reference, path: &str) -> Result<FileStream> {
    let endpoint = ctx.endpoint(reference, false)?;
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    let layer = resolved
        .manifest
        .layers
        .iter()
        .find(|l| streamable_path(l) == Some(path))
        .cloned()
        .ok_or_else(|| Error::NoSuchFile {
            reference: reference.to_string(),
            path: path.to_owned(),
        })?;
    let what = || format!("failed to read {path} of {reference}");
    let model = resolved.descriptor.digest.clone();
    let raw: BoxStream<'static, std::io::Result<Bytes>> = match &endpoint {
        Endpoint::Registry(repo) => {
            // Verified once, kept by digest: served from disk, neither fetched nor hashed.
            if let Some(cache) = ctx.blob_cache()
                && let Some(local) = cache.get(&layer)
                && let Ok(file) = std::fs::File::open(&local)
            {
                return Ok(FileStream {
                    model,
                    body: read_file(file, 0, layer.size),
                    layer,
                    local: Some(local),
                });
            }
            let response = repo.blob_response(&layer).await.op(what)?;
            response
                .bytes_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other))
                .boxed()
        }
        Endpoint::Layout(repo) => {
            // Read to its end whatever its length: the digest check below names a file
            // that is shorter or longer than its layer.
            let path = repo.layout().blob_path(&layer.digest);
            let (len, file) = fs_err::File::open(&path)
                .and_then(|f| Ok((f.metadata()?.len(), f.into_file())))
                .map_err(crate::store::Error::from)
                .op(what)?;
            read_file(file, 0, len)
        }
    };
    let mut body = verified(coalesce(raw, CHUNK), layer.clone());
    if let Endpoint::Registry(_) = &endpoint
        && let Some(writer) = ctx.blob_cache().and_then(|c| c.writer(&layer))
    {
        body = kept(body, writer);
    }
    Ok(FileStream {
        model,
        body: read_ahead(body, 8),
        layer,
        local: None,
    })
}

/// The pieces a stream is cut into for the client.
const CHUNK: usize = 256 * 1024;

/// The `len` bytes of `file` from `start`, read on a thread of its own (started when the
/// stream is first polled) in 1 MiB pieces up to four ahead of the consumer. A file shorter
/// than that ends the stream with an error.
pub fn read_file(
    mut file: std::fs::File,
    start: u64,
    len: u64,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    use std::io::{Read as _, Seek as _};
    let reader = async move {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut left = len;
            if let Err(e) = file.seek(std::io::SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            while left > 0 {
                let mut buffer = vec![0u8; left.min(1 << 20) as usize];
                let item = match file.read(&mut buffer) {
                    Ok(0) => Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than its size",
                    )),
                    Ok(n) => {
                        buffer.truncate(n);
                        left -= n as u64;
                        Ok(Bytes::from(buffer))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        received(rx)
    };
    stream::once(reader).flatten().boxed()
}

/// What a producer task sends, as a stream.
fn received<T: Send + 'static>(rx: tokio::sync::mpsc::Receiver<T>) -> BoxStream<'static, T> {
    stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
    .boxed()
}

/// Passes a verified stream through and keeps it in the cache through `writer` once it ends
/// whole (the verifying stream ends with an error otherwise). The writing runs on a thread
/// of its own, up to 16 chunks behind, so it overlaps the hashing. Caching is best effort:
/// a write that fails stops it, never the download.
fn kept(
    inner: BoxStream<'static, std::io::Result<Bytes>>,
    mut writer: crate::store::cache::CacheWriter,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    // `Some(chunk)` to write, `None` to keep the blob; closed without `None`, nothing is kept.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Bytes>>(16);
    // The stream ends once the blob is kept, so the next request finds it.
    let (kept_tx, kept_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::task::spawn_blocking(move || {
        loop {
            match rx.blocking_recv() {
                Some(Some(chunk)) => {
                    if let Err(e) = writer.write(&chunk) {
                        tracing::warn!("stopped caching a blob: {e}");
                        return;
                    }
                }
                Some(None) => {
                    if let Err(e) = writer.commit() {
                        tracing::warn!("did not cache a blob: {e}");
                    }
                    let _ = kept_tx.send(());
                    return;
                }
                // Closed without the go-ahead: the stream failed or its client went away.
                None => return,
            }
        }
    });
    // The last chunk is held back until the blob is kept: a client that has all its bytes
    // finds the blob cached on its next request.
    struct State {
        inner: BoxStream<'static, std::io::Result<Bytes>>,
        tx: Option<tokio::sync::mpsc::Sender<Option<Bytes>>>,
        kept: Option<tokio::sync::oneshot::Receiver<()>>,
        held: Option<Bytes>,
        ended: bool,
    }
    let state = State {
        inner,
        tx: Some(tx),
        kept: Some(kept_rx),
        held: None,
        ended: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        loop {
            match s.inner.next().await {
                Some(Ok(chunk)) => {
                    if let Some(sender) = &s.tx
                        && sender.send(Some(chunk.clone())).await.is_err()
                    {
                        s.tx = None;
                    }
                    if let Some(previous) = s.held.replace(chunk) {
                        return Some((Ok(previous), s));
                    }
                }
                Some(Err(e)) => {
                    s.tx = None;
                    s.held = None;
                    return Some((Err(e), s));
                }
                None => {
                    s.ended = true;
                    if let (Some(sender), Some(kept)) = (s.tx.take(), s.kept.take())
                        && sender.send(None).await.is_ok()
                    {
                        let _ = kept.await;
                    }
                    let last = s.held.take()?;
                    return Some((Ok(last), s));
                }
            }
        }
    })
    .boxed()
}

/// Runs `inner` (the registry read, coalescing and hashing) in a task of its own, up to
/// `depth` chunks ahead of the consumer: the download and the upload to the client overlap
/// instead of taking turns. Memory stays bounded by `depth` chunks; when the consumer goes
/// away the task stops reading.
fn read_ahead(
    mut inner: BoxStream<'static, std::io::Result<Bytes>>,
    depth: usize,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    tokio::spawn(async move {
        while let Some(item) = inner.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    received(rx)
}

/// Joins small chunks (a registry's body arrives in pieces of a few KiB) into pieces of at
/// least `size` bytes, so each costs one write downstream.
fn coalesce(
    inner: BoxStream<'static, std::io::Result<Bytes>>,
    size: usize,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    stream::unfold(
        (inner, Some(bytes::BytesMut::new())),
        move |(mut inner, buffer)| async move {
            let mut buffer = buffer?;
            loop {
                match inner.next().await {
                    // Already big enough: passed on as it is, not copied.
                    Some(Ok(chunk)) if buffer.is_empty() && chunk.len() >= size => {
                        return Some((Ok(chunk), (inner, Some(buffer))));
                    }
                    Some(Ok(chunk)) => {
                        buffer.extend_from_slice(&chunk);
                        if buffer.len() >= size {
                            return Some((Ok(buffer.split().freeze()), (inner, Some(buffer))));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (inner, None))),
                    None if buffer.is_empty() => return None,
                    None => return Some((Ok(buffer.split().freeze()), (inner, None))),
                }
            }
        },
    )
    .boxed()
}

/// Passes `inner` through, hashing and counting; the last chunk is held back until the
/// whole blob has been seen, and replaced by an error if digest or size do not match.
fn verified(
    inner: BoxStream<'static, std::io::Result<Bytes>>,
    layer: Descriptor,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    struct State {
        inner: BoxStream<'static, std::io::Result<Bytes>>,
        hasher: Option<Hasher>,
        seen: u64,
        held: Option<Bytes>,
        layer: Descriptor,
    }
    let state = State {
        inner,
        hasher: Some(Hasher::new(layer.digest.algorithm())),
        seen: 0,
        held: None,
        layer,
    };
    stream::unfold(state, |mut s| async move {
        let hasher = s.hasher.as_mut()?;
        let mismatch = |s: &State, actual: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "blob {} does not match its digest and size ({actual}); the download was cut",
                    s.layer.digest
                ),
            )
        };
        match s.inner.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                s.seen += chunk.len() as u64;
                if s.seen > s.layer.size {
                    s.hasher = None;
                    let error = mismatch(&s, format!("more than {} bytes", s.layer.size));
                    return Some((Err(error), s));
                }
                let out = s.held.replace(chunk).unwrap_or_default();
                Some((Ok(out), s))
            }
            Some(Err(error)) => {
                s.hasher = None;
                Some((Err(error), s))
            }
            None => {
                let actual = s.hasher.take()?.finish();
                if actual != s.layer.digest || s.seen != s.layer.size {
                    let error = mismatch(&s, format!("{actual}, {} bytes", s.seen));
                    return Some((Err(error), s));
                }
                let last = s.held.take()?;
                Some((Ok(last), s))
            }
        }
    })
    .filter(|chunk| std::future::ready(!matches!(chunk, Ok(c) if c.is_empty())))
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn layer(bytes: &[u8]) -> Descriptor {
        Descriptor::new(
            "application/octet-stream",
            Digest::sha256_of(bytes),
            bytes.len() as u64,
        )
    }

    fn chunks(parts: &[&'static [u8]]) -> BoxStream<'static, std::io::Result<Bytes>> {
        let parts: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        stream::iter(parts).boxed()
    }

    fn collect(s: BoxStream<'static, std::io::Result<Bytes>>) -> std::io::Result<Vec<u8>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let parts: Vec<Bytes> = s.try_collect().await?;
            Ok(parts.concat())
        })
    }

    #[test]
    fn a_stream_that_matches_passes_whole_and_one_that_does_not_ends_in_an_error() {
        let good = layer(b"hello world");
        assert_eq!(
            collect(verified(chunks(&[b"hello ", b"world"]), good.clone())).unwrap(),
            b"hello world"
        );
        // Same size, other bytes: everything but the held-back last chunk, then an error.
        let error = collect(verified(chunks(&[b"hello ", b"w0rld"]), good.clone())).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            collect(verified(chunks(&[b"hello"]), good.clone())).is_err(),
            "short"
        );
        assert!(
            collect(verified(chunks(&[b"hello world", b"!"]), good)).is_err(),
            "long"
        );
        assert_eq!(collect(verified(chunks(&[]), layer(b""))).unwrap(), b"");
    }

    #[test]
    fn a_verified_stream_is_cached_before_its_last_chunk_and_a_bad_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let cache = crate::store::cache::BlobCache::open(dir.path(), 1 << 20).unwrap();
        let good = layer(b"hello world");
        let writer = cache.writer(&good).unwrap();
        let probe = std::sync::Arc::clone(&cache);
        let expected = good.clone();
        // Every chunk the client gets before the last finds the blob not yet kept; the
        // last one finds it kept.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let seen: Vec<bool> = runtime.block_on(async move {
            let body = kept(verified(chunks(&[b"hello ", b"wor", b"ld"]), good), writer);
            body.map(|chunk| {
                chunk.unwrap();
                probe.get(&expected).is_some()
            })
            .collect()
            .await
        });
        assert_eq!(seen, [false, false, true]);
        let bad = layer(b"hello world!");
        let writer = cache.writer(&bad).unwrap();
        let read: std::io::Result<Vec<Bytes>> = runtime.block_on(async {
            kept(verified(chunks(&[b"hello world?"]), bad.clone()), writer)
                .try_collect()
                .await
        });
        assert!(read.is_err());
        assert!(cache.get(&bad).is_none());
    }

    #[test]
    fn small_chunks_are_joined_and_nothing_is_lost() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pieces: Vec<Bytes> = runtime.block_on(async {
            coalesce(chunks(&[b"ab", b"cd", b"e", b"fghij", b"k"]), 4)
                .try_collect()
                .await
                .unwrap()
        });
        let lengths: Vec<usize> = pieces.iter().map(Bytes::len).collect();
        assert_eq!(lengths, vec![4, 6, 1]);
        assert_eq!(pieces.concat(), b"abcdefghijk");
    }
}
