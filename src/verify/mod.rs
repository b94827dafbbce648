//! Verifying what is attached to a model: which trusted keys signed it, which attestations
//! they made about it, and whether that satisfies a trust [`Policy`]. Pure logic over what
//! [`crate::sign::attach::discover`] found; nothing here touches the network.

pub mod policy;

pub use policy::{Policy, Verdict};

use serde::Serialize;

use crate::digest::Digest;
use crate::sign::PublicKey;
use crate::sign::attach::{Attached, Timestamps};
use crate::sign::dsse::Statement;
use crate::sign::keyless::{Keyless, Message, Signer as KeylessSigner};
use crate::sign::payload::Payload;
use crate::sign::predicate;
use crate::sign::timestamp::{self, Authority, Stamp};

/// What can go wrong loading a policy or verifying a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy file that does not load.
    #[error("invalid policy {path}: {reason}")]
    Policy {
        /// The policy file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The model does not satisfy the policy; nothing was fetched or written.
    #[error("{reference} ({digest}) failed verification: {}", failures.join("; "))]
    PolicyViolation {
        /// The model.
        reference: String,
        /// Its manifest digest.
        digest: Digest,
        /// Each unmet requirement, one sentence each.
        failures: Vec<String>,
    },
}

/// A public key a verifier trusts, under the name the policy gives it.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// Its name (a policy key name, or the file it came from).
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// The time-stamping authorities a verifier trusts, and what it asks of timestamps.
#[derive(Clone, Debug)]
pub struct TimestampTrust {
    /// The authorities (a policy's `timestampAuthorities`, `--timestamp-certificate-chain`).
    /// With none, timestamps are not read at all.
    pub authorities: Vec<Authority>,
    /// A signature or attestation counts only with a timestamp by one of them.
    pub required: bool,
    /// How far, in seconds, a record's own `time` may be from its trusted timestamp
    /// before the record stops counting (a backdated or forward-dated claim).
    pub tolerance: u64,
}

