//! A small fixed pool of 1 MiB buffers for downloads. Network chunks are copied into it and
//! dropped at once, so the HTTP client can reuse its own read buffer: holding the chunks
//! instead makes it allocate a fresh ~400 KiB buffer per read, which glibc serves with
//! `mmap` and page faults (about a second of kernel time per 2 GiB). The pool also fixes how
//! much memory a download uses.

use std::sync::Arc;
use std::time::Duration;

/// A pool buffer, shared with the threads that write and hash it.
pub(super) type Shared = Arc<Vec<u8>>;
/// Buffers per download: enough to keep a writer and a hasher busy.
pub(super) const POOL_BUFFERS: usize = 6;
const BUFFER_SIZE: usize = 1 << 20;

/// Buffers that circulate between the network task and its consumers; a buffer is free
/// again when no consumer holds it.
pub(super) struct Pool {
    buffers: Vec<Shared>,
    filling: Option<usize>,
}

impl Pool {
    pub(super) fn new(count: usize) -> Pool {
        Pool {
            buffers: (0..count)
                .map(|_| Arc::new(Vec::with_capacity(BUFFER_SIZE)))
                .collect(),
            filling: None,
        }
    }

    /// Copies `data` in and returns the buffers it filled, in order; a partly filled buffer
    /// waits for more data or [`Pool::flush`].
    pub(super) async fn fill(&mut self, mut data: &[u8]) -> Vec<Shared> {
        let mut full = Vec::new();
        while !data.is_empty() {
            let index = match self.filling {
                Some(index) => index,
                None => self.take().await,
            };
            let buffer = Arc::get_mut(&mut self.buffers[index])
                .expect("a buffer being filled is ours alone");
            let n = (BUFFER_SIZE - buffer.len()).min(data.len());
            buffer.extend_from_slice(&data[..n]);
            data = &data[n..];
            if buffer.len() == BUFFER_SIZE {
                self.filling = None;
                full.push(Arc::clone(&self.buffers[index]));
            } else {
                self.filling = Some(index);
            }
        }
        full
    }

    /// The partly filled buffer, if any.
    pub(super) fn flush(&mut self) -> Option<Shared> {
        self.filling
            .take()
            .map(|index| Arc::clone(&self.buffers[index]))
    }

    /// An empty buffer, waiting while every buffer is still being written or hashed.
    async fn take(&mut self) -> usize {
        loop {
            if let Some(index) = self.buffers.iter().position(|b| Arc::strong_count(b) == 1) {
                Arc::get_mut(&mut self.buffers[index])
                    .expect("no other holder")
                    .clear();
                return index;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fill_splits_across_buffers_and_keeps_order() {
        let mut pool = Pool::new(3);
        let data: Vec<u8> = (0..(BUFFER_SIZE + 10)).map(|i| i as u8).collect();
        let full = pool.fill(&data).await;
        assert_eq!(full.len(), 1);
        assert_eq!(&full[0][..], &data[..BUFFER_SIZE]);
        let rest = pool.flush().unwrap();
        assert_eq!(&rest[..], &data[BUFFER_SIZE..]);
        assert!(pool.flush().is_none());
    }
}
