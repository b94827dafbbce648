//! Rekor transparency log entries, offline: the signed entry timestamp (SET), the RFC 9162
//! inclusion proof up to a checkpoint the log signed, and the entry bodies that record what
//! was signed (`hashedrekord`, `dsse`, `intoto`). Entries come in a Sigstore bundle's
//! `tlogEntries` or in cosign's `dev.sigstore.cosign/bundle` layer annotation, which
//! [`Entry::from_cosign_annotation`] reads into the same form.
//!
//! See <https://github.com/sigstore/rekor/tree/main/pkg/types> (bodies) and
//! <https://github.com/C2SP/C2SP/blob/main/signed-note.md> (checkpoints).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::x509::{Cert, Hash, SpkiKey};

/// One transparency log entry, as a bundle's `verificationMaterial.tlogEntries[]` holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    log_index: serde_json::Value,
    log_id: LogId,
    kind_version: KindVersion,
    /// Only meaningful under a SET (Rekor v2 entries leave it out).
    #[serde(default)]
    integrated_time: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inclusion_promise: Option<Promise>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: serde_json::Value,
    root_hash: String,
    tree_size: serde_json::Value,
    hashes: Vec<String>,
    checkpoint: Checkpoint,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Checkpoint {
    envelope: String,
}

/// cosign's `dev.sigstore.cosign/bundle` annotation: the SET and what it signs.
#[derive(Deserialize)]
struct CosignBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: CosignPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CosignPayload {
    body: String,
    integrated_time: u64,
    log_index: u64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// What a verified entry tells: its parsed body, and the time the log vouches for (its
/// integrated time, when a SET signs it).
#[derive(Debug)]
pub struct Logged {
    /// The canonicalized body.
    pub body: serde_json::Value,
    /// The integrated time under the SET, seconds since the epoch.
    pub time: Option<u64>,
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    super::decode_base64(text).map_err(|e| format!("{what} is not base64: {e}"))
}

/// A JSON number or a string holding one (protobuf JSON writes int64 as strings).
fn integer(value: &serde_json::Value, what: &str) -> Result<u64, String> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what} is not a non-negative integer"))
}

impl Entry {
    /// Reads cosign's `dev.sigstore.cosign/bundle` layer annotation (what `cosign sign`
    /// and `cosign attest` write beside a keyless signature) as a bundle's log entry.
    ///
    /// # Errors
    /// Why the annotation does not read.
    pub fn from_cosign_annotation(text: &str) -> Result<Entry, String> {
        let cosign: CosignBundle =
            serde_json::from_str(text).map_err(|e| format!("it does not parse: {e}"))?;
        let body: serde_json::Value =
            serde_json::from_slice(&b64(&cosign.payload.body, "its body")?)
                .map_err(|e| format!("its body: {e}"))?;
        let log_id = hex::decode(&cosign.payload.log_id)
            .map_err(|e| format!("its logID is not hex: {e}"))?;
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        Ok(Entry {
            log_index: cosign.payload.log_index.into(),
            log_id: LogId {
                key_id: B64.encode(log_id),
            },
            kind_version: KindVersion {
                kind: field("kind"),
                version: field("apiVersion"),
            },
            integrated_time: cosign.payload.integrated_time.into(),
            inclusion_promise: Some(Promise {
                signed_entry_timestamp: cosign.signed_entry_timestamp,
            }),
            inclusion_proof: None,
            canonicalized_body: cosign.payload.body,
        })
    }

    /// The SHA-256 of the log key that names the log.
    ///
    /// # Errors
    /// A log id that is not base64.
    pub fn log_id(&self) -> Result<Vec<u8>, String> {
        b64(&self.log_id.key_id, "the log id")
    }

