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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::Digest as _;

use super::dsse::Bundle;
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
    tlog_entries: Vec<TlogEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    log_index: serde_json::Value,
    log_id: LogIdJson,
    kind_version: KindVersion,
    /// Only meaningful under a SET (Rekor v2 entries leave it out).
    #[serde(default)]
    integrated_time: serde_json::Value,
    #[serde(default)]
    inclusion_promise: Option<Promise>,
    #[serde(default)]
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: serde_json::Value,
    root_hash: String,
    tree_size: serde_json::Value,
    hashes: Vec<String>,
    checkpoint: Checkpoint,
}

#[derive(Deserialize)]
struct Checkpoint {
    envelope: String,
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
        let (leaf, intermediates, entry, stamps) = self.material(bundle)?;
        let signature = envelope.signature_bytes()?;
        let payload = envelope.payload().map_err(|e| e.to_string())?;
        let (logged, log_valid) = self.check_log_entry(&entry, |body| {
            check_dsse_body(body, &payload, &signature, &leaf)
        })?;
        // Every trusted time (the log's, each authority's) must fall within the
        // certificate's life; at least one is needed.
        let mut times: Vec<u64> = logged.into_iter().collect();
        for stamp in &stamps {
            let verified =
                super::timestamp::verify(stamp, &signature, &self.root.timestamp_authorities)
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
            if !log_valid.contains(time) {
                return Err(format!(
                    "the transparency log key was not valid at {}",
                    rfc3339(time)
                ));
            }
            signer = Some(self.check_certificate(&leaf, &intermediates, time)?);
        }
        let signer = signer.unwrap_or_else(|| unreachable!("at least one time"));
        let key = leaf.key()?;
        let message = super::dsse::pae(&envelope.payload_type, &payload);
        if !key.verify(&message, &signature, key.default_hash()) {
            return Err("the signature does not verify under the signing certificate".into());
        }
        Ok(signer)
    }

    /// The certificate, intermediates, the one transparency log entry and the RFC 3161
    /// timestamps (DER) of a bundle.
    #[allow(clippy::type_complexity)]
    fn material(
        &self,
        bundle: &Bundle,
    ) -> Result<(Cert, Vec<Cert>, TlogEntry, Vec<Vec<u8>>), String> {
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
        let stamps = bundle.rfc3161_timestamps()?;
        Ok((leaf, certs, entries.remove(0), stamps))
    }

    /// Checks a log entry (key in the root, SET, inclusion proof and checkpoint, body) and
    /// returns its integrated time when a signed entry timestamp vouches for it.
    fn check_log_entry(
        &self,
        entry: &TlogEntry,
        check_body: impl Fn(&serde_json::Value) -> Result<(), String>,
    ) -> Result<(Option<u64>, Period), String> {
        let id = b64(&entry.log_id.key_id, "the log id")?;
        let log = self
            .root
            .tlogs
            .iter()
            .find(|l| l.id == id)
            .ok_or("its transparency log key is not in the trusted root")?;
        let body_bytes = b64(&entry.canonicalized_body, "the log entry body")?;
        let index = integer(&entry.log_index, "logIndex")?;
        if entry.inclusion_promise.is_none() && entry.inclusion_proof.is_none() {
            return Err(
                "the log entry has neither a signed entry timestamp nor an inclusion proof".into(),
            );
        }
        let mut vouched = None;
        if let Some(promise) = &entry.inclusion_promise {
            let time = integer(&entry.integrated_time, "integratedTime")?;
            // The SET: the log's signature over the canonical JSON of the entry.
            let set = serde_json::json!({
                "body": entry.canonicalized_body,
                "integratedTime": time,
                "logID": hex::encode(&id),
                "logIndex": index,
            });
            let signed = serde_json::to_vec(&set).unwrap_or_default();
            let set_signature = b64(
                &promise.signed_entry_timestamp,
                "the signed entry timestamp",
            )?;
            if !log.key.verify(&signed, &set_signature, Hash::Sha256) {
                return Err("the log's signed entry timestamp does not verify".into());
            }
            vouched = Some(time);
        }
        if let Some(proof) = &entry.inclusion_proof {
            check_inclusion(proof, &body_bytes, &log.key)?;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&body_bytes).map_err(|e| format!("the log entry body: {e}"))?;
        if body["kind"] != entry.kind_version.kind.as_str()
            || body["apiVersion"] != entry.kind_version.version.as_str()
        {
            return Err("the log entry body is not of the kind the entry names".into());
        }
        check_body(&body)?;
        Ok((vouched, log.valid))
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

/// A `dsse` v0.0.1 body must record this payload, this signature and this certificate.
fn check_dsse_body(
    body: &serde_json::Value,
    payload: &[u8],
    signature: &[u8],
    leaf: &Cert,
) -> Result<(), String> {
    if body["kind"] != "dsse" {
        return Err(format!(
            "the log entry is of kind {}, not dsse",
            body["kind"]
        ));
    }
    let spec = &body["spec"];
    let payload_hash = hex::encode(sha2::Sha256::digest(payload));
    if spec["payloadHash"]["algorithm"] != "sha256" || spec["payloadHash"]["value"] != payload_hash
    {
        return Err("the log entry records another payload".into());
    }
    let recorded = spec["signatures"].as_array().cloned().unwrap_or_default();
    let matches = recorded.iter().any(|s| {
        let sig = s["signature"]
            .as_str()
            .and_then(|t| super::decode_base64(t).ok());
        let verifier = s["verifier"]
            .as_str()
            .and_then(|t| super::decode_base64(t).ok())
            .and_then(|pem| String::from_utf8(pem).ok())
            .and_then(|pem| Cert::from_pem_chain(&pem).ok());
        sig.as_deref() == Some(signature)
            && verifier.is_some_and(|certs| certs.first() == Some(leaf))
    });
    if !matches {
        return Err("the log entry records another signature or certificate".into());
    }
    Ok(())
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
