//! Governing models on a plain OCI registry: immutable version tags, aliases that move only
//! with signed promotion records, history, lineage, metadata search with a local index, and
//! diffs. Everything is stored in the registry itself (tags, `.att` attestations) or derived
//! from it; nothing needs a server. See docs/governance.md.

pub mod diff;
pub mod history;
pub mod index;
pub mod lineage;
pub mod query;
pub mod versions;

use crate::digest::Digest;

/// What governance refuses, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version tag would move to another model.
    #[error("version {reference} already exists as {existing}; refusing to move it to {new}")]
    VersionExists {
        /// The version reference.
        reference: String,
        /// The digest it points at.
        existing: Digest,
        /// The digest it would point at.
        new: Digest,
    },
    /// Moving a version tag was asked for where the trust policy keeps versions immutable.
    #[error(
        "the policy does not allow moving version tags in {repository} (no rule for it sets overwriteVersions: true); versions stay immutable"
    )]
    OverwriteRefused {
        /// The repository.
        repository: String,
    },
    /// A promotion or rollback that governance cannot do.
    #[error("cannot move alias {alias}: {reason}")]
    Alias {
        /// The alias.
        alias: String,
        /// Why.
        reason: String,
    },
    /// A `--where` expression that does not parse.
    #[error("invalid expression {expression:?}: {reason}")]
    Query {
        /// The expression.
        expression: String,
        /// Why.
        reason: String,
    },
    /// The local search index failed.
    #[error("search index {path} failed")]
    Index {
        /// The index file.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
