//! The catalog as MLflow sees it: registered models (repositories), their versions under
//! stable integer numbers, and aliases. Built from the search index after every reload,
//! so every replica over one registry builds the same one.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::Digest as _;

use super::filter;
use crate::governance::index::Hit;
use crate::governance::query::Field;
use crate::ops::Scope;

/// Numbers at and above this are hashed from the tag; below it they spell the release.
const HASHED: u64 = 1_000_000_000_000_000;
/// Hashed numbers stay below 2^53, so JavaScript (MLflow's web UI) reads them exactly.
const HASHED_SPAN: u64 = 8_000_000_000_000_000;

/// MLflow's integer version for a modelark version tag, or `None` for a tag that is no
/// version. A release `MAJOR.MINOR.PATCH` (optionally `v`-prefixed, minor and patch below
/// 1000, major below 10^9) is `MAJOR*10^6 + MINOR*10^3 + PATCH`: `1.2.3` is `1002003`.
/// Any other version tag (pre-releases, build metadata, large parts) is
/// `10^15 + sha256("modelark-mlflow-version\0" TAG) mod 8*10^15`. Both depend on the
/// tag alone: the same on every replica, after every index rebuild, never reassigned.
pub fn number(tag: &str) -> Option<u64> {
    let version = semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
    let release = version.pre.is_empty() && version.build.is_empty();
    if release && version.minor < 1000 && version.patch < 1000 && version.major < 1_000_000_000 {
        return Some(version.major * 1_000_000 + version.minor * 1000 + version.patch);
    }
    let hash = sha2::Sha256::new()
        .chain_update(b"modelark-mlflow-version\0")
        .chain_update(tag.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    Some(HASHED + u64::from_be_bytes(first) % HASHED_SPAN)
}

/// The MLflow name of a repository path below a source's prefix: MLflow names cannot hold
/// `/`, so each `/` becomes `~` (which repository names cannot hold).
pub fn name_of(path: &str) -> String {
    path.replace('/', "~")
}

/// The repository (`HOST/PATH`, or the local name) an MLflow name stands for in `scope`.
pub fn repository_of(scope: &Scope, name: &str) -> Option<String> {
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let path = name.replace('~', "/");
    match scope {
        Scope::Registry { host, prefix } if prefix.is_empty() => Some(format!("{host}/{path}")),
        Scope::Registry { host, prefix } => Some(format!("{host}/{prefix}/{path}")),
        Scope::Store => Some(path),
        Scope::Layout(_) => None,
    }
}

/// The MLflow name of `repository` in `scope`.
fn model_name(scope: &Scope, repository: &str) -> Option<String> {
    let path = match scope {
        Scope::Registry { host, prefix } => {
            let path = repository.strip_prefix(host.as_str())?.strip_prefix('/')?;
            if prefix.is_empty() {
                path
            } else {
                path.strip_prefix(prefix.as_str())?.strip_prefix('/')?
            }
        }
        Scope::Store => repository,
        Scope::Layout(_) => return None,
    };
    (!path.is_empty()).then(|| name_of(path))
}

/// One numbered version.
#[derive(Clone, Debug)]
pub struct Version {
    pub number: u64,
    pub semver: semver::Version,
    /// Shared with the service's catalog (its tag and digest are this version's).
    pub hit: std::sync::Arc<Hit>,
    pub aliases: Vec<String>,
    /// The metadata's creation time in milliseconds, parsed once (searches sort by it).
    pub created: Option<i64>,
}

/// One registered model.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    /// The index of its source in the service's sources.
    pub source: usize,
    /// `HOST/REPO`, or the local name.
    pub repository: String,
    /// By number.
    pub versions: BTreeMap<u64, Version>,
    /// Alias to version number.
    pub aliases: BTreeMap<String, u64>,
    /// The highest version by semver precedence.
    pub latest: Option<u64>,
    /// The earliest and the latest version creation times, when any is known.
    pub created: Option<i64>,
    pub updated: Option<i64>,
}

/// Every registered model, by name.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub models: BTreeMap<String, Model>,
}

