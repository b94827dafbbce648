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
    let raw: BoxStream<'static, std::io::Result<Bytes>> = match &endpoint {
        Endpoint::Registry(repo) => {
            let response = repo.blob_response(&layer).await.op(what)?;
            response
                .bytes_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other))
                .boxed()
        }
        Endpoint::Layout(repo) => {
            let path = repo.layout().blob_path(&layer.digest);
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| crate::store::Error::from(fs_err_io(e, &path)))
                .op(what)?;
            read_chunks(file).boxed()
        }
    };
    Ok(FileStream {
        model: resolved.descriptor.digest.clone(),
        body: read_ahead(verified(coalesce(raw, 256 * 1024), layer.clone()), 8),
        layer,
    })
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
    stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
    .boxed()
}

fn fs_err_io(error: std::io::Error, path: &std::path::Path) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// A file as a stream of 256 KiB chunks.
fn read_chunks(file: tokio::fs::File) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buffer = vec![0u8; 256 * 1024];
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.truncate(n);
        Ok(Some((Bytes::from(buffer), file)))
    })
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
