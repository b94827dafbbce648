//! `modelark unpack REF -o DIR`: the model's files, verified, written atomically.

use std::path::PathBuf;

use modelark::ops;
use modelark::reference::Reference;

use super::{Env, output};

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
    /// Also write the model's OpenSSF model signature as DIR/model.sig (for
    /// `model_signing verify` and `modelark verify-dir`).
    #[arg(long)]
    model_sig: bool,
    /// With --model-sig: write a signature this public key verifies (repeatable).
    #[arg(long = "key", value_name = "PUB", requires = "model_sig")]
    keys: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(args.json)?;
    let reference = &args.reference;
    let keys = ops::verify::load_public_keys(&args.keys)?;
    let model_sig = args.model_sig.then_some(keys.as_slice());
    let unpacked = ops::unpack(
        &ctx,
        reference,
        &args.output,
        &args.include,
        args.force,
        model_sig,
    )
    .await?;
    output::warn_skipped(&unpacked.skipped, unpacked.files);
    if args.json {
        return output::json(&unpacked);
    }
    let short = unpacked.digest.short();
    if unpacked.unchanged {
        return output::line(format!(
            "{} already holds {reference}@{short} ({} files); nothing written",
            args.output.display(),
            unpacked.files
        ));
    }
    output::line(format!(
        "unpacked {} files ({}) from {reference}@{short} into {}",
        unpacked.files,
        output::size(unpacked.bytes),
        args.output.display()
    ))
}
