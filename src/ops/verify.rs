//! Verify and verify-attestation, and the check pull, copy and promote run before they act.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::reference::Reference;
use crate::sign::{PublicKey, attach, predicate};
use crate::store::{Endpoint, Resolved};
use crate::verify::{AttestationCheck, Evidence, Policy, TrustedKey, Verdict};

/// What a model must show before it is used: a trust policy, or trusted public keys (one
/// valid signature by any of them).
#[derive(Clone, Debug)]
pub struct Trust {
    policy: Policy,
    from_policy: bool,
}

impl Trust {
    /// Trust what `policy` says.
    pub fn policy(policy: Policy) -> Trust {
        Trust {
            policy,
            from_policy: true,
        }
    }

    /// Require one valid signature by any of `keys`.
    pub fn keys(keys: Vec<TrustedKey>) -> Trust {
        Trust {
            policy: Policy::trust_keys(keys),
            from_policy: false,
        }
    }

    /// The same trust, also accepting the keyless identities of `keyless`.
    pub fn with_keyless(self, keyless: Option<crate::sign::keyless::Keyless>) -> Trust {
        Trust {
            policy: self.policy.with_keyless(keyless),
            from_policy: self.from_policy,
        }
    }

    /// The same trust, also trusting RFC 3161 timestamps by `authorities`; with
    /// `required`, a record counts only with one.
    pub fn with_timestamp_authorities(
        self,
        authorities: Vec<crate::sign::timestamp::Authority>,
        required: bool,
    ) -> Trust {
        Trust {
            policy: self
                .policy
                .with_timestamp_authorities(authorities, required),
            from_policy: self.from_policy,
        }
    }

    /// Loads the trust policy at `path`.
    ///
    /// # Errors
    /// A policy that does not load.
    pub fn load_policy(path: &Path) -> Result<Trust> {
        Ok(Trust::policy(
            Policy::load(path).op(|| "failed to load the trust policy".into())?,
        ))
    }

    /// Loads public keys (PEM files), each named by its path.
    ///
    /// # Errors
    /// A key file that cannot be read or is not a public key.
    pub fn load_keys(paths: &[PathBuf]) -> Result<Trust> {
        Ok(Trust::keys(load_public_keys(paths)?))
    }

    /// The policy verification runs under.
    pub fn rules(&self) -> &Policy {
        &self.policy
    }

    /// The policy, when this trust came from a policy (which also governs overwriting
    /// versions), not from bare keys.
    pub fn governing(&self) -> Option<&Policy> {
        self.from_policy.then_some(&self.policy)
    }

    /// The trusted keys.
    pub fn trusted_keys(&self) -> &[TrustedKey] {
        self.policy.keys()
    }
}

/// Reads a time-stamping authority's certificate chain (PEM, its own certificate first).
///
/// # Errors
/// A file that cannot be read or holds no certificate.
pub fn load_timestamp_authority(path: &Path) -> Result<crate::sign::timestamp::Authority> {
    let what = || {
        format!(
            "failed to read the timestamp certificate chain {}",
            path.display()
        )
    };
    let pem = fs_err::read_to_string(path)
        .map_err(crate::store::Error::from)
        .op(what)?;
    crate::sign::timestamp::Authority::from_pem(&pem)
        .map_err(|reason| crate::sign::Error::Malformed {
            what: "timestamp certificate chain".into(),
            reason,
        })
        .op(what)
}

/// Reads public keys (PEM files), each named by its path.
///
/// # Errors
/// A key file that cannot be read or is not a public key.
pub fn load_public_keys(paths: &[PathBuf]) -> Result<Vec<TrustedKey>> {
    paths
        .iter()
        .map(|path| {
            let what = || format!("failed to read the public key {}", path.display());
            let pem = fs_err::read_to_string(path)
                .map_err(crate::store::Error::from)
                .op(what)?;
            let key = PublicKey::from_pem(&pem).op(what)?;
            Ok(TrustedKey {
                name: path.display().to_string(),
                key,
            })
        })
        .collect()
}