impl Default for TimestampTrust {
    fn default() -> TimestampTrust {
        TimestampTrust {
            authorities: Vec::new(),
            required: false,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// The default [`TimestampTrust::tolerance`]: ten minutes.
pub const DEFAULT_TOLERANCE: u64 = 600;

impl TimestampTrust {
    /// The earliest time a trusted authority vouches for, or why the record stops
    /// counting: a timestamp that does not verify (an untrusted authority, another
    /// signature), or none where one is required. Extra authorities (a Sigstore trusted
    /// root's) count as the trusted ones do.
    fn check(&self, found: &Timestamps, extra: &[Authority]) -> Result<Option<Stamp>, String> {
        if self.authorities.is_empty() && extra.is_empty() {
            return Ok(None);
        }
        if let Some(problem) = &found.problem {
            return Err(problem.clone());
        }
        if found.tokens.is_empty() {
            return match self.required {
                true => Err(
                    "it has no RFC 3161 timestamp, and the policy requires one by a \
                             trusted time-stamping authority"
                        .into(),
                ),
                false => Ok(None),
            };
        }
        let mut earliest: Option<Stamp> = None;
        for token in &found.tokens {
            let stamp = timestamp::verify(token, &found.over, self.authorities.iter().chain(extra))
                .map_err(|e| format!("its RFC 3161 timestamp does not count: {e}"))?;
            if earliest.as_ref().is_none_or(|e| stamp.time < e.time) {
                earliest = Some(stamp);
            }
        }
        Ok(earliest)
    }

    /// Why a record's own time disagrees with its trusted timestamp, if it does.
    fn disagreement(&self, claimed: &str, stamp: &Stamp) -> Option<String> {
        let claimed_at = crate::metadata::parse_rfc3339(claimed)
            .ok()?
            .unix_timestamp();
        let off = (claimed_at - stamp.time as i64).unsigned_abs();
        (off > self.tolerance).then(|| {
            format!(
                "it claims it was made at {claimed}, but {} timestamped it at {}: a record \
                 more than {} off its timestamp does not count",
                stamp.authority,
                crate::sign::x509::rfc3339(stamp.time),
                human_duration(self.tolerance)
            )
        })
    }
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 && s > 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// One signature and what verifying it showed.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureCheck {
    /// Where it was found.
    pub source: String,
    /// The trusted keys it verified under (empty when none).
    pub signers: Vec<String>,
    /// Its claims (`-a key=value` when signed).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub claims: std::collections::BTreeMap<String, String>,
    /// When a trusted time-stamping authority says it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Stamp>,
    /// Why it does not count, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One attestation and what verifying it showed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationCheck {
    /// Where it was found.
    pub source: String,
    /// Its predicate type, when the statement parses.
    pub predicate_type: Option<String>,
    /// The trusted keys it verified under.
    pub signers: Vec<String>,
    /// The statement, when it parses (check `problem` before trusting it).
    #[serde(skip)]
    pub statement: Option<Statement>,
    /// When a trusted time-stamping authority says it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Stamp>,
    /// Why it does not count, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl AttestationCheck {
    /// What the record says about when it was made (an approval's or promotion's `time`).
    pub fn claimed_time(&self) -> Option<&str> {
        self.statement.as_ref()?.predicate.get("time")?.as_str()
    }

    /// When the record was made: its trusted timestamp, else what it claims.
    pub fn time(&self) -> Option<time::OffsetDateTime> {
        match &self.timestamp {
            Some(stamp) => time::OffsetDateTime::from_unix_timestamp(stamp.time as i64).ok(),
            None => crate::metadata::parse_rfc3339(self.claimed_time()?).ok(),
        }
    }

    /// How much later its trusted timestamp is than its claim (zero without either): an
    /// expiry the signer computed from its own clock moves by this much.
    pub fn drift(&self) -> time::Duration {
        let claimed = self
            .claimed_time()
            .and_then(|t| crate::metadata::parse_rfc3339(t).ok());
        match (&self.timestamp, claimed) {
            (Some(stamp), Some(claimed)) => {
                time::Duration::seconds(stamp.time as i64 - claimed.unix_timestamp())
            }
            _ => time::Duration::ZERO,
        }
    }
}

/// Everything verified about one manifest digest.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    /// The manifest digest.
    pub digest: Digest,
    /// Simple-signing signatures and cosign 3 bundle signatures.
    pub signatures: Vec<SignatureCheck>,
    /// Attestations other than signatures.
    pub attestations: Vec<AttestationCheck>,
    /// Attachments that could not be read.
    pub problems: Vec<String>,
}

impl Evidence {
    /// Checks every attachment of `digest` against every trusted key.
    pub fn collect(digest: &Digest, attached: &Attached, keys: &[TrustedKey]) -> Evidence {
        let times = Times {
            trust: &TimestampTrust::default(),
            extra: &[],
        };
        Evidence::gather(digest, attached, keys, None, &times)
    }

    /// Checks every attachment of `digest` against what `policy` trusts: its keys, its
    /// keyless identities (against their Sigstore trusted root) and its time-stamping
    /// authorities.
    pub fn collect_under(digest: &Digest, attached: &Attached, policy: &Policy) -> Evidence {
        let keyless = policy.keyless();
        let times = Times {
            trust: policy.timestamps(),
            extra: keyless.map_or(&[][..], |k| k.root.timestamp_authorities()),
        };
        Evidence::gather(digest, attached, policy.keys(), keyless, &times)
    }

    fn gather(
        digest: &Digest,
        attached: &Attached,
        keys: &[TrustedKey],
        keyless: Option<&Keyless>,
        times: &Times<'_>,
    ) -> Evidence {
        let mut evidence = Evidence {
            digest: digest.clone(),
            signatures: Vec::new(),
            attestations: Vec::new(),
            problems: attached.problems.clone(),
        };
        for found in &attached.signatures {
            let mut check = if found.certificate {
                check_keyless_signature(digest, found, keyless)
            } else {
                check_signature(
                    digest,
                    &found.payload,
                    &found.signature,
                    &found.source,
                    keys,
                )
            };
            times.stamp_signature(&mut check, &found.timestamps);
            evidence.signatures.push(check);
        }
        for (bundle, source) in &attached.message_bundles {
            let mut check = check_message_bundle(digest, bundle, source, keys, keyless);
            times.stamp_signature(&mut check, &Timestamps::of_bundle(bundle));
            evidence.signatures.push(check);
        }
        for found in &attached.model_signatures {
            let mut check = check_model_signature(found, keys, keyless);
            times.stamp_signature(&mut check, &found.timestamps);
            evidence.signatures.push(check);
        }
        for found in &attached.envelopes {
            let mut check = check_envelope(digest, found, keys, keyless);
            times.stamp_attestation(&mut check, &found.timestamps);
            if check.predicate_type.as_deref() == Some(predicate::COSIGN_SIGN_V1) {
                evidence.signatures.push(SignatureCheck {
                    source: check.source,
                    signers: check.signers,
                    claims: Default::default(),
                    timestamp: check.timestamp,
                    problem: check.problem,
                });
            } else {
                evidence.attestations.push(check);
            }
        }
        evidence
    }

    /// Requires every `key=value` claim in a signature's payload (`verify -a`): a valid
    /// signature without them stops counting, with the missing claim as its problem.
    pub fn require_claims(&mut self, claims: &[(String, String)]) {
        for signature in &mut self.signatures {
            if signature.problem.is_some() || signature.signers.is_empty() {
                continue;
            }
            if let Some((k, v)) = claims
                .iter()
                .find(|(k, v)| signature.claims.get(k) != Some(v))
            {
                signature.problem = Some(format!("it does not claim {k}={v}"));
                signature.signers.clear();
            }
        }
    }

    /// The distinct trusted keys with at least one valid signature.
    pub fn signers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .signatures
            .iter()
            .flat_map(|s| s.signers.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The valid attestations of `predicate_type`, each with its signers.
    pub fn attestations_of<'a>(
        &'a self,
        predicate_type: &'a str,
    ) -> impl Iterator<Item = &'a AttestationCheck> {
        self.attestations.iter().filter(move |a| {
            a.problem.is_none() && a.predicate_type.as_deref() == Some(predicate_type)
        })
    }
}

/// The timestamp trust one collection runs under.
struct Times<'a> {
    trust: &'a TimestampTrust,
    /// The keyless trusted root's authorities, trusted as the policy's are.
    extra: &'a [Authority],
}

