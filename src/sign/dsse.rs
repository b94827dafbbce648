//! DSSE envelopes around in-toto statements, and the Sigstore bundle v0.3 that carries one.
//! See <https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>,
//! <https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md> and
//! <https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto>.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::Error;
use super::keys::{PrivateKey, PublicKey};
use crate::digest::Digest;
use crate::media_types;

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The statement type modelark writes.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The statement type cosign 1.x and 2.x write; read too.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// A DSSE envelope.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the signed payload.
    pub payload: String,
    /// The payload's type, bound by the signature.
    pub payload_type: String,
    /// One or more signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnvelopeSignature {
    /// A hint naming the key; not trusted (`null` in what model-signing 1.0 wrote).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub keyid: String,
    /// Base64 of the signature.
    pub sig: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// An in-toto statement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// `https://in-toto.io/Statement/v1` (or v0.1 when cosign wrote it).
    #[serde(rename = "_type")]
    pub kind: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    pub predicate_type: String,
    /// The predicate.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// A statement subject.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Subject {
    /// A name (the repository).
    #[serde(default)]
    pub name: String,
    /// Algorithm to hex digest.
    pub digest: BTreeMap<String, String>,
}

/// DSSE pre-authentication encoding: what is actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Statement {
    /// A v1 statement about the manifest `digest` in `repository`.
    pub fn new(
        repository: &str,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Statement {
        Statement {
            kind: STATEMENT_V1.to_owned(),
            subject: vec![Subject {
                name: repository.to_owned(),
                digest: BTreeMap::from([(
                    digest.algorithm().as_str().to_owned(),
                    digest.hex().to_owned(),
                )]),
            }],
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// True when one subject names `digest`.
    pub fn covers(&self, digest: &Digest) -> bool {
        self.subject.iter().any(|s| {
            s.digest
                .get(digest.algorithm().as_str())
                .map(String::as_str)
                == Some(digest.hex())
        })
    }
}

impl Envelope {
    /// Signs `statement` with `key`.
    pub fn sign(statement: &Statement, key: &PrivateKey) -> Envelope {
        let payload = serde_json::to_vec(statement).unwrap_or_default();
        let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        Envelope {
            payload: B64.encode(&payload),
            payload_type: IN_TOTO_PAYLOAD_TYPE.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: key.public_key().key_id(),
                sig: B64.encode(signature),
            }],
        }
    }

    /// Parses an envelope.
    ///
    /// # Errors
    /// [`Error::Malformed`].
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, Error> {
        serde_json::from_slice(bytes).map_err(|e| malformed("DSSE envelope", e))
    }

    /// Its JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The decoded payload.
    ///
    /// # Errors
    /// [`Error::Malformed`] when it is not base64.
    pub fn payload(&self) -> Result<Vec<u8>, Error> {
        super::decode_base64(&self.payload).map_err(|e| malformed("DSSE payload", e))
    }

    /// True when one of its signatures over the PAE verifies under `key`.
    pub fn verified_by(&self, key: &PublicKey) -> bool {
        let Ok(payload) = self.payload() else {
            return false;
        };
        let message = pae(&self.payload_type, &payload);
        self.signatures
            .iter()
            .any(|s| super::decode_base64(&s.sig).is_ok_and(|sig| key.verify(&message, &sig)))
    }

    /// True when one of its signatures over the PAE verifies under `key` (any kind ring
    /// verifies, with the key's usual hash: SHA-384 for P-384).
    pub fn verified_by_spki(&self, key: &super::x509::SpkiKey) -> bool {
        let Ok(payload) = self.payload() else {
            return false;
        };
        let message = pae(&self.payload_type, &payload);
        self.signatures.iter().any(|s| {
            super::decode_base64(&s.sig)
                .is_ok_and(|sig| key.verify(&message, &sig, key.default_hash()))
        })
    }

    /// Its one signature's bytes: what a Sigstore bundle's timestamps and log entry are
    /// over.
    ///
    /// # Errors
    /// An envelope with no or several signatures, or one that is not base64.
    pub fn signature_bytes(&self) -> Result<Vec<u8>, String> {
        let [signature] = self.signatures.as_slice() else {
            return Err(format!(
                "the envelope has {} signatures, not one",
                self.signatures.len()
            ));
        };
        super::decode_base64(&signature.sig)
            .map_err(|e| format!("the envelope signature is not base64: {e}"))
    }

    /// The in-toto statement inside.
    ///
    /// # Errors
    /// [`Error::Malformed`] for another payload type or an unparsable statement.
    pub fn statement(&self) -> Result<Statement, Error> {
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(Error::Malformed {
                what: "DSSE envelope".into(),
                reason: format!("payload type `{}` is not in-toto", self.payload_type),
            });
        }
        let statement: Statement = serde_json::from_slice(&self.payload()?)
            .map_err(|e| malformed("in-toto statement", e))?;
        if statement.kind != STATEMENT_V1 && statement.kind != STATEMENT_V01 {
            return Err(Error::Malformed {
                what: "in-toto statement".into(),
                reason: format!("unknown statement type `{}`", statement.kind),
            });
        }
        Ok(statement)
    }
}