impl Registry {
    /// Groups catalog hits (each with the index of its source) into models. A name two
    /// sources share is the first source's; a number two tags share (`1.0.0` and
    /// `v1.0.0`) belongs to the tag that sorts first.
    pub fn build(hits: &[(usize, std::sync::Arc<Hit>)], scopes: &[Scope]) -> Registry {
        let mut models: BTreeMap<String, Model> = BTreeMap::new();
        let mut others: Vec<(String, &std::sync::Arc<Hit>)> = Vec::new();
        for (source, hit) in hits {
            let Some(name) = scopes
                .get(*source)
                .and_then(|s| model_name(s, &hit.repository))
            else {
                continue;
            };
            let model = models.entry(name.clone()).or_insert_with(|| Model {
                name: name.clone(),
                source: *source,
                repository: hit.repository.clone(),
                versions: BTreeMap::new(),
                aliases: BTreeMap::new(),
                latest: None,
                created: None,
                updated: None,
            });
            if model.repository != hit.repository {
                continue;
            }
            let parsed = semver::Version::parse(hit.tag.strip_prefix('v').unwrap_or(&hit.tag));
            match (parsed, number(&hit.tag)) {
                (Ok(semver), Some(number)) => {
                    let taken = model
                        .versions
                        .get(&number)
                        .is_some_and(|v| v.hit.tag < hit.tag);
                    if !taken {
                        model.versions.insert(
                            number,
                            Version {
                                number,
                                semver,
                                created: hit
                                    .fields
                                    .0
                                    .get("created")
                                    .map(text)
                                    .as_deref()
                                    .and_then(millis),
                                hit: std::sync::Arc::clone(hit),
                                aliases: Vec::new(),
                            },
                        );
                    }
                }
                _ => others.push((name, hit)),
            }
        }
        // Aliases: other tags naming a version's manifest (the highest such version).
        for (name, hit) in others {
            let Some(model) = models.get_mut(&name) else {
                continue;
            };
            let target = model
                .versions
                .values()
                .filter(|v| v.hit.digest == hit.digest)
                .max_by(|a, b| a.semver.cmp(&b.semver))
                .map(|v| v.number);
            if let Some(number) = target {
                model.aliases.insert(hit.tag.clone(), number);
            }
        }
        for model in models.values_mut() {
            for (alias, number) in &model.aliases {
                if let Some(v) = model.versions.get_mut(number) {
                    v.aliases.push(alias.clone());
                }
            }
            model.latest = model
                .versions
                .values()
                .max_by(|a, b| a.semver.cmp(&b.semver))
                .map(|v| v.number);
            model.created = model.versions.values().filter_map(|v| v.created).min();
            model.updated = model.versions.values().filter_map(|v| v.created).max();
        }
        models.retain(|_, m| !m.versions.is_empty());
        Registry { models }
    }
}

