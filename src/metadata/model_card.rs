//! Hugging Face model cards: the YAML front matter of a model directory's `README.md`
//! mapped to modelark metadata. A pack takes from it only what neither the flags nor
//! `modelark.yaml` say. The card is the user's, written for the Hub: what does not map is
//! a warning (naming the line or the field), never a failed pack.
//!
//! | Card field | Metadata |
//! |---|---|
//! | `license` (`license_name` for `other`) | `licenses`, as SPDX (`apache-2.0` -> `Apache-2.0`; unknown ids as `LicenseRef-...`) |
//! | `library_name` | `framework` |
//! | `pipeline_tag` | `task` |
//! | `tags` | `tags` |
//! | `language` | `capabilities.languages` (ISO 639 codes) |
//! | `datasets` | `lineage.datasets`, as `hf://datasets/NAME` |
//! | `base_model`, `base_model_relation` | `lineage.baseModels`, as `hf://ORG/NAME` |
//! | `model-index` results | `metrics` (by metric type; a repeated type gets `.DATASET`) |

use serde_yaml_ng::Value;

use super::{BaseModel, Capabilities, Dataset, ModelMetadata};

/// The file a model card lives in.
pub const FILE_NAME: &str = "README.md";

/// What a model card says, and what in it could not be used.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Card {
    /// The mapped metadata (only fields the card sets).
    pub metadata: ModelMetadata,
    /// One sentence per thing left out: `README.md line 4: ...` or `README.md: license ...`.
    pub warnings: Vec<String>,
}

/// The metadata in `text` (a `README.md`), when it starts with YAML front matter (`---`
/// on the first line, up to the next `---`); `None` when it has none.
pub fn parse(text: &str) -> Option<Card> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next()?;
    if first.trim_end() != "---" {
        return None;
    }
    let mut yaml = String::new();
    let mut closed = false;
    for line in lines {
        if matches!(line.trim_end(), "---" | "...") {
            closed = true;
            break;
        }
        yaml.push_str(line);
    }
    let mut card = Card::default();
    if !closed {
        card.warnings.push(format!(
            "{FILE_NAME} line 1: the front matter is not closed by a line '---'; its metadata is ignored"
        ));
        return Some(card);
    }
    let value: Value = match serde_yaml_ng::from_str(&yaml) {
        Ok(value) => value,
        Err(e) => {
            // The front matter starts on the file's second line.
            let line = e.location().map_or(1, |l| l.line() + 1);
            card.warnings.push(format!(
                "{FILE_NAME} line {line}: the front matter is not valid YAML ({}); its metadata is ignored",
                first_sentence(&e.to_string())
            ));
            return Some(card);
        }
    };
    match value {
        Value::Mapping(_) => map(&value, &mut card),
        Value::Null => {}
        _ => card.warnings.push(format!(
            "{FILE_NAME} line 2: the front matter is not a mapping of fields; its metadata is ignored"
        )),
    }
    Some(card)
}

fn first_sentence(text: &str) -> &str {
    text.split(" at line ").next().unwrap_or(text)
}

fn map(card_yaml: &Value, card: &mut Card) {
    let field = |name: &str| card_yaml.get(name).filter(|v| !v.is_null());
    let mut warn = |name: &str, what: &str| {
        card.warnings
            .push(format!("{FILE_NAME}: {name} {what}; it is ignored"));
    };
    let m = &mut card.metadata;

    if let Some(value) = field("license") {
        let license_name = field("license_name").and_then(Value::as_str);
        match strings(value) {
            Some(ids) => m.licenses = ids.iter().map(|id| spdx(id, license_name)).collect(),
            None => warn("license", "is not a string or a list of strings"),
        }
    }
    if let Some(value) = field("library_name") {
        match value.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(library) => m.framework = Some(library.to_owned()),
            None => warn("library_name", "is not a string"),
        }
    }
    if let Some(value) = field("pipeline_tag") {
        match value.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(task) => m.task = Some(task.to_owned()),
            None => warn("pipeline_tag", "is not a string"),
        }
    }
    if let Some(value) = field("tags") {
        match strings(value) {
            Some(tags) => {
                m.tags = tags
                    .into_iter()
                    .filter(|t| !t.is_empty() && !t.contains(','))
                    .collect()
            }
            None => warn("tags", "is not a list of strings"),
        }
    }
    if let Some(value) = field("language") {
        match strings(value) {
            Some(languages) => {
                let codes: Vec<String> = languages
                    .into_iter()
                    .map(|l| l.to_ascii_lowercase())
                    .filter(|l| {
                        (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase())
                    })
                    .collect();
                if !codes.is_empty() {
                    m.capabilities = Some(Capabilities {
                        languages: Some(codes),
                        ..Capabilities::default()
                    });
                }
            }
            None => warn("language", "is not a string or a list of strings"),
        }
    }
    if let Some(value) = field("datasets") {
        match strings(value) {
            Some(names) => {
                m.lineage.datasets = names
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .map(|name| Dataset {
                        uri: format!("hf://datasets/{name}"),
                        digest: None,
                    })
                    .collect()
            }
            None => warn("datasets", "is not a string or a list of strings"),
        }
    }
    if let Some(value) = field("base_model") {
        let relation = field("base_model_relation")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match strings(value) {
            Some(names) => {
                m.lineage.base_models = names
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .map(|name| BaseModel {
                        uri: format!("hf://{name}"),
                        relation: relation.clone(),
                    })
                    .collect()
            }
            None => warn("base_model", "is not a string or a list of strings"),
        }
    }
    if let Some(value) = field("model-index") {
        let mut skipped = Vec::new();
        metrics(value, m, &mut skipped);
        for what in skipped {
            card.warnings
                .push(format!("{FILE_NAME}: model-index {what}; it is ignored"));
        }
    }
}

