//! `modelark versions`, `promote`, `rollback` and `history`.

use std::path::PathBuf;

use modelark::governance::history::{self, Moved};
use modelark::governance::versions::{self, VersionInfo};
use modelark::reference::{Reference, Tag};
use modelark::sign::PrivateKey;
use modelark::store::Endpoint;
use modelark::verify::{Policy, TrustedKey};

use super::sign::{SigningKey, load_private_key};
use super::verify::{TrustArgs, enforce, load_policy};
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
    record: MoveArgs,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The repository: HOST/REPO, a local NAME, or oci:PATH.
    repository: Reference,
    /// The alias to move back.
    #[arg(long, value_name = "ALIAS")]
    alias: Tag,
    #[command(flatten)]
    record: MoveArgs,
}

/// What every alias move takes: who signs its record, the policy it must meet, and why.
#[derive(Debug, clap::Args)]
pub struct MoveArgs {
    #[command(flatten)]
    key: SigningKey,
    /// Require what this policy asks for the alias (see docs/policy.md); for rollback its
    /// keys also verify earlier records.
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

/// The signing key and the policy of an alias move, loaded.
struct Mover {
    key: PrivateKey,
    policy: Option<Policy>,
}

impl MoveArgs {
    fn load(&self) -> anyhow::Result<Mover> {
        Ok(Mover {
            key: load_private_key(&self.key)?,
            policy: load_policy(self.policy.as_ref())?,
        })
    }

    /// Checks what the policy asks of `alias` on `version` (when a policy is given), then
    /// moves the alias with a signed record (`action`: promote or rollback) and prints it.
    async fn apply(
        &self,
        mover: &Mover,
        endpoint: &Endpoint,
        repository: &Reference,
        version: &Tag,
        alias: &Tag,
        action: &str,
    ) -> anyhow::Result<()> {
        let model = repository.with_tag(version.clone());
        if let Some(policy) = &mover.policy {
            enforce(endpoint, &model, policy, Some(alias.as_str())).await?;
        }
        let by = who(&self.by);
        let reason = self.reason.clone();
        let moved = history::move_alias(endpoint, version, alias, &mover.key, &by, reason, action)
            .await
            .op(|| format!("failed to {action} {model} to {alias}"))?;
        print_moved(self.json, repository, &moved)
    }
}

pub async fn promote(args: PromoteArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let Some(version) = args.reference.tag().cloned() else {
        anyhow::bail!(
            "promote takes REPO:VERSION; {} names no version",
            args.reference
        );
    };
    let mover = args.record.load()?;
    let endpoint = endpoint(&args.reference, registry, false)?;
    let repository = args.reference.without_selector();
    args.record
        .apply(
            &mover,
            &endpoint,
            &repository,
            &version,
            &args.alias,
            "promote",
        )
        .await
}

pub async fn rollback(args: RollbackArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let mover = args.record.load()?;
    let (key, policy) = (&mover.key, &mover.policy);
    let repository = args.repository.without_selector();
    let endpoint = endpoint(&repository, registry, false)?;
    // Earlier records count when a policy key or the signing key itself signed them.
    let mut keys: Vec<TrustedKey> = policy
        .as_ref()
        .map(|p| p.keys().to_vec())
        .unwrap_or_default();
    if !keys.iter().any(|k| k.key == key.public_key()) {
        let name = format!("{} (signing key)", args.record.key.path().display());
        keys.push(TrustedKey {
            name,
            key: key.public_key(),
        });
    }
    let what = || format!("failed to roll back {repository}:{}", args.alias);
    let found = versions::list(&endpoint, &keys, 8).await.op(what)?;
    let target = history::rollback_target(&found, args.alias.as_str()).op(what)?;
    args.record
        .apply(
            &mover,
            &endpoint,
            &repository,
            &target,
            &args.alias,
            "rollback",
        )
        .await
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