    /// Checks the entry under its log's `key`: the SET over the entry, the inclusion proof
    /// and the checkpoint it leads to, and that the body is of the kind the entry names.
    /// At least one of SET and inclusion proof is required.
    ///
    /// # Errors
    /// The first check that fails, as one sentence.
    pub fn verify(&self, key: &SpkiKey) -> Result<Logged, String> {
        let body_bytes = b64(&self.canonicalized_body, "the log entry body")?;
        let index = integer(&self.log_index, "logIndex")?;
        if self.inclusion_promise.is_none() && self.inclusion_proof.is_none() {
            return Err(
                "the log entry has neither a signed entry timestamp nor an inclusion proof".into(),
            );
        }
        let mut time = None;
        if let Some(promise) = &self.inclusion_promise {
            let integrated = integer(&self.integrated_time, "integratedTime")?;
            // The SET: the log's signature over the canonical JSON of the entry (keys
            // sorted, as serde_json writes a map).
            let set = serde_json::json!({
                "body": self.canonicalized_body,
                "integratedTime": integrated,
                "logID": hex::encode(self.log_id()?),
                "logIndex": index,
            });
            let signed = serde_json::to_vec(&set).unwrap_or_default();
            let signature = b64(
                &promise.signed_entry_timestamp,
                "the signed entry timestamp",
            )?;
            if !key.verify(&signed, &signature, Hash::Sha256) {
                return Err("the log's signed entry timestamp does not verify".into());
            }
            time = Some(integrated);
        }
        if let Some(proof) = &self.inclusion_proof {
            check_inclusion(proof, &body_bytes, key)?;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&body_bytes).map_err(|e| format!("the log entry body: {e}"))?;
        if body["kind"] != self.kind_version.kind.as_str()
            || body["apiVersion"] != self.kind_version.version.as_str()
        {
            return Err("the log entry body is not of the kind the entry names".into());
        }
        Ok(Logged { body, time })
    }
}

/// What a signature is over, which decides the entry kinds that can record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// A message (`hashedrekord`).
    Message,
    /// A DSSE envelope (`dsse`, `intoto`).
    Envelope,
}

/// What the log entry must record: the signature, the signed bytes' SHA-256 (the message
/// for `hashedrekord`, the DSSE payload for `dsse` and `intoto`) and the certificate.
pub struct Signed<'a> {
    /// What the signature is over.
    pub over: Over,
    /// The raw signature.
    pub signature: &'a [u8],
    /// SHA-256 of the message, or of the DSSE payload.
    pub digest: &'a [u8],
    /// The signing certificate.
    pub certificate: &'a Cert,
}

impl Signed<'_> {
    /// Checks that `body` records this signature, in a kind that records what it is over.
    ///
    /// # Errors
    /// A body of another kind, or one recording another signature, digest or certificate.
    pub fn check(&self, body: &serde_json::Value) -> Result<(), String> {
        let kind = (body["kind"].as_str(), body["apiVersion"].as_str());
        match (kind, self.over) {
            ((Some("hashedrekord"), Some("0.0.1")), Over::Message) => self.check_hashedrekord(body),
            ((Some("dsse"), Some("0.0.1")), Over::Envelope) => self.check_dsse(body),
            ((Some("intoto"), Some("0.0.2")), Over::Envelope) => self.check_intoto(body),
            ((kind, version), over) => Err(format!(
                "the log entry is of kind {} {}, which does not record {}",
                kind.unwrap_or("?"),
                version.unwrap_or("?"),
                match over {
                    Over::Envelope => "a DSSE envelope",
                    Over::Message => "a message signature",
                }
            )),
        }
    }

    fn hex_digest(&self) -> String {
        hex::encode(self.digest)
    }

    /// `hashedrekord` v0.0.1: the message's hash, the signature and the certificate (PEM,
    /// base64) that verifies it.
    fn check_hashedrekord(&self, body: &serde_json::Value) -> Result<(), String> {
        let spec = &body["spec"];
        if spec["data"]["hash"]["algorithm"] != "sha256"
            || spec["data"]["hash"]["value"] != self.hex_digest().as_str()
        {
            return Err("the log entry records another message".into());
        }
        let signature = spec["signature"]["content"]
            .as_str()
            .and_then(|t| super::decode_base64(t).ok());
        let key = spec["signature"]["publicKey"]["content"].as_str();
        if signature.as_deref() != Some(self.signature) || !self.is_certificate(key) {
            return Err("the log entry records another signature or certificate".into());
        }
        Ok(())
    }

    /// `dsse` v0.0.1: the payload's hash and each signature with its verifier.
    fn check_dsse(&self, body: &serde_json::Value) -> Result<(), String> {
        let spec = &body["spec"];
        if spec["payloadHash"]["algorithm"] != "sha256"
            || spec["payloadHash"]["value"] != self.hex_digest().as_str()
        {
            return Err("the log entry records another payload".into());
        }
        let recorded = spec["signatures"].as_array().cloned().unwrap_or_default();
        let matches = recorded.iter().any(|s| {
            let signature = s["signature"]
                .as_str()
                .and_then(|t| super::decode_base64(t).ok());
            signature.as_deref() == Some(self.signature)
                && self.is_certificate(s["verifier"].as_str())
        });
        if !matches {
            return Err("the log entry records another signature or certificate".into());
        }
        Ok(())
    }

    /// `intoto` v0.0.2 (what cosign 2's `attest` logs): the payload's hash and the one
    /// signature, base64 twice over, with its certificate.
    fn check_intoto(&self, body: &serde_json::Value) -> Result<(), String> {
        let content = &body["spec"]["content"];
        if content["payloadHash"]["algorithm"] != "sha256"
            || content["payloadHash"]["value"] != self.hex_digest().as_str()
        {
            return Err("the log entry records another payload".into());
        }
        let signatures = content["envelope"]["signatures"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let [recorded] = signatures.as_slice() else {
            return Err("the log entry records more or fewer than one signature".into());
        };
        let signature = recorded["sig"]
            .as_str()
            .and_then(|t| super::decode_base64(t).ok())
            .and_then(|inner| String::from_utf8(inner).ok())
            .and_then(|inner| super::decode_base64(&inner).ok());
        if signature.as_deref() != Some(self.signature)
            || !self.is_certificate(recorded["publicKey"].as_str())
        {
            return Err("the log entry records another signature or certificate".into());
        }
        Ok(())
    }

    /// True when `recorded` is base64 of a PEM whose first certificate is this one.
    fn is_certificate(&self, recorded: Option<&str>) -> bool {
        recorded
            .and_then(|t| super::decode_base64(t).ok())
            .and_then(|pem| String::from_utf8(pem).ok())
            .and_then(|pem| Cert::from_pem_chain(&pem).ok())
            .is_some_and(|certs| certs.first() == Some(self.certificate))
    }
}

