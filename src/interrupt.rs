//! Cooperative interruption: a front end that catches SIGINT or SIGTERM (or Python's
//! `KeyboardInterrupt`) calls [`request`]; long copies check [`check`] at every buffer and
//! stop with an `Interrupted` I/O error, so their temp files are removed as they unwind
//! instead of being left behind by a killed process. Partial downloads are kept for resume.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every running copy in this process to stop.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Forgets an earlier [`request`]: a front end that goes on after an interruption (the
/// Python package, after `KeyboardInterrupt`) calls this before its next use case.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Whether [`request`] was called.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once [`request`] was called.
///
/// # Errors
/// An I/O error of kind `Interrupted` saying so.
pub fn check() -> io::Result<()> {
    if requested() {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "interrupted by a signal",
        ));
    }
    Ok(())
}
