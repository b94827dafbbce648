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

/// What to search and how.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// The registry host.
    pub host: String,
    /// Only repositories under this prefix (`ml` for `ml/...`); all when empty.
    pub prefix: String,
    /// Conditions that must all hold.
    pub conditions: Vec<Condition>,
    /// Search the index as it is, without asking the registry.
    pub no_refresh: bool,
}

impl Search {
    /// A search of `scope` (`HOST` or `HOST/PREFIX`) under `conditions`.
    pub fn new(scope: &str, conditions: Vec<Condition>) -> Search {
        let (host, prefix) = match scope.split_once('/') {
            Some((host, prefix)) => (host.to_owned(), prefix.trim_end_matches('/').to_owned()),
            None => (scope.to_owned(), String::new()),
        };
        Search {
            host,
            prefix,
            conditions,
            no_refresh: false,
        }
    }

    fn scope(&self) -> String {
        match self.prefix.as_str() {
            "" => self.host.clone(),
            prefix => format!("{}/{prefix}", self.host),
        }
    }

    fn covers(&self, repository: &str) -> bool {
        let prefix = &self.prefix;
        prefix.is_empty() || repository == prefix || repository.starts_with(&format!("{prefix}/"))
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
    let scope = search.scope();
    let what = || format!("failed to search {scope}");
    let index = SearchIndex::open(&ctx.home().root().join("index/search.redb"))
        .op(|| "failed to open the search index".into())?;
    let repositories = if search.no_refresh {
        index
            .repositories(&format!("{}/{}", search.host, search.prefix))
            .op(what)?
    } else {
        refresh(ctx, search, &index).await.op(what)?
    };
    let mut hits = index.search(&repositories, &search.conditions).op(what)?;
    hits.sort_by(|a, b| {
        let version = |h: &Hit| match h.fields.0.get("version") {
            Some(Field::Text(v)) => semver::Version::parse(v).ok(),
            _ => None,
        };
        (&a.repository, version(a), &a.tag).cmp(&(&b.repository, version(b), &b.tag))
    });
    Ok(hits)
}

/// Refreshes the index for the repositories `search` covers; returns their full names.
async fn refresh(ctx: &Context, search: &Search, index: &SearchIndex) -> Result<Vec<String>> {
    let client = ctx.client()?;
    let host = &search.host;
    let wanted: Vec<String> = match client.repository(host, "").catalog().await {
        Ok(catalog) => catalog.into_iter().filter(|r| search.covers(r)).collect(),
        // Registries without a catalog (GHCR, Docker Hub, ECR) can still be searched one
        // repository at a time.
        Err(e) if !search.prefix.is_empty() => {
            tracing::info!(
                "no catalog ({e}); searching {} as one repository",
                search.scope()
            );
            vec![search.prefix.clone()]
        }
        Err(e) => {
            return Err(Error::NoCatalog {
                host: host.clone(),
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
