//! `modelark export REF -o FILE.tar` and `modelark import FILE.tar`.

use std::io;
use std::path::PathBuf;

use modelark::ops;
use modelark::reference::Reference;

use super::{Env, output};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model: NAME[:TAG][@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: Reference,
    /// The archive to write, or - for stdout.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The archive, or - for stdin.
    input: PathBuf,
    /// Store it as NAME[:TAG] instead of the name recorded in the archive.
    #[arg(short = 't', long = "tag", value_name = "REF")]
    target: Option<Reference>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn export(args: ExportArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    if args.output.as_os_str() == "-" {
        ops::export_to(&ctx, &args.reference, &mut io::stdout().lock())?;
        return Ok(());
    }
    let exported = ops::export(&ctx, &args.reference, &args.output)?;
    output::line(format!(
        "exported {}@{} to {}",
        exported.reference,
        exported.digest.short(),
        exported.output.display()
    ))
}

pub fn import(args: ImportArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    let target = args.target.as_ref();
    let imported = if args.input.as_os_str() == "-" {
        ops::import_from(&ctx, io::stdin().lock(), &args.input, target)?
    } else {
        ops::import(&ctx, &args.input, target)?
    };
    if args.json {
        return output::json(&imported);
    }
    for item in imported {
        output::line(format!("imported {}@{}", item.reference, item.digest))?;
    }
    Ok(())
}
