//! Which ModelPack layer kind a file is: user globs first, then known names and
//! extensions, then a marked guess (`org.cncf.model.file.mediatype.untested`).

use std::fmt;
use std::str::FromStr;

use globset::{Glob, GlobMatcher};

use crate::media_types::MODEL_LAYER_PREFIX;

/// A ModelPack layer kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Weights (`*.safetensors`, `*.gguf`, ...).
    Weight,
    /// Files the weights need to load (`config.json`, tokenizer files, ...).
    WeightConfig,
    /// Documentation (README, LICENSE, `*.md`).
    Doc,
    /// Code (`*.py`, ...).
    Code,
    /// Datasets.
    Dataset,
}

impl Kind {
    /// Every kind, for help texts.
    pub const ALL: [Kind; 5] = [
        Kind::Weight,
        Kind::WeightConfig,
        Kind::Doc,
        Kind::Code,
        Kind::Dataset,
    ];

    /// The name used in media types and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Weight => "weight",
            Kind::WeightConfig => "weight.config",
            Kind::Doc => "doc",
            Kind::Code => "code",
            Kind::Dataset => "dataset",
        }
    }

    /// The media type of an uncompressed single-file layer of this kind.
    pub fn raw_media_type(self) -> String {
        format!("{MODEL_LAYER_PREFIX}.{}.v1.raw", self.as_str())
    }

    /// The kind a ModelPack (or legacy `cnai`) layer media type names, if any.
    pub fn from_media_type(media_type: &str) -> Option<Kind> {
        let rest = media_type
            .strip_prefix("application/vnd.cncf.model.")
            .or_else(|| media_type.strip_prefix("application/vnd.cnai.model."))?;
        let (kind, _) = rest.split_once(".v1.")?;
        kind.parse().ok()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                format!("{text:?} is not a kind (weight, weight.config, doc, code, dataset)")
            })
    }
}

/// A file's kind and whether it was guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The kind.
    pub kind: Kind,
    /// True when no user rule or known pattern decided it.
    pub guessed: bool,
}

/// Classifies model files; user rules (glob → kind) win, first match first.
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    rules: Vec<(GlobMatcher, Kind)>,
}

impl Classifier {
    /// A classifier with user `rules`, each a glob over the relative path and a kind.
    ///
    /// # Errors
    /// [`super::Error::Pattern`] naming a malformed glob.
    pub fn new(rules: &[(String, Kind)]) -> Result<Classifier, super::Error> {
        let rules = rules
            .iter()
            .map(|(glob, kind)| {
                let matcher = Glob::new(glob)
                    .map_err(|source| super::Error::Pattern {
                        glob: glob.clone(),
                        source,
                    })?
                    .compile_matcher();
                Ok((matcher, *kind))
            })
            .collect::<Result<_, super::Error>>()?;
        Ok(Classifier { rules })
    }

    /// The kind of the file at `path` (relative, `/`-separated).
    pub fn classify(&self, path: &str) -> Classification {
        if let Some((_, kind)) = self.rules.iter().find(|(m, _)| m.is_match(path)) {
            return Classification {
                kind: *kind,
                guessed: false,
            };
        }
        let (kind, guessed) = builtin(path);
        Classification { kind, guessed }
    }
}

const WEIGHT_CONFIG_NAMES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "adapter_config.json",
    "model_index.json",
    "scheduler_config.json",
    "params.json",
    "mlmodel",
    "saved_model.pbtxt",
    "variables.index",
];
const DOC_PREFIXES: &[&str] = &[
    "readme",
    "license",
    "licence",
    "notice",
    "copying",
    "citation",
    "model_card",
    "modelcard",
    "changelog",
];
const CODE_NAMES: &[&str] = &[
    "requirements.txt",
    "dockerfile",
    "makefile",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "environment.yml",
    "environment.yaml",
    "conda.yaml",
    "python_env.yaml",
];
const WEIGHT_EXTENSIONS: &[&str] = &[
    "safetensors",
    "gguf",
    "ggml",
    "onnx",
    "onnx_data",
    "pt",
    "pth",
    "ckpt",
    "h5",
    "hdf5",
    "keras",
    "tflite",
    "pb",
    "mlmodel",
    "mlpackage",
    "mar",
    "engine",
    "plan",
    "nemo",
    "msgpack",
    "params",
    "llamafile",
];
/// Extensions that usually hold weights but also other things.
const LIKELY_WEIGHT_EXTENSIONS: &[&str] = &[
    "bin", "pkl", "pickle", "joblib", "model", "npz", "npy", "data", "dat",
];
const DOC_EXTENSIONS: &[&str] = &["md", "rst", "pdf", "html", "adoc"];
const CODE_EXTENSIONS: &[&str] = &[
    "py", "ipynb", "sh", "js", "ts", "go", "rs", "c", "cc", "cpp", "h", "hpp", "cu", "java",
    "scala", "r", "jl", "lua", "pyx", "swift", "kt",
];
const DATASET_EXTENSIONS: &[&str] = &[
    "csv", "tsv", "parquet", "arrow", "jsonl", "tfrecord", "avro", "orc", "feather",
];
const CONFIG_EXTENSIONS: &[&str] = &["json", "yaml", "yml", "toml", "ini", "cfg", "txt", "jinja"];

