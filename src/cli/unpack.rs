//! `modelark unpack REF -o DIR`: the model's files, verified, written atomically.

use std::path::PathBuf;

use modelark::package::{self, unpack::Options};
use modelark::reference::Reference;
use serde::Serialize;

use super::{Op, open_repo, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model: NAME[:TAG][@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: Reference,
    /// The directory to create (an existing empty one is fine).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Only files matching GLOB (repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Replace DIR if it exists and is not empty (only once everything is written).
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Outcome {
    reference: String,
    digest: String,
    output: PathBuf,
    files: usize,
    bytes: u64,
    skipped: Vec<String>,
    unchanged: bool,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let reference = &args.reference;
    let repo = open_repo(reference, false)?;
    let (descriptor, manifest) = repo
        .manifest(reference)
        .op(|| format!("failed to read {reference}"))?;
    let options = Options {
        include: args.include.clone(),
        force: args.force,
        verified: Default::default(),
        output: None,
    };
    let reporter = output::reporter(quiet, args.json);
    let report = package::unpack(
        repo.layout(),
        &manifest,
        &args.output,
        &options,
        reporter.as_ref(),
    )
    .op(|| {
        format!(
            "failed to unpack {reference} into {}",
            args.output.display()
        )
    })?;
    output::warn_skipped(&report);
    let outcome = Outcome {
        reference: reference.to_string(),
        digest: descriptor.digest.to_string(),
        output: args.output.clone(),
        files: report.files,
        bytes: report.bytes,
        skipped: report.skipped,
        unchanged: report.unchanged,
    };
    if args.json {
        return output::json(&outcome);
    }
    if outcome.unchanged {
        return output::line(format!(
            "{} already holds {}@{} ({} files); nothing written",
            args.output.display(),
            reference,
            descriptor.digest.short(),
            outcome.files
        ));
    }
    output::line(format!(
        "unpacked {} files ({}) from {}@{} into {}",
        outcome.files,
        output::size(outcome.bytes),
        reference,
        descriptor.digest.short(),
        args.output.display()
    ))
}
