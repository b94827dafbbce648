//! `modelark list [NAME|oci:PATH]`: what the local store or a layout holds.

use modelark::reference::{Location, Reference};
use modelark::store::{self, Entry, Home, Layout};
use serde::Serialize;

use futures_util::StreamExt;
use modelark::store::Endpoint;

use super::{Op, RegistryArgs, endpoint, open_repo, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A repository: NAME (local store), oci:PATH, or HOST/REPO; HOST/ or HOST/PREFIX/ lists
    /// the registry's repositories; everything local if omitted.
    #[arg(value_parser = parse_target)]
    reference: Option<Target>,
    /// Also list signature and attestation tags (sha256-<hex>.sig/.att).
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    name: Option<String>,
    tag: String,
    digest: String,
    size: Option<u64>,
    version: Option<String>,
    artifact_type: Option<String>,
}

impl Args {
    /// `modelark list [--all] [--json]`: everything in the local store.
    pub fn whole_store(all: bool, json: bool) -> Args {
        Args {
            reference: None,
            all,
            json,
        }
    }
}

/// What `list` lists.
#[derive(Debug, Clone)]
pub enum Target {
    /// A registry's repositories under a prefix: `HOST/` or `HOST/PREFIX/`.
    Catalog { host: String, prefix: String },
    /// One repository's tags.
    Repository(Reference),
}

fn parse_target(text: &str) -> Result<Target, String> {
    if let Some(stripped) = text.strip_suffix('/') {
        let (host, prefix) = stripped.split_once('/').unwrap_or((stripped, ""));
        // Validate the host the way a reference would.
        format!("{host}/x")
            .parse::<Reference>()
            .map_err(|e| e.to_string())?;
        return Ok(Target::Catalog {
            host: host.to_owned(),
            prefix: prefix.to_owned(),
        });
    }
    text.parse()
        .map(Target::Repository)
        .map_err(|e: modelark::reference::Error| e.to_string())
}

#[derive(Serialize)]
struct RepositoryRow {
    repository: String,
}

pub async fn run(args: Args, registry: &RegistryArgs) -> anyhow::Result<()> {
    let reference = match &args.reference {
        Some(Target::Catalog { host, prefix }) => {
            let repo = registry.client()?.repository(host, "");
            let mut names = repo
                .catalog()
                .await
                .op(|| format!("failed to list the repositories of {host}"))?;
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            names.retain(|n| n.starts_with(&prefix));
            if args.json {
                let rows: Vec<RepositoryRow> = names
                    .into_iter()
                    .map(|repository| RepositoryRow { repository })
                    .collect();
                return output::json(&rows);
            }
            let rows: Vec<Vec<String>> = names
                .into_iter()
                .map(|n| vec![format!("{host}/{n}")])
                .collect();
            return output::table(&["REPOSITORY"], &rows);
        }
        Some(Target::Repository(reference)) => Some(reference.clone()),
        None => None,
    };
    if let Some(reference) = &reference
        && let Location::Registry { .. } = reference.location()
    {
        return list_registry(&args, reference, registry).await;
    }
    let (layout, entries) = match &reference {
        Some(reference) => {
            let repo = open_repo(&reference.without_selector(), false)?;
            let entries = repo
                .entries()
                .op(|| format!("failed to list {reference}"))?;
            (repo.layout().clone(), entries)
        }
        None => {
            let home = Home::from_env().op(|| "failed to locate the local store".into())?;
            if !home.store_path().exists() {
                return finish(&args, Vec::new(), true);
            }
            let layout =
                Layout::open(home.store_path()).op(|| "failed to open the local store".into())?;
            let mut entries =
                store::entries(&layout, true).op(|| "failed to list the local store".into())?;
            entries.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
            (layout, entries)
        }
    };
    let named = !matches!(
        reference.as_ref().map(Reference::location),
        Some(Location::Layout { .. })
    );
    let rows = entries
        .into_iter()
        .filter(|e| args.all || !is_attachment(e.tag.as_str()))
        .map(|e| row(&layout, e))
        .collect();
    finish(&args, rows, named)
}

/// Tags of a registry repository, with each manifest fetched (eight at a time) for its
/// digest, size and version; no weights are fetched.
async fn list_registry(
    args: &Args,
    reference: &Reference,
    registry: &RegistryArgs,
) -> anyhow::Result<()> {
    let Endpoint::Registry(repo) = endpoint(reference, registry, false)? else {
        unreachable!("a registry reference gives a registry endpoint")
    };
    let what = || format!("failed to list {reference}");
    let tags = repo.tags().await.op(what)?;
    let tags: Vec<String> = tags
        .into_iter()
        .filter(|t| args.all || !is_attachment(t))
        .collect();
    let rows: Vec<Row> = futures_util::stream::iter(tags)
        .map(|tag| {
            let repo = repo.clone();
            async move {
                let manifest = repo.manifest(&tag).await;
                let (digest, parsed) = match &manifest {
                    Ok((descriptor, bytes)) => (
                        descriptor.digest.to_string(),
                        modelark::oci::Manifest::from_slice(bytes, &descriptor.digest).ok(),
                    ),
                    Err(_) => (String::new(), None),
                };
                Row {
                    name: None,
                    tag,
                    digest,
                    size: parsed
                        .as_ref()
                        .map(|m| m.layers.iter().map(|l| l.size).sum()),
                    version: parsed.as_ref().and_then(|m| {
                        m.annotations
                            .get(modelark::metadata::keys::VERSION)
                            .cloned()
                    }),
                    artifact_type: parsed.and_then(|m| m.artifact_type),
                }
            }
        })
        .buffered(8)
        .collect()
        .await;
    finish(args, rows, false)
}

/// cosign-style signature, attestation and referrers-fallback tags.
fn is_attachment(tag: &str) -> bool {
    tag.starts_with("sha256-")
}

fn row(layout: &Layout, entry: Entry) -> Row {
    // A manifest that cannot be read still lists; inspect says what is wrong with it.
    let manifest = layout.read_manifest(&entry.descriptor).ok();
    let version = manifest.as_ref().and_then(|m| {
        m.annotations
            .get(modelark::metadata::keys::VERSION)
            .cloned()
    });
    Row {
        name: entry.name.map(|n| n.to_string()),
        tag: entry.tag.to_string(),
        digest: entry.descriptor.digest.to_string(),
        size: manifest
            .as_ref()
            .map(|m| m.layers.iter().map(|l| l.size).sum()),
        version,
        artifact_type: entry
            .descriptor
            .artifact_type
            .or_else(|| manifest.and_then(|m| m.artifact_type)),
    }
}

fn finish(args: &Args, rows: Vec<Row>, named: bool) -> anyhow::Result<()> {
    if args.json {
        return output::json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.tag.clone(),
                r.digest
                    .parse::<modelark::Digest>()
                    .map(|d| d.short())
                    .unwrap_or_default(),
                r.size.map(output::size).unwrap_or_else(|| "?".into()),
                r.version.clone().unwrap_or_else(|| "-".into()),
            ];
            if named {
                cells.insert(0, r.name.clone().unwrap_or_default());
            }
            cells
        })
        .collect();
    let header: &[&str] = if named {
        &["NAME", "TAG", "DIGEST", "SIZE", "VERSION"]
    } else {
        &["TAG", "DIGEST", "SIZE", "VERSION"]
    };
    output::table(header, &cells)
}
