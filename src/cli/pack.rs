//! `modelark pack DIR -t REF`: model file and flags → metadata → ModelPack artifact.

use std::path::PathBuf;

use anyhow::Context;
use modelark::governance::versions;
use modelark::metadata::{self, Dataset, ModelMetadata, Source};
use modelark::package::{self, Kind, ModelFile, modelfile};
use modelark::reference::{Location, Reference};
use serde::Serialize;

use super::{Op, key_value, open_repo, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory.
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

#[derive(Serialize)]
struct Outcome {
    reference: String,
    digest: String,
    files: usize,
    size: u64,
    replaced: Option<String>,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let mut options = options(&args.model, &args.dir, &args.target)?;
    options.concurrency = args.concurrency;
    let repo = open_repo(&args.target, true)?;
    let target = args.target.clone();
    let tag = target.tag_or_latest();
    let reporter = output::reporter(quiet, args.json);
    let packed = package::pack(
        &args.dir,
        package::Blobs::Store(repo.layout()),
        &options,
        reporter.as_ref(),
    )
    .op(|| format!("failed to pack {} into {target}", args.dir.display()))?;
    // Builds are reproducible, so a pinned digest is a promise to check: nothing is tagged
    // when the directory packs to something else.
    if let Some(pinned) = target.digest()
        && *pinned != packed.descriptor.digest
    {
        return Err(modelark::digest::Error::Mismatch {
            expected: pinned.clone(),
            actual: packed.descriptor.digest.clone(),
        })
        .op(|| {
            format!(
                "failed to pack {} as {target}: it packs to another digest; nothing was tagged",
                args.dir.display()
            )
        });
    }
    // Versions are immutable; the packed blobs of a refused model are freed by the next gc.
    let existing = repo.resolve(&target.with_tag(tag.clone())).ok();
    versions::check_move(
        &target.with_tag(tag.clone()).to_string(),
        &tag,
        existing.as_ref().map(|d| &d.digest),
        &packed.descriptor.digest,
        args.force,
    )
    .op(|| format!("failed to pack {}", args.dir.display()))?;
    let previous = repo
        .set_tag(&tag, &packed.descriptor)
        .op(|| format!("failed to tag {target}"))?;
    drop(packed.guard);
    let reference = target
        .with_tag(tag)
        .with_digest(packed.descriptor.digest.clone());
    let replaced = previous
        .filter(|p| p.digest != packed.descriptor.digest)
        .map(|p| p.digest.to_string());
    if args.json {
        return output::json(&Outcome {
            reference: reference.to_string(),
            digest: packed.descriptor.digest.to_string(),
            files: packed.manifest.layers.len(),
            size: packed.manifest.layers.iter().map(|l| l.size).sum(),
            replaced,
        });
    }
    if let Some(replaced) = replaced {
        tracing::warn!(
            "moved tag {} from {replaced}",
            target.with_tag(reference.tag_or_latest())
        );
    }
    output::line(reference)
}

/// Pack options from the model file (`-f`, else `DIR/modelark.yaml`) and flags.
pub fn options(
    args: &ModelArgs,
    dir: &std::path::Path,
    target: &Reference,
) -> anyhow::Result<package::pack::Options> {
    let model_file = match &args.model_file {
        Some(path) => {
            ModelFile::read(path).op(|| format!("failed to read model file {}", path.display()))?
        }
        None => {
            let default = dir.join(modelfile::FILE_NAME);
            if default.is_file() {
                ModelFile::read(&default)
                    .op(|| format!("failed to read model file {}", default.display()))?
            } else {
                ModelFile::default()
            }
        }
    };
    let (created, mtime) = build_time(args.created.as_deref())?;
    let mut kinds = kinds(&args.kinds)?;
    kinds.extend(model_file.files.clone());
    Ok(package::pack::Options {
        kinds,
        exclude: [model_file.exclude.clone(), args.exclude.clone()].concat(),
        annotations: args
            .annotations
            .iter()
            .map(|a| key_value(a))
            .collect::<Result<_, _>>()?,
        dereference: args.dereference,
        mtime,
        concurrency: 4,
        metadata: merge(model_file.metadata, args, dir, target, created)?,
        cache: None,
    })
}

/// Model file fields, overridden by flags; the name defaults to the target's last component.
fn merge(
    mut m: ModelMetadata,
    args: &ModelArgs,
    dir: &std::path::Path,
    target: &Reference,
    created: Option<String>,
) -> anyhow::Result<ModelMetadata> {
    fn set<T: Clone>(field: &mut Option<T>, flag: &Option<T>) {
        if flag.is_some() {
            field.clone_from(flag);
        }
    }
    fn replace(field: &mut Vec<String>, flag: &[String]) {
        if !flag.is_empty() {
            *field = flag.to_vec();
        }
    }
    set(&mut m.name, &args.name);
    set(&mut m.version, &args.version);
    set(&mut m.title, &args.title);
    set(&mut m.description, &args.description);
    set(&mut m.framework, &args.framework);
    set(&mut m.format, &args.format);
    set(&mut m.architecture, &args.architecture);
    set(&mut m.param_size, &args.param_size);
    set(&mut m.precision, &args.precision);
    set(&mut m.quantization, &args.quantization);
    set(&mut m.task, &args.task);
    set(&mut m.lineage.training_run, &args.training_run);
    set(&mut m.lineage.parent, &args.parent);
    set(&mut m.created, &created);
    replace(&mut m.authors, &args.authors);
    replace(&mut m.licenses, &args.licenses);
    replace(&mut m.tags, &args.tags);
    if let Some(repo) = &args.source_repo {
        m.lineage.source = Some(Source {
            repo: repo.clone(),
            revision: args.source_revision.clone(),
        });
    }
    if !args.datasets.is_empty() {
        m.lineage.datasets = args
            .datasets
            .iter()
            .map(|d| dataset(d))
            .collect::<anyhow::Result<_>>()?;
    }
    for metric in &args.metrics {
        let (name, value) = key_value(metric)?;
        let value: f64 = value
            .parse()
            .with_context(|| format!("metric {name}: {value:?} is not a number"))?;
        m.metrics.insert(name, value);
    }
    if m.name.is_none() {
        m.name = Some(default_name(target, dir));
    }
    Ok(m)
}

fn default_name(target: &Reference, dir: &std::path::Path) -> String {
    match target.location() {
        Location::Local { name }
        | Location::Registry {
            repository: name, ..
        } => name
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or(name.as_str())
            .to_owned(),
        Location::Layout { .. } => std::path::absolute(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into()),
    }
}

fn dataset(text: &str) -> anyhow::Result<Dataset> {
    // A digest follows the last '@' only when it parses as one; URIs may contain '@'.
    if let Some((uri, digest)) = text.rsplit_once('@')
        && let Ok(digest) = digest.parse()
    {
        return Ok(Dataset {
            uri: uri.to_owned(),
            digest: Some(digest),
        });
    }
    Ok(Dataset {
        uri: text.to_owned(),
        digest: None,
    })
}

fn kinds(rules: &[String]) -> anyhow::Result<Vec<(String, Kind)>> {
    rules
        .iter()
        .map(|rule| {
            let (glob, kind) = key_value(rule)?;
            let kind = kind.parse::<Kind>().map_err(anyhow::Error::msg)?;
            Ok((glob, kind))
        })
        .collect()
}

/// The `created` annotation and the file mtime: `--created`, else `SOURCE_DATE_EPOCH`,
/// else none and the epoch (reproducible).
fn build_time(created: Option<&str>) -> anyhow::Result<(Option<String>, i64)> {
    let parse_epoch = |text: &str| -> anyhow::Result<(Option<String>, i64)> {
        let seconds: i64 = text
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"))?;
        let formatted = metadata::format_unix_time(seconds).map_err(anyhow::Error::msg)?;
        Ok((Some(formatted), seconds))
    };
    match created {
        Some("now") => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?;
            parse_epoch(&now.as_secs().to_string())
        }
        Some(text) => {
            let time = metadata::parse_rfc3339(text).map_err(anyhow::Error::msg)?;
            Ok((Some(text.to_owned()), time.unix_timestamp()))
        }
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(epoch) if !epoch.is_empty() => parse_epoch(&epoch),
            _ => Ok((None, 0)),
        },
    }
}
