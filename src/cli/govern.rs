//! `modelark versions`, `promote`, `rollback` and `history`.

use std::path::PathBuf;

use modelark::governance::history::Moved;
use modelark::governance::versions::VersionInfo;
use modelark::ops::{self, Move, Trust};
use modelark::reference::{Reference, Tag};
use modelark::sign::PrivateKey;

use super::sign::{SigningKey, load_private_key};
use super::verify::{TrustArgs, load_policy};
use super::{Env, output};

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

fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

pub async fn list_versions(args: VersionsArgs, env: &Env) -> anyhow::Result<()> {
    let trust = args.trust.policy()?;
    let ctx = env.context(args.json)?.with_concurrency(args.concurrency);
    let found = ops::versions(&ctx, &args.repository, &trust).await?;
    let keys = trust.keys();
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

/// An alias move's signing key and policy, loaded.
struct Mover {
    key: PrivateKey,
    key_name: String,
    policy: Option<Trust>,
    by: String,
}

impl MoveArgs {
    fn load(&self) -> anyhow::Result<Mover> {
        Ok(Mover {
            key: load_private_key(&self.key)?,
            key_name: self.key.path().display().to_string(),
            policy: load_policy(self.policy.as_ref())?,
            by: who(&self.by),
        })
    }
}

impl Mover {
    fn how<'a>(&'a self, args: &'a MoveArgs) -> Move<'a> {
        Move {
            key: &self.key,
            key_name: &self.key_name,
            policy: self.policy.as_ref().map(Trust::rules),
            by: &self.by,
            reason: args.reason.as_deref(),
        }
    }
}

pub async fn promote(args: PromoteArgs, env: &Env) -> anyhow::Result<()> {
    let mover = args.record.load()?;
    let ctx = args
        .record
        .key
        .context(env.context(args.record.json)?.with_concurrency(8));
    let how = mover.how(&args.record);
    let moved = ops::promote(&ctx, &args.reference, &args.alias, &how).await?;
    print_moved(args.record.json, &args.reference.without_selector(), &moved)
}

pub async fn rollback(args: RollbackArgs, env: &Env) -> anyhow::Result<()> {
    let mover = args.record.load()?;
    let ctx = args
        .record
        .key
        .context(env.context(args.record.json)?.with_concurrency(8));
    let how = mover.how(&args.record);
    let moved = ops::rollback(&ctx, &args.repository, &args.alias, &how).await?;
    print_moved(
        args.record.json,
        &args.repository.without_selector(),
        &moved,
    )
}

pub async fn show_history(args: HistoryArgs, env: &Env) -> anyhow::Result<()> {
    let trust = args.trust.policy()?;
    let ctx = env.context(args.json)?.with_concurrency(8);
    let events = ops::history(&ctx, &args.repository, &trust, args.alias.as_deref()).await?;
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