/// A Sigstore bundle (v0.3) as modelark writes it: key-signed, no transparency log entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`.
    pub media_type: String,
    /// The public key hint (and, for keyless bundles, certificates and log entries).
    pub verification_material: serde_json::Value,
    /// The signed DSSE envelope, when the bundle holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    /// A message signature, when the bundle holds one instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
}

/// A bundle's signature over one message digest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The digest of the signed message.
    pub message_digest: MessageDigest,
    /// Base64 of the signature.
    pub signature: String,
}

/// `messageSignature.messageDigest`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageDigest {
    /// `SHA2_256`.
    pub algorithm: String,
    /// Base64 of the digest.
    pub digest: String,
}

impl Bundle {
    /// A bundle around `envelope`, hinting at the key that signed it.
    pub fn new(envelope: Envelope, key: &PublicKey) -> Bundle {
        Bundle {
            media_type: media_types::SIGSTORE_BUNDLE.to_owned(),
            verification_material: serde_json::json!({
                "publicKey": {"hint": key.key_id()},
                "tlogEntries": [],
            }),
            dsse_envelope: Some(envelope),
            message_signature: None,
        }
    }

    /// Parses a bundle of any v0.x media type.
    ///
    /// # Errors
    /// [`Error::Malformed`].
    pub fn from_slice(bytes: &[u8]) -> Result<Bundle, Error> {
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| malformed("Sigstore bundle", e))?;
        if !bundle
            .media_type
            .starts_with("application/vnd.dev.sigstore.bundle")
        {
            return Err(Error::Malformed {
                what: "Sigstore bundle".into(),
                reason: format!("media type `{}`", bundle.media_type),
            });
        }
        Ok(bundle)
    }

    /// Its JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The signature its RFC 3161 timestamps are over: the envelope's, or the message
    /// signature.
    ///
    /// # Errors
    /// A bundle with neither, or a signature that is not base64.
    pub fn signature_bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.dsse_envelope, &self.message_signature) {
            (Some(envelope), _) => envelope.signature_bytes(),
            (None, Some(message)) => super::decode_base64(&message.signature)
                .map_err(|e| format!("the message signature is not base64: {e}")),
            (None, None) => Err("the bundle holds no signature".into()),
        }
    }

    /// The RFC 3161 timestamps (DER) it carries, in
    /// `verificationMaterial.timestampVerificationData.rfc3161Timestamps`.
    ///
    /// # Errors
    /// A timestamp that is not base64, or a list that is not one.
    pub fn rfc3161_timestamps(&self) -> Result<Vec<Vec<u8>>, String> {
        let Some(list) = self
            .verification_material
            .pointer("/timestampVerificationData/rfc3161Timestamps")
        else {
            return Ok(Vec::new());
        };
        let list = list.as_array().ok_or("rfc3161Timestamps is not a list")?;
        list.iter()
            .map(|t| {
                let text = t
                    .get("signedTimestamp")
                    .and_then(|v| v.as_str())
                    .ok_or("an RFC 3161 timestamp has no signedTimestamp")?;
                super::decode_base64(text)
                    .map_err(|e| format!("an RFC 3161 timestamp is not base64: {e}"))
            })
            .collect()
    }

    /// Adds an RFC 3161 timestamp (a DER TimeStampResp) where Sigstore bundles keep them.
    pub fn add_rfc3161_timestamp(&mut self, response: &[u8]) {
        let entry = serde_json::json!({"signedTimestamp": B64.encode(response)});
        let material = &mut self.verification_material;
        if !material.is_object() {
            *material = serde_json::json!({});
        }
        let data = &mut material["timestampVerificationData"];
        if !data.is_object() {
            *data = serde_json::json!({});
        }
        match data
            .get_mut("rfc3161Timestamps")
            .and_then(|l| l.as_array_mut())
        {
            Some(list) => list.push(entry),
            None => data["rfc3161Timestamps"] = serde_json::json!([entry]),
        }
    }

    /// For a message-signature bundle: true when it signs exactly `digest` and verifies
    /// under `key`.
    pub fn message_verified_by(&self, digest: &Digest, key: &PublicKey) -> bool {
        let Some(message) = &self.message_signature else {
            return false;
        };
        let expected = hex::decode(digest.hex()).unwrap_or_default();
        let signed = super::decode_base64(&message.message_digest.digest).unwrap_or_default();
        message.message_digest.algorithm == "SHA2_256"
            && signed == expected
            && super::decode_base64(&message.signature)
                .is_ok_and(|sig| key.verify_prehash(&expected, &sig))
    }
}

