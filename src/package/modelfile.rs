//! `modelark.yaml`: the optional model file that gives a model's registry metadata and
//! packaging rules. Every [`ModelMetadata`] field (camelCase) plus `files` (glob → kind
//! overrides) and `exclude` (globs). Documented in `docs/format.md`.

use std::path::Path;

use serde::Deserialize;

use super::Error;
use super::classify::Kind;
use crate::metadata::ModelMetadata;

/// The conventional file name, read from the model directory when `-f` is not given.
pub const FILE_NAME: &str = "modelark.yaml";

/// A parsed model file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelFile {
    /// Registry metadata.
    pub metadata: ModelMetadata,
    /// Kind overrides, first match wins.
    pub files: Vec<(String, Kind)>,
    /// Globs of files to leave out.
    pub exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    pattern: String,
    kind: String,
}

impl ModelFile {
    /// Reads and validates a model file.
    ///
    /// # Errors
    /// [`Error::ModelFile`] naming the file and what is wrong.
    pub fn read(path: &Path) -> Result<ModelFile, Error> {
        let text = fs_err::read_to_string(path)?;
        ModelFile::parse(&text).map_err(|reason| Error::ModelFile {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses model file text.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<ModelFile, String> {
        let mut mapping: serde_yaml_ng::Mapping = match serde_yaml_ng::from_str(text) {
            Ok(serde_yaml_ng::Value::Mapping(m)) => m,
            Ok(serde_yaml_ng::Value::Null) => serde_yaml_ng::Mapping::new(),
            Ok(_) => return Err("expected a mapping of fields (name: ..., version: ...)".into()),
            Err(e) => return Err(e.to_string()),
        };
        let files: Vec<FileRule> = take(&mut mapping, "files")?;
        let exclude: Vec<String> = take(&mut mapping, "exclude")?;
        check_version(mapping.get("version"))?;
        let metadata: ModelMetadata =
            serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(mapping))
                .map_err(|e| e.to_string())?;
        metadata.validate().map_err(|e| e.to_string())?;
        let files = files
            .into_iter()
            .map(|rule| Ok((rule.pattern, rule.kind.parse::<Kind>()?)))
            .collect::<Result<_, String>>()?;
        Ok(ModelFile {
            metadata,
            files,
            exclude,
        })
    }
}

/// YAML reads `1.0` as a number; say so plainly instead of a type error.
fn check_version(value: Option<&serde_yaml_ng::Value>) -> Result<(), String> {
    let hint = "versions are quoted semver strings, e.g. version: \"1.0.0\"";
    match value {
        None | Some(serde_yaml_ng::Value::Null) => Ok(()),
        Some(serde_yaml_ng::Value::String(v)) => semver::Version::parse(v)
            .map(|_| ())
            .map_err(|e| format!("version {v:?}: {e} ({hint})")),
        Some(other) => Err(format!("version {other:?} is not a string ({hint})")),
    }
}

fn take<T: serde::de::DeserializeOwned + Default>(
    mapping: &mut serde_yaml_ng::Mapping,
    key: &str,
) -> Result<T, String> {
    match mapping.remove(key) {
        Some(value) => serde_yaml_ng::from_value(value).map_err(|e| format!("{key}: {e}")),
        None => Ok(T::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metadata_and_packaging_rules() {
        let file = ModelFile::parse(
            r#"
name: bert-tiny
version: "1.2.0"
licenses: [Apache-2.0]
framework: pytorch
metrics: {accuracy: 0.91}
signature:
  inputs: [{name: input_ids, dtype: int64, shape: [batch, 128]}]
lineage:
  parent: "ghcr.io/x/base@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
files:
  - {pattern: "*.bin", kind: weight}
exclude: ["*.tmp"]
"#,
        )
        .unwrap();
        assert_eq!(file.metadata.name.as_deref(), Some("bert-tiny"));
        assert_eq!(file.metadata.version.as_ref().unwrap().to_string(), "1.2.0");
        assert_eq!(file.metadata.metrics["accuracy"], 0.91);
        assert_eq!(file.files, vec![("*.bin".to_string(), Kind::Weight)]);
        assert_eq!(file.exclude, vec!["*.tmp".to_string()]);
    }

    #[test]
    fn refuses_mistakes_with_a_message_that_names_them() {
        let cases = [
            ("framwork: pytorch", "unknown field `framwork`"),
            ("version: 1.0", "quoted semver"),
            ("version: \"one\"", "quoted semver"),
            ("files: [{pattern: x, kind: weights}]", "not a kind"),
            ("licenses: [\"Apache 2.0; MIT\"]", "licenses"),
            ("- a list", "expected a mapping"),
            ("name: [unclosed", "line 1 column 7"),
        ];
        for (text, needle) in cases {
            let error = ModelFile::parse(text).unwrap_err();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn an_empty_file_is_empty_metadata() {
        assert_eq!(ModelFile::parse("").unwrap(), ModelFile::default());
    }
}
