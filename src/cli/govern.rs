//! `modelark versions`, `promote`, `rollback` and `history`.

use std::path::PathBuf;

use modelark::governance::history::{self, Moved};
use modelark::governance::versions::{self, VersionInfo};
use modelark::reference::{Reference, Tag};
use modelark::verify::{Policy, TrustedKey};

use super::sign::{SigningKey, load_private_key};
use super::verify::{TrustArgs, enforce_alias};
use super::{Op, RegistryArgs, endpoint, output};

#[derive(Debug, clap::Args)]
pub struct VersionsArgs {
    /// The repository: HOST/REPO, a local NAME, or oci:PATH.
    repository: Reference,
    #[command(flatten)]
    trust: TrustArgs,
    /// Manifests read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    concurrency: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The version to promote: HOST/REPO:VERSION (or NAME:VERSION, oci:PATH:VERSION).
    reference: Reference,
    /// The alias to move (production, staging, champion).
    #[arg(long = "to", value_name = "ALIAS")]
    alias: Tag,
    #[command(flatten)]
    key: SigningKey,
    /// Require what this policy asks for the alias (see docs/policy.md).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Why, recorded in the signed promotion record.
    #[arg(long)]
    reason: Option<String>,
    /// Who, recorded in the record (default: $USER).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The repository: HOST/REPO, a local NAME, or oci:PATH.
    repository: Reference,
    /// The alias to move back.
    #[arg(long, value_name = "ALIAS")]
    alias: Tag,
    #[command(flatten)]
    key: SigningKey,
    /// Require what this policy asks for the alias; its keys also verify earlier records.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Why, recorded in the signed record.
    #[arg(long)]
    reason: Option<String>,
    /// Who (default: $USER).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The repository: HOST/REPO, a local NAME, or oci:PATH.
    repository: Reference,
    /// Only this alias's moves.
    #[arg(long, value_name = "ALIAS")]
    alias: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn trusted(trust: &TrustArgs) -> anyhow::Result<Vec<TrustedKey>> {
    Ok(trust.load()?.map(|p| p.keys().to_vec()).unwrap_or_default())
}

fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

pub async fn list_versions(args: VersionsArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let keys = trusted(&args.trust)?;
    let repository = args.repository.without_selector();
    let endpoint = endpoint(&repository, registry, false)?;
    let found = versions::list(&endpoint, &keys, args.concurrency)
        .await
        .op(|| format!("failed to list the versions of {repository}"))?;
    if args.json {
        return output::json(&found);
    }
    let rows: Vec<Vec<String>> = found
        .versions
        .iter()
        .map(|v| row(v, !keys.is_empty()))
        .collect();
    output::table(
        &[
            "VERSION",
            "DIGEST",
            "SIZE",
            "CREATED",
            "FRAMEWORK",
            "SIGNED",
            "APPROVALS",
            "ALIASES",
        ],
        &rows,
    )
}

fn row(v: &VersionInfo, verified: bool) -> Vec<String> {
    let signed = match (verified, v.signers.is_empty()) {
        (true, false) => v.signers.join(","),
        (_, _) if v.signatures == 0 => "-".into(),
        (true, true) => format!("{} untrusted", v.signatures),
        (false, _) => format!("{} (unchecked)", v.signatures),
    };
    let mut approvals: Vec<String> = v
        .approvals
        .iter()
        .map(|(env, keys)| format!("{env}:{}", keys.join(",")))
        .collect();
    approvals.extend(
        v.rejections
            .iter()
            .map(|(env, keys)| format!("{env}:REJECTED by {}", keys.join(","))),
    );
    vec![
        v.tag.clone(),
        v.digest.short(),
        output::size(v.size),
        v.created.clone().unwrap_or_else(|| "-".into()),
        v.metadata.framework.clone().unwrap_or_else(|| "-".into()),
        signed,
        if approvals.is_empty() {
            "-".into()
        } else {
            approvals.join(" ")
        },
        if v.aliases.is_empty() {
            "-".into()
        } else {
            v.aliases.join(",")
        },
    ]
}

fn load_policy(path: &Option<PathBuf>) -> anyhow::Result<Option<Policy>> {
    path.as_ref()
        .map(|p| Policy::load(p).op(|| "failed to load the trust policy".into()))
        .transpose()
}

fn print_moved(json: bool, repository: &Reference, moved: &Moved) -> anyhow::Result<()> {
    if json {
        return output::json(moved);
    }
    let alias = repository.with_tag(moved.alias.parse().map_err(anyhow::Error::msg)?);
    if moved.from.as_ref() == Some(&moved.to) {
        return output::line(format!(
            "{alias} already points at {} ({}); nothing recorded",
            moved.version, moved.to
        ));
    }
    let from = moved.from.as_ref().map_or("nothing".into(), |d| d.short());
    output::line(format!(
        "{alias}: {from} -> {} ({})",
        moved.version, moved.to
    ))
}

pub async fn promote(args: PromoteArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let Some(version) = args.reference.tag().cloned() else {
        anyhow::bail!(
            "promote takes REPO:VERSION; {} names no version",
            args.reference
        );
    };
    let key = load_private_key(&args.key)?;
    let policy = load_policy(&args.policy)?;
    let endpoint = endpoint(&args.reference, registry, false)?;
    if let Some(policy) = &policy {
        enforce_alias(&endpoint, &args.reference, policy, args.alias.as_str()).await?;
    }
    let moved = history::move_alias(
        &endpoint,
        &version,
        &args.alias,
        &key,
        &who(&args.by),
        args.reason.clone(),
        "promote",
    )
    .await
    .op(|| format!("failed to promote {} to {}", args.reference, args.alias))?;
    print_moved(args.json, &args.reference.without_selector(), &moved)
}

pub async fn rollback(args: RollbackArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let policy = load_policy(&args.policy)?;
    let repository = args.repository.without_selector();
    let endpoint = endpoint(&repository, registry, false)?;
    let mut keys: Vec<TrustedKey> = policy
        .as_ref()
        .map(|p| p.keys().to_vec())
        .unwrap_or_default();
    if !keys.iter().any(|k| k.key == key.public_key()) {
        keys.push(TrustedKey {
            name: args.key_name(),
            key: key.public_key(),
        });
    }
    let what = || format!("failed to roll back {repository}:{}", args.alias);
    let found = versions::list(&endpoint, &keys, 8).await.op(what)?;
    let target = history::rollback_target(&found, args.alias.as_str()).op(what)?;
    if let Some(policy) = &policy {
        enforce_alias(
            &endpoint,
            &repository.with_tag(target.clone()),
            policy,
            args.alias.as_str(),
        )
        .await?;
    }
    let moved = history::move_alias(
        &endpoint,
        &target,
        &args.alias,
        &key,
        &who(&args.by),
        args.reason.clone(),
        "rollback",
    )
    .await
    .op(what)?;
    print_moved(args.json, &repository, &moved)
}

impl RollbackArgs {
    fn key_name(&self) -> String {
        format!("{} (signing key)", self.key.path().display())
    }
}

pub async fn show_history(args: HistoryArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let keys = trusted(&args.trust)?;
    let repository = args.repository.without_selector();
    let endpoint = endpoint(&repository, registry, false)?;
    let found = versions::list(&endpoint, &keys, 8)
        .await
        .op(|| format!("failed to read the history of {repository}"))?;
    let events = history::timeline(&found, args.alias.as_deref());
    if args.json {
        return output::json(&events);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.time.clone().unwrap_or_else(|| "-".into()),
                e.kind.clone(),
                e.version.clone(),
                if e.verified {
                    "verified".into()
                } else {
                    "UNVERIFIED".into()
                },
                e.detail.clone(),
            ]
        })
        .collect();
    output::table(&["TIME", "EVENT", "VERSION", "STATUS", "DETAIL"], &rows)
}