impl Times<'_> {
    /// A counted signature keeps counting only when its timestamps pass.
    fn stamp_signature(&self, check: &mut SignatureCheck, found: &Timestamps) {
        if check.problem.is_some() {
            return;
        }
        match self.trust.check(found, self.extra) {
            Ok(stamp) => check.timestamp = stamp,
            Err(problem) => {
                check.problem = Some(problem);
                check.signers.clear();
            }
        }
    }

    /// A counted attestation keeps counting only when its timestamps pass and its own
    /// `time` agrees with them.
    fn stamp_attestation(&self, check: &mut AttestationCheck, found: &Timestamps) {
        if check.problem.is_some() {
            return;
        }
        let verdict = self.trust.check(found, self.extra).and_then(|stamp| {
            if let (Some(stamp), Some(claimed)) = (&stamp, check.claimed_time())
                && let Some(problem) = self.trust.disagreement(claimed, stamp)
            {
                return Err(problem);
            }
            Ok(stamp)
        });
        match verdict {
            Ok(stamp) => check.timestamp = stamp,
            Err(problem) => {
                check.problem = Some(problem);
                check.signers.clear();
            }
        }
    }
}

fn signers_of(keys: &[TrustedKey], verifies: impl Fn(&PublicKey) -> bool) -> Vec<String> {
    keys.iter()
        .filter(|k| verifies(&k.key))
        .map(|k| k.name.clone())
        .collect()
}

fn check_signature(
    digest: &Digest,
    payload: &[u8],
    signature: &[u8],
    source: &str,
    keys: &[TrustedKey],
) -> SignatureCheck {
    let signers = signers_of(keys, |k| k.verify(payload, signature));
    let problem = signers
        .is_empty()
        .then(|| "no trusted key verifies it".to_owned());
    check_payload(digest, payload, source, signers, problem)
}

/// A cosign keyless `.sig` layer: its certificate, log entry and signature verified against
/// the keyless trust, then its payload as for a key-signed one.
fn check_keyless_signature(
    digest: &Digest,
    found: &crate::sign::attach::FoundSignature,
    keyless: Option<&Keyless>,
) -> SignatureCheck {
    let verified = keyless_signer(found.bundle.as_deref(), keyless, |k, b| {
        k.verify_message(b, Message::Bytes(&found.payload))
    });
    match verified {
        Ok(name) => check_payload(digest, &found.payload, &found.source, vec![name], None),
        // Its claims are still read, so history can show what an unverified record says.
        Err(problem) => {
            let mut check = check_payload(digest, &found.payload, &found.source, Vec::new(), None);
            check.problem = Some(problem);
            check
        }
    }
}

/// A simple-signing payload's claims, once `signers` verified it; it must name `digest`.
fn check_payload(
    digest: &Digest,
    payload: &[u8],
    source: &str,
    signers: Vec<String>,
    problem: Option<String>,
) -> SignatureCheck {
    let mut check = SignatureCheck {
        source: source.to_owned(),
        signers,
        claims: Default::default(),
        timestamp: None,
        problem,
    };
    if check.problem.is_some() {
        return check;
    }
    match Payload::from_slice(payload) {
        Ok(parsed) if parsed.digest().as_ref() == Some(digest) => check.claims = parsed.claims(),
        Ok(parsed) => {
            check.problem = Some(format!(
                "it signs {}, not this model",
                parsed.critical.image.docker_manifest_digest
            ));
            check.signers.clear();
        }
        Err(e) => {
            check.problem = Some(e.to_string());
            check.signers.clear();
        }
    }
    check
}

