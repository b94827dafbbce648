//! `modelark inspect REF`: metadata, files, sizes and digests of any OCI artifact.

use modelark::ops;
use modelark::package::ModelView;
use modelark::reference::Reference;

use super::{Env, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model: NAME[:TAG][@DIGEST], oci:PATH[:TAG|@DIGEST] or HOST/REPO[:TAG][@DIGEST].
    reference: Reference,
    /// Print JSON (metadata, files, annotations).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    let inspected = ops::inspect(&ctx, &args.reference).await?;
    if args.json {
        return output::json(&inspected);
    }
    render(&inspected.reference, &inspected.view)
}

fn render(reference: &Reference, view: &ModelView) -> anyhow::Result<()> {
    let m = &view.metadata;
    let mut fields: Vec<(&str, String)> = vec![
        ("Reference", reference.to_string()),
        ("Digest", view.digest.to_string()),
        (
            "Artifact",
            serde_json::to_value(view.kind)?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
    ];
    let optional = [
        ("Name", m.name.clone()),
        ("Version", m.version.as_ref().map(ToString::to_string)),
        ("Title", m.title.clone()),
        ("Description", m.description.clone()),
        (
            "Authors",
            Some(m.authors.join(", ")).filter(|s| !s.is_empty()),
        ),
        (
            "Licenses",
            Some(m.licenses.join(", ")).filter(|s| !s.is_empty()),
        ),
        ("Framework", m.framework.clone()),
        ("Format", m.format.clone()),
        ("Architecture", m.architecture.clone()),
        ("Parameters", m.param_size.clone()),
        ("Precision", m.precision.clone()),
        ("Quantization", m.quantization.clone()),
        ("Task", m.task.clone()),
        ("Tags", Some(m.tags.join(", ")).filter(|s| !s.is_empty())),
        (
            "Languages",
            m.capabilities
                .as_ref()
                .and_then(|c| c.languages.as_ref())
                .map(|l| l.join(", "))
                .filter(|s| !s.is_empty()),
        ),
        ("Created", m.created.clone()),
        (
            "Source",
            m.lineage.source.as_ref().map(|s| match &s.revision {
                Some(rev) => format!("{} @ {rev}", s.repo),
                None => s.repo.clone(),
            }),
        ),
        ("Parent", m.lineage.parent.as_ref().map(ToString::to_string)),
        ("Training run", m.lineage.training_run.clone()),
    ];
    fields.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    for dataset in &m.lineage.datasets {
        let digest = dataset
            .digest
            .as_ref()
            .map(|d| format!(" @ {d}"))
            .unwrap_or_default();
        fields.push(("Dataset", format!("{}{digest}", dataset.uri)));
    }
    for base in &m.lineage.base_models {
        let relation = base
            .relation
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        fields.push(("Base model", format!("{}{relation}", base.uri)));
    }
    for (name, value) in &m.metrics {
        fields.push(("Metric", format!("{name} = {value}")));
    }
    if let Some(signature) = &m.signature {
        for (direction, tensors) in [("Input", &signature.inputs), ("Output", &signature.outputs)] {
            for t in tensors {
                let shape: Vec<String> = t
                    .shape
                    .iter()
                    .map(|d| {
                        serde_json::to_string(d)
                            .unwrap_or_default()
                            .trim_matches('"')
                            .to_owned()
                    })
                    .collect();
                fields.push((
                    direction,
                    format!("{} {} [{}]", t.name, t.dtype, shape.join(", ")),
                ));
            }
        }
    }
    for (key, value) in fields {
        output::line(format!("{key:<13} {}", output::escape(&value)))?;
    }
    output::line(format!(
        "\nFiles ({}, {})",
        view.files.len(),
        output::size(view.size)
    ))?;
    let rows: Vec<Vec<String>> = view
        .files
        .iter()
        .map(|f| {
            let kind = f.kind.clone().unwrap_or_else(|| f.media_type.clone());
            vec![
                if f.untested { format!("{kind}?") } else { kind },
                output::size(f.size),
                f.digest.short(),
                f.path.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(&["KIND", "SIZE", "DIGEST", "PATH"], &rows)
}
