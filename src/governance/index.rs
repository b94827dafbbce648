//! The local metadata index `search` reads: an embedded redb database under
//! `$MODELARK_HOME/index/`, mapping `HOST/REPO` + tag to a manifest digest and each digest
//! to its searchable fields. It is refreshed incrementally: a version tag is immutable, so
//! a version tag already indexed is not fetched again; other tags are re-resolved, and a
//! manifest digest already indexed is never described twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt, stream};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Serialize;

use super::Error;
use super::query::{Condition, Field, Fields};
use super::versions;
use crate::digest::Digest;
use crate::error::Result;
use crate::reference::Tag;
use crate::store::Endpoint;

/// `HOST/REPO\tTAG` to manifest digest.
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
/// Manifest digest to the JSON of its [`Fields`]. The name changes with what [`Fields`]
/// holds: an index written by an older modelark is described again, not misread.
const MODELS: TableDefinition<&str, &[u8]> = TableDefinition::new("models-3");

/// The index database.
pub struct SearchIndex {
    db: Database,
    path: PathBuf,
}

/// One search result.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// `HOST/REPO`.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest.
    pub digest: String,
    /// Its fields.
    pub fields: Fields,
}

/// One tag after refreshing: tag, digest, whether its manifest was fetched, and the fields
/// of a newly described model.
type Resolved = (String, String, bool, Option<Fields>);

/// What a refresh did.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Refreshed {
    /// Repositories listed.
    pub repositories: usize,
    /// Tags seen.
    pub tags: usize,
    /// Manifests fetched (tags re-resolved or new).
    pub manifests_fetched: usize,
    /// Models described (config fetched) because their digest was new.
    pub models_described: usize,
}

impl SearchIndex {
    /// Opens (creating) the index at `path`.
    ///
    /// # Errors
    /// [`Error::Index`], e.g. when another modelark process holds it.
    pub fn open(path: &Path) -> Result<SearchIndex, Error> {
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| Error::Index {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(|e| fail(e.into()))?;
        }
        let db = Database::create(path).map_err(|e| fail(e.into()))?;
        let index = SearchIndex {
            db,
            path: path.to_owned(),
        };
        let txn = index.db.begin_write().map_err(|e| fail(e.into()))?;
        txn.open_table(TAGS).map_err(|e| fail(e.into()))?;
        txn.open_table(MODELS).map_err(|e| fail(e.into()))?;
        txn.commit().map_err(|e| fail(e.into()))?;
        Ok(index)
    }

    fn fail(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Index {
            path: self.path.display().to_string(),
            source: e.into(),
        }
    }

    /// The indexed tags of `repository`.
    fn tags_of(&self, repository: &str) -> Result<BTreeMap<String, String>, Error> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(TAGS).map_err(|e| self.fail(e))?;
        let prefix = format!("{repository}\t");
        let mut out = BTreeMap::new();
        for entry in table.range(prefix.as_str()..).map_err(|e| self.fail(e))? {
            let (key, value) = entry.map_err(|e| self.fail(e))?;
            let Some(tag) = key.value().strip_prefix(&prefix) else {
                break;
            };
            out.insert(tag.to_owned(), value.value().to_owned());
        }
        Ok(out)
    }

    fn has_model(&self, digest: &str) -> Result<bool, Error> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(MODELS).map_err(|e| self.fail(e))?;
        Ok(table.get(digest).map_err(|e| self.fail(e))?.is_some())
    }

    /// Brings `repository`'s tags from `old` (as indexed) to `tags` and adds new models, in
    /// one transaction; nothing is written (no commit, no fsync) when nothing changed.
    fn store(
        &self,
        repository: &str,
        old: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
        models: &[(String, Fields)],
    ) -> Result<(), Error> {
        let changed: Vec<(&String, &String)> = tags
            .iter()
            .filter(|(tag, digest)| old.get(*tag) != Some(*digest))
            .collect();
        let removed: Vec<&String> = old.keys().filter(|t| !tags.contains_key(*t)).collect();
        if changed.is_empty() && removed.is_empty() && models.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        {
            let mut table = txn.open_table(TAGS).map_err(|e| self.fail(e))?;
            for tag in removed {
                table
                    .remove(format!("{repository}\t{tag}").as_str())
                    .map_err(|e| self.fail(e))?;
            }
            for (tag, digest) in changed {
                table
                    .insert(format!("{repository}\t{tag}").as_str(), digest.as_str())
                    .map_err(|e| self.fail(e))?;
            }
            let mut table = txn.open_table(MODELS).map_err(|e| self.fail(e))?;
            for (digest, fields) in models {
                let bytes = serde_json::to_vec(fields).map_err(|e| self.fail(e))?;
                table
                    .insert(digest.as_str(), bytes.as_slice())
                    .map_err(|e| self.fail(e))?;
            }
        }
        txn.commit().map_err(|e| self.fail(e))
    }

    /// The indexed repositories whose `HOST/REPO` starts with `prefix`.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn repositories(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(TAGS).map_err(|e| self.fail(e))?;
        let prefix = prefix.trim_end_matches('/');
        let mut out: Vec<String> = Vec::new();
        for entry in table.range(prefix..).map_err(|e| self.fail(e))? {
            let (key, _) = entry.map_err(|e| self.fail(e))?;
            let Some((repository, _)) = key.value().split_once('\t') else {
                continue;
            };
            if !repository.starts_with(prefix) {
                break;
            }
            if out.last().is_none_or(|last| last != repository) {
                out.push(repository.to_owned());
            }
        }
        Ok(out)
    }

    /// Every indexed version of `repositories` whose fields satisfy all `conditions`. The
    /// fields `repository`, `tag` and `digest` can be matched too.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn search(
        &self,
        repositories: &[String],
        conditions: &[Condition],
    ) -> Result<Vec<Hit>, Error> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let models = txn.open_table(MODELS).map_err(|e| self.fail(e))?;
        let mut hits = Vec::new();
        for repository in repositories {
            for (tag, digest) in self.tags_of(repository)? {
                let Some(bytes) = models.get(digest.as_str()).map_err(|e| self.fail(e))? else {
                    continue;
                };
                let Ok(mut fields) = serde_json::from_slice::<Fields>(bytes.value()) else {
                    continue;
                };
                fields
                    .0
                    .insert("repository".into(), Field::Text(repository.clone()));
                fields.0.insert("tag".into(), Field::Text(tag.clone()));
                fields
                    .0
                    .insert("digest".into(), Field::Text(digest.clone()));
                if conditions.iter().all(|c| c.matches(&fields)) {
                    hits.push(Hit {
                        repository: repository.clone(),
                        tag,
                        digest,
                        fields,
                    });
                }
            }
        }
        Ok(hits)
    }
}

