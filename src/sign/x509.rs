//! X.509 for signatures that carry a certificate: parsing (x509-cert), the identities a
//! signing certificate names (Fulcio's OIDC issuer and subject, GitHub workflow claims),
//! chain building to trusted anchors at a given time, and signature checks with the key of
//! any certificate or SubjectPublicKeyInfo (ECDSA P-256/P-384, RSA PKCS#1 v1.5, Ed25519,
//! through ring, which the TLS stack already builds).

use std::time::Duration;

use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};

use crate::digest::Digest;

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const RSA: &str = "1.2.840.113549.1.1.1";
const ED25519: &str = "1.3.101.112";

/// Fulcio's OIDC issuer extension (v2: a DER UTF8String) and its v1 predecessor (raw).
const FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

/// The Fulcio extensions a GitHub Actions identity carries, by the name cosign's flags use
/// (`--certificate-github-workflow-<name>`): v1 (raw value) and v2 (DER UTF8String) OIDs.
pub const GITHUB_CLAIMS: [(&str, &str, &str); 5] = [
    ("trigger", "1.3.6.1.4.1.57264.1.2", "1.3.6.1.4.1.57264.1.20"),
    ("sha", "1.3.6.1.4.1.57264.1.3", "1.3.6.1.4.1.57264.1.13"),
    ("name", "1.3.6.1.4.1.57264.1.4", ""),
    (
        "repository",
        "1.3.6.1.4.1.57264.1.5",
        "1.3.6.1.4.1.57264.1.16",
    ),
    ("ref", "1.3.6.1.4.1.57264.1.6", "1.3.6.1.4.1.57264.1.14"),
];

/// The hash a signature is made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// A public key of any kind ring verifies, from its SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub struct SpkiKey {
    der: Vec<u8>,
    kind: KeyKind,
    raw: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    P256,
    P384,
    Rsa,
    Ed25519,
}

impl std::fmt::Debug for SpkiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SpkiKey({:?}, {})",
            self.kind,
            self.fingerprint().short()
        )
    }
}

impl SpkiKey {
    /// Reads a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// A reason, for a key that does not parse or is of another kind.
    pub fn from_der(der: &[u8]) -> Result<SpkiKey, String> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
        let algorithm = spki.algorithm.oid.to_string();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .map(|oid| oid.to_string());
        let kind = match (algorithm.as_str(), curve.as_deref()) {
            (EC_PUBLIC_KEY, Some(P256)) => KeyKind::P256,
            (EC_PUBLIC_KEY, Some(P384)) => KeyKind::P384,
            (RSA, _) => KeyKind::Rsa,
            (ED25519, _) => KeyKind::Ed25519,
            (EC_PUBLIC_KEY, curve) => {
                return Err(format!(
                    "an EC key on curve {} (P-256 and P-384 are supported)",
                    curve.unwrap_or("?")
                ));
            }
            (other, _) => return Err(format!("a key of algorithm {other}")),
        };
        Ok(SpkiKey {
            der: der.to_vec(),
            kind,
            raw: spki.subject_public_key.raw_bytes().to_vec(),
        })
    }

    /// Reads a `PUBLIC KEY` PEM.
    ///
    /// # Errors
    /// As [`SpkiKey::from_der`]; text that is not such a PEM.
    pub fn from_pem(text: &str) -> Result<SpkiKey, String> {
        use rustls::pki_types::SubjectPublicKeyInfoDer;
        use rustls::pki_types::pem::PemObject as _;
        let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
            .map_err(|e| format!("not a PUBLIC KEY PEM ({e})"))?;
        SpkiKey::from_der(&der)
    }

    /// Its DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-256 of its DER, which names it in transparency logs (`logId`).
    pub fn fingerprint(&self) -> Digest {
        Digest::sha256_of(&self.der)
    }

    /// The hash a signature by this key is made over when nothing else says: SHA-384 for
    /// P-384 (as `model_signing` signs), SHA-256 otherwise.
    pub fn default_hash(&self) -> Hash {
        match self.kind {
            KeyKind::P384 => Hash::Sha384,
            _ => Hash::Sha256,
        }
    }

    /// True when `signature` (ASN.1 DER for ECDSA) signs `message` under this key, hashed
    /// with `hash`.
    pub fn verify(&self, message: &[u8], signature: &[u8], hash: Hash) -> bool {
        use ring::signature as s;
        let algorithm: &dyn s::VerificationAlgorithm = match (self.kind, hash) {
            (KeyKind::P256, Hash::Sha256) => &s::ECDSA_P256_SHA256_ASN1,
            (KeyKind::P256, Hash::Sha384) => &s::ECDSA_P256_SHA384_ASN1,
            (KeyKind::P384, Hash::Sha256) => &s::ECDSA_P384_SHA256_ASN1,
            (KeyKind::P384, Hash::Sha384) => &s::ECDSA_P384_SHA384_ASN1,
            (KeyKind::Rsa, Hash::Sha256) => &s::RSA_PKCS1_2048_8192_SHA256,
            (KeyKind::Rsa, Hash::Sha384) => &s::RSA_PKCS1_2048_8192_SHA384,
            (KeyKind::Rsa, Hash::Sha512) => &s::RSA_PKCS1_2048_8192_SHA512,
            (KeyKind::Ed25519, _) => &s::ED25519,
            _ => return false,
        };
        s::UnparsedPublicKey::new(algorithm, &self.raw)
            .verify(message, signature)
            .is_ok()
    }

    /// True when `signature` (ASN.1 DER) signs the SHA-256 `digest` of a message this
    /// verifier never sees (a bundle's message digest).
    ///
    /// # Errors
    /// A key other than ECDSA P-256: ring verifies only whole messages, and Fulcio's
    /// signing keys are P-256.
    pub fn verify_prehash(&self, digest: &[u8], signature: &[u8]) -> Result<bool, String> {
        if self.kind != KeyKind::P256 {
            return Err(format!(
                "a signature over a message digest is verified for P-256 keys only, not {:?}",
                self.kind
            ));
        }
        let key = super::PublicKey::from_sec1(&self.raw).map_err(|e| e.to_string())?;
        Ok(key.verify_prehash(digest, signature))
    }
}

