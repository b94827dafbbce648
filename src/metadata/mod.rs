//! Registry metadata of a model and its one mapping onto a ModelPack config plus bounded
//! manifest annotations. `docs/format.md` is the normative table; the tests round-trip it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub mod model_card;
mod modelpack;
use crate::reference::Reference;
pub use modelpack::{ConfigDescriptor, ConfigModel, ModelFs, ModelPackConfig};

/// Manifest annotation keys modelark writes. Standard OCI keys where one exists, the
/// `dev.modelark.` namespace otherwise.
pub mod keys {
    /// Model name (also ModelPack `descriptor.name`).
    pub const NAME: &str = "dev.modelark.name";
    /// Semantic version (also ModelPack `descriptor.version`).
    pub const VERSION: &str = "org.opencontainers.image.version";
    /// Human-readable title.
    pub const TITLE: &str = "org.opencontainers.image.title";
    /// Short description (only when at most [`super::MAX_DESCRIPTION_ANNOTATION`] bytes).
    pub const DESCRIPTION: &str = "org.opencontainers.image.description";
    /// Authors, joined with `, `.
    pub const AUTHORS: &str = "org.opencontainers.image.authors";
    /// Licenses as one SPDX expression (entries joined with ` AND `).
    pub const LICENSES: &str = "org.opencontainers.image.licenses";
    /// Vendor.
    pub const VENDOR: &str = "org.opencontainers.image.vendor";
    /// Documentation URL.
    pub const DOCUMENTATION: &str = "org.opencontainers.image.documentation";
    /// Source repository URL (lineage).
    pub const SOURCE: &str = "org.opencontainers.image.source";
    /// Source revision (lineage).
    pub const REVISION: &str = "org.opencontainers.image.revision";
    /// Creation time, RFC 3339; written only when asked for.
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// Model family.
    pub const FAMILY: &str = "dev.modelark.family";
    /// Training framework (`pytorch`, `transformers`, ...).
    pub const FRAMEWORK: &str = "dev.modelark.framework";
    /// Weight format (`safetensors`, `gguf`, `onnx`, ...).
    pub const FORMAT: &str = "dev.modelark.format";
    /// Architecture.
    pub const ARCHITECTURE: &str = "dev.modelark.architecture";
    /// Parameter count (`110M`, `7B`).
    pub const PARAM_SIZE: &str = "dev.modelark.param-size";
    /// Numeric precision.
    pub const PRECISION: &str = "dev.modelark.precision";
    /// Quantization.
    pub const QUANTIZATION: &str = "dev.modelark.quantization";
    /// Task (`text-classification`, ...).
    pub const TASK: &str = "dev.modelark.task";
    /// Free-form tags, joined with `,`.
    pub const TAGS: &str = "dev.modelark.tags";
    /// The input/output signature as compact JSON.
    pub const SIGNATURE: &str = "dev.modelark.signature";
    /// Training datasets as a compact JSON array of `{uri, digest}`.
    pub const DATASETS: &str = "dev.modelark.lineage.datasets";
    /// Training run URI.
    pub const TRAINING_RUN: &str = "dev.modelark.lineage.training-run";
    /// Parent model as `reference@digest`.
    pub const PARENT: &str = "dev.modelark.lineage.parent";
    /// Upstream models (`hf://ORG/NAME`) as a compact JSON array of `{uri, relation}`.
    pub const BASE_MODELS: &str = "dev.modelark.lineage.base-models";
    /// Prefix of one annotation per metric: `dev.modelark.metric.<name>` = decimal number.
    pub const METRIC_PREFIX: &str = "dev.modelark.metric.";
}

/// A description longer than this stays in the config only.
pub const MAX_DESCRIPTION_ANNOTATION: usize = 1024;
/// The largest structured (JSON) annotation value modelark writes.
pub const MAX_JSON_ANNOTATION: usize = 64 * 1024;

