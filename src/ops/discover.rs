//! Lineage, search and diff: finding models and how they relate, without pulling weights.

use super::Error;
use crate::context::Context;
use crate::error::{Op, Result};
use crate::governance::diff::{self, Diff};
use crate::governance::index::{self, Hit, SearchIndex};
use crate::governance::lineage::{self, Graph};
use crate::governance::query::{Condition, Field};
use crate::governance::versions;
use crate::reference::{Location, Reference};
use crate::store::{Endpoint, LayoutRepo};
use crate::verify::TrustedKey;

/// Follows the chain of parent models, datasets and sources from `reference`, up to
/// `depth` generations, across repositories; each node says whether a trusted key signed
/// it. Offline, registry parents are read from the local store's pulled copies.
///
/// # Errors
/// Only when the model itself cannot be read; parents that cannot be read are `missing`.
pub async fn lineage(
    ctx: &Context,
    reference: &Reference,
    keys: &[TrustedKey],
    depth: usize,
) -> Result<Graph> {
    let client = (!ctx.offline()).then(|| ctx.client()).transpose()?;
    let open = |reference: &Reference| -> Result<Endpoint> {
        Ok(match (reference.location(), &client) {
            (Location::Registry { host, repository }, Some(client)) => {
                Endpoint::Registry(client.repository(host, repository.as_str()))
            }
            _ => Endpoint::Layout(LayoutRepo::open(reference, ctx.home(), false)?),
        })
    };
    lineage::walk(reference, &open, keys, depth)
        .await
        .op(|| format!("failed to read the lineage of {reference}"))
}

/// Where to search.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// A registry's repositories (from its catalog) under a prefix (all when empty).
    Registry {
        /// The registry host.
        host: String,
        /// Only repositories under this prefix (`ml` for `ml/...`).
        prefix: String,
    },
    /// One `oci:` layout.
    Layout(std::path::PathBuf),
    /// Every repository in the local store.
    Store,
}

impl Scope {
    /// `HOST`, `HOST/PREFIX` or `oci:PATH`.
    pub fn parse(text: &str) -> Scope {
        if let Some(path) = text.strip_prefix("oci:") {
            return Scope::Layout(path.into());
        }
        let (host, prefix) = match text.split_once('/') {
            Some((host, prefix)) => (host.to_owned(), prefix.trim_end_matches('/').to_owned()),
            None => (text.to_owned(), String::new()),
        };
        Scope::Registry { host, prefix }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Registry { host, prefix } if prefix.is_empty() => write!(f, "{host}"),
            Scope::Registry { host, prefix } => write!(f, "{host}/{prefix}"),
            Scope::Layout(path) => write!(f, "oci:{}", path.display()),
            Scope::Store => write!(f, "the local store"),
        }
    }
}

/// What to search and how.
#[derive(Clone, Debug)]
pub struct Search {
    /// Where.
    pub scope: Scope,
    /// Conditions that must all hold.
    pub conditions: Vec<Condition>,
    /// Search the index as it is, without reading the registry or layout.
    pub no_refresh: bool,
    /// Free text that the repository, name, title, description or a tag must contain (any case).
    pub text: Option<String>,
}

impl Search {
    /// A search of `scope` (`HOST`, `HOST/PREFIX` or `oci:PATH`) under `conditions`.
    pub fn new(scope: &str, conditions: Vec<Condition>) -> Search {
        Search {
            scope: Scope::parse(scope),
            conditions,
            no_refresh: false,
            text: None,
        }
    }
}

/// Finds models by metadata across a registry. The repositories come from the catalog
/// (or, for a registry without one, the one repository the prefix names); the local index
/// under the home directory is refreshed first (only new digests are described), so
/// repeat searches fetch little.
///
/// # Errors
/// [`Error::NoCatalog`]; transport and index errors.
pub async fn search(ctx: &Context, search: &Search) -> Result<Vec<Hit>> {
    search_hits(ctx, search, true).await
}

/// Refreshes (unless `search.no_refresh`), then reads the hits when `read`.
async fn search_hits(ctx: &Context, search: &Search, read: bool) -> Result<Vec<Hit>> {
    let what = || format!("failed to search {}", search.scope);
    let index = ctx
        .search_index()
        .op(|| "failed to open the search index".into())?;
    let repositories = match (&search.scope, search.no_refresh) {
        (Scope::Registry { host, prefix }, true) => {
            index.repositories(&format!("{host}/{prefix}")).op(what)?
        }
        (Scope::Registry { host, prefix }, false) => {
            refresh_registry(ctx, host, prefix, &index).await.op(what)?
        }
        (Scope::Layout(path), no_refresh) => {
            let reference = Reference::layout(
                std::path::absolute(path)
                    .map_err(crate::store::Error::from)
                    .op(what)?,
                None,
            );
            let repo = LayoutRepo::open(&reference, ctx.home(), false).op(what)?;
            let name = repo.display_name();
            if !no_refresh {
                let open = |_: &str| Endpoint::Layout(repo.clone());
                let names = [name.clone()];
                index::refresh(&index, &names, &open, ctx.concurrency())
                    .await
                    .op(what)?;
            }
            vec![name]
        }
        (Scope::Store, no_refresh) => refresh_store(ctx, &index, no_refresh).await.op(what)?,
    };
    if !read {
        return Ok(Vec::new());
    }
    let mut hits = index.search(&repositories, &search.conditions).op(what)?;
    if let Some(text) = search.text.as_deref().map(str::to_lowercase) {
        hits.retain(|hit| mentions(hit, &text));
    }
    hits.sort_by(|a, b| {
        let version = |h: &Hit| match h.fields.0.get("version") {
            Some(Field::Text(v)) => semver::Version::parse(v).ok(),
            _ => None,
        };
        (&a.repository, version(a), &a.tag).cmp(&(&b.repository, version(b), &b.tag))
    });
    Ok(hits)
}

