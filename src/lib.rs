//! modelark turns any OCI registry, or a directory on disk, into a model registry.
//!
//! A model directory is packed as a CNCF ModelPack artifact (one raw layer per file, a
//! ModelPack config, registry metadata in bounded manifest annotations) into an OCI image
//! layout: the local store under `$MODELARK_HOME` or any `oci:` directory.
//!
//! ```no_run
//! use modelark::{metadata::ModelMetadata, package, progress::Silent, store::Layout};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layout = Layout::create("/tmp/models")?;
//! let options = package::pack::Options {
//!     metadata: ModelMetadata { name: Some("bert-tiny".into()), ..Default::default() },
//!     concurrency: 4,
//!     ..Default::default()
//! };
//! let packed = package::pack("./bert-tiny".as_ref(), package::Blobs::Store(&layout), &options, &Silent)?;
//! println!("{}", packed.descriptor.digest);
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
pub mod sign;
pub mod store;
pub mod transfer;
pub mod verify;

pub use context::Context;
pub use digest::Digest;
pub use error::{Error, Result};
pub use metadata::ModelMetadata;
pub use reference::Reference;
