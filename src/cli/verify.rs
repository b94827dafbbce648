//! `modelark verify` and `verify-attestation`, and the `--policy`/`--key` flags of every
//! command that verifies before it acts.

use std::path::PathBuf;

use modelark::ops::{self, Trust};
use modelark::reference::Reference;
use modelark::verify::TrustedKey;

use super::{Env, key_value, output};

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

#[derive(Debug, clap::Args)]
pub struct VerifyDirArgs {
    /// The model directory.
    dir: PathBuf,
    /// The signature (default DIR/model.sig).
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Files hashed at once (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl TrustArgs {
    /// The trust these flags describe, if any.
    pub fn load(&self) -> anyhow::Result<Option<Trust>> {
        if self.policy.is_some() {
            return load_policy(self.policy.as_ref());
        }
        if self.keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(Trust::load_keys(&self.keys)?))
    }

    /// The trusted keys (none when no flag was given).
    pub fn keys(&self) -> anyhow::Result<Vec<TrustedKey>> {
        Ok(self
            .load()?
            .map(|t| t.trusted_keys().to_vec())
            .unwrap_or_default())
    }
}

/// Loads the policy file at `path`, when there is one.
pub fn load_policy(path: Option<&PathBuf>) -> anyhow::Result<Option<Trust>> {
    Ok(path.map(|p| Trust::load_policy(p)).transpose()?)
}

pub async fn verify(args: VerifyArgs, env: &Env) -> anyhow::Result<()> {
    let trust = args.trust.load()?.ok_or(ops::Error::NothingTrusted)?;
    let claims: Vec<(String, String)> = args
        .annotations
        .iter()
        .map(|a| key_value(a))
        .collect::<Result<_, _>>()?;
    let ctx = env.context(args.json)?;
    let report = ops::verify(&ctx, &args.reference, &trust, &claims).await?;
    if args.json {
        output::json(&report)?;
    } else {
        print_evidence(&report)?;
    }
    report.into_result()?;
    Ok(())
}

fn print_evidence(report: &ops::Report) -> anyhow::Result<()> {
    output::line(format!("Verification for {}", report.reference))?;
    let evidence = &report.evidence;
    for s in &evidence.signatures {
        match &s.problem {
            None => output::line(format!(
                "  ok    signature by {} ({})",
                s.signers.join(", "),
                s.source
            ))?,
            Some(problem) => output::line(format!("  bad   signature ({}): {problem}", s.source))?,
        }
    }
    for a in &evidence.attestations {
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
    for problem in &evidence.problems {
        output::line(format!("  bad   {problem}"))?;
    }
    for finding in &report.policy.findings {
        let mark = if finding.met { "met" } else { "unmet" };
        output::line(format!(
            "  {mark:<5} {}: {}",
            finding.requirement, finding.detail
        ))?;
    }
    Ok(())
}

pub async fn verify_attestation(args: VerifyAttestationArgs, env: &Env) -> anyhow::Result<()> {
    let keys = ops::verify::load_public_keys(&args.keys)?;
    let ctx = env.context(args.json)?;
    let report = ops::verify_attestation(&ctx, &args.reference, &keys, &args.kind).await?;
    if args.json {
        // The verified statements themselves, as cosign's verify-attestation prints them.
        output::json(&report.verified)?;
    } else {
        output::line(format!(
            "Verification for {}, predicate {}",
            report.reference, report.predicate_type
        ))?;
        for a in &report.verified {
            output::line(format!(
                "  ok    by {} ({})",
                a.signers.join(", "),
                a.source
            ))?;
            if let Some(statement) = &a.statement {
                output::line(format!("        {}", statement.predicate))?;
            }
        }
        for a in &report.rejected {
            let kind = a.predicate_type.as_deref().unwrap_or("?");
            output::line(format!(
                "  bad   {kind} ({}): {}",
                a.source,
                a.problem.as_deref().unwrap_or_default()
            ))?;
        }
        for problem in &report.problems {
            output::line(format!("  bad   {problem}"))?;
        }
    }
    report.into_result()?;
    Ok(())
}

pub async fn verify_dir(args: VerifyDirArgs) -> anyhow::Result<()> {
    let trust = args.trust.load()?.ok_or(ops::Error::NothingTrusted)?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let (report, root) =
        ops::verify_dir(&args.dir, args.signature.as_deref(), &trust, threads).await?;
    if args.json {
        output::json(&report)?;
    } else {
        let mut rows: Vec<(&str, &String)> = Vec::new();
        let c = &report.comparison;
        rows.extend(c.changed.iter().map(|p| ("changed", p)));
        rows.extend(c.missing.iter().map(|p| ("missing", p)));
        rows.extend(c.extra.iter().map(|p| ("extra", p)));
        for (mark, path) in rows {
            output::line(format!("  {mark:<8} {}", output::escape(path)))?;
        }
        if report.verified {
            output::line(format!(
                "Verified {}: {} files ({}) signed by {} ({})",
                report.dir.display(),
                report.files,
                output::size(report.bytes),
                report.signers.join(", "),
                report.signature.display()
            ))?;
        }
    }
    report.into_result(&root)?;
    Ok(())
}
