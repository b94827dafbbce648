//! Signing models cosign-compatibly: keys in cosign's formats, simple-signing signatures
//! under `sha256-<hex>.sig`, in-toto attestations in DSSE envelopes under `.att`, and
//! Sigstore bundles as OCI 1.1 referrers. See docs/signing.md.

pub mod attach;
pub mod dsse;
pub mod keyless;
pub mod keys;
pub mod model_signing;
pub mod payload;
pub mod predicate;
pub mod rekor;
pub mod timestamp;
pub mod x509;

use std::collections::BTreeMap;

pub use keys::{PrivateKey, PublicKey};

/// Decodes standard base64 the way cosign does (Go's decoder skips line breaks): ASCII
/// whitespace anywhere is ignored, so a signature attached with `base64 payload.sig`
/// (wrapped at 76 columns) reads like an unwrapped one.
///
/// # Errors
/// The base64 error for anything else that is not base64.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact)
}

use crate::error::Result;
use crate::media_types;
use crate::oci::Descriptor;
use crate::store::{Endpoint, Resolved};
use dsse::{Bundle, Envelope, Statement};

/// What can go wrong with keys, payloads and envelopes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file that cannot be used.
    #[error("unusable key: {reason}")]
    Key {
        /// Why.
        reason: String,
    },
    /// The password does not decrypt the key.
    #[error("the password does not decrypt the private key")]
    WrongPassword,
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system")]
    Random(#[source] getrandom::Error),
    /// A payload, envelope, statement or bundle that does not parse.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Other writers kept replacing the tag the signature was added to.
    #[error("{tag} kept changing under concurrent writers; the signature may not have been kept")]
    Contended {
        /// The `.sig` or `.att` tag.
        tag: String,
    },
    /// A signature or attestation manifest with more layers than modelark reads.
    #[error("{what} has {layers} layers, over the limit of {limit}")]
    TooManyLayers {
        /// The tag or referrer.
        what: String,
        /// How many it has.
        layers: usize,
        /// The limit.
        limit: usize,
    },
    /// An attestation type that is neither a known short name nor a URI.
    #[error("unknown predicate type `{name}`")]
    PredicateType {
        /// What was given.
        name: String,
    },
    /// A combination modelark does not do.
    #[error("{what} is not supported")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// What to do instead.
        hint: String,
    },
    /// A time-stamping authority that did not give a usable timestamp.
    #[error("the timestamp server {server} {reason}")]
    Timestamp {
        /// The server's URL.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// An expiry that is neither an RFC 3339 time nor a duration.
    #[error("{text:?} is neither an RFC 3339 time nor a duration like 90d, 12h or 30m")]
    Expiry {
        /// What was given.
        text: String,
    },
}

/// How a signature or attestation is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// cosign's tags: `sha256-<hex>.sig` (simple signing) and `.att` (DSSE).
    #[default]
    Cosign,
    /// A Sigstore bundle v0.3 as an OCI 1.1 referrer.
    Bundle,
    /// An OpenSSF model-signing v1.0 bundle (what `model_signing sign` writes as
    /// `model.sig`) as an OCI 1.1 referrer: it signs the files, not the manifest. For
    /// signatures only; attestations refuse it.
    ModelSigning,
}

/// A signature or attestation as stored.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The manifest that now holds it (a `.sig`/`.att` manifest, or a bundle referrer).
    pub descriptor: Descriptor,
    /// The time a time-stamping authority vouched for, when one was asked (seconds since
    /// the epoch).
    pub timestamped: Option<u64>,
}

/// How a signature is made: the key, and the time-stamping authority that stamps it, if any
/// ([`crate::Context::signer`] makes one from a context's `--timestamp-server`).
#[derive(Clone, Debug)]
pub struct Signer<'a> {
    /// The signing key.
    pub key: &'a PrivateKey,
    /// Asked for an RFC 3161 timestamp over every signature made, when given.
    pub timestamps: Option<timestamp::Server>,
}

impl Signer<'_> {
    async fn stamp(&self, message: &[u8]) -> Result<Option<timestamp::Granted>> {
        match &self.timestamps {
            Some(server) => Ok(Some(server.stamp(message).await?)),
            None => Ok(None),
        }
    }

    /// Stamps the bytes a cosign layer's timestamp is over, as cosign's annotation.
    async fn stamp_layer(&self, layer: &mut Descriptor, message: &[u8]) -> Result<Option<u64>> {
        let Some(granted) = self.stamp(message).await? else {
            return Ok(None);
        };
        let value = serde_json::json!({
            "SignedRFC3161Timestamp":
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &granted.response),
        });
        layer.annotations.insert(
            media_types::COSIGN_RFC3161_TIMESTAMP.into(),
            value.to_string(),
        );
        Ok(Some(granted.time))
    }

    /// Stamps a bundle's signature where Sigstore bundles keep timestamps.
    async fn stamp_bundle(&self, bundle: &mut Bundle) -> Result<Option<u64>> {
        let signature = bundle
            .signature_bytes()
            .map_err(|reason| Error::Malformed {
                what: "the bundle just made".into(),
                reason,
            })?;
        let Some(granted) = self.stamp(&signature).await? else {
            return Ok(None);
        };
        bundle.add_rfc3161_timestamp(&granted.response);
        Ok(Some(granted.time))
    }
}