/// One certificate, with its DER.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: Certificate,
    key: Result<SpkiKey, String>,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cert({})", self.subject())
    }
}

impl PartialEq for Cert {
    fn eq(&self, other: &Cert) -> bool {
        self.der == other.der
    }
}

impl Cert {
    /// Parses a DER certificate.
    ///
    /// # Errors
    /// A reason.
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let cert =
            Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let key = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())
            .and_then(|spki| SpkiKey::from_der(&spki));
        Ok(Cert {
            der: der.to_vec(),
            cert,
            key,
        })
    }

    /// Every `CERTIFICATE` block of a PEM file.
    ///
    /// # Errors
    /// A reason, for text with no certificate or one that does not parse.
    pub fn from_pem_chain(text: &str) -> Result<Vec<Cert>, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let blocks: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("not a PEM certificate file ({e})"))?;
        if blocks.is_empty() {
            return Err("no CERTIFICATE block".into());
        }
        blocks.iter().map(|der| Cert::from_der(der)).collect()
    }

    /// Base64 DER (a bundle's `rawBytes`).
    ///
    /// # Errors
    /// A reason.
    pub fn from_base64(text: &str) -> Result<Cert, String> {
        let der = super::decode_base64(text).map_err(|e| format!("not base64: {e}"))?;
        Cert::from_der(&der)
    }

    /// Its DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate.
    pub fn inner(&self) -> &Certificate {
        &self.cert
    }

    /// Its subject, as a string (RFC 4514).
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// Its public key.
    ///
    /// # Errors
    /// Why it cannot be used.
    pub fn key(&self) -> Result<&SpkiKey, String> {
        self.key.as_ref().map_err(Clone::clone)
    }

    /// When it starts and stops being valid, in seconds since the epoch.
    pub fn validity(&self) -> (u64, u64) {
        let validity = self.cert.tbs_certificate().validity();
        let secs = |d: Duration| d.as_secs();
        (
            secs(validity.not_before.to_unix_duration()),
            secs(validity.not_after.to_unix_duration()),
        )
    }

    /// True when `time` (seconds since the epoch) is within its validity.
    pub fn valid_at(&self, time: u64) -> bool {
        let (from, to) = self.validity();
        from <= time && time <= to
    }

    /// The raw value of the extension `oid`, when present.
    pub fn extension(&self, oid: &str) -> Option<&[u8]> {
        self.cert
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// True when its basic constraints make it a CA.
    pub fn is_ca(&self) -> bool {
        self.extension("2.5.29.19")
            .and_then(|v| BasicConstraints::from_der(v).ok())
            .is_some_and(|b| b.ca)
    }

    /// True when it may sign: key usage `digitalSignature`, or extended key usage
    /// `codeSigning` (what `model_signing` requires of a signing certificate).
    pub fn can_sign(&self) -> bool {
        let usage = self
            .extension("2.5.29.15")
            .and_then(|v| x509_cert::ext::pkix::KeyUsage::from_der(v).ok())
            .is_some_and(|u| u.digital_signature());
        let code_signing = self
            .extension("2.5.29.37")
            .and_then(|v| x509_cert::ext::pkix::ExtendedKeyUsage::from_der(v).ok())
            .is_some_and(|u| u.0.iter().any(|oid| oid.to_string() == "1.3.6.1.5.5.7.3.3"));
        usage || code_signing
    }

    /// The e-mail addresses and URIs of its subject alternative names (what Fulcio puts the
    /// OIDC subject in).
    pub fn subject_alt_names(&self) -> Vec<String> {
        let Some(value) = self.extension("2.5.29.17") else {
            return Vec::new();
        };
        let Ok(names) = SubjectAltName::from_der(value) else {
            return Vec::new();
        };
        names
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                    Some(s.to_string())
                }
                _ => None,
            })
            .collect()
    }

    /// The OIDC issuer Fulcio recorded.
    pub fn oidc_issuer(&self) -> Option<String> {
        fulcio_value(self, FULCIO_ISSUER_V2, FULCIO_ISSUER_V1)
    }

    /// A GitHub workflow claim (`repository`, `ref`, `sha`, `trigger`, `name`).
    pub fn github_claim(&self, name: &str) -> Option<String> {
        let (_, v1, v2) = GITHUB_CLAIMS.iter().find(|(n, _, _)| *n == name)?;
        fulcio_value(self, v2, v1)
    }

    /// The DER of its TBSCertificate, as signed (sliced from the original bytes).
    fn tbs(&self) -> Option<&[u8]> {
        let (_, body) = tlv(&self.der)?;
        let (tbs, _) = tlv(body)?;
        Some(tbs)
    }

    /// True when `issuer`'s key signed this certificate and names it as issuer.
    pub fn issued_by(&self, issuer: &Cert) -> bool {
        let Ok(key) = issuer.key() else {
            return false;
        };
        if self.cert.tbs_certificate().issuer() != issuer.cert.tbs_certificate().subject() {
            return false;
        }
        let Some(hash) = signature_hash(&self.cert.signature_algorithm().oid.to_string()) else {
            return false;
        };
        let Some(tbs) = self.tbs() else {
            return false;
        };
        key.verify(tbs, self.cert.signature().raw_bytes(), hash)
    }
}