/// RFC 6962 Merkle inclusion of `body` at `proof.log_index`, up to `proof.root_hash`, and
/// the checkpoint the log signed for that root.
fn check_inclusion(proof: &Proof, body: &[u8], key: &SpkiKey) -> Result<(), String> {
    let index = integer(&proof.log_index, "inclusionProof.logIndex")?;
    let size = integer(&proof.tree_size, "inclusionProof.treeSize")?;
    let root = b64(&proof.root_hash, "inclusionProof.rootHash")?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| b64(h, "an inclusion proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    if index >= size {
        return Err("the inclusion proof's index is outside its tree".into());
    }
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(body);
    let mut hash = sha2::Sha256::digest(&leaf).to_vec();
    // RFC 9162 2.1.3.2: walk up from the leaf.
    let (mut fn_, mut sn) = (index, size - 1);
    for sibling in &hashes {
        if sn == 0 {
            return Err("the inclusion proof is longer than its tree is deep".into());
        }
        let node = |left: &[u8], right: &[u8]| {
            let mut data = vec![1u8];
            data.extend_from_slice(left);
            data.extend_from_slice(right);
            sha2::Sha256::digest(&data).to_vec()
        };
        if fn_ & 1 == 1 || fn_ == sn {
            hash = node(sibling, &hash);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            hash = node(&hash, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || hash != root {
        return Err("the inclusion proof does not lead to the log's root hash".into());
    }
    check_checkpoint(&proof.checkpoint.envelope, size, &root, key)
}

/// A signed note (`origin\nsize\nroot\n\n— origin sig`) by the log for this tree.
fn check_checkpoint(note: &str, size: u64, root: &[u8], key: &SpkiKey) -> Result<(), String> {
    let (text, signatures) = note
        .split_once("\n\n")
        .ok_or("the checkpoint is not a signed note")?;
    let mut lines = text.lines();
    let (_origin, tree_size, root_hash) = (lines.next(), lines.next(), lines.next());
    if tree_size != Some(&size.to_string())
        || root_hash.map(|r| b64(r, "root")) != Some(Ok(root.to_vec()))
    {
        return Err("the checkpoint is for another tree than the inclusion proof".into());
    }
    let signed = format!("{text}\n");
    let verified = signatures.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((_, signature)) = rest.rsplit_once(' ') else {
            return false;
        };
        // Four bytes of key hint, then the signature.
        B64.decode(signature)
            .ok()
            .filter(|s| s.len() > 4)
            .is_some_and(|s| key.verify(signed.as_bytes(), &s[4..], Hash::Sha256))
    });
    if !verified {
        return Err("the checkpoint's signature does not verify under the log key".into());
    }
    Ok(())
}
