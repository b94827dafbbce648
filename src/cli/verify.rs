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
    #[command(flatten)]
    keyless: KeylessArgs,
    /// Trust RFC 3161 timestamps by this time-stamping authority: a PEM file of its
    /// certificate chain, the TSA's certificate first (repeatable; as cosign's flag).
    #[arg(long = "timestamp-certificate-chain", value_name = "PEM")]
    timestamp_chains: Vec<PathBuf>,
    /// Count a signature or attestation only with a timestamp by a trusted authority.
    #[arg(long, requires = "timestamp_chains")]
    require_timestamp: bool,
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
    #[command(flatten)]
    trust: TrustArgs,
    /// The predicate type required (short name or URI).
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// Print JSON (the verified statements).
    #[arg(long)]
    json: bool,
}

/// Keyless (Sigstore) signatures: the trusted root and the identity to require, with
/// cosign's flag names.
#[derive(Debug, Default, clap::Args)]
pub struct KeylessArgs {
    /// A Sigstore trusted_root.json (Fulcio CAs, Rekor and CT log keys) for keyless
    /// signatures.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// The signer's identity (the certificate's e-mail or URI), exactly.
    #[arg(long, value_name = "ID")]
    certificate_identity: Option<String>,
    /// The signer's identity, as a regular expression (the whole value must match).
    #[arg(long, value_name = "RE", conflicts_with = "certificate_identity")]
    certificate_identity_regexp: Option<String>,
    /// The OIDC issuer of the identity, exactly (https://accounts.google.com,
    /// https://token.actions.githubusercontent.com, ...).
    #[arg(long, value_name = "URL")]
    certificate_oidc_issuer: Option<String>,
    /// The OIDC issuer, as a regular expression.
    #[arg(long, value_name = "RE", conflicts_with = "certificate_oidc_issuer")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// GitHub Actions: the workflow's repository (owner/name).
    #[arg(long, value_name = "REPO")]
    certificate_github_workflow_repository: Option<String>,
    /// GitHub Actions: the workflow's git ref (refs/heads/main).
    #[arg(long, value_name = "REF")]
    certificate_github_workflow_ref: Option<String>,
    /// GitHub Actions: the commit the workflow ran on.
    #[arg(long, value_name = "SHA")]
    certificate_github_workflow_sha: Option<String>,
    /// GitHub Actions: the event that triggered the workflow (push, release, ...).
    #[arg(long, value_name = "EVENT")]
    certificate_github_workflow_trigger: Option<String>,
    /// GitHub Actions: the workflow's name.
    #[arg(long, value_name = "NAME")]
    certificate_github_workflow_name: Option<String>,
}

