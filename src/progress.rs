//! Progress leaves the library through [`Reporter`]; the library never prints. The CLI
//! draws bars on a terminal and stays quiet otherwise.

/// Receives progress of byte transfers. Every method has a do-nothing default.
pub trait Reporter: Send + Sync {
    /// The whole operation will move about `bytes` bytes (may be called before any
    /// [`Reporter::begin`]; transfers skipped because the target has them are not counted).
    fn total(&self, bytes: u64) {
        let _ = bytes;
    }

    /// A transfer of `total` bytes named `label` starts; `id` identifies it until [`Reporter::end`].
    fn begin(&self, id: usize, label: &str, total: u64) {
        let _ = (id, label, total);
    }

    /// `bytes` more bytes of transfer `id` are done.
    fn advance(&self, id: usize, bytes: u64) {
        let _ = (id, bytes);
    }

    /// Transfer `id` has finished (or failed).
    fn end(&self, id: usize) {
        let _ = id;
    }
}

/// A reporter that reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Reporter for Silent {}

/// Wraps a writer and reports every write as progress of transfer `id`.
pub struct ProgressWriter<'a, W> {
    inner: W,
    reporter: &'a dyn Reporter,
    id: usize,
}

impl<'a, W> ProgressWriter<'a, W> {
    /// Reports writes to `inner` as transfer `id`.
    pub fn new(inner: W, reporter: &'a dyn Reporter, id: usize) -> Self {
        ProgressWriter {
            inner,
            reporter,
            id,
        }
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: std::io::Write> std::io::Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.reporter.advance(self.id, n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
