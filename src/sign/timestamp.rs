//! RFC 3161 timestamps: a time-stamping authority's signed statement that a signature
//! existed at a time. Sigstore bundles keep them in
//! `verificationMaterial.timestampVerificationData.rfc3161Timestamps`; a verified one is a
//! trusted signing time where the transparency log gives none (Rekor v2 entries carry no
//! signed entry timestamp). Parsed with the DER helpers of [`super::x509`]; see RFC 3161 and
//! RFC 5652 (CMS SignedData).

use sha2::Digest as _;

use super::x509::{Cert, Hash, elements, rfc3339, signature_hash, tlv, verify_chain};

const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// A time-stamping authority: its certificate chain (leaf first) and when it was trusted.
#[derive(Clone, Debug)]
pub struct Authority {
    /// The TSA's signing certificate, then its intermediates and root.
    pub chain: Vec<Cert>,
    /// From (seconds since the epoch).
    pub start: u64,
    /// Until, when it was retired.
    pub end: Option<u64>,
}

/// What a verified timestamp says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The time the authority vouches for, seconds since the epoch.
    pub time: u64,
    /// The authority's certificate subject.
    pub authority: String,
}

/// Verifies the DER `token` (a TimeStampToken: CMS SignedData over a TSTInfo) as a
/// timestamp over `signature` by one of `authorities`.
///
/// # Errors
/// Why it does not verify, as one sentence.
pub fn verify(token: &[u8], signature: &[u8], authorities: &[Authority]) -> Result<Stamp, String> {
    let malformed = || "the timestamp is not an RFC 3161 token".to_owned();
    let token = Token::parse(token).ok_or_else(malformed)?;
    let (hash, imprint) = (token.imprint_hash, &token.imprint);
    if digest(hash, signature) != *imprint {
        return Err("the timestamp is over another signature".into());
    }
    if digest(token.digest, &token.tst_info) != token.message_digest {
        return Err("the timestamp's signed attributes do not match its content".into());
    }
    let time = token.time;
    let mut last = "no time-stamping authority of the trusted root was valid then".to_owned();
    for authority in authorities {
        if time < authority.start || authority.end.is_some_and(|end| time > end) {
            continue;
        }
        let Some((signer, rest)) = authority.chain.split_first() else {
            continue;
        };
        // The token may carry the signer's certificate; the root's copy is what is trusted.
        let (anchors, intermediates) = match rest.split_last() {
            Some((root, middle)) => (vec![root.clone()], middle.to_vec()),
            None => (vec![signer.clone()], Vec::new()),
        };
        if let Err(e) = verify_chain(signer, &intermediates, &anchors, time) {
            last = e;
            continue;
        }
        let Ok(key) = signer.key() else {
            continue;
        };
        let for_timestamps = signer
            .extension("2.5.29.37")
            .and_then(|v| {
                use x509_cert::der::Decode as _;
                x509_cert::ext::pkix::ExtendedKeyUsage::from_der(v).ok()
            })
            .is_some_and(|u| u.0.iter().any(|oid| oid.to_string() == TIME_STAMPING));
        if !for_timestamps {
            last = format!("{} is not a time-stamping certificate", signer.subject());
            continue;
        }
        if key.verify(
            &token.signed_attributes,
            &token.signature,
            token.signature_hash,
        ) {
            return Ok(Stamp {
                time,
                authority: signer.subject(),
            });
        }
        last = "the timestamp's signature does not verify under a trusted authority".into();
    }
    Err(last)
}

fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

/// The parts of a TimeStampToken verification needs.
struct Token {
    imprint_hash: Hash,
    imprint: Vec<u8>,
    time: u64,
    tst_info: Vec<u8>,
    digest: Hash,
    message_digest: Vec<u8>,
    /// The signed attributes re-tagged as a SET: what the signature is over.
    signed_attributes: Vec<u8>,
    signature: Vec<u8>,
    signature_hash: Hash,
}

fn oid_of(element: &[u8]) -> Option<String> {
    use x509_cert::der::Decode as _;
    let oid: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::from_der(element).ok()?;
    Some(oid.to_string())
}

/// The hash an AlgorithmIdentifier (SEQUENCE { OID, params }) names.
fn digest_algorithm(element: &[u8]) -> Option<Hash> {
    let (_, body) = tlv(element)?;
    let (oid, _) = tlv(body)?;
    match oid_of(oid)?.as_str() {
        "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
        "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
        "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
        other => signature_hash(other),
    }
}

