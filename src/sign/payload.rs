//! The cosign "simple signing" payload: the JSON a `.sig` signature signs, binding a
//! manifest digest. See <https://github.com/containers/image/blob/main/docs/containers-signature.5.md>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Error;
use crate::digest::Digest;

/// The `critical.type` cosign writes.
pub const COSIGN_TYPE: &str = "cosign container image signature";
/// The `critical.type` containers/image (skopeo, podman) writes.
pub const ATOMIC_TYPE: &str = "atomic container signature";
/// The `critical.type` cosign 3 prints for bundle signatures.
pub const SIGN_V1_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// A simple-signing payload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Payload {
    /// What the signature vouches for.
    pub critical: Critical,
    /// Free-form claims (`-a key=value`); cosign writes `null` or `{}` when there are none.
    #[serde(default)]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The signed claims.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Critical {
    /// The reference the signer named.
    pub identity: Identity,
    /// The manifest digest.
    pub image: Image,
    /// The payload type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    /// `HOST/REPO` (cosign), sometimes with `:TAG` (sigstore-rs, skopeo).
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Image {
    /// The signed manifest digest.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl Payload {
    /// The payload cosign writes for `repository` at `digest`, with optional claims.
    pub fn new(repository: &str, digest: &Digest, claims: BTreeMap<String, String>) -> Payload {
        Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: repository.to_owned(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: COSIGN_TYPE.to_owned(),
            },
            optional: Some(
                claims
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            ),
        }
    }

    /// Its exact bytes, as signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a payload written by cosign, sigstore-rs or containers/image.
    ///
    /// # Errors
    /// [`Error::Malformed`] for anything else.
    pub fn from_slice(bytes: &[u8]) -> Result<Payload, Error> {
        let payload: Payload = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
            what: "simple-signing payload".into(),
            reason: e.to_string(),
        })?;
        let kind = payload.critical.kind.as_str();
        if ![COSIGN_TYPE, ATOMIC_TYPE, SIGN_V1_TYPE].contains(&kind) {
            return Err(Error::Malformed {
                what: "simple-signing payload".into(),
                reason: format!("unknown type `{kind}`"),
            });
        }
        Ok(payload)
    }

    /// The manifest digest the payload signs, when it parses.
    pub fn digest(&self) -> Option<Digest> {
        self.critical.image.docker_manifest_digest.parse().ok()
    }

    /// The signed claims as strings.
    pub fn claims(&self) -> BTreeMap<String, String> {
        self.optional
            .iter()
            .flatten()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_cosign_sigstore_rs_and_skopeo_write() {
        let digest = "sha256:".to_owned() + &"ab".repeat(32);
        let cases = [
            // cosign: reference without tag, optional null
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r.io/m"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
            ),
            // sigstore-rs: tag in the reference, optional absent
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r.io/m:1.0"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}}}}"#
            ),
            // containers/image
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r.io/m:1.0"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"atomic container signature"}},"optional":{{"creator":"skopeo","timestamp":1700000000}}}}"#
            ),
        ];
        for case in cases {
            let payload = Payload::from_slice(case.as_bytes()).unwrap();
            assert_eq!(payload.digest().unwrap().to_string(), digest);
        }
        let bad = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"other"}}}}"#
        );
        assert!(Payload::from_slice(bad.as_bytes()).is_err());
    }

    #[test]
    fn writes_cosign_field_order() {
        let digest = Digest::sha256_of(b"x");
        let claims = BTreeMap::from([("by".to_owned(), "ci".to_owned())]);
        let text = String::from_utf8(Payload::new("r.io/m", &digest, claims).to_bytes()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r.io/m"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":{{"by":"ci"}}}}"#
            )
        );
    }
}