/// Brings the index up to date with `repositories` (`HOST/REPO` names, each opened with
/// `open`), fetching `concurrency` manifests at a time.
///
/// # Errors
/// Transport and index errors.
pub async fn refresh(
    index: &SearchIndex,
    repositories: &[String],
    open: &(dyn Fn(&str) -> Endpoint + Sync),
    concurrency: usize,
) -> Result<Refreshed> {
    let mut stats = Refreshed {
        repositories: repositories.len(),
        ..Refreshed::default()
    };
    for repository in repositories {
        let endpoint = open(repository);
        let known = index.tags_of(repository)?;
        let tags: Vec<Tag> = endpoint
            .tags()
            .await?
            .into_iter()
            .filter(|t| !versions::is_attachment(t))
            .collect();
        stats.tags += tags.len();
        let results: Vec<Option<Resolved>> = stream::iter(tags)
            .map(|tag| {
                let (endpoint, known) = (&endpoint, &known);
                async move {
                    // Version tags never move: what was indexed still holds.
                    if versions::version_of(&tag).is_some()
                        && let Some(digest) = known.get(tag.as_str())
                        && index.has_model(digest)?
                    {
                        return Ok::<_, crate::Error>(Some((
                            tag.to_string(),
                            digest.clone(),
                            false,
                            None,
                        )));
                    }
                    let Some((descriptor, bytes)) = endpoint.fetch_tag(&tag).await? else {
                        return Ok(None);
                    };
                    let digest = descriptor.digest.to_string();
                    if index.has_model(&digest)? {
                        return Ok(Some((tag.to_string(), digest, true, None)));
                    }
                    let fields = match versions::describe(endpoint, &descriptor, &bytes).await {
                        Ok(view) => fields_of(&view.metadata, &descriptor.digest, view.size),
                        // Not a model (an image, a foreign artifact): indexed without metadata.
                        Err(_) => Fields::default(),
                    };
                    Ok(Some((tag.to_string(), digest, true, Some(fields))))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        let mut tag_map = BTreeMap::new();
        let mut models = Vec::new();
        for (tag, digest, fetched, fields) in results.into_iter().flatten() {
            stats.manifests_fetched += usize::from(fetched);
            if let Some(fields) = fields {
                stats.models_described += 1;
                models.push((digest.clone(), fields));
            }
            tag_map.insert(tag, digest);
        }
        index.store(repository, &known, &tag_map, &models)?;
    }
    Ok(stats)
}

fn fields_of(metadata: &crate::ModelMetadata, digest: &Digest, size: u64) -> Fields {
    Fields::of(
        metadata,
        &[
            ("size", Field::Number(size as f64)),
            ("digest", Field::Text(digest.to_string())),
        ],
    )
}