fn text(field: &Field) -> String {
    match field {
        Field::Number(n) => n.to_string(),
        Field::Text(t) => t.clone(),
        Field::List(l) => l.join(","),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn millis(time: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Fields that are attributes of the MLflow objects, not tags.
const NOT_TAGS: [&str; 6] = [
    "repository",
    "tag",
    "digest",
    "name",
    "version",
    "description",
];

impl Version {
    fn field(&self, name: &str) -> Option<String> {
        self.hit.fields.0.get(name).map(text)
    }

    /// The MLflow tags: every indexed field but the attributes, and `modelark.*`.
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags: BTreeMap<String, String> = self
            .hit
            .fields
            .0
            .iter()
            .filter(|(k, _)| !NOT_TAGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        tags.insert("modelark.tag".into(), self.hit.tag.clone());
        tags.insert("modelark.digest".into(), self.hit.digest.clone());
        tags
    }

    /// One of [`Version::tags`], without building them all (filters ask per version).
    pub fn tag_value(&self, key: &str) -> Option<String> {
        match key {
            "modelark.tag" => Some(self.hit.tag.clone()),
            "modelark.digest" => Some(self.hit.digest.clone()),
            k if NOT_TAGS.contains(&k) => None,
            k => self.field(k),
        }
    }

    /// The version tag.
    pub fn tag(&self) -> &str {
        &self.hit.tag
    }

    /// The manifest digest.
    pub fn digest(&self) -> &str {
        &self.hit.digest
    }

    /// The MLflow run the lineage names: `runs:/ID/...`, or a URL with `/runs/ID`.
    fn run_id(&self) -> Option<String> {
        let run = self.field("lineage.trainingRun")?;
        if let Some(rest) = run.strip_prefix("runs:/") {
            return rest.split('/').next().map(str::to_owned);
        }
        let (_, after) = run.split_once("/runs/")?;
        let id: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!id.is_empty()).then_some(id)
    }

    /// `REPO@DIGEST`: where the bytes are, pinned.
    pub fn source(&self) -> String {
        format!("{}@{}", self.hit.repository, self.hit.digest)
    }

    /// The MLflow `ModelVersion` JSON.
    pub fn json(&self, name: &str) -> Value {
        let mut v = json!({
            "name": name,
            "version": self.number.to_string(),
            "current_stage": "None",
            "description": self.field("description").unwrap_or_default(),
            "source": self.source(),
            "run_id": self.run_id().unwrap_or_default(),
            "status": "READY",
            "tags": self.tags().into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect::<Vec<_>>(),
            "aliases": self.aliases,
        });
        if let Some(link) = self
            .field("lineage.trainingRun")
            .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
        {
            v["run_link"] = json!(link);
        }
        if let Some(ms) = self.created {
            v["creation_timestamp"] = json!(ms);
            v["last_updated_timestamp"] = json!(ms);
        }
        v
    }
}

impl Model {
    /// The latest version.
    pub fn latest(&self) -> Option<&Version> {
        self.latest.and_then(|n| self.versions.get(&n))
    }

    /// The model's tags: the latest version's, without the per-version `modelark.*` ones,
    /// plus `modelark.repository`.
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.latest().map(Version::tags).unwrap_or_default();
        tags.retain(|k, _| !k.starts_with("modelark."));
        tags.insert("modelark.repository".into(), self.repository.clone());
        tags
    }

    /// One of [`Model::tags`], without building them all (filters ask per model).
    pub fn tag_value(&self, key: &str) -> Option<String> {
        match key {
            "modelark.repository" => Some(self.repository.clone()),
            k if k.starts_with("modelark.") => None,
            k => self.latest()?.tag_value(k),
        }
    }

    /// The MLflow `RegisteredModel` JSON.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "description": self.latest().and_then(|l| l.field("description")).unwrap_or_default(),
            "latest_versions": self.latest().map(|l| vec![l.json(&self.name)]).unwrap_or_default(),
            "tags": self.tags().into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect::<Vec<_>>(),
            "aliases": self.aliases.iter()
                .map(|(alias, n)| json!({"alias": alias, "version": n.to_string()}))
                .collect::<Vec<_>>(),
        });
        if let Some(ms) = self.created {
            v["creation_timestamp"] = json!(ms);
        }
        if let Some(ms) = self.updated {
            v["last_updated_timestamp"] = json!(ms);
        }
        v
    }
}

/// A registered model as a search filter sees it.
pub struct ModelSubject<'a>(pub &'a Model);

impl filter::Subject for ModelSubject<'_> {
    fn attribute(&self, name: &str) -> Option<String> {
        (name == "name").then(|| self.0.name.clone())
    }
    fn tag(&self, key: &str) -> Option<String> {
        self.0.tag_value(key)
    }
}

/// A model version as a search filter sees it.
pub struct VersionSubject<'a>(pub &'a Model, pub &'a Version);

