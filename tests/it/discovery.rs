//! Discovery against a real registry: lineage across repositories (missing parents,
//! cycles), search over hundreds of versions with the incremental index, and diff.

use crate::governance::push_version;
use crate::harness::{Env, Raw, Registry, random_model, sample};

#[test]
fn lineage_crosses_repositories_and_reports_missing_parents_and_cycles() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let (key, public) = env.keypair("release");
    let base = push_version(
        &env,
        &host,
        "a/base",
        "1.0.0",
        &[
            "--dataset",
            "s3://corpus/wiki@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ],
    );
    env.ok(&[
        "sign",
        &format!("{host}/a/base:1.0.0"),
        "--key",
        &key,
        "--plain-http",
    ]);
    let parent = format!("{host}/a/base@{base}");
    let mid = push_version(
        &env,
        &host,
        "b/mid",
        "1.0.0",
        &["--parent", &parent, "--dataset", "hf://imdb"],
    );
    let top_parent = format!("{host}/b/mid@{mid}");
    push_version(
        &env,
        &host,
        "c/top",
        "1.0.0",
        &[
            "--parent",
            &top_parent,
            "--source-repo",
            "https://git.example/top",
            "--source-revision",
            "abc123",
        ],
    );
    let graph = lineage_json(&env, &format!("{host}/c/top:1.0.0"), &["--key", &public]);
    let nodes = graph["nodes"].as_array().unwrap();
    let state = |id_part: &str| {
        nodes
            .iter()
            .find(|n| n["id"].as_str().unwrap().contains(id_part))
            .map(|n| n["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state("/c/top").as_deref(), Some("unverified"), "{graph:#}");
    assert_eq!(state("/b/mid").as_deref(), Some("unverified"));
    assert_eq!(state("/a/base").as_deref(), Some("verified"));
    assert_eq!(state("s3://corpus/wiki").as_deref(), Some("recorded"));
    assert_eq!(state("hf://imdb").as_deref(), Some("recorded"));
    assert_eq!(
        state("https://git.example/top").as_deref(),
        Some("recorded")
    );
    assert_eq!(
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["relation"] == "parent")
            .count(),
        2
    );
    let text = env.ok(&[
        "lineage",
        &format!("{host}/c/top:1.0.0"),
        "--key",
        &public,
        "--plain-http",
    ]);
    assert!(
        text.contains("parent:") && text.contains("[verified: signed by"),
        "{text}"
    );
    let dot = env.ok(&[
        "lineage",
        &format!("{host}/c/top:1.0.0"),
        "--format",
        "dot",
        "--plain-http",
    ]);
    assert!(
        dot.starts_with("digraph lineage {") && dot.contains("->"),
        "{dot}"
    );

    // A parent that is gone is reported, not fatal.
    let gone = format!("{host}/x/gone@sha256:{}", "0".repeat(64));
    push_version(&env, &host, "d/orphan", "1.0.0", &["--parent", &gone]);
    let graph = lineage_json(&env, &format!("{host}/d/orphan:1.0.0"), &[]);
    let missing = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["state"] == "missing")
        .expect("missing node");
    assert!(
        missing["id"].as_str().unwrap().contains("x/gone"),
        "{graph:#}"
    );

    // A cycle (two models naming each other by tag, as foreign metadata may) ends.
    push_version(&env, &host, "e/loop", "1.0.0", &[]);
    let raw = Raw::new(&host, "e/loop");
    let mut manifest = raw.manifest("1.0.0");
    manifest.annotations.insert(
        "dev.modelark.lineage.parent".into(),
        format!("{host}/e/loop:2.0.0"),
    );
    raw.put_manifest("1.0.1", &manifest);
    manifest.annotations.insert(
        "dev.modelark.lineage.parent".into(),
        format!("{host}/e/loop:1.0.1"),
    );
    raw.put_manifest("2.0.0", &manifest);
    let graph = lineage_json(&env, &format!("{host}/e/loop:1.0.1"), &[]);
    assert!(
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["state"] == "cycle"),
        "{graph:#}"
    );
}

/// `modelark lineage REF --format json` parsed (lineage has --format, not --json).
fn lineage_json(env: &Env, reference: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["lineage", reference, "--format", "json", "--plain-http"];
    args.extend_from_slice(extra);
    serde_json::from_str(&env.ok(&args)).expect("JSON")
}

#[test]
fn search_over_hundreds_of_versions_uses_an_incremental_index() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    // 3 repositories x 100 versions, made with the library (one upload of the shared
    // blobs, then only configs and manifests): frameworks, licenses, tasks and accuracy vary.
    let dir = random_model(&env, "shared", 256);
    let mut expected_pytorch_apache_90 = 0;
    for r in 0..3 {
        let raw = Raw::new(&host, &format!("zoo/m{r}"));
        for i in 0..100u32 {
            let framework = if i % 2 == 0 { "pytorch" } else { "tensorflow" };
            let license = if i % 3 == 0 { "Apache-2.0" } else { "MIT" };
            let accuracy = f64::from(i) / 100.0;
            if framework == "pytorch" && license == "Apache-2.0" && accuracy >= 0.9 {
                expected_pytorch_apache_90 += 1;
            }
            let metadata = modelark::ModelMetadata {
                name: Some(format!("m{r}")),
                version: Some(semver::Version::new(1, 0, u64::from(i))),
                framework: Some(framework.into()),
                licenses: vec![license.into()],
                task: Some("text-classification".into()),
                metrics: [("accuracy".to_owned(), accuracy)].into(),
                ..Default::default()
            };
            let pack_options = modelark::package::pack::Options {
                metadata,
                ..modelark::package::pack::Options::default()
            };
            let tag: modelark::reference::Tag = format!("1.0.{i}").parse().unwrap();
            let silent = std::sync::Arc::new(modelark::progress::Silent);
            raw.run(async |repository| {
                modelark::transfer::push_directory(
                    &dir,
                    &pack_options,
                    repository,
                    &tag,
                    false,
                    8,
                    silent,
                )
                .await
            })
            .unwrap();
        }
    }
    assert_eq!(expected_pytorch_apache_90, 6);
    let scope = format!("{host}/zoo");
    // Each search, with -v: how many hits, and what the refresh fetched (stderr).
    let search = |extra: &[&str]| {
        let mut args = vec!["-v", "search", &scope, "--json", "--plain-http"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = env.run(&args);
        assert_eq!(code, 0, "{stderr}");
        let hits: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        (hits.as_array().unwrap().len(), stderr)
    };
    let wanted = [
        "--where",
        "framework=PyTorch",
        "--where",
        "license=apache-2.0",
        "--where",
        "metrics.accuracy>=0.9",
        "--where",
        "task=text-classification",
    ];
    let (count, log) = search(&wanted);
    assert_eq!(count, expected_pytorch_apache_90);
    assert!(
        log.contains("300 tags, 300 manifests fetched, 300 models described"),
        "{log}"
    );
    // Repeat: versions are immutable, nothing is fetched again.
    let (count, log) = search(&wanted);
    assert_eq!(count, expected_pytorch_apache_90);
    assert!(
        log.contains("300 tags, 0 manifests fetched, 0 models described"),
        "{log}"
    );
    // A new alias is resolved; its model is already described.
    env.ok(&[
        "tag",
        &format!("{host}/zoo/m1:1.0.99"),
        &format!("{host}/zoo/m1:champion"),
        "--plain-http",
    ]);
    let (count, log) = search(&["--where", "tag=champion"]);
    assert_eq!(count, 1);
    assert!(
        log.contains("301 tags, 1 manifests fetched, 0 models described"),
        "{log}"
    );
    let (count, _) = search(&["--where", "version>=1.0.95", "--where", "repository~zoo/m2"]);
    assert_eq!(count, 5);
    // `versions` over a hundred versions: all of them, in semver order (1.0.2 before 1.0.10).
    let listed = env.json(&["versions", &format!("{host}/zoo/m0"), "--plain-http"]);
    let tags: Vec<String> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["tag"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        tags,
        (0..100).map(|i| format!("1.0.{i}")).collect::<Vec<_>>()
    );
    // The index answers offline.
    drop(registry);
    let hits = env.json(&[
        "search",
        &scope,
        "--where",
        "metrics.accuracy>=0.99",
        "--no-refresh",
    ]);
    // 1.0.99 of each repository, and the champion alias of m1.
    assert_eq!(hits.as_array().unwrap().len(), 4);
    let stderr = env.fails(
        &[
            "search",
            &format!("{host}/zoo"),
            "--where",
            "accuracy",
            "--no-refresh",
        ],
        2,
    );
    assert!(stderr.contains("no operator"), "{stderr}");
}

#[test]
fn diff_names_metadata_and_file_changes() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let one = env.path("one");
    crate::harness::copy_tree(&sample(), &one);
    env.ok(&[
        "push",
        one.to_str().unwrap(),
        &format!("{host}/ml/d:1.0.0"),
        "--plain-http",
    ]);
    std::fs::write(one.join("config.json"), b"{\"changed\": true}").unwrap();
    std::fs::write(one.join("NOTES.md"), b"new").unwrap();
    std::fs::remove_file(one.join("predict.py")).unwrap();
    env.ok(&[
        "push",
        one.to_str().unwrap(),
        &format!("{host}/ml/d:1.1.0"),
        "--version",
        "1.1.0",
        "--metric",
        "accuracy=0.9",
        "--plain-http",
    ]);
    let diff = env.json(&[
        "diff",
        &format!("{host}/ml/d:1.0.0"),
        &format!("{host}/ml/d:1.1.0"),
        "--plain-http",
    ]);
    let files = diff["files"].as_array().unwrap();
    let change = |path: &str| {
        files
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["change"].as_str().unwrap().to_owned())
    };
    assert_eq!(change("config.json").as_deref(), Some("changed"));
    assert_eq!(change("NOTES.md").as_deref(), Some("added"));
    assert_eq!(change("predict.py").as_deref(), Some("removed"));
    assert_eq!(diff["unchanged"], 4, "{diff:#}");
    let fields: Vec<&str> = diff["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"version") && fields.contains(&"metrics.accuracy"),
        "{fields:?}"
    );
    // Against the local store too, and identical models have no differences.
    env.ok(&["pack", sample().to_str().unwrap(), "-t", "tiny:1.0.0"]);
    let same = env.ok(&[
        "diff",
        "tiny:1.0.0",
        &format!("{host}/ml/d:1.0.0"),
        "--plain-http",
    ]);
    assert!(same.starts_with("no differences"), "{same}");
}
