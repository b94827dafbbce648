//! `modelark push`, `pull` and `copy`: models between directories, stores and registries.

use std::path::PathBuf;

use modelark::governance::versions::Overwrite;
use modelark::ops::{self, Source, Trust, Unpack};
use modelark::reference::Reference;

use super::pack::{ModelArgs, model_input, model_source};
use super::verify::{TrustArgs, load_policy};
use super::{Env, output};

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// A model directory, hf:ORG/NAME[@REVISION] (the local Hugging Face cache), or a
    /// stored model (NAME:TAG, oci:PATH:TAG, HOST/REPO:TAG).
    source: String,
    /// The registry reference to push to (HOST/REPO[:TAG]; the tag defaults to the source's, else latest).
    target: Reference,
    #[command(flatten)]
    model: ModelArgs,
    /// Move a version tag that already names another model (versions are immutable).
    #[arg(long)]
    force: bool,
    /// With --force: the policy whose rule for the target must set overwriteVersions: true.
    #[arg(long, value_name = "FILE", requires = "force")]
    policy: Option<PathBuf>,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The model on a registry: HOST/REPO[:TAG][@DIGEST].
    reference: Reference,
    /// Also unpack it into this directory (same safety rules as `unpack`).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// With -o: fetch and unpack only files matching GLOB (repeatable).
    #[arg(long = "include", value_name = "GLOB", requires = "output")]
    include: Vec<String>,
    /// With -o: replace DIR if it exists and is not empty.
    #[arg(long, requires = "output")]
    force: bool,
    /// With -o: write the model's OpenSSF model signature as DIR/model.sig (one the
    /// --key/--policy trusts, when given), for `model_signing verify` and `verify-dir`.
    #[arg(long, requires = "output")]
    model_sig: bool,
    #[command(flatten)]
    trust: TrustArgs,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// From: NAME:TAG, oci:PATH:TAG or HOST/REPO:TAG.
    source: Reference,
    /// To: NAME[:TAG], oci:PATH[:TAG] or HOST/REPO[:TAG] (the tag defaults to the source's).
    target: Reference,
    #[command(flatten)]
    trust: TrustArgs,
    /// Move a version tag that already names another model (versions are immutable); with
    /// --policy, only where its rule for the target sets overwriteVersions: true.
    #[arg(long)]
    force: bool,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn push(args: PushArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(args.json)?.with_concurrency(args.concurrency);
    let source = if args.source.starts_with(ops::hf::PREFIX) {
        Source::Directory(Box::new(model_source(&args.model, args.source.as_ref())?))
    } else {
        match ops::Source::parse(&args.source)? {
            Source::Directory(_) => {
                Source::Directory(Box::new(model_input(&args.model, args.source.as_ref())?))
            }
            model => model,
        }
    };
    let policy = load_policy(args.policy.as_ref())?;
    let overwrite = Overwrite {
        force: args.force,
        policy: policy.as_ref().and_then(Trust::governing),
    };
    let pushed = ops::push(&ctx, &source, &args.target, overwrite).await?;
    for warning in &pushed.warnings {
        tracing::warn!("{warning}");
    }
    print(args.json, &pushed)
}

pub async fn copy(args: CopyArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(args.json)?.with_concurrency(args.concurrency);
    // One policy verifies the source and, from a file, governs overwriting the target.
    let trust = args.trust.load()?;
    let overwrite = Overwrite {
        force: args.force,
        policy: trust.as_ref().and_then(Trust::governing),
    };
    let pushed = ops::copy(&ctx, &args.source, &args.target, trust.as_ref(), overwrite).await?;
    print(args.json, &pushed)
}

fn print(json: bool, pushed: &ops::Pushed) -> anyhow::Result<()> {
    if json {
        return output::json(pushed);
    }
    output::line(&pushed.reference)
}

pub async fn pull(args: PullArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(args.json)?.with_concurrency(args.concurrency);
    let trust = args.trust.load()?;
    let unpack = args.output.as_ref().map(|dir| Unpack {
        dir: dir.clone(),
        include: args.include.clone(),
        force: args.force,
        model_sig: args.model_sig,
    });
    let pulled = ops::pull(&ctx, &args.reference, trust.as_ref(), unpack.as_ref()).await?;
    if pulled.files.is_some() {
        output::warn_skipped(&pulled.skipped, pulled.files.unwrap_or_default());
    }
    if args.json {
        return output::json(&pulled);
    }
    output::line(&pulled.reference)?;
    if let (Some(out), Some(files)) = (&pulled.output, pulled.files) {
        if pulled.unchanged {
            return output::line(format!(
                "{} already holds this model ({files} files); nothing written",
                out.display()
            ));
        }
        output::line(format!(
            "unpacked {files} files ({}) into {}",
            output::size(pulled.size),
            out.display()
        ))?;
    }
    Ok(())
}
