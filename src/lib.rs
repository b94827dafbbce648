//! modelark turns any OCI registry, or a directory on disk, into a governed model registry.
//!
//! A model directory is packed as a CNCF ModelPack artifact (one raw layer per file, a
//! ModelPack config, registry metadata in bounded manifest annotations) into the local store,
//! an `oci:` layout or a registry; signed and attested cosign-compatibly; verified under a
//! trust policy before it is used; and governed (immutable versions, aliases that move only
//! with what the policy asks, signed history, lineage, search).
//!
//! Every use case is one function in [`ops`], called with a [`Context`] (home directory,
//! registry options and credentials, offline mode, concurrency, progress) and typed options,
//! returning a typed, `serde::Serialize` result. The `modelark` CLI, the service and the
//! Python package are front ends over exactly these functions. Errors are [`Error`]: ask
//! [`Error::is_not_found`], [`Error::is_verification_failure`] or
//! [`Error::is_refused_by_governance`]; [`Error::root`] is the error beneath the
//! "failed to ..." context.
//!
//! Pack a directory into an `oci:` layout, inspect it, sign and verify it, and search:
//!
//! ```
//! use modelark::governance::versions::Overwrite;
//! use modelark::ops::{self, ModelInput, Search, Trust};
//! use modelark::sign::{Format, PrivateKey};
//! use modelark::store::{Home, registry::CredentialStore};
//! use modelark::{Context, ModelMetadata, Reference};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scratch = tempfile::tempdir()?;
//! let path = |name: &str| scratch.path().join(name);
//! // Where the local store, the search index and the digest cache live; which credentials
//! // registries get (none are needed for a layout).
//! let credentials = CredentialStore::at(path("docker/config.json"), Vec::new());
//! let ctx = Context::new(Home::new(path("home")), credentials);
//!
//! // A model directory, and what to say about it beyond its modelark.yaml (if any).
//! std::fs::create_dir(path("bert-tiny"))?;
//! std::fs::write(path("bert-tiny/model.safetensors"), b"weights")?;
//! std::fs::write(path("bert-tiny/config.json"), br#"{"hidden_size": 128}"#)?;
//! let mut model = ModelInput::new(path("bert-tiny"));
//! model.overrides = ModelMetadata {
//!     name: Some("bert-tiny".into()),
//!     version: Some("1.0.0".parse()?),
//!     framework: Some("pytorch".into()),
//!     task: Some("text-classification".into()),
//!     licenses: vec!["Apache-2.0".into()],
//!     metrics: [("accuracy".to_owned(), 0.91)].into(),
//!     ..ModelMetadata::default()
//! };
//! let target: Reference = format!("oci:{}:1.0.0", path("layout").display()).parse()?;
//! let packed = ops::pack(&ctx, &model, &target, Overwrite::default()).await?;
//!
//! // Builds are reproducible: the same directory packs to the same digest.
//! let again = ops::pack(&ctx, &model, &target, Overwrite::default()).await?;
//! assert_eq!(again.digest, packed.digest);
//!
//! let inspected = ops::inspect(&ctx, &target).await?;
//! assert_eq!(inspected.view.metadata.framework.as_deref(), Some("pytorch"));
//! assert_eq!(inspected.view.files.len(), 2);
//!
//! // A cosign-format key pair; sign, then verify under that key.
//! let prefix = path("release").display().to_string();
//! let pair = ops::generate_key_pair(&prefix, b"", false)?;
//! let key = PrivateKey::from_pem(&std::fs::read_to_string(&pair.private)?, b"")?;
//! ops::sign(&ctx, &target, &key, Default::default(), Format::Cosign).await?;
//! let trust = Trust::load_keys(&[pair.public])?;
//! let report = ops::verify(&ctx, &target, &trust, &[]).await?.into_result()?;
//! assert_eq!(report.digest, packed.digest);
//!
//! // Search the layout by metadata, without reading any weights.
//! let search = Search::new(
//!     &format!("oci:{}", path("layout").display()),
//!     vec!["metrics.accuracy>=0.9".parse()?, "framework=pytorch".parse()?],
//! );
//! let hits = ops::search(&ctx, &search).await?;
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].tag, "1.0.0");
//! # Ok(())
//! # }
//! ```

pub mod context;
pub mod digest;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod governance;
pub mod interrupt;
pub mod media_types;
pub mod metadata;
pub mod oci;
pub mod ops;
pub mod package;
pub mod progress;
pub mod reference;
pub mod serve;
pub mod sign;
pub mod store;
pub mod transfer;
pub mod verify;

pub use context::Context;
pub use digest::Digest;
pub use error::{Error, Result};
pub use metadata::ModelMetadata;
pub use reference::Reference;
