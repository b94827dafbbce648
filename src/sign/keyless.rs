//! Sigstore keyless verification, offline: a bundle whose signing certificate Fulcio issued
//! for an OIDC identity, logged in Rekor, checked against a Sigstore `trusted_root.json`:
//!
//! 1. the transparency log entry: its log key is in the root; its signed entry timestamp
//!    (SET) verifies, and its inclusion proof, when present, leads to the root hash of a
//!    checkpoint the log signed; its body records this signature, this certificate and
//!    this payload;
//! 2. the certificate chains to a Fulcio CA of the root, valid at the integrated time (the
//!    time the log vouches for, not the signer's claim), and carries a signed certificate
//!    timestamp from a CT log of the root;
//! 3. the identity (subject and OIDC issuer, exactly or by regular expression, and GitHub
//!    workflow claims) is the one asked for;
//! 4. the signature verifies under the certificate's key.
//!
//! See <https://github.com/sigstore/protobuf-specs> (bundle, trusted root),
//! RFC 6962 (SCTs, Merkle inclusion) and <https://github.com/C2SP/C2SP/blob/main/signed-note.md>.

use std::path::Path;

use serde::Deserialize;
use sha2::Digest as _;

use super::dsse::Bundle;
use super::rekor;
use super::x509::{Cert, Hash, SpkiKey, rfc3339, verify_chain};

/// A Sigstore trusted root: the transparency logs, certificate authorities and CT logs a
/// verifier trusts, each with the period it was valid for.
#[derive(Clone, Debug, Default)]
pub struct TrustedRoot {
    tlogs: Vec<LogKey>,
    ctlogs: Vec<LogKey>,
    authorities: Vec<Authority>,
    timestamp_authorities: Vec<super::timestamp::Authority>,
}

#[derive(Clone, Debug)]
struct LogKey {
    key: SpkiKey,
    id: Vec<u8>,
    valid: Period,
}

#[derive(Clone, Debug)]
struct Authority {
    /// Intermediates first, the root last.
    chain: Vec<Cert>,
    valid: Period,
}

#[derive(Clone, Copy, Debug)]
struct Period {
    start: u64,
    end: Option<u64>,
}