/// The hash of a certificate signature algorithm modelark verifies.
pub(crate) fn signature_hash(oid: &str) -> Option<Hash> {
    Some(match oid {
        "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => Hash::Sha256,
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => Hash::Sha384,
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => Hash::Sha512,
        ED25519 => Hash::Sha512,
        _ => return None,
    })
}

fn fulcio_value(cert: &Cert, v2: &str, v1: &str) -> Option<String> {
    if !v2.is_empty()
        && let Some(value) = cert.extension(v2)
    {
        return x509_cert::der::asn1::Utf8StringRef::from_der(value)
            .ok()
            .map(|s| s.as_str().to_owned());
    }
    cert.extension(v1)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

/// Builds a chain from `leaf` through `intermediates` to one of `anchors`, every
/// certificate valid at `time` (seconds since the epoch) and every issuer a CA. Returns the
/// chain, leaf first, anchor last.
///
/// # Errors
/// Why no chain exists, in one sentence.
pub fn verify_chain(
    leaf: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    time: u64,
) -> Result<Vec<Cert>, String> {
    if !leaf.valid_at(time) {
        let (from, to) = leaf.validity();
        return Err(format!(
            "the signing certificate was not valid at {} (valid {} to {})",
            rfc3339(time),
            rfc3339(from),
            rfc3339(to)
        ));
    }
    let mut chain = vec![leaf.clone()];
    // Each step must move up; the bound stops a loop of certificates naming each other.
    for _ in 0..=intermediates.len() + 1 {
        let current = chain.last().unwrap_or(leaf).clone();
        if let Some(anchor) = anchors
            .iter()
            .find(|a| current.issued_by(a) || **a == current)
        {
            if !anchor.valid_at(time) {
                return Err(format!(
                    "the trusted CA {} was not valid at {}",
                    anchor.subject(),
                    rfc3339(time)
                ));
            }
            if *anchor != current {
                chain.push(anchor.clone());
            }
            return Ok(chain);
        }
        let Some(next) = intermediates
            .iter()
            .find(|c| !chain.contains(c) && c.is_ca() && current.issued_by(c))
        else {
            break;
        };
        if !next.valid_at(time) {
            return Err(format!(
                "the intermediate CA {} was not valid at {}",
                next.subject(),
                rfc3339(time)
            ));
        }
        chain.push(next.clone());
    }
    Err(format!(
        "the signing certificate ({}) does not chain to a trusted CA",
        leaf.subject()
    ))
}

/// An RFC 3339 time for messages.
pub fn rfc3339(seconds: u64) -> String {
    crate::metadata::format_unix_time(seconds as i64).unwrap_or_else(|_| seconds.to_string())
}

/// The contents of a DER element (an extension value's OCTET STRING).
pub fn der_contents(bytes: &[u8]) -> Option<&[u8]> {
    tlv(bytes).map(|(_, contents)| contents)
}

/// The TBSCertificate of `cert` with the extension `oid` removed: what a CT log signed
/// for a precertificate (RFC 6962 3.2), before the SCT list was embedded.
pub fn precertificate_tbs(cert: &Cert, oid: &str) -> Option<Vec<u8>> {
    let oid = ObjectIdentifier::new(oid).ok()?;
    let (_, body) = tlv(cert.tbs()?)?;
    let mut out = Vec::new();
    for element in elements(body)? {
        if element.first() != Some(&0xa3) {
            out.extend_from_slice(element);
            continue;
        }
        let (_, wrapped) = tlv(element)?;
        let (_, list) = tlv(wrapped)?;
        let mut kept = Vec::new();
        for extension in elements(list)? {
            let (_, fields) = tlv(extension)?;
            let (id, _) = tlv(fields)?;
            if id.first() == Some(&0x06) && der_contents(id)? == oid.as_bytes() {
                continue;
            }
            kept.extend_from_slice(extension);
        }
        out.extend(encode(0xa3, &encode(0x30, &kept)));
    }
    Some(encode(0x30, &out))
}

/// The elements of a DER SEQUENCE's contents.
pub(crate) fn elements(mut body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (element, _) = tlv(body)?;
        out.push(element);
        body = &body[element.len()..];
    }
    Some(out)
}