/// Everything verified about a model under a policy.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The model, read once: what is verified is what is fetched.
    pub resolved: Resolved,
    /// What was found.
    pub evidence: Evidence,
    /// The policy's verdict.
    pub verdict: Verdict,
}

/// The alias a reference names (`:production`), if any. Pulling an alias also checks what
/// the policy asks of it, so a tag moved around `promote` still has to meet it.
pub fn alias_of(reference: &Reference) -> Option<&str> {
    reference
        .tag()
        .filter(|t| crate::governance::versions::is_alias(t))
        .map(|t| t.as_str())
}

/// Resolves `reference` once and checks what is attached to that digest against `policy`
/// (plus its requirements for `alias`, when given).
///
/// # Errors
/// [`crate::verify::Error::PolicyViolation`] when it does not pass; transport errors.
pub async fn enforce(
    endpoint: &Endpoint,
    reference: &Reference,
    policy: &Policy,
    alias: Option<&str>,
) -> Result<Checked> {
    let checked = check(endpoint, reference, policy, alias, &[]).await?;
    if !checked.verdict.passed() {
        return Err(violation(reference, &checked));
    }
    Ok(checked)
}

async fn check(
    endpoint: &Endpoint,
    reference: &Reference,
    policy: &Policy,
    alias: Option<&str>,
    claims: &[(String, String)],
) -> Result<Checked> {
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    let digest = &resolved.descriptor.digest;
    let attached = attach::discover(endpoint, digest)
        .await
        .op(|| format!("failed to read the signatures of {reference}"))?;
    let mut evidence = Evidence::collect_under(digest, &attached, policy);
    evidence.require_claims(claims);
    let now = time::OffsetDateTime::now_utc();
    let verdict = match alias {
        Some(alias) => policy.evaluate_alias(&endpoint.display_name(), alias, &evidence, now),
        None => policy.evaluate(&endpoint.display_name(), &evidence, now),
    };
    Ok(Checked {
        resolved,
        evidence,
        verdict,
    })
}

fn violation(reference: &Reference, checked: &Checked) -> crate::Error {
    crate::verify::Error::PolicyViolation {
        reference: reference.to_string(),
        digest: checked.resolved.descriptor.digest.clone(),
        failures: checked.verdict.failures(),
    }
    .into()
}

/// What verify found: every signature and attestation, and the policy's findings.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The model as asked for.
    #[serde(skip)]
    pub requested: Reference,
    /// The model, pinned.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// Whether the policy passed.
    pub verified: bool,
    /// The trusted keys with a valid signature.
    pub signers: Vec<String>,
    /// Every signature and attestation found, verified or not, and why.
    pub evidence: Evidence,
    /// The policy's findings.
    pub policy: Verdict,
}

/// Checks a model's signatures and attestations under `trust`, requiring `claims` in a
/// verified signature. The report is returned whether or not the policy passed
/// ([`Report::verified`]); a front end that must fail closed calls
/// [`Report::into_result`].
///
/// # Errors
/// Transport and store errors reading the model (not a failed verification).
pub async fn verify(
    ctx: &Context,
    reference: &Reference,
    trust: &Trust,
    claims: &[(String, String)],
) -> Result<Report> {
    let endpoint = ctx.endpoint(reference, false)?;
    let checked = check(&endpoint, reference, trust.rules(), None, claims).await?;
    let digest = checked.resolved.descriptor.digest.clone();
    Ok(Report {
        requested: reference.clone(),
        reference: reference.with_digest(digest.clone()),
        verified: checked.verdict.passed(),
        signers: checked.evidence.signers(),
        digest,
        evidence: checked.evidence,
        policy: checked.verdict,
    })
}

impl Report {
    /// The report when it verified, else the policy violation it is.
    ///
    /// # Errors
    /// [`crate::verify::Error::PolicyViolation`].
    pub fn into_result(self) -> Result<Report> {
        if self.verified {
            return Ok(self);
        }
        Err(crate::verify::Error::PolicyViolation {
            reference: self.requested.to_string(),
            digest: self.digest.clone(),
            failures: self.policy.failures(),
        }
        .into())
    }
}

