//! `modelark verify` and `verify-attestation`, and the `--policy`/`--key` check `pull`, `copy`
//! and `promote` run before they act.

use std::path::PathBuf;

use modelark::reference::Reference;
use modelark::sign::{self, PublicKey, predicate};
use modelark::store::Endpoint;
use modelark::verify::{Evidence, Policy, TrustedKey, Verdict};
use serde::Serialize;

use super::sign::subject;
use super::{Op, RegistryArgs, endpoint, key_value, output};

/// What a model must show before it is used: a policy file, or trusted public keys.
#[derive(Debug, Default, clap::Args)]
pub struct TrustArgs {
    /// Verify against this trust policy first (see docs/policy.md).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Trust this public key: one valid signature by any --key is required (repeatable).
    #[arg(long = "key", value_name = "PUB", conflicts_with = "policy")]
    keys: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The model: HOST/REPO:TAG, NAME:TAG or oci:PATH:TAG.
    reference: Reference,
    #[command(flatten)]
    trust: TrustArgs,
    /// Require this claim in a verified signature (repeatable), as cosign's -a.
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyAttestationArgs {
    /// The model: HOST/REPO:TAG, NAME:TAG or oci:PATH:TAG.
    reference: Reference,
    /// Trust this public key (repeatable).
    #[arg(long = "key", value_name = "PUB", required = true)]
    keys: Vec<PathBuf>,
    /// The predicate type required (short name or URI).
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// Print JSON (the verified statements).
    #[arg(long)]
    json: bool,
}

impl TrustArgs {
    /// The policy file, when given.
    pub fn policy_path(&self) -> Option<&PathBuf> {
        self.policy.as_ref()
    }

    /// The policy these flags describe, if any.
    pub fn load(&self) -> anyhow::Result<Option<Policy>> {
        if self.policy.is_some() {
            return load_policy(self.policy.as_ref());
        }
        if self.keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(Policy::trust_keys(load_public_keys(&self.keys)?)))
    }
}

/// Loads the policy file at `path`, when there is one.
pub fn load_policy(path: Option<&PathBuf>) -> anyhow::Result<Option<Policy>> {
    path.map(|p| Policy::load(p).op(|| "failed to load the trust policy".into()))
        .transpose()
}

pub(super) fn load_public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<TrustedKey>> {
    paths
        .iter()
        .map(|path| {
            let pem = fs_err::read_to_string(path)?;
            let key = PublicKey::from_pem(&pem)
                .op(|| format!("failed to read the public key {}", path.display()))?;
            Ok(TrustedKey {
                name: path.display().to_string(),
                key,
            })
        })
        .collect()
}

/// Everything verified about a model under a policy.
pub struct Checked {
    /// The model, read once: what is verified is what is fetched.
    pub resolved: modelark::store::Resolved,
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
        .filter(|t| modelark::governance::versions::is_alias(t))
        .map(|t| t.as_str())
}

/// Resolves `reference` once and checks what is attached to that digest against `policy`
/// (plus its requirements for `alias`, when given). Fails with a policy violation (exit 1)
/// when it does not pass.
pub async fn enforce(
    endpoint: &Endpoint,
    reference: &Reference,
    policy: &Policy,
    alias: Option<&str>,
) -> anyhow::Result<Checked> {
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
) -> anyhow::Result<Checked> {
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    let digest = &resolved.descriptor.digest;
    let attached = sign::attach::discover(endpoint, digest)
        .await
        .op(|| format!("failed to read the signatures of {reference}"))?;
    let mut evidence = Evidence::collect(digest, &attached, policy.keys());
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

fn violation(reference: &Reference, checked: &Checked) -> anyhow::Error {
    let error = modelark::verify::Error::PolicyViolation {
        reference: reference.to_string(),
        digest: checked.resolved.descriptor.digest.clone(),
        failures: checked.verdict.failures(),
    };
    anyhow::Error::from(modelark::Error::from(error))
}

#[derive(Serialize)]
struct Report<'a> {
    reference: String,
    digest: String,
    verified: bool,
    signers: Vec<String>,
    evidence: &'a Evidence,
    policy: &'a Verdict,
}

