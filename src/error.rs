//! The crate-wide [`Error`]: every module error, plus what the CLI needs to act on one
//! (exit code class and a hint for the user).

use crate::store::registry;
use crate::{digest, governance, metadata, oci, package, reference, sign, store, verify};

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
                ) => Class::Verification,
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
            self,
            Error::Governance(
                governance::Error::VersionExists { .. } | governance::Error::Alias { .. }
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
        match self {
            Error::Store(store::Error::Io(e))
            | Error::Package(package::Error::Io(e))
            | Error::Package(package::Error::Store(store::Error::Io(e)))
            | Error::Registry(registry::Error::Io(e))
            | Error::Registry(registry::Error::Store(store::Error::Io(e))) => Some(e),
            _ => None,
        }
    }

    /// What the user can do about it, when there is something specific to say.
    pub fn hint(&self) -> Option<String> {
        if let Some(store) = self.store() {
            return match store {
                store::Error::NotFound { .. } => Some("run `modelark list` to see what the store holds".into()),
                store::Error::Corrupt { .. } | store::Error::BlobMissing { .. } => Some(
                    "the stored copy is damaged; remove it (`modelark rm`) and pack, import or pull it again".into(),
                ),
                store::Error::NotALayout { .. } => {
                    Some("point oci: at a directory made by modelark, skopeo or oras, or at a new path to create one".into())
                }
                _ => None,
            };
        }
        if let Error::Registry(error) = self {
            return registry_hint(error);
        }
        match self {
            Error::Sign(sign::Error::WrongPassword) => return Some("set COSIGN_PASSWORD or pass --password-stdin (cosign keys made for automation often have an empty password)".into()),
            Error::Governance(governance::Error::VersionExists { .. }) => return Some("versions are immutable: push under a new version, or pass --force (with --policy, only where the rule sets overwriteVersions: true)".into()),
            Error::Governance(governance::Error::Index { .. }) => return Some("another modelark search may be running; retry, or delete the index file to rebuild it".into()),
            Error::Verify(verify::Error::PolicyViolation { .. }) => return Some("nothing was fetched or written; `modelark verify REF --policy FILE` lists every signature and attestation found".into()),
            _ => {}
        }
        let Error::Package(package) = self else {
            return None;
        };
        use package::Error as P;
        Some(match package {
            P::SymlinkOutside { .. } => "pass --dereference to pack the files the symlinks point to (e.g. a Hugging Face cache snapshot)".into(),
            P::SymlinkToDirectory { .. } => "copy the directory in, or --exclude the link".into(),
            P::NoName => "pass --name or set name: in modelark.yaml".into(),
            P::OutputExists { .. } => "choose a new directory or pass --force to replace it".into(),
            P::ManagedAnnotation { .. } => "set it through its metadata flag or modelark.yaml field instead".into(),
            P::ManifestTooLarge { .. } => "archive many small files into a few larger ones before packing".into(),
            P::ChangedWhilePacking { .. } => "pack again once whatever writes the file has finished".into(),
            P::UnsafePath { .. } | P::DuplicatePath { .. } | P::UnsupportedEntry { .. } => {
                "the artifact is malformed or hostile; nothing was written".into()
            }
            P::Metadata(metadata::Error::TooLarge { .. }) => {
                "keep a summary in modelark.yaml and put the full schema in a file inside the model directory (it is packed as a layer)".into()
            }
            _ => return None,
        })
    }
}

fn registry_hint(error: &registry::Error) -> Option<String> {
    use registry::Error as R;
    Some(match error {
        R::Unauthorized { registry, .. } => format!("log in with `modelark login {registry} -u USER --password-stdin` (docker, podman and oras logins are used too)"),
        R::NotFound { .. } => "check the repository and tag; `modelark list HOST/REPO` shows the tags".into(),
        R::DeleteDisabled { .. } => "the registry's operator must enable deletes (distribution: storage.delete.enabled)".into(),
        R::Verification { .. } => "the registry served content that does not match its digest; nothing was written".into(),
        R::Http { source, .. } if source.is_connect() => "check the host and port; for a registry without TLS pass --plain-http, for a private CA --ca-file".into(),
        R::CaFile { .. } => "--ca-file takes a PEM certificate".into(),
        _ => return None,
    })
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