/// What a cosign keyless layer signs: a `.sig` layer's payload, or an `.att` layer's
/// envelope.
#[derive(Clone, Copy, Debug)]
pub enum CosignSigned<'a> {
    /// A simple-signing payload and the signature over it, with the RFC 3161 timestamps
    /// (DER) over that signature.
    Message {
        /// The payload.
        payload: &'a [u8],
        /// The signature.
        signature: &'a [u8],
        /// Timestamps over the signature.
        timestamps: &'a [Vec<u8>],
    },
    /// A DSSE envelope.
    Envelope(&'a Envelope),
}

impl Bundle {
    /// Reads a keyless cosign layer (`cosign sign`/`attest` before bundles: the Fulcio
    /// certificate and the Rekor entry in layer annotations) as the Sigstore bundle that
    /// carries the same evidence, so one verifier checks both forms.
    ///
    /// # Errors
    /// A certificate or log entry annotation that is missing or does not read.
    pub fn from_cosign_layer(
        annotations: &BTreeMap<String, String>,
        signed: CosignSigned<'_>,
    ) -> Result<Bundle, String> {
        let pem = annotations
            .get(media_types::COSIGN_CERTIFICATE)
            .ok_or("it has no certificate annotation")?;
        let leaf = super::x509::Cert::from_pem_chain(pem)
            .map_err(|e| format!("its {} annotation: {e}", media_types::COSIGN_CERTIFICATE))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                format!(
                    "its {} annotation is empty",
                    media_types::COSIGN_CERTIFICATE
                )
            })?;
        let entry = annotations.get(media_types::COSIGN_BUNDLE).ok_or_else(|| {
            format!(
                "it has no {} annotation (its transparency log entry), so nothing vouches \
                 for when it was signed",
                media_types::COSIGN_BUNDLE
            )
        })?;
        let entry = super::rekor::Entry::from_cosign_annotation(entry)
            .map_err(|e| format!("its {} annotation: {e}", media_types::COSIGN_BUNDLE))?;
        let mut bundle = Bundle {
            media_type: media_types::SIGSTORE_BUNDLE_V01.to_owned(),
            verification_material: serde_json::json!({
                "certificate": {"rawBytes": B64.encode(leaf.der())},
                "tlogEntries": [entry],
            }),
            dsse_envelope: None,
            message_signature: None,
        };
        match signed {
            CosignSigned::Message {
                payload,
                signature,
                timestamps,
            } => {
                bundle.message_signature = Some(MessageSignature {
                    message_digest: MessageDigest {
                        algorithm: "SHA2_256".into(),
                        digest: B64.encode(sha2::Sha256::digest(payload)),
                    },
                    signature: B64.encode(signature),
                });
                for stamp in timestamps {
                    bundle.add_rfc3161_timestamp(stamp);
                }
            }
            CosignSigned::Envelope(envelope) => bundle.dsse_envelope = Some(envelope.clone()),
        }
        Ok(bundle)
    }
}

/// True when a bundle's verification material names a signing certificate (Fulcio's, for
/// keyless signing, or a certificate chain) rather than a public key hint.
pub fn has_certificate(bundle: &Bundle) -> bool {
    let material = &bundle.verification_material;
    material.get("certificate").is_some() || material.get("x509CertificateChain").is_some()
}

fn malformed(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Malformed {
        what: what.to_owned(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_vector() {
        // The DSSE protocol document's example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn envelopes_verify_only_their_statement() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let digest = Digest::sha256_of(b"manifest");
        let statement = Statement::new("r/m", &digest, "https://x/y", serde_json::json!({"a": 1}));
        let envelope = Envelope::sign(&statement, &key);
        assert!(envelope.verified_by(&key.public_key()));
        assert!(!envelope.verified_by(&other.public_key()));
        let back = Envelope::from_slice(&envelope.to_bytes()).unwrap();
        assert!(back.statement().unwrap().covers(&digest));
        assert!(
            !back
                .statement()
                .unwrap()
                .covers(&Digest::sha256_of(b"other"))
        );

        let mut tampered = envelope.clone();
        let forged = Statement::new(
            "r/m",
            &Digest::sha256_of(b"other"),
            "https://x/y",
            serde_json::json!({}),
        );
        tampered.payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        assert!(!tampered.verified_by(&key.public_key()));

        let mut retyped = envelope;
        retyped.payload_type = "text/plain".into();
        assert!(!retyped.verified_by(&key.public_key()));
        assert!(retyped.statement().is_err());
    }
}