/// One verified attestation of the type asked for.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedStatement {
    /// Where it was found.
    pub source: String,
    /// The trusted keys that signed it.
    pub signers: Vec<String>,
    /// The in-toto statement.
    pub statement: Option<crate::sign::dsse::Statement>,
}

/// What verify-attestation found.
#[derive(Clone, Debug, Serialize)]
pub struct AttestationReport {
    /// The model as asked for.
    #[serde(skip)]
    pub requested: Reference,
    /// The model, pinned.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// The full predicate type asked for.
    pub predicate_type: String,
    /// The attestations of that type that verify.
    pub verified: Vec<VerifiedStatement>,
    /// Attestations that did not verify, and why.
    pub rejected: Vec<AttestationCheck>,
    /// Problems reading what is attached.
    pub problems: Vec<String>,
    /// Types of the other attestations that verify.
    pub other_types: Vec<String>,
}

/// Checks that a model carries a verified attestation of `kind` (a short name such as
/// `provenance`, or a URI) by one of `keys`. The report lists what was found; a front end
/// that must fail closed calls [`AttestationReport::into_result`].
///
/// # Errors
/// An unknown predicate type; transport and store errors.
pub async fn verify_attestation(
    ctx: &Context,
    reference: &Reference,
    keys: &[TrustedKey],
    kind: &str,
) -> Result<AttestationReport> {
    verify_attestation_under(ctx, reference, &Trust::keys(keys.to_vec()), kind).await
}

/// [`verify_attestation`] under whatever `trust` trusts: its keys, its keyless identities
/// (DSSE bundles and cosign keyless `.att` layers) and its time-stamping authorities (an
/// attestation whose timestamp does not verify, or that lacks one when one is required,
/// does not count).
///
/// # Errors
/// As [`verify_attestation`].
pub async fn verify_attestation_under(
    ctx: &Context,
    reference: &Reference,
    trust: &Trust,
    kind: &str,
) -> Result<AttestationReport> {
    let predicate_type = predicate::predicate_type(kind).op(|| "failed to verify".into())?;
    let endpoint = ctx.endpoint(reference, false)?;
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    let digest = &resolved.descriptor.digest;
    let attached = attach::discover(&endpoint, digest)
        .await
        .op(|| format!("failed to read the attestations of {reference}"))?;
    let evidence = Evidence::collect_under(digest, &attached, trust.rules());
    let verified = evidence
        .attestations_of(&predicate_type)
        .map(|a| VerifiedStatement {
            source: a.source.clone(),
            signers: a.signers.clone(),
            statement: a.statement.clone(),
        })
        .collect();
    let other_types = evidence
        .attestations
        .iter()
        .filter(|a| a.problem.is_none())
        .filter_map(|a| a.predicate_type.clone())
        .filter(|t| *t != predicate_type)
        .collect();
    Ok(AttestationReport {
        requested: reference.clone(),
        reference: reference.with_digest(digest.clone()),
        digest: digest.clone(),
        predicate_type,
        verified,
        rejected: evidence
            .attestations
            .iter()
            .filter(|a| a.problem.is_some())
            .cloned()
            .collect(),
        problems: evidence.problems.clone(),
        other_types,
    })
}

impl AttestationReport {
    /// The report when an attestation of the type verified, else the policy violation.
    ///
    /// # Errors
    /// [`crate::verify::Error::PolicyViolation`] naming the verified types found instead.
    pub fn into_result(self) -> Result<AttestationReport> {
        if !self.verified.is_empty() {
            return Ok(self);
        }
        let mut failure = format!(
            "no attestation of type {} verifies under the given key(s)",
            self.predicate_type
        );
        if !self.other_types.is_empty() {
            failure.push_str(&format!(
                " (found verified: {})",
                self.other_types.join(", ")
            ));
        }
        Err(crate::verify::Error::PolicyViolation {
            reference: self.requested.to_string(),
            digest: self.digest,
            failures: vec![failure],
        }
        .into())
    }
}