impl Period {
    fn contains(&self, time: u64) -> bool {
        self.start <= time && self.end.is_none_or(|end| time <= end)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    #[serde(default)]
    tlogs: Vec<LogJson>,
    #[serde(default)]
    ctlogs: Vec<LogJson>,
    #[serde(default)]
    certificate_authorities: Vec<AuthorityJson>,
    #[serde(default)]
    timestamp_authorities: Vec<AuthorityJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    public_key: PublicKeyJson,
    log_id: LogIdJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    raw_bytes: String,
    #[serde(default)]
    valid_for: Option<PeriodJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdJson {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorityJson {
    cert_chain: ChainJson,
    #[serde(default)]
    valid_for: Option<PeriodJson>,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Vec<RawBytes>,
}

impl ChainJson {
    fn certs(&self) -> Result<Vec<Cert>, String> {
        self.certificates
            .iter()
            .map(|c| Cert::from_base64(&c.raw_bytes))
            .collect()
    }
}

impl AuthorityJson {
    /// Its certificates (at least one) and when it was trusted.
    fn read(&self) -> Result<(Vec<Cert>, Period), String> {
        let chain = self.cert_chain.certs()?;
        if chain.is_empty() {
            return Err("an authority of the trusted root has no certificate".to_owned());
        }
        Ok((chain, period(self.valid_for.as_ref())?))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct PeriodJson {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

fn period(json: Option<&PeriodJson>) -> Result<Period, String> {
    let time = |text: &Option<String>| -> Result<Option<u64>, String> {
        text.as_deref()
            .map(|t| {
                crate::metadata::parse_rfc3339(t)
                    .map(|t| t.unix_timestamp().max(0) as u64)
                    .map_err(|e| format!("validFor {t:?}: {e}"))
            })
            .transpose()
    };
    Ok(match json {
        None => Period {
            start: 0,
            end: None,
        },
        Some(p) => Period {
            start: time(&p.start)?.unwrap_or(0),
            end: time(&p.end)?,
        },
    })
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    super::decode_base64(text).map_err(|e| format!("{what} is not base64: {e}"))
}

impl TrustedRoot {
    /// Parses a `trusted_root.json` (media type `application/vnd.dev.sigstore.trustedroot`).
    ///
    /// # Errors
    /// Why it does not load.
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, String> {
        let json: RootJson = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let logs = |logs: Vec<LogJson>, what: &str| -> Result<Vec<LogKey>, String> {
            logs.into_iter()
                .map(|log| {
                    let der = b64(&log.public_key.raw_bytes, what)?;
                    Ok(LogKey {
                        key: SpkiKey::from_der(&der).map_err(|e| format!("{what}: {e}"))?,
                        id: b64(&log.log_id.key_id, what)?,
                        valid: period(log.public_key.valid_for.as_ref())?,
                    })
                })
                .collect()
        };
        let timestamp_authorities = json
            .timestamp_authorities
            .iter()
            .map(|tsa| {
                let (chain, valid) = tsa.read()?;
                Ok(super::timestamp::Authority {
                    chain,
                    start: valid.start,
                    end: valid.end,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let authorities = json
            .certificate_authorities
            .iter()
            .map(|ca| {
                let (chain, valid) = ca.read()?;
                Ok(Authority { chain, valid })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(TrustedRoot {
            tlogs: logs(json.tlogs, "a transparency log key")?,
            ctlogs: logs(json.ctlogs, "a CT log key")?,
            authorities,
            timestamp_authorities,
        })
    }

    /// Its RFC 3161 time-stamping authorities.
    pub fn timestamp_authorities(&self) -> &[super::timestamp::Authority] {
        &self.timestamp_authorities
    }

    /// Reads a `trusted_root.json` file.
    ///
    /// # Errors
    /// I/O and format errors, as one sentence naming the file.
    pub fn load(path: &Path) -> Result<TrustedRoot, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        TrustedRoot::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// What a value must be: exactly this, or matching this regular expression.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Equal.
    Exact(String),
    /// Matching the whole value (the expression is anchored, as cosign's are in practice).
    Regex(regex::Regex),
}

impl Matcher {
    /// A regular-expression matcher.
    ///
    /// # Errors
    /// The expression's syntax error.
    pub fn regex(expression: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{expression})$"))
            .map(Matcher::Regex)
            .map_err(|e| format!("invalid regular expression {expression:?}: {e}"))
    }

    /// The matcher one of `exact` or `regexp` describes; `None` when neither is given.
    ///
    /// # Errors
    /// Both given, or an invalid expression.
    pub fn one_of(exact: Option<&str>, regexp: Option<&str>) -> Result<Option<Matcher>, String> {
        match (exact, regexp) {
            (Some(_), Some(_)) => Err("give the value or a regular expression, not both".into()),
            (Some(value), None) => Ok(Some(Matcher::Exact(value.to_owned()))),
            (None, Some(expression)) => Matcher::regex(expression).map(Some),
            (None, None) => Ok(None),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Regex(re) => re.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s}"),
            Matcher::Regex(re) => {
                let text = re.as_str();
                let inner = text
                    .strip_prefix("^(?:")
                    .and_then(|t| t.strip_suffix(")$"))
                    .unwrap_or(text);
                write!(f, "/{inner}/")
            }
        }
    }
}

/// The identity a keyless signature must have.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The certificate's subject (e-mail or URI SAN).
    pub subject: Matcher,
    /// The OIDC issuer Fulcio recorded.
    pub issuer: Matcher,
    /// GitHub workflow claims (`repository`, `ref`, `sha`, `trigger`, `name`), each exact.
    pub claims: Vec<(String, String)>,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.subject, self.issuer)?;
        for (name, value) in &self.claims {
            write!(f, " with {name}={value}")?;
        }
        Ok(())
    }
}

/// A trusted root and the identities it may vouch for: what keyless verification needs.
#[derive(Clone, Debug)]
pub struct Keyless {
    /// The root.
    pub root: TrustedRoot,
    /// Any of these identities is accepted, each under its name (a policy's identity
    /// name, or `SUBJECT from ISSUER` for command-line flags).
    pub identities: Vec<(String, Identity)>,
}

/// Who a verified keyless signature is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The name of the identity it matched.
    pub name: String,
    /// The certificate's subject.
    pub subject: String,
    /// Its OIDC issuer.
    pub issuer: String,
    /// The time the transparency log vouches for, seconds since the epoch.
    pub integrated_time: u64,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.subject, self.issuer)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    #[serde(default)]
    certificate: Option<RawBytes>,
    #[serde(default)]
    x509_certificate_chain: Option<ChainJson>,
    #[serde(default)]
    tlog_entries: Vec<rekor::Entry>,
}

/// What a message signature is over: the message itself (a cosign `.sig` layer's
/// simple-signing payload), or only its SHA-256 (a bundle that signs a manifest digest).
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// The signed bytes.
    Bytes(&'a [u8]),
    /// The SHA-256 of the signed bytes.
    Sha256(&'a [u8]),
}

/// A bundle's certificate, intermediates, log entry and RFC 3161 timestamps (DER).
struct Parts {
    leaf: Cert,
    intermediates: Vec<Cert>,
    entry: rekor::Entry,
    stamps: Vec<Vec<u8>>,
}

impl Parts {
    /// The certificate, intermediates, the one transparency log entry and the RFC 3161
    /// timestamps of a bundle.
    fn of(bundle: &Bundle) -> Result<Parts, String> {
        let material: Material = serde_json::from_value(bundle.verification_material.clone())
            .map_err(|e| format!("verification material: {e}"))?;
        let mut certs = match (material.certificate, material.x509_certificate_chain) {
            (Some(cert), _) => vec![Cert::from_base64(&cert.raw_bytes)?],
            (None, Some(chain)) => chain.certs()?,
            (None, None) => return Err("the bundle has no signing certificate".into()),
        };
        if certs.is_empty() {
            return Err("the bundle's certificate chain is empty".into());
        }
        let leaf = certs.remove(0);
        let mut entries = material.tlog_entries;
        if entries.is_empty() {
            return Err(
                "the bundle has no transparency log entry, so nothing vouches for \
                        when it was signed"
                    .into(),
            );
        }
        Ok(Parts {
            leaf,
            intermediates: certs,
            entry: entries.remove(0),
            stamps: bundle.rfc3161_timestamps()?,
        })
    }
}

impl Keyless {
    /// Verifies a keyless bundle holding a DSSE envelope; returns who signed it.
    ///
    /// # Errors
    /// The first check that fails, as one sentence.
    pub fn verify_envelope(&self, bundle: &Bundle) -> Result<Signer, String> {
        let envelope = bundle
            .dsse_envelope
            .as_ref()
            .ok_or("the bundle holds no DSSE envelope")?;
        let parts = Parts::of(bundle)?;
        let signature = envelope.signature_bytes()?;
        let payload = envelope.payload().map_err(|e| e.to_string())?;
        let digest = sha2::Sha256::digest(&payload);
        let signer = self.check_signed(
            &parts,
            &rekor::Signed {
                over: rekor::Over::Envelope,
                signature: &signature,
                digest: &digest,
                certificate: &parts.leaf,
            },
        )?;
        let key = parts.leaf.key()?;
        let message = super::dsse::pae(&envelope.payload_type, &payload);
        if !key.verify(&message, &signature, key.default_hash()) {
            return Err("the signature does not verify under the signing certificate".into());
        }
        Ok(signer)
    }

    /// Verifies a keyless bundle holding a message signature over `message` (Sigstore's
    /// `messageSignature`, and cosign's keyless `.sig` layers read into that form by
    /// [`crate::sign::attach`]); returns who signed it.
    ///
    /// # Errors
    /// The first check that fails, as one sentence.
    pub fn verify_message(&self, bundle: &Bundle, message: Message<'_>) -> Result<Signer, String> {
        let signed = bundle
            .message_signature
            .as_ref()
            .ok_or("the bundle holds no message signature")?;
        let digest = match message {
            Message::Bytes(bytes) => sha2::Sha256::digest(bytes).to_vec(),
            Message::Sha256(digest) => digest.to_vec(),
        };
        let claimed = b64(&signed.message_digest.digest, "the message digest")?;
        if signed.message_digest.algorithm != "SHA2_256" || claimed != digest {
            return Err("it signs another message".into());
        }
        let parts = Parts::of(bundle)?;
        let signature = bundle.signature_bytes()?;
        let signer = self.check_signed(
            &parts,
            &rekor::Signed {
                over: rekor::Over::Message,
                signature: &signature,
                digest: &digest,
                certificate: &parts.leaf,
            },
        )?;
        let key = parts.leaf.key()?;
        let verified = match message {
            Message::Bytes(bytes) => key.verify(bytes, &signature, key.default_hash()),
            Message::Sha256(digest) => key.verify_prehash(digest, &signature)?,
        };
        if !verified {
            return Err("the signature does not verify under the signing certificate".into());
        }
        Ok(signer)
    }

    /// What the signature's evidence vouches for: the log entry (key in the root, SET,
    /// inclusion proof, a body recording this signature of `digest` by this certificate)
    /// and every trusted time (the log's, each time-stamping authority's), at each of which
    /// the certificate must chain to a Fulcio CA with an SCT and name an accepted identity.
    fn check_signed(&self, parts: &Parts, signed: &rekor::Signed<'_>) -> Result<Signer, String> {
        let id = parts.entry.log_id()?;
        let log = self
            .root
            .tlogs
            .iter()
            .find(|l| l.id == id)
            .ok_or("its transparency log key is not in the trusted root")?;
        let logged = parts.entry.verify(&log.key)?;
        signed.check(&logged.body)?;
        let mut times: Vec<u64> = logged.time.into_iter().collect();
        for stamp in &parts.stamps {
            let verified =
                super::timestamp::verify(stamp, signed.signature, &self.root.timestamp_authorities)
                    .map_err(|e| format!("its RFC 3161 timestamp: {e}"))?;
            times.push(verified.time);
        }
        if times.is_empty() {
            return Err(
                "nothing vouches for when it was signed: the log entry has no signed \
                        entry timestamp and the bundle no RFC 3161 timestamp"
                    .into(),
            );
        }
        let mut signer = None;
        for time in times {
            if !log.valid.contains(time) {
                return Err(format!(
                    "the transparency log key was not valid at {}",
                    rfc3339(time)
                ));
            }
            signer = Some(self.check_certificate(&parts.leaf, &parts.intermediates, time)?);
        }
        Ok(signer.unwrap_or_else(|| unreachable!("at least one time")))
    }

    /// Chain to a Fulcio CA valid at `time`, an SCT from a trusted CT log, the identity.
    fn check_certificate(
        &self,
        leaf: &Cert,
        intermediates: &[Cert],
        time: u64,
    ) -> Result<Signer, String> {
        let mut last = None;
        let mut chain = None;
        for authority in self
            .root
            .authorities
            .iter()
            .filter(|a| a.valid.contains(time))
        {
            let (anchors, middle) = authority
                .chain
                .split_last()
                .unwrap_or_else(|| unreachable!());
            let mut all = middle.to_vec();
            all.extend_from_slice(intermediates);
            match verify_chain(leaf, &all, std::slice::from_ref(anchors), time) {
                Ok(found) => {
                    chain = Some(found);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let chain = chain.ok_or_else(|| {
            last.unwrap_or_else(|| {
                format!(
                    "no certificate authority of the trusted root was valid at {}",
                    rfc3339(time)
                )
            })
        })?;
        let issuer = chain.get(1).ok_or("the certificate is its own issuer")?;
        check_sct(leaf, issuer, &self.root.ctlogs)?;
        if !leaf.can_sign() {
            return Err("the signing certificate is not for code signing".into());
        }
        let subjects = leaf.subject_alt_names();
        let oidc_issuer = leaf.oidc_issuer().unwrap_or_default();
        let subject = subjects.first().cloned().unwrap_or_default();
        let accepted = self.identities.iter().find(|(_, identity)| {
            identity.issuer.matches(&oidc_issuer)
                && subjects.iter().any(|s| identity.subject.matches(s))
                && identity
                    .claims
                    .iter()
                    .all(|(name, value)| leaf.github_claim(name).as_deref() == Some(value))
        });
        let Some((name, _)) = accepted else {
            let wanted: Vec<String> = self.identities.iter().map(|(_, i)| i.to_string()).collect();
            return Err(format!(
                "it was signed by {subject} (issuer {oidc_issuer}), not {}",
                wanted.join(" or ")
            ));
        };
        Ok(Signer {
            name: name.clone(),
            subject,
            issuer: oidc_issuer,
            integrated_time: time,
        })
    }
}

/// The embedded SCT list extension.
const SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// At least one embedded SCT from a CT log of the root verifies over the precertificate.
fn check_sct(leaf: &Cert, issuer: &Cert, ctlogs: &[LogKey]) -> Result<(), String> {
    let value = leaf
        .extension(SCT_LIST)
        .ok_or("the certificate has no signed certificate timestamp")?;
    let list = super::x509::der_contents(value).ok_or("the SCT list is not an OCTET STRING")?;
    let tbs = super::x509::precertificate_tbs(leaf, SCT_LIST)
        .ok_or("the precertificate cannot be rebuilt from the certificate")?;
    let issuer_hash = sha2::Sha256::digest(issuer.key()?.der());
    let mut reader = Tls(list);
    let mut entries = Tls(reader.vector(2).ok_or("the SCT list is malformed")?);
    while !entries.0.is_empty() {
        let sct = entries.vector(2).ok_or("an SCT is malformed")?;
        let mut r = Tls(sct);
        let (Some(version), Some(log_id), Some(timestamp)) = (r.bytes(1), r.bytes(32), r.bytes(8))
        else {
            return Err("an SCT is malformed".into());
        };
        let extensions = r.vector(2).ok_or("an SCT is malformed")?;
        let _algorithms = r.bytes(2).ok_or("an SCT is malformed")?;
        let signature = r.vector(2).ok_or("an SCT is malformed")?;
        let Some(log) = ctlogs.iter().find(|l| l.id == log_id) else {
            continue;
        };
        let mut signed = Vec::new();
        signed.extend_from_slice(version);
        signed.push(0); // certificate_timestamp
        signed.extend_from_slice(timestamp);
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_hash);
        let length = tbs.len() as u32;
        signed.extend_from_slice(&length.to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        signed.extend_from_slice(extensions);
        if log.key.verify(&signed, signature, Hash::Sha256) {
            return Ok(());
        }
    }
    Err("no signed certificate timestamp verifies under a CT log key of the trusted root".into())
}

/// A TLS presentation-language reader.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn vector(&mut self, length_bytes: usize) -> Option<&'a [u8]> {
        let length = self
            .bytes(length_bytes)?
            .iter()
            .fold(0usize, |a, &b| (a << 8) | b as usize);
        self.bytes(length)
    }
}
