//! Verifying what is attached to a model: which trusted keys signed it, which attestations
//! they made about it, and whether that satisfies a trust [`Policy`]. Pure logic over what
//! [`crate::sign::attach::discover`] found; nothing here touches the network.

pub mod policy;

pub use policy::{Policy, Verdict};

use serde::Serialize;

use crate::digest::Digest;
use crate::sign::PublicKey;
use crate::sign::attach::Attached;
use crate::sign::dsse::Statement;
use crate::sign::keyless::Keyless;
use crate::sign::payload::Payload;
use crate::sign::predicate;

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
    /// Why it does not count, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
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
        Evidence::collect_with(digest, attached, keys, None)
    }

    /// [`Evidence::collect`], also verifying keyless signatures against `keyless` (a
    /// Sigstore trusted root and the identities it may vouch for).
    pub fn collect_with(
        digest: &Digest,
        attached: &Attached,
        keys: &[TrustedKey],
        keyless: Option<&Keyless>,
    ) -> Evidence {
        let mut evidence = Evidence {
            digest: digest.clone(),
            signatures: Vec::new(),
            attestations: Vec::new(),
            problems: attached.problems.clone(),
        };
        for found in &attached.signatures {
            if found.certificate {
                evidence.signatures.push(unverified_certificate(
                    &found.source,
                    Payload::from_slice(&found.payload).ok(),
                ));
                continue;
            }
            evidence.signatures.push(check_signature(
                digest,
                &found.payload,
                &found.signature,
                &found.source,
                keys,
            ));
        }
        for (bundle, source) in &attached.message_bundles {
            if crate::sign::dsse::has_certificate(bundle) {
                evidence
                    .signatures
                    .push(unverified_certificate(source, None));
                continue;
            }
            let signers = signers_of(keys, |k| bundle.message_verified_by(digest, k));
            let problem = signers
                .is_empty()
                .then(|| "no trusted key verifies it, or it signs another digest".to_owned());
            evidence.signatures.push(SignatureCheck {
                source: source.clone(),
                signers,
                claims: Default::default(),
                problem,
            });
        }
        for found in &attached.model_signatures {
            evidence
                .signatures
                .push(check_model_signature(found, keys, keyless));
        }
        for found in &attached.envelopes {
            let check = check_envelope(digest, found, keys, keyless);
            if check.predicate_type.as_deref() == Some(predicate::COSIGN_SIGN_V1) {
                evidence.signatures.push(SignatureCheck {
                    source: check.source,
                    signers: check.signers,
                    claims: Default::default(),
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
    let mut check = SignatureCheck {
        source: source.to_owned(),
        signers: signers_of(keys, |k| k.verify(payload, signature)),
        claims: Default::default(),
        problem: None,
    };
    if check.signers.is_empty() {
        check.problem = Some("no trusted key verifies it".into());
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

/// Why a certificate-bearing signature does not count without keyless trust: a key alone
/// is never checked against a signature that names a certificate.
pub const KEYLESS_UNSUPPORTED: &str = "it is signed with a certificate (Sigstore keyless): \
     verifying it needs a trusted root and the signer's identity (--trusted-root with \
     --certificate-identity and --certificate-oidc-issuer, or `identities:` in the policy); a \
     key alone is never checked against it";

/// A keyless bundle verified against `keyless`: the identity's name, or why not.
fn keyless_signer(
    bundle: Option<&crate::sign::dsse::Bundle>,
    keyless: Option<&Keyless>,
) -> Result<String, String> {
    let (Some(bundle), Some(keyless)) = (bundle, keyless) else {
        return Err(KEYLESS_UNSUPPORTED.into());
    };
    keyless.verify_envelope(bundle).map(|signer| signer.name)
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
        problem: None,
    };
    if found.signature.has_certificate() {
        match keyless_signer(Some(&found.signature.bundle), keyless) {
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

/// Why a keyless signature in a format modelark does not verify yet does not count.
pub const KEYLESS_FORMAT_UNSUPPORTED: &str = "it is signed with a certificate in a form modelark \
     does not verify yet (cosign's `.sig` certificate annotations, or a message-signature \
     bundle); a key alone is never checked against it. DSSE bundles (cosign 3, model signing) \
     verify with --trusted-root";

/// A certificate-bearing signature, reported as such and never counted.
fn unverified_certificate(source: &str, payload: Option<Payload>) -> SignatureCheck {
    SignatureCheck {
        source: source.to_owned(),
        signers: Vec::new(),
        claims: payload.map(|p| p.claims()).unwrap_or_default(),
        problem: Some(KEYLESS_FORMAT_UNSUPPORTED.into()),
    }
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
        .then(|| keyless_signer(found.bundle.as_deref(), keyless));
    let mut check = AttestationCheck {
        source: found.source.clone(),
        predicate_type: statement.as_ref().ok().map(|s| s.predicate_type.clone()),
        signers: match &keyless {
            Some(Ok(name)) => vec![name.clone()],
            Some(Err(_)) => Vec::new(),
            None => signers_of(keys, |k| found.envelope.verified_by(k)),
        },
        statement: None,
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
