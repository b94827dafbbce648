//! RFC 3161 timestamps: a time-stamping authority's signed statement that a signature
//! existed at a time. Sigstore bundles keep them in
//! `verificationMaterial.timestampVerificationData.rfc3161Timestamps`; a verified one is a
//! trusted signing time where the transparency log gives none (Rekor v2 entries carry no
//! signed entry timestamp). Parsed with the DER helpers of [`super::x509`]; see RFC 3161 and
//! RFC 5652 (CMS SignedData).

use sha2::Digest as _;

use super::x509::{Cert, Hash, elements, encode, rfc3339, signature_hash, tlv, verify_chain};

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

impl Authority {
    /// An authority trusted for as long as its certificates are valid, from a PEM file's
    /// text: its own certificate first, then intermediates and root.
    ///
    /// # Errors
    /// Text that holds no certificate, or one that does not parse.
    pub fn from_pem(pem: &str) -> Result<Authority, String> {
        let chain = Cert::from_pem_chain(pem)?;
        if chain.is_empty() {
            return Err("it holds no PEM certificate".into());
        }
        Ok(Authority {
            chain,
            start: 0,
            end: None,
        })
    }
}

/// What a verified timestamp says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Stamp {
    /// The time the authority vouches for, seconds since the epoch.
    #[serde(serialize_with = "as_rfc3339")]
    pub time: u64,
    /// The authority's certificate subject.
    pub authority: String,
}

/// Verifies the DER `token` (a TimeStampToken: CMS SignedData over a TSTInfo) as a
/// timestamp over `signature` by one of `authorities`.
///
/// # Errors
/// Why it does not verify, as one sentence.
pub fn verify<'a>(
    token: &[u8],
    signature: &[u8],
    authorities: impl IntoIterator<Item = &'a Authority>,
) -> Result<Stamp, String> {
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

fn as_rfc3339<S: serde::Serializer>(time: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*time))
}

/// An RFC 3161 time-stamping authority to ask (`sign --timestamp-server URL`), over the
/// HTTP client the registries use (its CA file, proxy and timeouts).
#[derive(Clone, Debug)]
pub struct Server {
    url: String,
    http: reqwest::Client,
}

/// A timestamp a server granted.
#[derive(Clone, Debug)]
pub struct Granted {
    /// The TimeStampResp as the server sent it (DER): what cosign and Sigstore bundles keep.
    pub response: Vec<u8>,
    /// The time it vouches for, seconds since the epoch (checked only against the request;
    /// a verifier decides whether it trusts the authority).
    pub time: u64,
}

impl Server {
    /// The authority at `url` (`https://freetsa.org/tsr`, `http://127.0.0.1:3000/tsr`).
    pub fn new(url: impl Into<String>, http: reqwest::Client) -> Server {
        Server {
            url: url.into(),
            http,
        }
    }

    /// Asks for a timestamp over `message` (a signature's bytes): a SHA-256 imprint, a
    /// random nonce and the signing certificate requested. The answer must grant it, over
    /// this imprint and with this nonce.
    ///
    /// # Errors
    /// [`super::Error::Timestamp`] naming the server and what went wrong.
    pub async fn stamp(&self, message: &[u8]) -> Result<Granted, super::Error> {
        let fail = |reason: String| super::Error::Timestamp {
            server: self.url.clone(),
            reason,
        };
        let nonce = getrandom::u64().map_err(super::Error::Random)?;
        let request = request(message, nonce);
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .header(reqwest::header::ACCEPT, "application/timestamp-reply")
            .body(request)
            .send()
            .await
            .map_err(|e| fail(format!("could not be reached: {}", crate::error::chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("answered {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(format!("broke off its answer: {e}")))?;
        if body.len() > MAX_RESPONSE {
            return Err(fail(format!(
                "answered {} bytes, over {MAX_RESPONSE}",
                body.len()
            )));
        }
        let token = Token::parse(&body).ok_or_else(|| {
            fail("did not grant a timestamp (its answer is not a granted RFC 3161 response)".into())
        })?;
        if token.imprint_hash != Hash::Sha256
            || token.imprint != sha2::Sha256::digest(message).as_slice()
        {
            return Err(fail("stamped another message than the one sent".into()));
        }
        if token.nonce.as_deref() != Some(integer(&nonce.to_be_bytes()).as_slice()) {
            return Err(fail(
                "answered with another nonce (a replayed or foreign answer)".into(),
            ));
        }
        Ok(Granted {
            response: body.to_vec(),
            time: token.time,
        })
    }
}

/// The most of a timestamp response read (real ones are a few KiB, with certificates).
const MAX_RESPONSE: usize = 1 << 20;

/// A DER TimeStampReq: version 1, a SHA-256 message imprint, `nonce`, certReq TRUE.
fn request(message: &[u8], nonce: u64) -> Vec<u8> {
    const SHA256: [u8; 11] = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let algorithm = encode(0x30, &[&SHA256[..], &[0x05, 0x00]].concat());
    let imprint = encode(
        0x30,
        &[algorithm, encode(0x04, &sha2::Sha256::digest(message))].concat(),
    );
    let body = [
        encode(0x02, &[1]),
        imprint,
        encode(0x02, &integer(&nonce.to_be_bytes())),
        encode(0x01, &[0xff]),
    ]
    .concat();
    encode(0x30, &body)
}

/// The minimal DER INTEGER contents of an unsigned big-endian number.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let trimmed = bytes.get(start..).filter(|t| !t.is_empty()).unwrap_or(&[0]);
    if trimmed[0] & 0x80 != 0 {
        [&[0u8][..], trimmed].concat()
    } else {
        trimmed.to_vec()
    }
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
    /// The TSTInfo's nonce (INTEGER contents), when it has one.
    nonce: Option<Vec<u8>>,
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
        // Then accuracy (SEQUENCE), ordering (BOOLEAN) and nonce (INTEGER), each optional.
        let nonce = tst
            .iter()
            .skip(5)
            .find(|e| e.first() == Some(&0x02))
            .and_then(|e| tlv(e))
            .map(|(_, contents)| contents.to_vec());
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
            nonce,
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
    fn requests_are_der_with_a_minimal_nonce() {
        let request = request(b"sig", 0x80);
        let (_, body) = tlv(&request).unwrap();
        let fields = elements(body).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], [0x02, 0x01, 0x01]);
        let imprint = elements(tlv(fields[1]).unwrap().1).unwrap();
        assert_eq!(digest_algorithm(imprint[0]), Some(Hash::Sha256));
        assert_eq!(
            tlv(imprint[1]).unwrap().1,
            sha2::Sha256::digest(b"sig").as_slice()
        );
        // 0x80 needs a leading zero to stay positive; leading zeros otherwise go.
        assert_eq!(fields[2], [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(fields[3], [0x01, 0x01, 0xff]);
        assert_eq!(integer(&[0, 0, 5]), [5]);
        assert_eq!(integer(&[0, 0]), [0]);
    }

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