impl KeylessArgs {
    /// The keyless trust these flags describe, if any.
    pub fn load(&self) -> anyhow::Result<Option<modelark::sign::keyless::Keyless>> {
        use modelark::sign::keyless::{Identity, Keyless, Matcher, TrustedRoot};
        let matcher = |exact: &Option<String>, regexp: &Option<String>, flag: &str| {
            Matcher::one_of(exact.as_deref(), regexp.as_deref())
                .map_err(anyhow::Error::msg)?
                .ok_or_else(|| {
                    anyhow::anyhow!("keyless verification needs --{flag} or --{flag}-regexp")
                })
        };
        let claims: Vec<(String, String)> = [
            ("repository", &self.certificate_github_workflow_repository),
            ("ref", &self.certificate_github_workflow_ref),
            ("sha", &self.certificate_github_workflow_sha),
            ("trigger", &self.certificate_github_workflow_trigger),
            ("name", &self.certificate_github_workflow_name),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name.to_owned(), v)))
        .collect();
        let asked = self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
            || !claims.is_empty();
        let Some(path) = &self.trusted_root else {
            if asked {
                anyhow::bail!(
                    "an identity is checked against a Sigstore trusted root: pass --trusted-root FILE"
                );
            }
            return Ok(None);
        };
        let root = TrustedRoot::load(path).map_err(anyhow::Error::msg)?;
        let identity = Identity {
            subject: matcher(
                &self.certificate_identity,
                &self.certificate_identity_regexp,
                "certificate-identity",
            )?,
            issuer: matcher(
                &self.certificate_oidc_issuer,
                &self.certificate_oidc_issuer_regexp,
                "certificate-oidc-issuer",
            )?,
            claims,
        };
        Ok(Some(Keyless {
            root,
            identities: vec![(identity.to_string(), identity)],
        }))
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyDirArgs {
    /// The model directory.
    dir: PathBuf,
    /// The signature (default DIR/model.sig).
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Trust this public key (ECDSA P-256/P-384, RSA or Ed25519 PEM; repeatable).
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<PathBuf>,
    /// Trust the keys this trust policy names.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Certificate-mode signatures: the CA certificates (PEM) to trust (repeatable), as
    /// model_signing's --certificate_chain.
    #[arg(long, value_name = "PEM")]
    certificate_chain: Vec<PathBuf>,
    /// Leave out this path (relative to DIR, or under it) besides what the signature
    /// leaves out (repeatable), as model_signing's --ignore-paths.
    #[arg(long = "ignore-paths", value_name = "PATH")]
    ignore_paths: Vec<PathBuf>,
    #[command(flatten)]
    keyless: KeylessArgs,
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
        let keyless = self.keyless.load()?;
        let trust = if self.policy.is_some() {
            load_policy(self.policy.as_ref())?.map(|t| t.with_keyless(keyless))
        } else if self.keys.is_empty() && keyless.is_none() {
            None
        } else {
            Some(Trust::load_keys(&self.keys)?.with_keyless(keyless))
        };
        let Some(trust) = trust else {
            return Ok(None);
        };
        let mut authorities = Vec::new();
        for path in &self.timestamp_chains {
            authorities.push(ops::verify::load_timestamp_authority(path)?);
        }
        Ok(Some(trust.with_timestamp_authorities(
            authorities,
            self.require_timestamp,
        )))
    }

    /// The policy these flags describe; trusting no one when no flag was given.
    pub fn policy(&self) -> anyhow::Result<modelark::verify::Policy> {
        Ok(self.load()?.map_or_else(
            || modelark::verify::Policy::trust_keys(Vec::new()),
            |t| t.rules().clone(),
        ))
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

/// `, timestamped at TIME by AUTHORITY` for a record a trusted authority stamped.
fn stamped(stamp: Option<&modelark::sign::timestamp::Stamp>) -> String {
    stamp.map_or_else(String::new, |s| {
        format!(
            ", timestamped at {}",
            modelark::sign::timestamp::describe(s)
        )
    })
}

fn print_evidence(report: &ops::Report) -> anyhow::Result<()> {
    output::line(format!("Verification for {}", report.reference))?;
    let evidence = &report.evidence;
    for s in &evidence.signatures {
        match &s.problem {
            None => output::line(format!(
                "  ok    signature by {} ({}){}",
                s.signers.join(", "),
                s.source,
                stamped(s.timestamp.as_ref())
            ))?,
            Some(problem) => output::line(format!("  bad   signature ({}): {problem}", s.source))?,
        }
    }
    for a in &evidence.attestations {
        let kind = a.predicate_type.as_deref().unwrap_or("?");
        match &a.problem {
            None => output::line(format!(
                "  ok    attestation {kind} by {} ({}){}",
                a.signers.join(", "),
                a.source,
                stamped(a.timestamp.as_ref())
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
    let trust = args.trust.load()?.ok_or(ops::Error::NothingTrusted)?;
    let ctx = env.context(args.json)?;
    let report =
        ops::verify::verify_attestation_under(&ctx, &args.reference, &trust, &args.kind).await?;
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
    let mut trust = match load_policy(args.policy.as_ref())? {
        Some(policy) => ops::verify_dir::DirTrust::from_trust(&policy),
        None => ops::verify_dir::DirTrust::default(),
    };
    let keyless = args.keyless.load()?;
    trust
        .keys
        .extend(ops::verify_dir::DirTrust::load_keys(&args.keys)?);
    trust.certificate_chain =
        ops::verify_dir::DirTrust::load_certificates(&args.certificate_chain)?;
    if keyless.is_some() {
        trust.keyless = keyless;
    }
    trust.ignore_paths = args
        .ignore_paths
        .iter()
        .map(|p| relative_to(&args.dir, p))
        .collect::<anyhow::Result<_>>()?;
    if trust.is_empty() {
        anyhow::bail!(ops::Error::NothingTrusted);
    }
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

/// `path` relative to `dir` (`/`-separated): as given when relative to it already, else
/// resolved against the working directory as model_signing does (`./DIR/ignore-me`).
fn relative_to(dir: &std::path::Path, path: &std::path::Path) -> anyhow::Result<String> {
    let absolute = |p: &std::path::Path| std::path::absolute(p).map(|p| normalize(&p));
    let (dir_abs, path_abs) = (absolute(dir)?, absolute(path)?);
    let relative = match path_abs.strip_prefix(&dir_abs) {
        Ok(inside) => inside.to_path_buf(),
        Err(_) => path.to_path_buf(),
    };
    Ok(relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/"))
}

/// `.` and `..` folded away without touching the file system.
fn normalize(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
