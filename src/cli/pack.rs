//! `modelark pack DIR -t REF`: model file and flags → metadata → ModelPack artifact.

use std::path::PathBuf;

use anyhow::Context;
use modelark::governance::versions::Overwrite;
use modelark::metadata::{Dataset, ModelMetadata, Source};
use modelark::ops::{self, BuildTime, ModelInput};
use modelark::package::Kind;
use modelark::reference::Reference;

use super::{Env, key_value, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory, or hf:ORG/NAME[@REVISION]: a model in the local Hugging Face
    /// cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub).
    dir: PathBuf,
    /// Where to store it: NAME[:TAG] (local store) or oci:PATH[:TAG]. The tag defaults to latest.
    #[arg(short = 't', long = "tag", value_name = "REF")]
    target: Reference,
    #[command(flatten)]
    model: ModelArgs,
    /// Files copied at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Move a version tag (e.g. 1.4.0) that already names another model; versions are
    /// immutable otherwise.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Metadata and packaging flags, shared by `pack` and `push DIR`.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model file with metadata and packaging rules [default: DIR/modelark.yaml if present].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    model_file: Option<PathBuf>,
    /// Model name [default: the last component of the target name].
    #[arg(long)]
    name: Option<String>,
    /// Semantic version, e.g. 1.2.0.
    #[arg(long = "version", value_name = "SEMVER")]
    version: Option<semver::Version>,
    /// Title.
    #[arg(long)]
    title: Option<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Author (repeatable; replaces the model file's list).
    #[arg(long = "author", value_name = "AUTHOR")]
    authors: Vec<String>,
    /// SPDX license (repeatable; replaces the model file's list).
    #[arg(long = "license", value_name = "SPDX")]
    licenses: Vec<String>,
    /// Framework, e.g. pytorch.
    #[arg(long)]
    framework: Option<String>,
    /// Weight format, e.g. safetensors.
    #[arg(long)]
    format: Option<String>,
    /// Architecture, e.g. BertForSequenceClassification.
    #[arg(long)]
    architecture: Option<String>,
    /// Parameter count, e.g. 110M.
    #[arg(long)]
    param_size: Option<String>,
    /// Precision, e.g. bf16.
    #[arg(long)]
    precision: Option<String>,
    /// Quantization, e.g. q4_k_m.
    #[arg(long)]
    quantization: Option<String>,
    /// Task, e.g. text-classification.
    #[arg(long)]
    task: Option<String>,
    /// Free-form model tag for discovery (repeatable; replaces the model file's list).
    #[arg(long = "model-tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Metric NAME=NUMBER (repeatable; adds to the model file's).
    #[arg(long = "metric", value_name = "NAME=NUMBER")]
    metrics: Vec<String>,
    /// Source repository URL (lineage).
    #[arg(long, value_name = "URL")]
    source_repo: Option<String>,
    /// Source revision (lineage).
    #[arg(long, value_name = "REV", requires = "source_repo")]
    source_revision: Option<String>,
    /// Training dataset URI[@sha256:DIGEST] (repeatable; replaces the model file's list).
    #[arg(long = "dataset", value_name = "URI[@DIGEST]")]
    datasets: Vec<String>,
    /// Training run URI (lineage).
    #[arg(long, value_name = "URI")]
    training_run: Option<String>,
    /// Parent model REF@sha256:DIGEST (lineage).
    #[arg(long, value_name = "REF@DIGEST")]
    parent: Option<Reference>,
    /// Extra manifest annotation KEY=VALUE (repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Override the kind of files matching GLOB (repeatable): weight, weight.config, doc, code, dataset.
    #[arg(long = "kind", value_name = "GLOB=KIND")]
    kinds: Vec<String>,
    /// Leave out files matching GLOB (repeatable; .git is always left out).
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,
    /// Pack the files symlinks point to even outside DIR.
    #[arg(long)]
    dereference: bool,
    /// Record a build time: RFC 3339 or `now` [default: $SOURCE_DATE_EPOCH if set, else none].
    #[arg(long, value_name = "TIME")]
    created: Option<String>,
}

pub async fn run(args: Args, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(args.json)?.with_concurrency(args.concurrency);
    let model = model_source(&args.model, &args.dir)?;
    let overwrite = Overwrite {
        force: args.force,
        policy: None,
    };
    let packed = ops::pack(&ctx, &model, &args.target, overwrite).await?;
    for warning in &packed.warnings {
        tracing::warn!("{warning}");
    }
    if args.json {
        return output::json(&packed);
    }
    if let Some(replaced) = &packed.replaced {
        tracing::warn!(
            "moved tag {} from {replaced}",
            args.target.with_tag(packed.reference.tag_or_latest())
        );
    }
    output::line(&packed.reference)
}

/// A model directory, or an `hf:` reference into the Hugging Face cache, and what the
/// flags say about it.
pub fn model_source(args: &ModelArgs, dir: &std::path::Path) -> anyhow::Result<ModelInput> {
    if let Some(spec) = dir.to_str().and_then(|d| d.strip_prefix(ops::hf::PREFIX)) {
        let snapshot = ops::hf::resolve(&super::hf_cache(), spec)?;
        return Ok(snapshot.apply(model_input(args, &snapshot.dir)?));
    }
    model_input(args, dir)
}

/// The model directory and what the flags say about it (over its model file's).
pub fn model_input(args: &ModelArgs, dir: &std::path::Path) -> anyhow::Result<ModelInput> {
    let kinds = args
        .kinds
        .iter()
        .map(|rule| {
            let (glob, kind) = key_value(rule)?;
            let kind = kind.parse::<Kind>().map_err(anyhow::Error::msg)?;
            Ok((glob, kind))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(ModelInput {
        dir: dir.to_owned(),
        model_file: args.model_file.clone(),
        overrides: overrides(args)?,
        kinds,
        exclude: args.exclude.clone(),
        annotations: args
            .annotations
            .iter()
            .map(|a| key_value(a))
            .collect::<Result<_, _>>()?,
        dereference: args.dereference,
        created: build_time(args.created.as_deref())?,
        links_within: None,
    })
}

/// The metadata the flags set.
fn overrides(args: &ModelArgs) -> anyhow::Result<ModelMetadata> {
    let mut m = ModelMetadata {
        name: args.name.clone(),
        version: args.version.clone(),
        title: args.title.clone(),
        description: args.description.clone(),
        authors: args.authors.clone(),
        licenses: args.licenses.clone(),
        framework: args.framework.clone(),
        format: args.format.clone(),
        architecture: args.architecture.clone(),
        param_size: args.param_size.clone(),
        precision: args.precision.clone(),
        quantization: args.quantization.clone(),
        task: args.task.clone(),
        tags: args.tags.clone(),
        ..ModelMetadata::default()
    };
    m.lineage.training_run = args.training_run.clone();
    m.lineage.parent = args.parent.clone();
    m.lineage.source = args.source_repo.as_ref().map(|repo| Source {
        repo: repo.clone(),
        revision: args.source_revision.clone(),
    });
    m.lineage.datasets = args.datasets.iter().map(|d| dataset(d)).collect();
    for metric in &args.metrics {
        let (name, value) = key_value(metric)?;
        let value: f64 = value
            .parse()
            .with_context(|| format!("metric {name}: {value:?} is not a number"))?;
        m.metrics.insert(name, value);
    }
    Ok(m)
}

pub fn dataset(text: &str) -> Dataset {
    // A digest follows the last '@' only when it parses as one; URIs may contain '@'.
    if let Some((uri, digest)) = text.rsplit_once('@')
        && let Ok(digest) = digest.parse()
    {
        return Dataset {
            uri: uri.to_owned(),
            digest: Some(digest),
        };
    }
    Dataset {
        uri: text.to_owned(),
        digest: None,
    }
}

/// `--created` (RFC 3339 or `now`), else `SOURCE_DATE_EPOCH`, else none (reproducible).
pub fn build_time(created: Option<&str>) -> anyhow::Result<BuildTime> {
    Ok(match created {
        Some("now") => BuildTime::Now,
        Some(text) => BuildTime::At(text.to_owned()),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(epoch) if !epoch.is_empty() => {
                BuildTime::Epoch(epoch.trim().parse().with_context(|| {
                    format!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds")
                })?)
            }
            _ => BuildTime::Unrecorded,
        },
    })
}