/// A string, or a list of strings (numbers are taken as text).
fn strings(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Sequence(items) => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

/// `model-index: [{name, results: [{task, dataset: {type, name}, metrics: [{type, value}]}]}]`.
fn metrics(index: &Value, m: &mut ModelMetadata, skipped: &mut Vec<String>) {
    let Some(models) = index.as_sequence() else {
        skipped.push("is not a list".into());
        return;
    };
    for result in models
        .iter()
        .filter_map(|model| model.get("results")?.as_sequence())
        .flatten()
    {
        let dataset = result
            .get("dataset")
            .and_then(|d| d.get("type").or_else(|| d.get("name")))
            .and_then(Value::as_str)
            .map(metric_name);
        let Some(list) = result.get("metrics").and_then(Value::as_sequence) else {
            continue;
        };
        for metric in list {
            let Some(kind) = metric
                .get("type")
                .or_else(|| metric.get("name"))
                .and_then(Value::as_str)
            else {
                skipped.push("has a metric without a type".into());
                continue;
            };
            let value = match metric.get("value") {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.trim().trim_end_matches('%').parse::<f64>().ok(),
                _ => None,
            };
            let Some(value) = value.filter(|v| v.is_finite()) else {
                skipped.push(format!("metric {kind:?} has no numeric value"));
                continue;
            };
            let name = metric_name(kind);
            if name.is_empty() {
                continue;
            }
            let key = match (&dataset, m.metrics.contains_key(&name)) {
                (Some(dataset), true) => format!("{name}.{dataset}"),
                _ => name,
            };
            m.metrics.entry(key).or_insert(value);
        }
    }
}

/// A metric name modelark accepts: letters, digits, `_`, `.`, `-` (others become `_`).
fn metric_name(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The SPDX identifier for a Hub license id (the Hub's list is lowercase SPDX ids plus a
/// few of its own); `other` is `LicenseRef-<license_name>`, an unknown id `LicenseRef-<id>`.
pub fn spdx(id: &str, license_name: Option<&str>) -> String {
    const KNOWN: &[&str] = &[
        "Apache-2.0",
        "MIT",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "BSL-1.0",
        "CC0-1.0",
        "CC-BY-2.0",
        "CC-BY-2.5",
        "CC-BY-3.0",
        "CC-BY-4.0",
        "CC-BY-SA-3.0",
        "CC-BY-SA-4.0",
        "CC-BY-NC-2.0",
        "CC-BY-NC-3.0",
        "CC-BY-NC-4.0",
        "CC-BY-NC-ND-3.0",
        "CC-BY-NC-ND-4.0",
        "CC-BY-NC-SA-2.0",
        "CC-BY-NC-SA-3.0",
        "CC-BY-NC-SA-4.0",
        "CC-BY-ND-4.0",
        "AFL-3.0",
        "Artistic-2.0",
        "ECL-2.0",
        "EPL-1.0",
        "EPL-2.0",
        "EUPL-1.1",
        "EUPL-1.2",
        "ISC",
        "LPPL-1.3c",
        "MPL-2.0",
        "MS-PL",
        "NCSA",
        "ODbL-1.0",
        "ODC-By-1.0",
        "OSL-3.0",
        "PDDL-1.0",
        "PostgreSQL",
        "OFL-1.1",
        "Unlicense",
        "WTFPL",
        "Zlib",
        "PSF-2.0",
        "CDLA-Permissive-1.0",
        "CDLA-Permissive-2.0",
        "CDLA-Sharing-1.0",
    ];
    let id = id.trim();
    let lower = id.to_ascii_lowercase();
    if let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(id)) {
        return (*known).to_owned();
    }
    // The Hub's GNU ids name a version, not "only" or "or later": SPDX's -only is the
    // reading that claims no more than the card does.
    let gnu = [
        ("gpl-2.0", "GPL-2.0-only"),
        ("gpl-3.0", "GPL-3.0-only"),
        ("lgpl-2.1", "LGPL-2.1-only"),
        ("lgpl-3.0", "LGPL-3.0-only"),
        ("agpl-3.0", "AGPL-3.0-only"),
        ("gfdl", "GFDL-1.3-only"),
        ("lgpl-lr", "LGPL-3.0-only"),
        ("cc", "LicenseRef-cc"),
    ];
    if let Some((_, spdx)) = gnu.iter().find(|(hub, _)| *hub == lower) {
        return (*spdx).to_owned();
    }
    let reference = |name: &str| {
        let cleaned: String = name
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("LicenseRef-{}", cleaned.trim_matches('-'))
    };
    match (lower.as_str(), license_name) {
        ("other", Some(name)) if !name.trim().is_empty() => reference(name),
        ("other", _) => "LicenseRef-other".to_owned(),
        _ => reference(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "---\nlanguage:\n- en\n- fr\n- multilingual\nlicense: apache-2.0\nlibrary_name: transformers\npipeline_tag: text-classification\ntags:\n- sentiment\n- generated_from_trainer\ndatasets:\n- stanfordnlp/imdb\nbase_model: google-bert/bert-base-uncased\nbase_model_relation: finetune\nmodel-index:\n- name: bert-imdb\n  results:\n  - task:\n      type: text-classification\n    dataset:\n      name: IMDB\n      type: imdb\n    metrics:\n    - type: accuracy\n      value: 0.93\n    - type: f1\n      value: '0.91'\n  - dataset:\n      type: sst2\n    metrics:\n    - type: accuracy\n      value: 0.88\n---\n# bert-imdb\n";

    #[test]
    fn maps_each_field() {
        let card = parse(CARD).unwrap();
        assert!(card.warnings.is_empty(), "{:?}", card.warnings);
        let m = card.metadata;
        assert_eq!(m.licenses, ["Apache-2.0"]);
        assert_eq!(m.framework.as_deref(), Some("transformers"));
        assert_eq!(m.task.as_deref(), Some("text-classification"));
        assert_eq!(m.tags, ["sentiment", "generated_from_trainer"]);
        assert_eq!(
            m.capabilities.unwrap().languages.unwrap(),
            ["en", "fr"],
            "multilingual is not a language code"
        );
        assert_eq!(m.lineage.datasets[0].uri, "hf://datasets/stanfordnlp/imdb");
        assert_eq!(
            m.lineage.base_models,
            [BaseModel {
                uri: "hf://google-bert/bert-base-uncased".into(),
                relation: Some("finetune".into())
            }]
        );
        assert_eq!(m.metrics["accuracy"], 0.93);
        assert_eq!(m.metrics["f1"], 0.91);
        assert_eq!(m.metrics["accuracy.sst2"], 0.88);
    }

    #[test]
    fn licenses_map_to_spdx() {
        for (hub, name, expected) in [
            ("apache-2.0", None, "Apache-2.0"),
            ("mit", None, "MIT"),
            ("cc-by-nc-sa-4.0", None, "CC-BY-NC-SA-4.0"),
            ("gpl-3.0", None, "GPL-3.0-only"),
            ("openrail++", None, "LicenseRef-openrail"),
            ("llama3.1", None, "LicenseRef-llama3.1"),
            (
                "other",
                Some("my custom license"),
                "LicenseRef-my-custom-license",
            ),
            ("other", None, "LicenseRef-other"),
        ] {
            assert_eq!(spdx(hub, name), expected, "{hub}");
        }
        let mut m = ModelMetadata {
            licenses: vec![spdx("openrail++", None), spdx("other", Some("a/b c"))],
            ..ModelMetadata::default()
        };
        m.validate().unwrap();
        m.licenses = vec![spdx("bsd-3-clause", None)];
        m.validate().unwrap();
    }

    #[test]
    fn no_front_matter_is_no_card() {
        assert_eq!(parse("# Title\n\nText.\n"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("--- not front matter\n"), None);
    }

    #[test]
    fn malformed_front_matter_is_a_warning_naming_the_line() {
        let card = parse("---\nlicense: mit\ntags: [a, b\nlibrary_name: x\n---\n").unwrap();
        assert_eq!(card.metadata, ModelMetadata::default());
        assert_eq!(card.warnings.len(), 1);
        assert!(
            card.warnings[0].starts_with("README.md line "),
            "{}",
            card.warnings[0]
        );
        let line: usize = card.warnings[0]["README.md line ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((3..=5).contains(&line), "{}", card.warnings[0]);

        let unclosed = parse("---\nlicense: mit\n").unwrap();
        assert!(
            unclosed.warnings[0].contains("not closed"),
            "{:?}",
            unclosed.warnings
        );
        let scalar = parse("---\njust text\n---\n").unwrap();
        assert!(
            scalar.warnings[0].contains("not a mapping"),
            "{:?}",
            scalar.warnings
        );
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_left_out_with_a_warning() {
        let card = parse(
            "---\nlicense: {a: 1}\npipeline_tag: fill-mask\nmodel-index:\n- results:\n  - metrics:\n    - type: bleu\n      value: high\n---\n",
        )
        .unwrap();
        assert_eq!(card.metadata.task.as_deref(), Some("fill-mask"));
        assert!(card.metadata.licenses.is_empty());
        assert!(card.metadata.metrics.is_empty());
        assert_eq!(card.warnings.len(), 2, "{:?}", card.warnings);
        assert!(card.warnings[0].contains("license"));
        assert!(card.warnings[1].contains("\"bleu\" has no numeric value"));
    }
}