/// Brings the search index up to date with `scope` (only new digests are described), as
/// [`search`] does before it reads the index; for services that refresh in the background
/// and answer searches from the index alone.
///
/// # Errors
/// [`Error::NoCatalog`]; transport and index errors.
pub async fn refresh(ctx: &Context, scope: &Scope) -> Result<()> {
    let search = Search {
        scope: scope.clone(),
        conditions: Vec::new(),
        no_refresh: false,
        text: None,
    };
    search_hits(ctx, &search, false).await.map(drop)
}

/// The repositories of the local store, refreshed into the index unless `no_refresh`.
async fn refresh_store(
    ctx: &Context,
    index: &SearchIndex,
    no_refresh: bool,
) -> Result<Vec<String>> {
    let path = ctx.home().store_path();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let layout = crate::store::Layout::open(path)?;
    let mut names: Vec<String> = crate::store::entries(&layout, true)?
        .into_iter()
        .filter_map(|e| e.name)
        .collect();
    names.sort();
    names.dedup();
    if no_refresh {
        return Ok(names);
    }
    let mut repos = std::collections::BTreeMap::new();
    for name in &names {
        let reference: Reference = name.parse()?;
        repos.insert(
            name.clone(),
            LayoutRepo::open(&reference, ctx.home(), false)?,
        );
    }
    let open = |name: &str| Endpoint::Layout(repos[name].clone());
    index::refresh(index, &names, &open, ctx.concurrency()).await?;
    Ok(names)
}

/// Whether `text` (lowercase) is in the hit's repository, name, title, description or tags: the free-text
/// match of [`Search::text`].
pub fn mentions(hit: &Hit, text: &str) -> bool {
    !text.contains('\0') && search_text(hit).contains(text)
}

/// What free text is matched against, lowercase, one field after another with a NUL
/// between them (which no query holds): `search_text(hit).contains(q)` is [`mentions`],
/// for callers that keep it to search many times.
pub fn search_text(hit: &Hit) -> String {
    let fields = &hit.fields.0;
    let field = |name: &str| match fields.get(name) {
        Some(Field::Text(t)) => vec![t.as_str()],
        Some(Field::List(l)) => l.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let parts: Vec<&str> = std::iter::once(hit.repository.as_str())
        .chain(field("name"))
        .chain(field("title"))
        .chain(field("description"))
        .chain(field("tags"))
        .collect();
    parts.join("\0").to_lowercase()
}

/// Refreshes the index for the registry repositories under `prefix`; returns their full
/// names. Registries without a catalog (GHCR, Docker Hub, ECR) are searched one
/// repository at a time: the one the prefix names.
async fn refresh_registry(
    ctx: &Context,
    host: &str,
    prefix: &str,
    index: &SearchIndex,
) -> Result<Vec<String>> {
    let client = ctx.client()?;
    let covers = |r: &str| prefix.is_empty() || r == prefix || r.starts_with(&format!("{prefix}/"));
    let wanted: Vec<String> = match client.repository(host, "").catalog().await {
        Ok(catalog) => catalog.into_iter().filter(|r| covers(r)).collect(),
        Err(e) if !prefix.is_empty() => {
            tracing::info!("no catalog ({e}); searching {host}/{prefix} as one repository");
            vec![prefix.to_owned()]
        }
        Err(e) => {
            return Err(Error::NoCatalog {
                host: host.to_owned(),
                source: Box::new(e.into()),
            }
            .into());
        }
    };
    let open = |name: &str| {
        let repository = name.strip_prefix(&format!("{host}/")).unwrap_or(name);
        Endpoint::Registry(client.repository(host, repository))
    };
    let full: Vec<String> = wanted.iter().map(|r| format!("{host}/{r}")).collect();
    let stats = index::refresh(index, &full, &open, ctx.concurrency()).await?;
    tracing::info!(
        "index: {} repositories, {} tags, {} manifests fetched, {} models described",
        stats.repositories,
        stats.tags,
        stats.manifests_fetched,
        stats.models_described
    );
    Ok(full)
}

/// Metadata and file differences between two models (any reference forms).
///
/// # Errors
/// Transport and store errors reading either model.
pub async fn diff(ctx: &Context, first: &Reference, second: &Reference) -> Result<Diff> {
    let mut views = Vec::new();
    for reference in [first, second] {
        let endpoint = ctx.endpoint(reference, false)?;
        let resolved = endpoint
            .resolve(reference)
            .await
            .op(|| format!("failed to read {reference}"))?;
        let view = versions::describe(&endpoint, &resolved.descriptor, &resolved.bytes)
            .await
            .op(|| format!("failed to read the metadata of {reference}"))?;
        views.push(view);
    }
    Ok(diff::diff(&views[0], &views[1]))
}
