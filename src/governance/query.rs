//! `--where` expressions over model metadata: `framework=pytorch`, `license=apache-2.0`,
//! `metrics.accuracy>=0.9`, `version>=1.2.0`, `name~bert` (contains). Strings compare without
//! regard to case; numbers numerically; versions by semver precedence; list fields (licenses,
//! tags, authors) match when any element does.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Error;
use crate::ModelMetadata;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
    Contains,
}

/// One parsed `--where` expression.
#[derive(Clone, Debug)]
pub struct Condition {
    field: String,
    op: Op,
    text: String,
    /// The value read once as what it can be compared as (a search matches it against
    /// every indexed version).
    as_version: Option<semver::Version>,
    as_number: Option<f64>,
    lowercase: String,
}

/// The searchable fields of one model version, flattened (`metrics.accuracy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fields(pub BTreeMap<String, Field>);

/// A field value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Field {
    /// A number (metrics, size).
    Number(f64),
    /// Text.
    Text(String),
    /// Several texts (licenses, tags, authors).
    List(Vec<String>),
}

impl Fields {
    /// The fields of `metadata` plus the given extras (repository, tag, digest, size).
    pub fn of(metadata: &ModelMetadata, extra: &[(&str, Field)]) -> Fields {
        let mut fields = BTreeMap::new();
        let mut text = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                fields.insert(k.to_owned(), Field::Text(v.clone()));
            }
        };
        text("name", &metadata.name);
        text(
            "version",
            &metadata.version.as_ref().map(ToString::to_string),
        );
        text("title", &metadata.title);
        text("vendor", &metadata.vendor);
        text("family", &metadata.family);
        text("created", &metadata.created);
        text("framework", &metadata.framework);
        text("format", &metadata.format);
        text("architecture", &metadata.architecture);
        text("paramSize", &metadata.param_size);
        text("precision", &metadata.precision);
        text("quantization", &metadata.quantization);
        text("task", &metadata.task);
        text("description", &metadata.description);
        let lineage = &metadata.lineage;
        text("lineage.trainingRun", &lineage.training_run);
        text(
            "lineage.parent",
            &lineage.parent.as_ref().map(ToString::to_string),
        );
        text(
            "lineage.source",
            &lineage.source.as_ref().map(|s| match &s.revision {
                Some(revision) => format!("{}@{revision}", s.repo),
                None => s.repo.clone(),
            }),
        );
        if !lineage.datasets.is_empty() {
            let uris = lineage.datasets.iter().map(|d| d.uri.clone()).collect();
            fields.insert("lineage.datasets".to_owned(), Field::List(uris));
        }
        if !lineage.base_models.is_empty() {
            let uris = lineage.base_models.iter().map(|b| b.uri.clone()).collect();
            fields.insert("lineage.baseModels".to_owned(), Field::List(uris));
        }
        if let Some(languages) = metadata
            .capabilities
            .as_ref()
            .and_then(|c| c.languages.clone())
            .filter(|l| !l.is_empty())
        {
            fields.insert("languages".to_owned(), Field::List(languages));
        }
        for (k, v) in [
            ("license", &metadata.licenses),
            ("tags", &metadata.tags),
            ("authors", &metadata.authors),
        ] {
            if !v.is_empty() {
                fields.insert(k.to_owned(), Field::List(v.clone()));
            }
        }
        for (k, v) in &metadata.metrics {
            fields.insert(format!("metrics.{k}"), Field::Number(*v));
        }
        for (k, v) in extra {
            fields.insert((*k).to_owned(), v.clone());
        }
        Fields(fields)
    }
}

impl std::str::FromStr for Condition {
    type Err = Error;

