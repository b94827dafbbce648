//! The use cases: one function per thing a user does with models (pack, push, pull, copy,
//! fetch, inspect, list, tag, rm, export, import, sign, attest, approve, verify, versions, promote,
//! rollback, history, lineage, search, diff, store upkeep). Every front end (the CLI, the
//! service, the Python package) calls these with a [`crate::Context`] and typed options and
//! renders the typed, `serde::Serialize` result; none of them decides a rule of its own.
//! Results serialize to the documented `--json` shapes (docs/json.md).

pub mod archive;
pub mod discover;
pub mod fetch;
pub mod files;
pub mod govern;
pub mod hf;
pub mod inspect;
pub mod login;
pub mod pack;
pub mod sign;
pub mod store;
pub mod tags;
pub mod transfer;
pub mod verify;
pub mod verify_dir;

pub use archive::{Exported, Imported, export, export_to, import, import_from};
pub use discover::{Scope, Search, diff, lineage, refresh, search};
pub use fetch::{Fetched, fetch};
pub use files::{FileStream, StreamableFile, open_file, read_file, streamable_files};
pub use govern::{Move, history, promote, rollback, versions};
pub use inspect::{Inspected, ListTarget, Listed, Unpacked, inspect, list, unpack};
pub use login::{login, logout};
pub use pack::{BuildTime, ModelInput, Packed, pack};
pub use sign::{KeyPair, Signed, approve, attest, generate_key_pair, sign};
pub use store::{store_fsck, store_gc, store_rm};
pub use tags::{Removed, Tagged, rm, tag};
pub use transfer::{Pulled, Pushed, Source, Unpack, copy, pull, push};
pub use verify::{AttestationReport, Report, Trust, verify, verify_attestation};
pub use verify_dir::{DirReport, verify_dir};

/// Why a use case refused what it was asked, before or without any module failing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Offline, something needed a registry.
    #[error("offline: this needs the registry, which is not asked")]
    Offline,
    /// Offline, the local store does not hold a pulled copy of the model.
    #[error("{reference} is not in the local store, and offline no registry is asked")]
    NotStored {
        /// The registry reference.
        reference: String,
    },
    /// A registry reference where only the local store and `oci:` layouts work.
    #[error("{reference} is a registry reference; this works on the local store and oci: layouts")]
    RegistryReference {
        /// The reference.
        reference: String,
    },
    /// A use case that talks to a registry was given a local reference.
    #[error(
        "{reference} is not a registry reference (HOST/REPO:TAG); {operation} works with registries"
    )]
    NotARegistry {
        /// The reference.
        reference: String,
        /// What was asked (push, pull).
        operation: &'static str,
    },
    /// Two references that must share a store do not.
    #[error("{first} and {second} are in different stores")]
    DifferentStores {
        /// The source.
        first: String,
        /// The target.
        second: String,
    },
    /// Deleting a registry tag would delete other tags with it.
    #[error(
        "refusing to remove {reference}: tags {others} point at the same manifest and would go with it"
    )]
    SharedManifest {
        /// The tag asked for.
        reference: String,
        /// The other tags, comma-separated.
        others: String,
        /// The pinned reference that removes them all.
        digest: String,
    },
    /// A push source that is neither a directory nor a reference.
    #[error("{source_text} is neither a directory nor a model reference")]
    NotASource {
        /// What was given.
        source_text: String,
        /// Why it is not a reference.
        #[source]
        source: crate::reference::Error,
    },
    /// A build time that cannot be recorded.
    #[error("invalid build time: {reason}")]
    BuildTime {
        /// Why.
        reason: String,
    },
    /// A tag recorded in an archive that is not a valid tag.
    #[error("invalid tag in the archive: {reason}")]
    ArchiveTag {
        /// Why.
        reason: String,
    },
    /// A glob that does not parse.
    #[error("invalid glob {glob:?}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        #[source]
        source: globset::Error,
    },
    /// A reference that must name a version names none.
    #[error("{reference} names no version (REPO:VERSION)")]
    NoVersion {
        /// The reference.
        reference: String,
    },
    /// A model has no file at that path.
    #[error("{reference} has no file {path}")]
    NoSuchFile {
        /// The model.
        reference: String,
        /// The path asked for.
        path: String,
    },
    /// Verification was asked for with nothing to trust.
    #[error("verifying needs a trusted public key or a trust policy")]
    NothingTrusted,
    /// An attestation type that needs a predicate was given none.
    #[error("a predicate is required for attestations of type {predicate_type}")]
    PredicateRequired {
        /// The predicate type.
        predicate_type: String,
    },
    /// An approval predicate that is not one.
    #[error("the predicate is not an approval (see docs/signing.md for its fields)")]
    NotAnApproval(#[source] serde_json::Error),
    /// A key file that would be overwritten.
    #[error("{} exists; its signatures would no longer verify with a new key", path.display())]
    KeyExists {
        /// The existing file.
        path: std::path::PathBuf,
    },
    /// An archive that holds more than one model was given one target name.
    #[error("{} holds {models} models; a target names exactly one", path.display())]
    ArchiveHoldsMany {
        /// The archive.
        path: std::path::PathBuf,
        /// How many models it holds.
        models: usize,
    },
    /// An archive entry that records no name, imported without a target.
    #[error("{} does not say what model it holds", path.display())]
    ArchiveUnnamed {
        /// The archive.
        path: std::path::PathBuf,
    },
    /// Import into anything but the local store.
    #[error("import stores into the local store; {reference} is not a local NAME:TAG")]
    NotLocal {
        /// The reference.
        reference: String,
    },
    /// A `hf:` reference that the Hugging Face cache does not hold.
    #[error("{spec} is not in the Hugging Face cache {}: {reason}", cache.display())]
    HfCache {
        /// The reference (`hf:ORG/NAME[@REVISION]`).
        spec: String,
        /// The cache directory searched.
        cache: std::path::PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The local store failed its check.
    #[error("the local store {} has {corrupt} corrupt blobs and {broken} broken entries", path.display())]
    Damaged {
        /// The store.
        path: std::path::PathBuf,
        /// Blobs that do not hash to their name.
        corrupt: usize,
        /// Entries whose manifest or blobs are missing.
        broken: usize,
    },
    /// A `model.sig` in a model directory that is not an OpenSSF model signature.
    #[error("{} is not an OpenSSF model signature: {reason}", path.display())]
    NotAModelSignature {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A model signature that does not sign the files it is packed or checked with.
    #[error("{} signs other files than {}: {}", path.display(), model, differences.join("; "))]
    ModelSignatureMismatch {
        /// The signature file (or attachment).
        path: std::path::PathBuf,
        /// The directory or model.
        model: String,
        /// What differs, one sentence per kind.
        differences: Vec<String>,
    },
    /// `--model-sig` asked for a model signature that the model does not have.
    #[error("{reference} has no {what}model-signing signature")]
    NoModelSignature {
        /// The model.
        reference: String,
        /// "" or "trusted " or "matching ".
        what: &'static str,
    },
    /// `--model-sig` with `--include`: the signature names every file.
    #[error(
        "--model-sig writes a signature over every file, so it cannot be combined with --include"
    )]
    ModelSigPartial,
    /// The registry catalog could not be read for a search over a whole host.
    #[error("{host} does not list its repositories; name a repository (HOST/REPO)")]
    NoCatalog {
        /// The registry.
        host: String,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
}