/// Errors from validating or decoding metadata.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field has a value modelark refuses.
    #[error("invalid metadata field {field}: {reason}")]
    Invalid {
        /// The field, as named in `modelark.yaml`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A structured field is too large to travel in a manifest annotation.
    #[error("metadata field {field} is {size} bytes as an annotation, over the {limit}-byte limit")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An annotation modelark wrote cannot be decoded.
    #[error("annotation {key} has an unreadable value")]
    Annotation {
        /// The annotation key.
        key: String,
        /// Why it does not decode.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Everything a registry user sees and filters on for one model version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelMetadata {
    /// Model name (required when packing; defaults to the last component of the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Semantic version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<semver::Version>,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// SPDX license identifiers or expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Vendor or publisher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Model family (`llama3`, `bert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    /// Creation time (RFC 3339). Absent unless asked for, so builds are reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Training framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// Weight format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Parameter count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    /// Numeric precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// Quantization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// ModelPack capabilities (config only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Input/output signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<IoSignature>,
    /// Where the model came from.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
    /// Evaluation metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

/// ModelPack `config.capabilities`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Input modalities (`text`, `image`, `audio`, `video`, `embedding`, `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_types: Option<Vec<Modality>>,
    /// Output modalities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_types: Option<Vec<Modality>>,
    /// Knowledge cutoff (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_cutoff: Option<String>,
    /// Whether the model reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// Whether the model uses tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_usage: Option<bool>,
    /// Whether the model is a reward model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<bool>,
    /// ISO 639-1 language codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
}

/// A ModelPack modality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Modality {
    Text,
    Image,
    Audio,
    Video,
    Embedding,
    Other,
}

/// The tensors a model takes and returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoSignature {
    /// Inputs.
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    /// Outputs.
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
}

/// One named tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Element type (`float32`, `int64`, ...).
    pub dtype: String,
    /// Dimensions; a name or -1 marks a dynamic one.
    #[serde(default)]
    pub shape: Vec<Dim>,
}

/// One dimension of a tensor shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size, or -1 for dynamic.
    Fixed(i64),
    /// A named dynamic dimension (`batch`).
    Named(String),
}

/// Where a model came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lineage {
    /// Source repository and revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Training datasets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Dataset>,
    /// Training run (an MLflow, W&B or other tracker URI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run: Option<String>,
    /// The model this one was derived from, pinned by digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Reference>,
    /// Upstream models outside any OCI registry (a Hugging Face model card's `base_model`,
    /// as `hf://ORG/NAME`), with how this one derives from each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_models: Vec<BaseModel>,
}

/// An upstream model named by URI (`hf://ORG/NAME`), and the relation to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseModel {
    /// The model's URI.
    pub uri: String,
    /// `finetune`, `adapter`, `merge` or `quantized` (Hugging Face's `base_model_relation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

impl Lineage {
    /// True when no lineage is recorded.
    pub fn is_empty(&self) -> bool {
        *self == Lineage::default()
    }
}

/// Source code a model was trained from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Repository URL.
    pub repo: String,
    /// Commit or other revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// A training dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Where the dataset lives.
    pub uri: String,
    /// Its content digest, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