pub async fn verify(args: VerifyArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let policy = args
        .trust
        .load()?
        .ok_or_else(|| anyhow::anyhow!("verify needs --key PUB or --policy FILE"))?;
    let claims: Vec<(String, String)> = args
        .annotations
        .iter()
        .map(|a| key_value(a))
        .collect::<Result<_, _>>()?;
    let endpoint = endpoint(&args.reference, registry, false)?;
    let checked = check(&endpoint, &args.reference, &policy, None, &claims).await?;
    let digest = &checked.resolved.descriptor.digest;
    let pinned = args.reference.with_digest(digest.clone());
    if args.json {
        output::json(&Report {
            reference: pinned.to_string(),
            digest: digest.to_string(),
            verified: checked.verdict.passed(),
            signers: checked.evidence.signers(),
            evidence: &checked.evidence,
            policy: &checked.verdict,
        })?;
    } else {
        print_evidence(&pinned, &checked)?;
    }
    if !checked.verdict.passed() {
        return Err(violation(&args.reference, &checked));
    }
    Ok(())
}

fn print_evidence(pinned: &Reference, checked: &Checked) -> anyhow::Result<()> {
    output::line(format!("Verification for {pinned}"))?;
    for s in &checked.evidence.signatures {
        match &s.problem {
            None => output::line(format!(
                "  ok    signature by {} ({})",
                s.signers.join(", "),
                s.source
            ))?,
            Some(problem) => output::line(format!("  bad   signature ({}): {problem}", s.source))?,
        }
    }
    for a in &checked.evidence.attestations {
        let kind = a.predicate_type.as_deref().unwrap_or("?");
        match &a.problem {
            None => output::line(format!(
                "  ok    attestation {kind} by {} ({})",
                a.signers.join(", "),
                a.source
            ))?,
            Some(problem) => output::line(format!(
                "  bad   attestation {kind} ({}): {problem}",
                a.source
            ))?,
        }
    }
    for problem in &checked.evidence.problems {
        output::line(format!("  bad   {problem}"))?;
    }
    for finding in &checked.verdict.findings {
        let mark = if finding.met { "met" } else { "unmet" };
        output::line(format!(
            "  {mark:<5} {}: {}",
            finding.requirement, finding.detail
        ))?;
    }
    Ok(())
}

pub async fn verify_attestation(
    args: VerifyAttestationArgs,
    registry: &RegistryArgs,
) -> anyhow::Result<()> {
    let keys = load_public_keys(&args.keys)?;
    let predicate_type = predicate::predicate_type(&args.kind).op(|| "failed to verify".into())?;
    let endpoint = endpoint(&args.reference, registry, false)?;
    let subject = subject(&endpoint, &args.reference).await?;
    let attached = sign::attach::discover(&endpoint, &subject.digest)
        .await
        .op(|| format!("failed to read the attestations of {}", args.reference))?;
    let evidence = Evidence::collect(&subject.digest, &attached, &keys);
    let valid: Vec<_> = evidence.attestations_of(&predicate_type).collect();
    let pinned = args.reference.with_digest(subject.digest.clone());
    if args.json {
        let statements: Vec<_> = valid
            .iter()
            .map(|a| {
                serde_json::json!({
                    "source": a.source,
                    "signers": a.signers,
                    "statement": a.statement,
                })
            })
            .collect();
        output::json(&statements)?;
    } else {
        output::line(format!(
            "Verification for {pinned}, predicate {predicate_type}"
        ))?;
        for a in &valid {
            output::line(format!(
                "  ok    by {} ({})",
                a.signers.join(", "),
                a.source
            ))?;
            if let Some(statement) = &a.statement {
                output::line(format!("        {}", statement.predicate))?;
            }
        }
        for a in evidence.attestations.iter().filter(|a| a.problem.is_some()) {
            let kind = a.predicate_type.as_deref().unwrap_or("?");
            output::line(format!(
                "  bad   {kind} ({}): {}",
                a.source,
                a.problem.as_deref().unwrap_or_default()
            ))?;
        }
        for problem in &evidence.problems {
            output::line(format!("  bad   {problem}"))?;
        }
    }
    if valid.is_empty() {
        let others: Vec<String> = evidence
            .attestations
            .iter()
            .filter(|a| a.problem.is_none())
            .filter_map(|a| a.predicate_type.clone())
            .collect();
        let mut failure =
            format!("no attestation of type {predicate_type} verifies under the given key(s)");
        if !others.is_empty() {
            failure.push_str(&format!(" (found verified: {})", others.join(", ")));
        }
        let error = modelark::verify::Error::PolicyViolation {
            reference: args.reference.to_string(),
            digest: subject.digest,
            failures: vec![failure],
        };
        return Err(modelark::Error::from(error).into());
    }
    Ok(())
}