/// Built-in rules over the lowercased file name; returns the kind and whether it is a guess.
fn builtin(path: &str) -> (Kind, bool) {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if name == "modelark.yaml" || DOC_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return (Kind::Doc, false);
    }
    if WEIGHT_CONFIG_NAMES.contains(&name) || name.ends_with(".index.json") {
        return (Kind::WeightConfig, false);
    }
    if CODE_NAMES.contains(&name) {
        return (Kind::Code, false);
    }
    let in_dir = |dir: &str| lower.split('/').rev().skip(1).any(|c| c == dir);
    let table: [(&[&str], Kind, bool); 6] = [
        (WEIGHT_EXTENSIONS, Kind::Weight, false),
        (LIKELY_WEIGHT_EXTENSIONS, Kind::Weight, true),
        (DOC_EXTENSIONS, Kind::Doc, false),
        (CODE_EXTENSIONS, Kind::Code, false),
        (DATASET_EXTENSIONS, Kind::Dataset, false),
        (CONFIG_EXTENSIONS, Kind::WeightConfig, true),
    ];
    if let Some((_, kind, guessed)) = table.iter().find(|(exts, _, _)| exts.contains(&extension)) {
        return (*kind, *guessed);
    }
    if in_dir("variables") {
        return (Kind::Weight, false);
    }
    if ["data", "dataset", "datasets"].iter().any(|d| in_dir(d)) {
        return (Kind::Dataset, true);
    }
    // An unknown file in a model directory is most likely part of what loads the model, so
    // a consumer that fetches only weights still gets it.
    (Kind::Weight, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_cover_common_model_files() {
        let cases = [
            ("model.safetensors", Kind::Weight, false),
            ("sub/model-00001-of-00002.safetensors", Kind::Weight, false),
            ("llama.Q4_K_M.gguf", Kind::Weight, false),
            ("model.onnx", Kind::Weight, false),
            ("pytorch_model.bin", Kind::Weight, true),
            ("model.safetensors.index.json", Kind::WeightConfig, false),
            ("config.json", Kind::WeightConfig, false),
            ("tokenizer.model", Kind::WeightConfig, false),
            ("Tokenizer_Config.JSON", Kind::WeightConfig, false),
            ("hparams.yaml", Kind::WeightConfig, true),
            ("README.md", Kind::Doc, false),
            ("LICENSE", Kind::Doc, false),
            ("docs/usage.md", Kind::Doc, false),
            ("modelark.yaml", Kind::Doc, false),
            ("inference.py", Kind::Code, false),
            ("requirements.txt", Kind::Code, false),
            ("eval/test.parquet", Kind::Dataset, false),
            ("data/blob.xyz", Kind::Dataset, true),
            (
                "saved_model/variables/variables.data-00000-of-00001",
                Kind::Weight,
                false,
            ),
            ("mystery", Kind::Weight, true),
        ];
        let classifier = Classifier::default();
        for (path, kind, guessed) in cases {
            assert_eq!(
                classifier.classify(path),
                Classification { kind, guessed },
                "{path}"
            );
        }
    }

    #[test]
    fn user_rules_win_in_order() {
        let classifier = Classifier::new(&[
            ("eval/*.bin".into(), Kind::Dataset),
            ("*.bin".into(), Kind::Code),
        ])
        .unwrap();
        assert_eq!(classifier.classify("eval/x.bin").kind, Kind::Dataset);
        assert_eq!(
            classifier.classify("model.bin"),
            Classification {
                kind: Kind::Code,
                guessed: false
            }
        );
        assert!(
            Classifier::new(&[("[".into(), Kind::Doc)])
                .unwrap_err()
                .to_string()
                .contains("invalid glob")
        );
    }

    #[test]
    fn kinds_round_trip_through_media_types() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_media_type(&kind.raw_media_type()), Some(kind));
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert_eq!(
            Kind::from_media_type("application/vnd.cnai.model.doc.v1.tar"),
            Some(Kind::Doc)
        );
        assert_eq!(Kind::from_media_type("application/octet-stream"), None);
    }
}
