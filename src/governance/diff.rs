//! What changed between two models: metadata fields (added, removed, changed) and files by
//! path and digest (added, removed, changed, unchanged).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::package::ModelView;

/// One metadata field that differs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FieldChange {
    /// Dotted path (`metrics.accuracy`, `lineage.parent`).
    pub field: String,
    /// Value in the first model (absent when added).
    pub before: Option<serde_json::Value>,
    /// Value in the second model (absent when removed).
    pub after: Option<serde_json::Value>,
}

/// One file that differs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FileChange {
    /// Its path in the model.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// Digest in the first model.
    pub before: Option<String>,
    /// Digest in the second model.
    pub after: Option<String>,
    /// Size in the second model (the first when removed).
    pub size: u64,
}

/// The differences between two models.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The two manifest digests.
    pub digests: (String, String),
    /// Metadata fields that differ.
    pub metadata: Vec<FieldChange>,
    /// Files that differ.
    pub files: Vec<FileChange>,
    /// Files identical in both.
    pub unchanged: usize,
}

impl Diff {
    /// True when the models have the same metadata and files.
    pub fn is_empty(&self) -> bool {
        self.metadata.is_empty() && self.files.is_empty()
    }
}

/// Compares two described models.
pub fn diff(a: &ModelView, b: &ModelView) -> Diff {
    let flat_a = flatten(&serde_json::to_value(&a.metadata).unwrap_or_default());
    let flat_b = flatten(&serde_json::to_value(&b.metadata).unwrap_or_default());
    let mut metadata = Vec::new();
    for key in flat_a
        .keys()
        .chain(flat_b.keys().filter(|k| !flat_a.contains_key(*k)))
    {
        let (before, after) = (flat_a.get(key), flat_b.get(key));
        if before != after {
            metadata.push(FieldChange {
                field: key.clone(),
                before: before.cloned(),
                after: after.cloned(),
            });
        }
    }
    metadata.sort_by(|x, y| x.field.cmp(&y.field));
    let by_path = |view: &ModelView| -> BTreeMap<String, (String, u64)> {
        view.files
            .iter()
            .map(|f| {
                (
                    f.path.clone().unwrap_or_else(|| f.digest.to_string()),
                    (f.digest.to_string(), f.size),
                )
            })
            .collect()
    };
    let (files_a, files_b) = (by_path(a), by_path(b));
    let mut files = Vec::new();
    let mut unchanged = 0;
    for (path, (digest, size)) in &files_a {
        match files_b.get(path) {
            None => files.push(FileChange {
                path: path.clone(),
                change: "removed".into(),
                before: Some(digest.clone()),
                after: None,
                size: *size,
            }),
            Some((other, other_size)) if other != digest => files.push(FileChange {
                path: path.clone(),
                change: "changed".into(),
                before: Some(digest.clone()),
                after: Some(other.clone()),
                size: *other_size,
            }),
            Some(_) => unchanged += 1,
        }
    }
    for (path, (digest, size)) in files_b.iter().filter(|(p, _)| !files_a.contains_key(*p)) {
        files.push(FileChange {
            path: path.clone(),
            change: "added".into(),
            before: None,
            after: Some(digest.clone()),
            size: *size,
        });
    }
    files.sort_by(|x, y| x.path.cmp(&y.path));
    Diff {
        digests: (a.digest.to_string(), b.digest.to_string()),
        metadata,
        files,
        unchanged,
    }
}

/// Leaves of a JSON value by dotted path; arrays are compared whole.
fn flatten(value: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(String::new(), value)];
    while let Some((prefix, value)) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    stack.push((path, v));
                }
            }
            other => {
                out.insert(prefix, other.clone());
            }
        }
    }
    out
}
