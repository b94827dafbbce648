//! `modelark store list|rm|gc|fsck`: look after the local store ($MODELARK_HOME/store).

use modelark::reference::Reference;
use modelark::store::{Home, Layout, LayoutRepo, maintain};
use serde::Serialize;

use super::{Op, RegistryArgs, list, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Everything the local store holds: packed, imported and pulled models.
    #[command(after_help = "Examples:\n  modelark store list\n  modelark store list --all --json")]
    List {
        /// Also list signature and attestation tags.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a model's local copy (NAME:TAG, or HOST/REPO:TAG pulled from a registry; the
    /// registry is not touched) and free the blobs nothing else uses.
    #[command(
        after_help = "Examples:\n  modelark store rm ghcr.io/acme/bert:1.0.0\n  modelark store rm bert@sha256:4c3f..."
    )]
    Rm {
        /// The model.
        reference: Reference,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Free unreferenced blobs and what interrupted work left behind (temp files, partial
    /// downloads no process is continuing, unpack directories of processes that died).
    #[command(after_help = "Examples:\n  modelark store gc")]
    Gc {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every blob and check every entry; exit 1 when anything is damaged.
    #[command(
        after_help = "Examples:\n  modelark store fsck\n  modelark store fsck --repair   # deletes corrupt blobs; pull or import the models again"
    )]
    Fsck {
        /// Delete corrupt blobs.
        #[arg(long)]
        repair: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A damaged store: exit 1, as for any failed verification.
#[derive(Debug, thiserror::Error)]
#[error("the local store {} has {corrupt} corrupt blobs and {broken} broken entries", path.display())]
pub struct Damaged {
    path: std::path::PathBuf,
    corrupt: usize,
    broken: usize,
}

#[derive(Serialize)]
struct Removed {
    removed: Vec<String>,
}

pub async fn run(args: Args, registry: &RegistryArgs) -> anyhow::Result<()> {
    let home = Home::from_env().op(|| "failed to locate the local store".into())?;
    match args.command {
        Command::List { all, json } => {
            list::run(list::Args::whole_store(all, json), registry).await
        }
        Command::Rm { reference, json } => {
            let what = || format!("failed to remove the local copy of {reference}");
            let repo = LayoutRepo::open(&reference, &home, false).op(what)?;
            let removed: Vec<String> = repo
                .remove(&reference)
                .op(what)?
                .into_iter()
                .map(|tag| reference.with_tag(tag).to_string())
                .collect();
            if json {
                return output::json(&Removed { removed });
            }
            for reference in removed {
                output::line(format!("removed the local copy of {reference}"))?;
            }
            Ok(())
        }
        Command::Gc { json } => {
            let Some(layout) = open(&home)? else {
                return if json {
                    output::json(&modelark::store::GcReport::default())
                } else {
                    output::line("the local store is empty")
                };
            };
            let report = layout
                .gc()
                .op(|| "failed to collect garbage in the local store".into())?;
            if json {
                return output::json(&report);
            }
            output::line(format!(
                "freed {} ({} unreferenced blobs, {} leftovers of interrupted work)",
                output::size(report.bytes),
                report.blobs,
                report.leftovers
            ))
        }
        Command::Fsck { repair, json } => {
            let Some(layout) = open(&home)? else {
                return if json {
                    output::json(&maintain::FsckReport::default())
                } else {
                    output::line("the local store is empty")
                };
            };
            let report =
                maintain::fsck(&layout, repair).op(|| "failed to check the local store".into())?;
            if json {
                output::json(&report)?;
            } else {
                print_fsck(&report)?;
            }
            if report.is_clean() {
                return Ok(());
            }
            Err(Damaged {
                path: layout.root().to_owned(),
                corrupt: report.corrupt.len(),
                broken: report.broken.len(),
            }
            .into())
        }
    }
}

fn open(home: &Home) -> anyhow::Result<Option<Layout>> {
    if !home.store_path().exists() {
        return Ok(None);
    }
    Layout::open(home.store_path())
        .map(Some)
        .op(|| "failed to open the local store".into())
}

fn print_fsck(report: &maintain::FsckReport) -> anyhow::Result<()> {
    for blob in &report.corrupt {
        output::line(format!(
            "corrupt: {} hashes to {}{}",
            blob.path.display(),
            output::escape(&blob.actual),
            if report.removed > 0 { " (removed)" } else { "" }
        ))?;
    }
    for entry in &report.broken {
        output::line(format!(
            "broken: {} needs {}: {}",
            output::escape(&entry.reference),
            entry.digest,
            output::escape(&entry.problem)
        ))?;
    }
    if !report.leftovers.is_empty() {
        output::line(format!(
            "{} leftovers of interrupted work (`modelark store gc` removes them)",
            report.leftovers.len()
        ))?;
    }
    output::line(format!(
        "checked {} blobs ({}): {} corrupt, {} broken entries",
        report.blobs,
        output::size(report.bytes),
        report.corrupt.len(),
        report.broken.len()
    ))
}