/// Signs the manifest `subject` in `endpoint`, adding to any signatures it has, and
/// returns the manifest that now holds the signature.
///
/// # Errors
/// Transport and I/O errors; [`Error::Timestamp`] when the time-stamping authority gives
/// no usable timestamp (nothing is attached then).
pub async fn sign(
    endpoint: &Endpoint,
    model: &Resolved,
    signer: &Signer<'_>,
    claims: BTreeMap<String, String>,
    format: Format,
) -> Result<Stored> {
    let identity = endpoint.display_name();
    let subject = &model.descriptor;
    let key = signer.key;
    match format {
        Format::Cosign => {
            let payload = payload::Payload::new(&identity, &subject.digest, claims).to_bytes();
            let signature = key.sign(&payload);
            let mut layer = Descriptor::of(media_types::COSIGN_SIMPLE_SIGNING, &payload);
            let timestamped = signer.stamp_layer(&mut layer, &signature).await?;
            layer.annotations.insert(
                media_types::COSIGN_SIGNATURE.into(),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature),
            );
            let tag = attach::sig_tag(&subject.digest);
            let descriptor = attach::append_layer(endpoint, &tag, layer, payload).await?;
            Ok(Stored {
                descriptor,
                timestamped,
            })
        }
        Format::Bundle => {
            let claims = serde_json::to_value(claims).unwrap_or_default();
            attest(
                endpoint,
                subject,
                signer,
                predicate::COSIGN_SIGN_V1,
                claims,
                Format::Bundle,
            )
            .await
        }
        Format::ModelSigning => {
            if !claims.is_empty() {
                return Err(Error::Unsupported {
                    what: "claims (-a) in a model-signing signature".into(),
                    hint: "its statement has a fixed shape; sign with --format cosign or bundle \
                           to sign claims"
                        .into(),
                }
                .into());
            }
            let name = identity.rsplit('/').next().unwrap_or(&identity);
            let files = model_signing::ModelFiles::from_manifest(name, &model.manifest)?;
            let mut bundle = model_signing::sign(&files, key);
            let timestamped = signer.stamp_bundle(&mut bundle).await?;
            let descriptor = attach::attach_bundle(
                endpoint,
                subject,
                &bundle,
                bundle_annotations(model_signing::PREDICATE_V1),
            )
            .await?;
            Ok(Stored {
                descriptor,
                timestamped,
            })
        }
    }
}

/// The annotations a bundle referrer carries: what it holds, its predicate type, when.
pub fn bundle_annotations(predicate_type: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            media_types::BUNDLE_CONTENT.to_owned(),
            "dsse-envelope".to_owned(),
        ),
        (
            media_types::BUNDLE_PREDICATE_TYPE.to_owned(),
            predicate_type.to_owned(),
        ),
        (
            crate::metadata::keys::CREATED.to_owned(),
            predicate::now_rfc3339(),
        ),
    ])
}

/// Attests `predicate` of `predicate_type` about `subject`, in a DSSE envelope signed by
/// the signer's key, and returns the manifest that holds it.
///
/// # Errors
/// Transport and I/O errors; [`Error::Timestamp`] as for [`sign()`].
pub async fn attest(
    endpoint: &Endpoint,
    subject: &Descriptor,
    signer: &Signer<'_>,
    predicate_type: &str,
    predicate: serde_json::Value,
    format: Format,
) -> Result<Stored> {
    let key = signer.key;
    let statement = Statement::new(
        &endpoint.display_name(),
        &subject.digest,
        predicate_type,
        predicate,
    );
    let envelope = Envelope::sign(&statement, key);
    match format {
        Format::Cosign => {
            let bytes = envelope.to_bytes();
            let mut layer = Descriptor::of(media_types::DSSE_ENVELOPE, &bytes);
            layer.annotations.insert(
                media_types::COSIGN_PREDICATE_TYPE.into(),
                predicate_type.to_owned(),
            );
            // cosign stamps an attestation's whole envelope (it has no bare signature).
            let timestamped = signer.stamp_layer(&mut layer, &bytes).await?;
            let tag = attach::att_tag(&subject.digest);
            let descriptor = attach::append_layer(endpoint, &tag, layer, bytes).await?;
            Ok(Stored {
                descriptor,
                timestamped,
            })
        }
        Format::Bundle => {
            let mut bundle = Bundle::new(envelope, &key.public_key());
            let timestamped = signer.stamp_bundle(&mut bundle).await?;
            let descriptor = attach::attach_bundle(
                endpoint,
                subject,
                &bundle,
                bundle_annotations(predicate_type),
            )
            .await?;
            Ok(Stored {
                descriptor,
                timestamped,
            })
        }
        Format::ModelSigning => Err(Error::Unsupported {
            what: "an attestation in the model-signing format".into(),
            hint: "model-signing is a signature format; attest with --format cosign or bundle"
                .into(),
        }
        .into()),
    }
}