impl ModelMetadata {
    /// Checks every field a registry user could get wrong.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &str, reason: String| Error::Invalid {
            field: field.to_owned(),
            reason,
        };
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.len() > 256)
        {
            return Err(invalid("name", "must be 1 to 256 characters".into()));
        }
        for license in &self.licenses {
            let spdx = |b: u8| b.is_ascii_alphanumeric() || b" .+-:()".contains(&b);
            if license.trim().is_empty() || !license.bytes().all(spdx) {
                return Err(invalid(
                    "licenses",
                    format!(
                        "{license:?} is not an SPDX identifier or expression (e.g. Apache-2.0)"
                    ),
                ));
            }
        }
        if let Some(tag) = self.tags.iter().find(|t| t.is_empty() || t.contains(',')) {
            return Err(invalid(
                "tags",
                format!("{tag:?}: tags are non-empty and have no ','"),
            ));
        }
        for (name, value) in &self.metrics {
            let ok_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok_name {
                return Err(invalid(
                    "metrics",
                    format!("{name:?}: metric names use letters, digits, '_', '.' and '-'"),
                ));
            }
            if !value.is_finite() {
                return Err(invalid(
                    "metrics",
                    format!("{name}: {value} is not a finite number"),
                ));
            }
        }
        for (field, time) in [
            ("created", &self.created),
            (
                "capabilities.knowledgeCutoff",
                &self
                    .capabilities
                    .as_ref()
                    .and_then(|c| c.knowledge_cutoff.clone()),
            ),
        ] {
            if let Some(time) = time {
                parse_rfc3339(time).map_err(|reason| invalid(field, reason))?;
            }
        }
        if let Some(parent) = &self.lineage.parent
            && parent.digest().is_none()
        {
            return Err(invalid(
                "lineage.parent",
                format!("{parent} must be pinned by digest (REF@sha256:...)"),
            ));
        }
        Ok(())
    }

    /// The ModelPack config for this metadata and the given layer diff IDs.
    pub fn to_config(&self, diff_ids: Vec<Digest>) -> ModelPackConfig {
        let source = self.lineage.source.as_ref();
        ModelPackConfig {
            descriptor: ConfigDescriptor {
                created_at: self.created.clone(),
                authors: self.authors.clone(),
                family: self.family.clone(),
                name: self.name.clone(),
                doc_url: self.doc_url.clone(),
                source_url: source.map(|s| s.repo.clone()),
                datasets_url: self
                    .lineage
                    .datasets
                    .iter()
                    .map(|d| d.uri.clone())
                    .collect(),
                version: self.version.as_ref().map(ToString::to_string),
                revision: source.and_then(|s| s.revision.clone()),
                vendor: self.vendor.clone(),
                licenses: self.licenses.clone(),
                title: self.title.clone(),
                description: self.description.clone(),
            },
            config: ConfigModel {
                architecture: self.architecture.clone(),
                format: self.format.clone(),
                param_size: self.param_size.clone(),
                precision: self.precision.clone(),
                quantization: self.quantization.clone(),
                capabilities: self.capabilities.clone(),
            },
            modelfs: ModelFs {
                kind: "layers".into(),
                diff_ids,
            },
        }
    }

    /// The bounded, queryable manifest annotations for this metadata.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the signature or dataset list is too big for an annotation.
    pub fn to_annotations(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                out.insert(key.to_owned(), value);
            }
        };
        let source = self.lineage.source.as_ref();
        put(keys::NAME, self.name.clone());
        put(
            keys::VERSION,
            self.version.as_ref().map(ToString::to_string),
        );
        put(keys::TITLE, self.title.clone());
        put(
            keys::DESCRIPTION,
            self.description
                .clone()
                .filter(|d| d.len() <= MAX_DESCRIPTION_ANNOTATION),
        );
        put(keys::AUTHORS, Some(self.authors.join(", ")));
        put(keys::LICENSES, Some(join_spdx(&self.licenses)));
        put(keys::VENDOR, self.vendor.clone());
        put(keys::DOCUMENTATION, self.doc_url.clone());
        put(keys::SOURCE, source.map(|s| s.repo.clone()));
        put(keys::REVISION, source.and_then(|s| s.revision.clone()));
        put(keys::CREATED, self.created.clone());
        put(keys::FAMILY, self.family.clone());
        put(keys::FRAMEWORK, self.framework.clone());
        put(keys::FORMAT, self.format.clone());
        put(keys::ARCHITECTURE, self.architecture.clone());
        put(keys::PARAM_SIZE, self.param_size.clone());
        put(keys::PRECISION, self.precision.clone());
        put(keys::QUANTIZATION, self.quantization.clone());
        put(keys::TASK, self.task.clone());
        put(keys::TAGS, Some(self.tags.join(",")));
        put(keys::SIGNATURE, bounded_json("signature", &self.signature)?);
        let datasets = Some(&self.lineage.datasets).filter(|d| !d.is_empty());
        put(keys::DATASETS, bounded_json("lineage.datasets", &datasets)?);
        put(keys::TRAINING_RUN, self.lineage.training_run.clone());
        put(
            keys::PARENT,
            self.lineage.parent.as_ref().map(ToString::to_string),
        );
        let base_models = Some(&self.lineage.base_models).filter(|b| !b.is_empty());
        put(
            keys::BASE_MODELS,
            bounded_json("lineage.baseModels", &base_models)?,
        );
        for (name, value) in &self.metrics {
            out.insert(format!("{}{name}", keys::METRIC_PREFIX), value.to_string());
        }
        Ok(out)
    }

    /// Reads metadata back from a config (when the artifact has a ModelPack one) and the
    /// manifest annotations. Fields present in both are taken from the config.
    ///
    /// # Errors
    /// [`Error::Annotation`] when a modelark annotation does not decode.
    pub fn from_parts(
        config: Option<&ModelPackConfig>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<ModelMetadata, Error> {
        let get = |key: &str| annotations.get(key).cloned();
        let default_config = ModelPackConfig::default();
        let config = config.unwrap_or(&default_config);
        let (d, c) = (&config.descriptor, &config.config);
        let version = match d.version.clone().or_else(|| get(keys::VERSION)) {
            // A foreign artifact may carry a version that is not semver: keep what parses.
            Some(v) => semver::Version::parse(v.trim_start_matches('v')).ok(),
            None => None,
        };
        let datasets = match get(keys::DATASETS) {
            Some(json) => decode(keys::DATASETS, &json)?,
            None => d
                .datasets_url
                .iter()
                .map(|uri| Dataset {
                    uri: uri.clone(),
                    digest: None,
                })
                .collect(),
        };
        let source_url = d.source_url.clone().or_else(|| get(keys::SOURCE));
        let revision = d.revision.clone().or_else(|| get(keys::REVISION));
        let parent = get(keys::PARENT)
            .map(|p| decode_with(keys::PARENT, &p, |p| p.parse::<Reference>()))
            .transpose()?;
        let mut metrics = BTreeMap::new();
        for (key, value) in annotations {
            if let Some(name) = key.strip_prefix(keys::METRIC_PREFIX) {
                metrics.insert(
                    name.to_owned(),
                    decode_with(key, value, |v| v.parse::<f64>())?,
                );
            }
        }
        Ok(ModelMetadata {
            name: d.name.clone().or_else(|| get(keys::NAME)),
            version,
            title: d.title.clone().or_else(|| get(keys::TITLE)),
            description: d.description.clone().or_else(|| get(keys::DESCRIPTION)),
            authors: pick_list(&d.authors, get(keys::AUTHORS), |s| {
                s.split(", ").map(str::to_owned).collect()
            }),
            licenses: pick_list(&d.licenses, get(keys::LICENSES), |s| split_spdx(&s)),
            vendor: d.vendor.clone().or_else(|| get(keys::VENDOR)),
            family: d.family.clone().or_else(|| get(keys::FAMILY)),
            doc_url: d.doc_url.clone().or_else(|| get(keys::DOCUMENTATION)),
            created: d.created_at.clone().or_else(|| get(keys::CREATED)),
            framework: get(keys::FRAMEWORK),
            format: c.format.clone().or_else(|| get(keys::FORMAT)),
            architecture: c.architecture.clone().or_else(|| get(keys::ARCHITECTURE)),
            param_size: c.param_size.clone().or_else(|| get(keys::PARAM_SIZE)),
            precision: c.precision.clone().or_else(|| get(keys::PRECISION)),
            quantization: c.quantization.clone().or_else(|| get(keys::QUANTIZATION)),
            task: get(keys::TASK),
            tags: get(keys::TAGS)
                .map(|t| t.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            capabilities: c.capabilities.clone(),
            signature: get(keys::SIGNATURE)
                .map(|s| decode(keys::SIGNATURE, &s))
                .transpose()?,
            lineage: Lineage {
                source: source_url.map(|repo| Source { repo, revision }),
                datasets,
                training_run: get(keys::TRAINING_RUN),
                parent,
                base_models: get(keys::BASE_MODELS)
                    .map(|json| decode(keys::BASE_MODELS, &json))
                    .transpose()?
                    .unwrap_or_default(),
            },
            metrics,
        })
    }
}

fn pick_list(
    from_config: &[String],
    annotation: Option<String>,
    split: impl Fn(String) -> Vec<String>,
) -> Vec<String> {
    if !from_config.is_empty() {
        return from_config.to_vec();
    }
    annotation.map(split).unwrap_or_default()
}

fn bounded_json<T: Serialize>(
    field: &'static str,
    value: &Option<T>,
) -> Result<Option<String>, Error> {
    let Some(value) = value else { return Ok(None) };
    let json = serde_json::to_string(value).expect("metadata always serializes");
    if json.len() > MAX_JSON_ANNOTATION {
        return Err(Error::TooLarge {
            field,
            size: json.len(),
            limit: MAX_JSON_ANNOTATION,
        });
    }
    Ok(Some(json))
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<T, Error> {
    decode_with(key, json, |j| serde_json::from_str(j))
}

fn decode_with<T, E: std::error::Error + Send + Sync + 'static>(
    key: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, Error> {
    parse(value).map_err(|e| Error::Annotation {
        key: key.to_owned(),
        source: Box::new(e),
    })
}

/// Joins licenses into one SPDX expression, parenthesising compound entries.
fn join_spdx(licenses: &[String]) -> String {
    if licenses.len() == 1 {
        return licenses[0].clone();
    }
    let wrap = |l: &String| {
        if l.contains(' ') {
            format!("({l})")
        } else {
            l.clone()
        }
    };
    licenses.iter().map(wrap).collect::<Vec<_>>().join(" AND ")
}

/// Splits a top-level ` AND ` expression back into entries (the inverse of [`join_spdx`]).
fn split_spdx(expression: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let bytes = expression.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 && expression[i..].starts_with(" AND ") => {
                parts.push(&expression[start..i]);
                i += 5;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&expression[start..]);
    if parts.len() == 1 {
        return vec![expression.to_owned()];
    }
    parts
        .into_iter()
        .map(|p| {
            p.strip_prefix('(')
                .and_then(|p| p.strip_suffix(')'))
                .unwrap_or(p)
                .to_owned()
        })
        .collect()
}

/// `512MiB` as `(512, "MiB")`: the leading whole number and what follows it.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit))
}

/// `90s`, `10m`, `2h`, `1d`, or a bare number of seconds, as a duration.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let (n, unit) = number_and_unit(text)?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(n.checked_mul(scale)?))
}

/// `512MiB`, `10GiB`, `2TB`, or a bare number of bytes, as a number of bytes (binary units
/// `KiB`..`TiB`, decimal `KB`..`TB`).
pub fn parse_size(text: &str) -> Option<u64> {
    let (n, unit) = number_and_unit(text)?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// Parses an RFC 3339 timestamp.
///
/// # Errors
/// A reason when `text` is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)"))
}

/// Formats seconds since the Unix epoch as RFC 3339 in UTC.
///
/// # Errors
/// A reason when the time is out of range.
pub fn format_unix_time(seconds: i64) -> Result<String, String> {
    let time = time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| format!("{seconds} is out of range for a timestamp"))?;
    Ok(time
        .format(&time::format_description::well_known::Rfc3339)
        .expect("an in-range time always formats"))
}

#[cfg(test)]
mod tests;