impl filter::Subject for VersionSubject<'_> {
    fn attribute(&self, name: &str) -> Option<String> {
        match name {
            "name" => Some(self.0.name.clone()),
            "version_number" => Some(self.1.number.to_string()),
            "run_id" => self.1.run_id(),
            "source_path" => Some(self.1.source()),
            _ => None,
        }
    }
    fn tag(&self, key: &str) -> Option<String> {
        self.1.tag_value(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::query::Fields;

    #[test]
    fn version_numbers_spell_releases_and_hash_the_rest() {
        assert_eq!(number("1.2.3"), Some(1_002_003));
        assert_eq!(number("v1.2.3"), Some(1_002_003));
        assert_eq!(number("0.3.1"), Some(3001));
        assert_eq!(number("12.0.999"), Some(12_000_999));
        assert_eq!(number("production"), None);
        assert_eq!(number("latest"), None);
        for tag in ["1.0.0-rc.1", "1.0.0+build.5", "1.1000.0", "v2.0.0-beta"] {
            let n = number(tag).unwrap();
            assert!((HASHED..HASHED + HASHED_SPAN).contains(&n), "{tag}: {n}");
            assert!(n < 1 << 53, "{tag}: {n} is not exact in JavaScript");
            assert_eq!(number(tag), Some(n), "{tag}: not stable");
        }
        assert_ne!(number("1.0.0-rc.1"), number("1.0.0-rc.2"));
        // The hash is pinned: a change here renumbers every user's pre-releases.
        assert_eq!(number("1.0.0-rc.1"), number("1.0.0-rc.1"));
        let pinned = number("2.0.0-rc.1").unwrap();
        assert_eq!(pinned, {
            let h = sha2::Sha256::digest(b"modelark-mlflow-version\x002.0.0-rc.1");
            HASHED + u64::from_be_bytes(h[..8].try_into().unwrap()) % HASHED_SPAN
        });
    }

    #[test]
    fn names_map_repository_paths_both_ways() {
        let scope = Scope::Registry {
            host: "r.example:5000".into(),
            prefix: "ml".into(),
        };
        assert_eq!(
            model_name(&scope, "r.example:5000/ml/team/bert").as_deref(),
            Some("team~bert")
        );
        assert_eq!(
            repository_of(&scope, "team~bert").as_deref(),
            Some("r.example:5000/ml/team/bert")
        );
        assert_eq!(model_name(&scope, "r.example:5000/other/bert"), None);
        assert_eq!(repository_of(&scope, "a/b"), None);
        assert_eq!(model_name(&Scope::Store, "bert").as_deref(), Some("bert"));
    }

    fn hit(repository: &str, tag: &str, digest: &str, created: Option<&str>) -> Hit {
        let mut fields = Fields::default();
        if let Some(c) = created {
            fields.0.insert("created".into(), Field::Text(c.into()));
        }
        fields.0.insert(
            "lineage.trainingRun".into(),
            Field::Text("https://mlflow.example/#/experiments/1/runs/abc123".into()),
        );
        Hit {
            repository: repository.into(),
            tag: tag.into(),
            digest: digest.into(),
            fields,
        }
    }

    #[test]
    fn the_registry_groups_versions_aliases_and_latest() {
        let scope = Scope::Registry {
            host: "h".into(),
            prefix: "ml".into(),
        };
        let hits = vec![
            (
                0,
                hit(
                    "h/ml/bert",
                    "1.0.0",
                    "sha256:a",
                    Some("2026-01-01T00:00:00Z"),
                ),
            ),
            (0, hit("h/ml/bert", "v1.0.0", "sha256:z", None)),
            (
                0,
                hit(
                    "h/ml/bert",
                    "2.0.0",
                    "sha256:b",
                    Some("2026-02-01T00:00:00Z"),
                ),
            ),
            (0, hit("h/ml/bert", "production", "sha256:a", None)),
            (0, hit("h/ml/bert", "dangling", "sha256:x", None)),
            (0, hit("h/ml/empty", "production", "sha256:q", None)),
        ];
        let hits: Vec<_> = hits
            .into_iter()
            .map(|(s, h)| (s, std::sync::Arc::new(h)))
            .collect();
        let registry = Registry::build(&hits, &[scope]);
        assert_eq!(
            registry.models.len(),
            1,
            "a model without versions is no model"
        );
        let bert = &registry.models["bert"];
        assert_eq!(
            bert.versions.keys().copied().collect::<Vec<_>>(),
            [1_000_000, 2_000_000]
        );
        let v1 = &bert.versions[&1_000_000];
        assert_eq!(v1.tag(), "1.0.0", "1.0.0 sorts before v1.0.0");
        for (key, value) in v1.tags() {
            assert_eq!(v1.tag_value(&key), Some(value), "{key}");
        }
        for (key, value) in bert.tags() {
            assert_eq!(bert.tag_value(&key), Some(value), "{key}");
        }
        assert_eq!(
            bert.aliases,
            BTreeMap::from([("production".to_owned(), 1_000_000)])
        );
        assert_eq!(bert.latest, Some(2_000_000));
        let json = bert.json();
        assert_eq!(json["latest_versions"][0]["version"], "2000000");
        assert_eq!(
            json["aliases"][0],
            json!({"alias": "production", "version": "1000000"})
        );
        assert_eq!(json["creation_timestamp"], 1_767_225_600_000i64);
        let v1 = bert.versions[&1_000_000].json("bert");
        assert_eq!(v1["source"], "h/ml/bert@sha256:a");
        assert_eq!(v1["run_id"], "abc123");
        assert_eq!(v1["aliases"], json!(["production"]));
    }
}
