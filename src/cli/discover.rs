//! `modelark lineage`, `search` and `diff`.

use std::collections::BTreeMap;

use modelark::error::Op;
use modelark::governance::index;
use modelark::governance::lineage::Graph;
use modelark::governance::query::{Condition, Field};
use modelark::ops::{self, Search};
use modelark::reference::Reference;

use super::verify::TrustArgs;
use super::{Env, output};

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
enum LineageFormat {
    /// an indented tree
    #[default]
    Text,
    /// Graphviz
    Dot,
    /// nodes and edges
    Json,
}

#[derive(Debug, clap::Args)]
pub struct LineageArgs {
    /// The model: HOST/REPO:TAG, NAME:TAG or oci:PATH:TAG.
    reference: Reference,
    #[command(flatten)]
    trust: TrustArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: LineageFormat,
    /// Generations of parents to follow.
    #[arg(long, default_value_t = 32, value_name = "N")]
    depth: usize,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Where: HOST or HOST/PREFIX (repositories from the registry catalog), or oci:PATH.
    scope: String,
    /// A condition, repeatable (all must hold): framework=pytorch, license=apache-2.0,
    /// 'metrics.accuracy>=0.9', 'version>=1.2.0', name~bert.
    #[arg(long = "where", value_name = "EXPR")]
    conditions: Vec<String>,
    /// Search the index as it is, without asking the registry (offline).
    #[arg(long)]
    no_refresh: bool,
    /// Manifests read at once while refreshing.
    #[arg(long, default_value_t = 16, value_name = "N")]
    concurrency: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first model (any reference form).
    first: Reference,
    /// The second model.
    second: Reference,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn show_lineage(args: LineageArgs, env: &Env) -> anyhow::Result<()> {
    let keys = args.trust.keys()?;
    let ctx = env.context(true)?;
    let graph = ops::lineage(&ctx, &args.reference, &keys, args.depth).await?;
    match args.format {
        LineageFormat::Json => output::json(&graph),
        LineageFormat::Dot => output::line(graph.to_dot().trim_end()),
        LineageFormat::Text => print_tree(&graph),
    }
}

fn print_tree(graph: &Graph) -> anyhow::Result<()> {
    let Some(root) = graph.nodes.first() else {
        return Ok(());
    };
    let mut stack = vec![(root.id.clone(), 0usize, String::new())];
    let mut printed = std::collections::BTreeSet::new();
    while let Some((id, depth, relation)) = stack.pop() {
        let Some(node) = graph.nodes.iter().find(|n| n.id == id) else {
            continue;
        };
        let label = match (&node.name, &node.version) {
            (Some(n), Some(v)) => format!(" ({n} {v})"),
            (Some(n), None) => format!(" ({n})"),
            _ => String::new(),
        };
        let detail = if node.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", node.detail)
        };
        let digest = match (&node.kind[..], &node.digest) {
            ("model", _) | (_, None) => String::new(),
            (_, Some(d)) => format!(" {d}"),
        };
        let relation = if relation.is_empty() {
            String::new()
        } else {
            format!("{relation} ")
        };
        output::line(format!(
            "{}{relation}{}{digest}{label} [{}{detail}]",
            "  ".repeat(depth),
            node.id,
            node.state
        ))?;
        if !printed.insert(id.clone()) {
            continue;
        }
        for edge in graph.edges.iter().rev().filter(|e| e.from == id) {
            stack.push((edge.to.clone(), depth + 1, format!("{}:", edge.relation)));
        }
    }
    Ok(())
}

pub async fn search(args: SearchArgs, env: &Env) -> anyhow::Result<()> {
    let conditions: Vec<Condition> = args
        .conditions
        .iter()
        .map(|c| c.parse::<Condition>())
        .collect::<Result<_, _>>()
        .op(|| "failed to search".into())?;
    let mut search = Search::new(&args.scope, conditions);
    search.no_refresh = args.no_refresh;
    let ctx = env.context(true)?.with_concurrency(args.concurrency);
    let hits = ops::search(&ctx, &search).await?;
    if args.json {
        return output::json(&hits);
    }
    let text = |h: &index::Hit, k: &str| match h.fields.0.get(k) {
        Some(Field::Text(t)) => t.clone(),
        Some(Field::List(l)) => l.join(","),
        Some(Field::Number(n)) => n.to_string(),
        None => "-".into(),
    };
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            let metrics: Vec<String> = h
                .fields
                .0
                .iter()
                .filter_map(|(k, v)| match (k.strip_prefix("metrics."), v) {
                    (Some(name), Field::Number(n)) => Some(format!("{name}={n}")),
                    _ => None,
                })
                .collect();
            vec![
                format!("{}:{}", h.repository, h.tag),
                text(h, "version"),
                text(h, "framework"),
                text(h, "task"),
                text(h, "license"),
                if metrics.is_empty() {
                    "-".into()
                } else {
                    metrics.join(" ")
                },
            ]
        })
        .collect();
    output::table(
        &[
            "MODEL",
            "VERSION",
            "FRAMEWORK",
            "TASK",
            "LICENSE",
            "METRICS",
        ],
        &rows,
    )
}

pub async fn show_diff(args: DiffArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    let result = ops::diff(&ctx, &args.first, &args.second).await?;
    if args.json {
        return output::json(&result);
    }
    if result.is_empty() {
        return output::line(format!(
            "no differences ({} files identical)",
            result.unchanged
        ));
    }
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref().map_or("(none)".into(), |v| {
            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
        })
    };
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for change in &result.metadata {
        output::line(format!(
            "~ {}: {} -> {}",
            change.field,
            show(&change.before),
            show(&change.after)
        ))?;
    }
    for file in &result.files {
        *by_kind.entry(file.change.as_str()).or_default() += 1;
        let mark = match file.change.as_str() {
            "added" => "+",
            "removed" => "-",
            _ => "M",
        };
        output::line(format!(
            "{mark} {} ({})",
            file.path,
            output::size(file.size)
        ))?;
    }
    let summary: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    output::line(format!(
        "{} metadata field(s) changed; files: {}{} unchanged",
        result.metadata.len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!("{}, ", summary.join(", "))
        },
        result.unchanged
    ))
}
