//! `modelark lineage`, `search` and `diff`.

use std::collections::BTreeMap;

use modelark::governance::index::{self, SearchIndex};
use modelark::governance::lineage::{self, Graph};
use modelark::governance::query::{Condition, Field};
use modelark::governance::{diff, versions};
use modelark::reference::{Location, Reference};
use modelark::store::Endpoint;
use modelark::store::{Home, LayoutRepo};

use super::verify::TrustArgs;
use super::{Op, RegistryArgs, endpoint, output};

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
    /// Where: HOST or HOST/PREFIX (repositories from the registry catalog).
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

pub async fn show_lineage(args: LineageArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let keys = args
        .trust
        .load()?
        .map(|p| p.keys().to_vec())
        .unwrap_or_default();
    let client = (!registry.offline).then(|| registry.client()).transpose()?;
    let home = Home::from_env().op(|| "failed to locate the local store".into())?;
    // Offline (no client), a registry parent is read from the local store's pulled copy.
    let open = |reference: &Reference| -> modelark::Result<Endpoint> {
        Ok(match (reference.location(), &client) {
            (Location::Registry { host, repository }, Some(client)) => {
                Endpoint::Registry(client.repository(host, repository.as_str()))
            }
            _ => Endpoint::Layout(LayoutRepo::open(reference, &home, false)?),
        })
    };
    let graph = lineage::walk(&args.reference, &open, &keys, args.depth)
        .await
        .op(|| format!("failed to read the lineage of {}", args.reference))?;
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

pub async fn search(args: SearchArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let conditions: Vec<Condition> = args
        .conditions
        .iter()
        .map(|c| c.parse::<Condition>())
        .collect::<Result<_, _>>()
        .op(|| "failed to search".into())?;
    let (host, prefix) = match args.scope.split_once('/') {
        Some((host, prefix)) => (host.to_owned(), prefix.trim_end_matches('/').to_owned()),
        None => (args.scope.clone(), String::new()),
    };
    let home = Home::from_env().op(|| "failed to locate the local store".into())?;
    let index = SearchIndex::open(&home.root().join("index/search.redb"))
        .op(|| "failed to open the search index".into())?;
    let client = registry.client()?;
    let what = || format!("failed to search {}", args.scope);
    let repositories: Vec<String> = if args.no_refresh {
        index.repositories(&format!("{host}/{prefix}")).op(what)?
    } else {
        let wanted: Vec<String> = match client.repository(&host, "").catalog().await {
            Ok(catalog) => catalog
                .into_iter()
                .filter(|r| {
                    prefix.is_empty() || *r == prefix || r.starts_with(&format!("{prefix}/"))
                })
                .collect(),
            // Registries without a catalog (GHCR, Docker Hub, ECR) can still be searched one
            // repository at a time.
            Err(e) if !prefix.is_empty() => {
                tracing::info!("no catalog ({e}); searching {host}/{prefix} as one repository");
                vec![prefix.clone()]
            }
            Err(e) => return Err(e).op(|| format!("{}; name a repository: HOST/REPO", what())),
        };
        let open = |name: &str| {
            let repository = name.strip_prefix(&format!("{host}/")).unwrap_or(name);
            Endpoint::Registry(client.repository(&host, repository))
        };
        let full: Vec<String> = wanted.iter().map(|r| format!("{host}/{r}")).collect();
        let stats = index::refresh(&index, &full, &open, args.concurrency)
            .await
            .op(what)?;
        tracing::info!(
            "index: {} repositories, {} tags, {} manifests fetched, {} models described",
            stats.repositories,
            stats.tags,
            stats.manifests_fetched,
            stats.models_described
        );
        full
    };
    let mut hits = index.search(&repositories, &conditions).op(what)?;
    hits.sort_by(|a, b| {
        let version = |h: &index::Hit| match h.fields.0.get("version") {
            Some(Field::Text(v)) => semver::Version::parse(v).ok(),
            _ => None,
        };
        (&a.repository, version(a), &a.tag).cmp(&(&b.repository, version(b), &b.tag))
    });
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

pub async fn show_diff(args: DiffArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let mut views = Vec::new();
    for reference in [&args.first, &args.second] {
        let endpoint = endpoint(reference, registry, false)?;
        let resolved = endpoint
            .resolve(reference)
            .await
            .op(|| format!("failed to read {reference}"))?;
        let view = versions::describe(&endpoint, &resolved.descriptor, &resolved.bytes)
            .await
            .op(|| format!("failed to read the metadata of {reference}"))?;
        views.push(view);
    }
    let result = diff::diff(&views[0], &views[1]);
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
