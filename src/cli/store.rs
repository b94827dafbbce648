//! `modelark store list|rm|gc|fsck`: look after the local store ($MODELARK_HOME/store).

use modelark::ops;
use modelark::reference::Reference;
use modelark::store::maintain;

use super::{Env, list, output};

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

pub async fn run(args: Args, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    match args.command {
        Command::List { all, json } => list::run(list::Args::whole_store(all, json), env).await,
        Command::Rm { reference, json } => {
            let removed = ops::store_rm(&ctx, &reference)?;
            if json {
                return output::json(&removed);
            }
            for reference in removed.removed {
                output::line(format!("removed the local copy of {reference}"))?;
            }
            Ok(())
        }
        Command::Gc { json } => {
            let empty = !ctx.home().store_path().exists();
            let report = ops::store_gc(&ctx)?;
            if json {
                return output::json(&report);
            }
            if empty {
                return output::line("the local store is empty");
            }
            output::line(format!(
                "freed {} ({} unreferenced blobs, {} leftovers of interrupted work)",
                output::size(report.bytes),
                report.blobs,
                report.leftovers
            ))
        }
        Command::Fsck { repair, json } => {
            let empty = !ctx.home().store_path().exists();
            let report = ops::store_fsck(&ctx, repair)?;
            if json {
                output::json(&report)?;
            } else if empty {
                return output::line("the local store is empty");
            } else {
                print_fsck(&report)?;
            }
            match ops::store::damaged(&ctx, &report) {
                Some(damaged) => Err(damaged.into()),
                None => Ok(()),
            }
        }
    }
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