    fn from_str(text: &str) -> Result<Condition, Error> {
        let ops = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("!=", Op::Ne),
            ("==", Op::Eq),
            ("=", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("~", Op::Contains),
        ];
        let found = ops
            .iter()
            .filter_map(|(s, op)| text.find(s).map(|i| (i, *s, *op)))
            .min_by_key(|(i, s, _)| (*i, std::cmp::Reverse(s.len())));
        let Some((at, symbol, op)) = found else {
            return Err(Error::Query {
                expression: text.into(),
                reason: "no operator; use =, !=, >=, <=, >, < or ~ (contains)".into(),
            });
        };
        let field = text[..at].trim();
        let value = text[at + symbol.len()..].trim();
        if field.is_empty() || value.is_empty() {
            return Err(Error::Query {
                expression: text.into(),
                reason: "write FIELD OP VALUE, e.g. metrics.accuracy>=0.9".into(),
            });
        }
        let field = match field {
            "licenses" => "license",
            other => other,
        };
        Ok(Condition {
            field: field.to_owned(),
            op,
            text: text.to_owned(),
            as_version: semver::Version::parse(value).ok(),
            as_number: value.parse().ok(),
            lowercase: value.to_lowercase(),
        })
    }
}

impl Condition {
    /// True when `fields` satisfy the condition. A missing field satisfies only `!=`.
    pub fn matches(&self, fields: &Fields) -> bool {
        let Some(field) = fields.0.get(&self.field) else {
            return self.op == Op::Ne;
        };
        match field {
            Field::List(items) if self.op == Op::Ne => {
                !items.iter().any(|i| self.compare_text(i, Op::Eq))
            }
            Field::List(items) => items.iter().any(|i| self.compare_text(i, self.op)),
            Field::Number(n) => match self.as_number {
                Some(v) => holds(self.op, n.partial_cmp(&v)),
                None => self.compare_text(&n.to_string(), self.op),
            },
            Field::Text(t) => self.compare_text(t, self.op),
        }
    }

    fn compare_text(&self, actual: &str, op: Op) -> bool {
        if op == Op::Contains {
            return actual.to_lowercase().contains(&self.lowercase);
        }
        let ordering = if let Some(value) = &self.as_version
            && let Ok(version) = semver::Version::parse(actual)
        {
            Some(version.cmp_precedence(value))
        } else if let Some(value) = self.as_number
            && let Ok(number) = actual.parse::<f64>()
        {
            number.partial_cmp(&value)
        } else if actual.is_ascii() {
            // Most fields are ASCII: compared without lowercasing into a new string.
            Some(
                actual
                    .bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .cmp(self.lowercase.bytes()),
            )
        } else {
            Some(actual.to_lowercase().cmp(&self.lowercase))
        };
        holds(op, ordering)
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn holds(op: Op, ordering: Option<Ordering>) -> bool {
    let Some(o) = ordering else { return false };
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Ge => o != Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Lt => o == Ordering::Less,
        Op::Contains => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_match_as_documented() {
        let metadata = ModelMetadata {
            name: Some("bert-tiny".into()),
            version: Some(semver::Version::new(1, 10, 0)),
            framework: Some("PyTorch".into()),
            task: Some("text-classification".into()),
            licenses: vec!["Apache-2.0".into(), "MIT".into()],
            metrics: [("accuracy".to_owned(), 0.91)].into(),
            ..Default::default()
        };
        let fields = Fields::of(
            &metadata,
            &[("repository", Field::Text("r.io/ml/bert".into()))],
        );
        let cases = [
            ("framework=pytorch", true),
            ("framework==PyTorch", true),
            ("framework!=pytorch", false),
            ("license=apache-2.0", true),
            ("licenses=mit", true),
            ("license!=gpl-3.0", true),
            ("license!=mit", false),
            ("metrics.accuracy>=0.9", true),
            ("metrics.accuracy>0.91", false),
            ("metrics.accuracy<1", true),
            ("metrics.f1>=0.5", false),
            ("metrics.f1!=0.5", true),
            ("version>=1.9.0", true),
            ("version<1.2.0", false),
            ("name~BERT", true),
            ("task=text-classification", true),
            ("repository~ml/", true),
        ];
        for (text, expected) in cases {
            let condition: Condition = text.parse().unwrap();
            assert_eq!(condition.matches(&fields), expected, "{text}");
        }
        for bad in ["framework", "=x", "a>=", ""] {
            assert!(bad.parse::<Condition>().is_err(), "{bad}");
        }
    }
}