/// One DER element.
pub(crate) fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = contents.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = (length as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// Splits one DER TLV off `bytes`: (the whole element, its contents).
pub(crate) fn tlv(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&_, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let length = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (length, 2 + n)
    };
    let total = header.checked_add(length)?;
    if bytes.len() < total {
        return None;
    }
    Some((&bytes[..total], &bytes[header..total]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_are_split_exactly() {
        assert_eq!(
            tlv(&[0x30, 0x02, 1, 2, 9]),
            Some((&[0x30, 2, 1, 2][..], &[1, 2][..]))
        );
        assert_eq!(
            tlv(&[0x30, 0x81, 0x01, 7]),
            Some((&[0x30, 0x81, 1, 7][..], &[7][..]))
        );
        assert_eq!(tlv(&[0x30, 0x05, 1]), None);
        assert_eq!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
    }

    #[test]
    fn p256_keys_verify_what_modelark_signs() {
        let key = super::super::PrivateKey::generate().unwrap();
        let pem = key.public_key().to_pem().unwrap();
        let spki = SpkiKey::from_pem(&pem).unwrap();
        let signature = key.sign(b"message");
        assert!(spki.verify(b"message", &signature, Hash::Sha256));
        assert!(!spki.verify(b"other", &signature, Hash::Sha256));
        assert_eq!(spki.default_hash(), Hash::Sha256);
        assert!(SpkiKey::from_pem("not pem").is_err());
    }
}