/// A message-signature bundle (cosign 3 signing a manifest digest): by a trusted key, or
/// keyless by an accepted identity, over exactly this digest.
fn check_message_bundle(
    digest: &Digest,
    bundle: &crate::sign::dsse::Bundle,
    source: &str,
    keys: &[TrustedKey],
    keyless: Option<&Keyless>,
) -> SignatureCheck {
    let (signers, problem) = if crate::sign::dsse::has_certificate(bundle) {
        let expected = hex::decode(digest.hex()).unwrap_or_default();
        let verified = keyless_signer(Some(bundle), keyless, |k, b| {
            k.verify_message(b, Message::Sha256(&expected))
        });
        match verified {
            Ok(name) => (vec![name], None),
            Err(problem) => (Vec::new(), Some(problem)),
        }
    } else {
        let signers = signers_of(keys, |k| bundle.message_verified_by(digest, k));
        let problem = signers
            .is_empty()
            .then(|| "no trusted key verifies it, or it signs another digest".to_owned());
        (signers, problem)
    };
    SignatureCheck {
        source: source.to_owned(),
        signers,
        claims: Default::default(),
        timestamp: None,
        problem,
    }
}

/// Why a certificate-bearing signature does not count without keyless trust: a key alone
/// is never checked against a signature that names a certificate.
pub const KEYLESS_UNSUPPORTED: &str = "it is signed with a certificate (Sigstore keyless): \
     verifying it needs a trusted root and the signer's identity (--trusted-root with \
     --certificate-identity and --certificate-oidc-issuer, or `identities:` in the policy); a \
     key alone is never checked against it";

/// A keyless bundle verified against `keyless` by `verify`: the identity's name, or why
/// not.
fn keyless_signer(
    bundle: Option<&crate::sign::dsse::Bundle>,
    keyless: Option<&Keyless>,
    verify: impl FnOnce(&Keyless, &crate::sign::dsse::Bundle) -> Result<KeylessSigner, String>,
) -> Result<String, String> {
    let Some(keyless) = keyless else {
        return Err(KEYLESS_UNSUPPORTED.into());
    };
    let bundle = bundle.ok_or(
        "its certificate or transparency log entry does not read (see the problems listed)",
    )?;
    verify(keyless, bundle).map(|signer| signer.name)
}

/// A model-signing signature counts when a trusted key verifies it and the model's file
/// layers are exactly the files it signs.
fn check_model_signature(
    found: &crate::sign::attach::FoundModelSignature,
    keys: &[TrustedKey],
    keyless: Option<&Keyless>,
) -> SignatureCheck {
    let mut check = SignatureCheck {
        source: found.source.clone(),
        signers: Vec::new(),
        claims: Default::default(),
        timestamp: None,
        problem: None,
    };
    if found.signature.has_certificate() {
        match keyless_signer(
            Some(&found.signature.bundle),
            keyless,
            Keyless::verify_envelope,
        ) {
            Ok(name) => check.signers = vec![name],
            Err(problem) => {
                check.problem = Some(problem);
                return check;
            }
        }
    } else {
        check.signers = signers_of(keys, |k| found.signature.verified_by(k));
    }
    check.problem = match &found.comparison {
        _ if check.signers.is_empty() => Some("no trusted key verifies it".into()),
        Err(e) => Some(format!("the model's files cannot be compared with it: {e}")),
        Ok(c) if !c.is_exact() => Some(format!(
            "it signs other files than this model's ({})",
            c.sentences().join("; ")
        )),
        Ok(_) => None,
    };
    if check.problem.is_some() {
        check.signers.clear();
    }
    check
}

fn check_envelope(
    digest: &Digest,
    found: &crate::sign::attach::FoundEnvelope,
    keys: &[TrustedKey],
    keyless: Option<&Keyless>,
) -> AttestationCheck {
    let statement = found.envelope.statement();
    let keyless = found
        .certificate
        .then(|| keyless_signer(found.bundle.as_deref(), keyless, Keyless::verify_envelope));
    let mut check = AttestationCheck {
        source: found.source.clone(),
        predicate_type: statement.as_ref().ok().map(|s| s.predicate_type.clone()),
        signers: match &keyless {
            Some(Ok(name)) => vec![name.clone()],
            Some(Err(_)) => Vec::new(),
            None => signers_of(keys, |k| found.envelope.verified_by(k)),
        },
        statement: None,
        timestamp: None,
        problem: None,
    };
    // The statement is kept even when it does not count, so history can show what an
    // unverified record claims; everything that decides checks `problem` first.
    match statement {
        Err(e) => check.problem = Some(e.to_string()),
        Ok(statement) => {
            if let Some(Err(problem)) = keyless {
                check.problem = Some(problem);
            } else if check.signers.is_empty() {
                check.problem = Some("no trusted key verifies it".into());
            } else if !statement.covers(digest) {
                check.problem = Some("its subject is another model".into());
            }
            check.statement = Some(statement);
        }
    }
    if check.problem.is_some() {
        check.signers.clear();
    }
    check
}
