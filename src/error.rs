//! The crate-wide [`Error`]: every module error, what a use case was doing when it
//! happened, and the questions callers ask of one (not found? failed verification?
//! refused by governance?). Front ends word their own hints: the library never names a flag.

use crate::store::registry;
use crate::{digest, governance, metadata, oci, ops, package, reference, sign, store, verify};

/// Any modelark library error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference did not parse.
    #[error(transparent)]
    Reference(#[from] reference::Error),
    /// A digest did not parse or verify.
    #[error(transparent)]
    Digest(#[from] digest::Error),
    /// An OCI document did not decode.
    #[error(transparent)]
    Oci(#[from] oci::Error),
    /// Metadata is invalid.
    #[error(transparent)]
    Metadata(#[from] metadata::Error),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Packing or unpacking failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// A registry operation failed.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// A key, payload or envelope could not be used.
    #[error(transparent)]
    Sign(#[from] sign::Error),
    /// A policy did not load, or a model failed verification.
    #[error(transparent)]
    Verify(#[from] verify::Error),
    /// Governance refused a change, or its index failed.
    #[error(transparent)]
    Governance(#[from] governance::Error),
    /// A use case refused what it was asked.
    #[error(transparent)]
    Op(#[from] ops::Error),
    /// What a use case was doing (`failed to pull HOST/REPO:TAG`) when `source` happened.
    #[error("{operation}")]
    Failed {
        /// Operation and object.
        operation: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
}

/// Adds what was being done to an error: `result.op(|| format!("failed to pull {r}"))`.
pub trait Op<T> {
    /// Wraps the error in [`Error::Failed`] with `operation` (operation + object).
    ///
    /// # Errors
    /// The wrapped error.
    fn op(self, operation: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> Op<T> for std::result::Result<T, E> {
    fn op(self, operation: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Failed {
            operation: operation(),
            source: Box::new(e.into()),
        })
    }
}

/// A result with the crate [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the CLI reports an error: its class decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Something named does not exist (exit 1).
    NotFound,
    /// Content failed verification (exit 1).
    Verification,
    /// Bad input or an operational failure (exit 2).
    Operational,
}

impl Error {
    /// The error beneath any [`Error::Failed`] wrappers: the one that says what went wrong.
    pub fn root(&self) -> &Error {
        match self {
            Error::Failed { source, .. } => source.root(),
            other => other,
        }
    }

    fn store(&self) -> Option<&store::Error> {
        match self {
            Error::Store(e)
            | Error::Package(package::Error::Store(e))
            | Error::Registry(registry::Error::Store(e)) => Some(e),
            _ => None,
        }
    }

    /// The class of this error.
    pub fn class(&self) -> Class {
        if let Error::Failed { source, .. } = self {
            return source.class();
        }
        match self.store() {
            Some(store::Error::NotFound { .. }) => Class::NotFound,
            Some(store::Error::Corrupt { .. } | store::Error::BlobMissing { .. }) => {
                Class::Verification
            }
            _ => match self {
                Error::Digest(
                    digest::Error::Mismatch { .. } | digest::Error::SizeMismatch { .. },
                )
                | Error::Registry(registry::Error::Verification { .. }) => Class::Verification,
                Error::Registry(registry::Error::NotFound { .. }) => Class::NotFound,
                Error::Verify(verify::Error::PolicyViolation { .. })
                | Error::Governance(
                    governance::Error::VersionExists { .. } | governance::Error::Alias { .. },
                )
                | Error::Op(ops::Error::Damaged { .. }) => Class::Verification,
                Error::Op(ops::Error::NoSuchFile { .. }) => Class::NotFound,
                _ => Class::Operational,
            },
        }
    }

    /// Something named (a model, tag, repository or blob) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.class() == Class::NotFound
    }

    /// Governance refused the change: a version tag that would move, an alias whose
    /// requirements are unmet.
    pub fn is_refused_by_governance(&self) -> bool {
        matches!(
            self.root(),
            Error::Governance(
                governance::Error::VersionExists { .. }
                    | governance::Error::Alias { .. }
                    | governance::Error::OverwriteRefused { .. }
            )
        )
    }

    /// Content or trust failed a check: a digest or size mismatch, a corrupt stored blob,
    /// or a model the trust policy does not accept (nothing was written).
    pub fn is_verification_failure(&self) -> bool {
        self.class() == Class::Verification && !self.is_refused_by_governance()
    }

    /// The I/O error at the bottom of this one, if it is one (module errors wrap I/O
    /// errors transparently, so an error chain does not show them on its own).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self.root() {
            Error::Store(store::Error::Io(e))
            | Error::Package(package::Error::Io(e))
            | Error::Package(package::Error::Store(store::Error::Io(e)))
            | Error::Registry(registry::Error::Io(e))
            | Error::Registry(registry::Error::Store(store::Error::Io(e))) => Some(e),
            _ => None,
        }
    }
}

/// An error and its causes in one line (`connecting: connection refused`), each cause
/// once even when a message already repeats it.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_answer_what_callers_ask() {
        let digest = crate::Digest::sha256_of(b"x");
        let missing: Error = store::Error::NotFound {
            reference: "bert:1".into(),
        }
        .into();
        let corrupt: Error = digest::Error::Mismatch {
            expected: digest.clone(),
            actual: crate::Digest::sha256_of(b"y"),
        }
        .into();
        let immutable: Error = governance::Error::VersionExists {
            reference: "bert:1.0.0".into(),
            existing: digest.clone(),
            new: crate::Digest::sha256_of(b"z"),
        }
        .into();
        let io: Error =
            store::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)).into();
        let cases = [
            (&missing, true, false, false),
            (&corrupt, false, true, false),
            (&immutable, false, false, true),
            (&io, false, false, false),
        ];
        for (error, not_found, verification, governance) in cases {
            assert_eq!(error.is_not_found(), not_found, "{error}");
            assert_eq!(error.is_verification_failure(), verification, "{error}");
            assert_eq!(error.is_refused_by_governance(), governance, "{error}");
        }
        assert_eq!(
            io.io_error().map(std::io::Error::kind),
            Some(std::io::ErrorKind::StorageFull)
        );
    }
}
