//! Round trips of the metadata mapping and the validation rules.

use super::*;

pub(crate) fn full() -> ModelMetadata {
    ModelMetadata {
        name: Some("bert-tiny".into()),
        version: Some("1.2.0-rc.1".parse().unwrap()),
        title: Some("BERT tiny".into()),
        description: Some("A tiny BERT for sentiment.".into()),
        authors: vec!["Jane Doe <jane@example.com>".into(), "ML Team".into()],
        licenses: vec!["Apache-2.0".into(), "MIT OR BSD-3-Clause".into()],
        vendor: Some("Example".into()),
        family: Some("bert".into()),
        doc_url: Some("https://example.com/docs".into()),
        created: Some("2026-01-02T03:04:05Z".into()),
        framework: Some("pytorch".into()),
        format: Some("safetensors".into()),
        architecture: Some("BertForSequenceClassification".into()),
        param_size: Some("4.4M".into()),
        precision: Some("fp32".into()),
        quantization: Some("none".into()),
        task: Some("text-classification".into()),
        tags: vec!["nlp".into(), "sentiment".into()],
        capabilities: Some(Capabilities {
            input_types: Some(vec![Modality::Text]),
            languages: Some(vec!["en".into()]),
            ..Capabilities::default()
        }),
        signature: Some(IoSignature {
            inputs: vec![TensorSpec {
                name: "input_ids".into(),
                dtype: "int64".into(),
                shape: vec![Dim::Named("batch".into()), Dim::Fixed(128)],
            }],
            outputs: vec![TensorSpec {
                name: "logits".into(),
                dtype: "float32".into(),
                shape: vec![Dim::Fixed(-1), Dim::Fixed(2)],
            }],
        }),
        lineage: Lineage {
            source: Some(Source {
                repo: "https://github.com/example/bert".into(),
                revision: Some("0123abc".into()),
            }),
            datasets: vec![Dataset {
                uri: "s3://data/sst2".into(),
                digest: Some(Digest::sha256_of(b"sst2")),
            }],
            training_run: Some("mlflow://runs/42".into()),
            parent: Some(
                format!("ghcr.io/example/bert-base@{}", Digest::sha256_of(b"p"))
                    .parse()
                    .unwrap(),
            ),
            base_models: vec![super::BaseModel {
                uri: "hf://google-bert/bert-base-uncased".into(),
                relation: Some("finetune".into()),
            }],
        },
        metrics: BTreeMap::from([("accuracy".into(), 0.91), ("eval.loss".into(), 0.2345)]),
    }
}

#[test]
fn full_metadata_round_trips_through_config_and_annotations() {
    let metadata = full();
    metadata.validate().unwrap();
    let config = metadata.to_config(vec![Digest::sha256_of(b"layer")]);
    let annotations = metadata.to_annotations().unwrap();
    assert_eq!(
        ModelMetadata::from_parts(Some(&config), &annotations).unwrap(),
        metadata
    );
    assert_eq!(
        annotations[keys::LICENSES],
        "Apache-2.0 AND (MIT OR BSD-3-Clause)"
    );
    assert_eq!(annotations["dev.modelark.metric.accuracy"], "0.91");
}

#[test]
fn annotations_alone_carry_the_queryable_fields() {
    let metadata = full();
    let from_annotations =
        ModelMetadata::from_parts(None, &metadata.to_annotations().unwrap()).unwrap();
    let expected = ModelMetadata {
        capabilities: None,
        ..metadata
    };
    assert_eq!(from_annotations, expected);
}

#[test]
fn empty_metadata_writes_no_annotations() {
    assert!(
        ModelMetadata::default()
            .to_annotations()
            .unwrap()
            .is_empty()
    );
    let config = serde_json::to_value(ModelMetadata::default().to_config(vec![])).unwrap();
    assert_eq!(
        config,
        serde_json::json!({"descriptor": {}, "config": {}, "modelfs": {"type": "layers", "diffIds": []}})
    );
}

#[test]
fn long_descriptions_stay_in_the_config() {
    let metadata = ModelMetadata {
        description: Some("x".repeat(MAX_DESCRIPTION_ANNOTATION + 1)),
        ..ModelMetadata::default()
    };
    assert!(
        !metadata
            .to_annotations()
            .unwrap()
            .contains_key(keys::DESCRIPTION)
    );
    let config = metadata.to_config(vec![]);
    let back = ModelMetadata::from_parts(Some(&config), &BTreeMap::new()).unwrap();
    assert_eq!(back.description, metadata.description);
}

#[test]
fn oversized_signature_is_refused() {
    let tensor = TensorSpec {
        name: "t".repeat(100),
        dtype: "float32".into(),
        shape: vec![Dim::Fixed(1)],
    };
    let metadata = ModelMetadata {
        signature: Some(IoSignature {
            inputs: vec![tensor; 1000],
            outputs: vec![],
        }),
        ..ModelMetadata::default()
    };
    assert!(matches!(
        metadata.to_annotations(),
        Err(Error::TooLarge {
            field: "signature",
            ..
        })
    ));
}

#[test]
fn validate_names_the_bad_field() {
    let cases: Vec<(ModelMetadata, &str)> = vec![
        (
            ModelMetadata {
                licenses: vec!["Apache 2.0; MIT".into()],
                ..Default::default()
            },
            "licenses",
        ),
        (
            ModelMetadata {
                tags: vec!["a,b".into()],
                ..Default::default()
            },
            "tags",
        ),
        (
            ModelMetadata {
                metrics: BTreeMap::from([("acc uracy".into(), 1.0)]),
                ..Default::default()
            },
            "metrics",
        ),
        (
            ModelMetadata {
                metrics: BTreeMap::from([("acc".into(), f64::NAN)]),
                ..Default::default()
            },
            "metrics",
        ),
        (
            ModelMetadata {
                created: Some("yesterday".into()),
                ..Default::default()
            },
            "created",
        ),
        (
            ModelMetadata {
                name: Some(" ".into()),
                ..Default::default()
            },
            "name",
        ),
        (
            ModelMetadata {
                lineage: Lineage {
                    parent: Some("ghcr.io/x/y:1".parse().unwrap()),
                    ..Default::default()
                },
                ..Default::default()
            },
            "lineage.parent",
        ),
    ];
    for (metadata, field) in cases {
        let error = metadata.validate().unwrap_err();
        assert!(
            matches!(&error, Error::Invalid { field: f, .. } if f == field),
            "{field}: {error}"
        );
    }
}

#[test]
fn spdx_lists_split_back() {
    for list in [
        vec!["MIT"],
        vec!["MIT", "Apache-2.0"],
        vec!["(MIT OR Apache-2.0)"],
        vec![
            "MIT OR Apache-2.0",
            "BSD-2-Clause",
            "GPL-2.0-only WITH Classpath-exception-2.0",
        ],
    ] {
        let list: Vec<String> = list.into_iter().map(String::from).collect();
        assert_eq!(split_spdx(&join_spdx(&list)), list, "{list:?}");
    }
}

#[test]
fn foreign_configs_with_extra_fields_still_read() {
    let json = r#"{"descriptor":{"name":"x","extra":1},"config":{"format":"gguf"},"modelfs":{"type":"layers","diffIds":[]},"more":true}"#;
    let config: ModelPackConfig = serde_json::from_str(json).unwrap();
    let metadata = ModelMetadata::from_parts(Some(&config), &BTreeMap::new()).unwrap();
    assert_eq!(metadata.name.as_deref(), Some("x"));
    assert_eq!(metadata.format.as_deref(), Some("gguf"));
}