impl Token {
    /// A TimeStampToken, or a whole TimeStampResp (status, token) as Sigstore bundles keep
    /// it: a response must have granted the request.
    fn parse(der: &[u8]) -> Option<Token> {
        let (_, outer) = tlv(der)?;
        let mut parts = elements(outer)?;
        if parts.first()?.first() == Some(&0x30) {
            let status = elements(tlv(parts.first()?)?.1)?;
            let granted = tlv(status.first()?)?.1;
            if granted != [0] && granted != [1] {
                return None;
            }
            let (_, content_info) = tlv(parts.get(1)?)?;
            parts = elements(content_info)?;
        }
        if oid_of(parts.first()?)? != SIGNED_DATA {
            return None;
        }
        let (_, explicit) = tlv(parts.get(1)?)?;
        let (_, signed_data) = tlv(explicit)?;
        let fields = elements(signed_data)?;
        // version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos
        let encapsulated = elements(tlv(fields.get(2)?)?.1)?;
        if oid_of(encapsulated.first()?)? != TST_INFO {
            return None;
        }
        let (_, wrapped) = tlv(encapsulated.get(1)?)?;
        let (_, tst_info) = tlv(wrapped)?;
        let signer_infos = fields.last()?;
        let (_, infos) = tlv(signer_infos)?;
        let first = elements(infos)?.into_iter().next()?;
        let info = elements(tlv(first)?.1)?;
        // version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature
        let digest = digest_algorithm(info.get(2)?)?;
        let attributes = info.get(3)?;
        if attributes.first() != Some(&0xa0) {
            return None;
        }
        let mut signed_attributes = attributes.to_vec();
        signed_attributes[0] = 0x31;
        let mut message_digest = None;
        let mut content_type_ok = false;
        for attribute in elements(tlv(attributes)?.1)? {
            let parts = elements(tlv(attribute)?.1)?;
            let (kind, values) = (oid_of(parts.first()?)?, tlv(parts.get(1)?)?.1);
            let (value, _) = tlv(values)?;
            match kind.as_str() {
                MESSAGE_DIGEST => message_digest = Some(tlv(value)?.1.to_vec()),
                CONTENT_TYPE => content_type_ok = oid_of(value)? == TST_INFO,
                _ => {}
            }
        }
        if !content_type_ok {
            return None;
        }
        let algorithm = info.get(4)?;
        let signature_hash = {
            let (_, body) = tlv(algorithm)?;
            let (oid, _) = tlv(body)?;
            signature_hash(&oid_of(oid)?).unwrap_or(digest)
        };
        let signature = tlv(info.get(5)?)?.1.to_vec();
        // TSTInfo: version, policy, messageImprint, serialNumber, genTime, ...
        let tst = elements(tlv(tst_info)?.1)?;
        let imprint = elements(tlv(tst.get(2)?)?.1)?;
        let imprint_hash = digest_algorithm(imprint.first()?)?;
        let hashed = tlv(imprint.get(1)?)?.1.to_vec();
        let time = generalized_time(tlv(tst.get(4)?)?.1)?;
        Some(Token {
            imprint_hash,
            imprint: hashed,
            time,
            tst_info: tst_info.to_vec(),
            digest,
            message_digest: message_digest?,
            signed_attributes,
            signature,
            signature_hash,
        })
    }
}

/// `YYYYMMDDHHMMSS[.f*]Z` as seconds since the epoch.
fn generalized_time(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_suffix('Z')?;
    let whole = text.split('.').next()?;
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &whole[0..4],
        &whole[4..6],
        &whole[6..8],
        &whole[8..10],
        &whole[10..12],
        &whole[12..14]
    );
    let time = crate::metadata::parse_rfc3339(&iso).ok()?.unix_timestamp();
    u64::try_from(time).ok()
}

/// The time of a stamp, for messages.
pub fn describe(stamp: &Stamp) -> String {
    format!("{} by {}", rfc3339(stamp.time), stamp.authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times_parse_with_and_without_fractions() {
        assert_eq!(generalized_time(b"19700101000001Z"), Some(1));
        assert_eq!(
            generalized_time(b"20251010021220.123Z"),
            Some(1_760_062_340)
        );
        assert_eq!(generalized_time(b"2025101002122Z"), None);
        assert_eq!(generalized_time(b"20251010021220"), None);
    }
}
