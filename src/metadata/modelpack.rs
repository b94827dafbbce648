//! The ModelPack config document (`application/vnd.cncf.model.config.v1+json`), as the schema
//! in `specs/modelpack/config-schema.json` defines it. Reading is lenient (unknown fields are
//! ignored, so configs from other tools read); writing omits every absent value.

use serde::{Deserialize, Serialize};

use super::Capabilities;
use crate::digest::Digest;

/// The ModelPack config document
/// (`application/vnd.cncf.model.config.v1+json`, schema in `specs/modelpack`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPackConfig {
    /// Descriptive fields.
    #[serde(default)]
    pub descriptor: ConfigDescriptor,
    /// Technical fields.
    #[serde(default)]
    pub config: ConfigModel,
    /// The layers' diff IDs.
    #[serde(default)]
    pub modelfs: ModelFs,
}

/// ModelPack `descriptor`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ConfigDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "docURL", skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    #[serde(default, rename = "sourceURL", skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(default, rename = "datasetsURL", skip_serializing_if = "Vec::is_empty")]
    pub datasets_url: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// ModelPack `config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ConfigModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
}

/// ModelPack `modelfs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The digest of each layer's uncompressed content, in layer order.
    pub diff_ids: Vec<Digest>,
}

impl Default for ModelFs {
    fn default() -> Self {
        ModelFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}
