//! The commands a user runs, end to end through the binary.

use std::process::Command;

use crate::harness::{Env, assert_same_tree, copy_tree, names, root, sample};

fn digest_of(reference_line: &str) -> String {
    reference_line
        .trim()
        .rsplit_once('@')
        .expect("REF@DIGEST")
        .1
        .to_owned()
}

#[test]
fn pack_inspect_unpack_round_trip() {
    let env = Env::new();
    let sample = sample();
    let packed = env.ok(&["pack", sample.to_str().unwrap(), "-t", "tiny:1.0.0"]);
    assert!(packed.starts_with("tiny:1.0.0@sha256:"), "{packed}");

    let view = env.json(&["inspect", "tiny:1.0.0"]);
    assert_eq!(view["digest"], digest_of(&packed));
    assert_eq!(view["kind"], "modelpack");
    assert_eq!(view["metadata"]["name"], "tiny-sentiment");
    assert_eq!(view["metadata"]["version"], "1.0.0");
    assert_eq!(view["metadata"]["metrics"]["accuracy"], 0.875);
    assert_eq!(
        view["metadata"]["signature"]["inputs"][0]["shape"],
        serde_json::json!(["batch", 32])
    );
    let files: Vec<(String, String)> = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("README.md", "doc"),
        ("config.json", "weight.config"),
        ("modelark.yaml", "doc"),
        ("predict.py", "code"),
        ("tokenizer/tokenizer.json", "weight.config"),
        ("weights.npz", "weight"),
    ];
    assert_eq!(files, expected.map(|(p, k)| (p.to_owned(), k.to_owned())));

    let out = env.path("out");
    env.ok(&["unpack", "tiny:1.0.0", "-o", out.to_str().unwrap()]);
    assert_same_tree(&sample, &out);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("predict.py"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "the executable bit survives");
    }
}

#[test]
fn packing_is_reproducible_and_build_time_is_opt_in() {
    let env = Env::new();
    let model = env.path("model");
    copy_tree(&sample(), &model);
    let model = model.to_str().unwrap();
    let first = env.ok(&["pack", model, "-t", "m:a"]);
    // Touching files and packing from another home changes nothing.
    let status = Command::new("touch")
        .arg(format!("{model}/weights.npz"))
        .status()
        .unwrap();
    assert!(status.success());
    let other = Env::new();
    let second = other.ok(&["pack", model, "-t", "m:a"]);
    assert_eq!(digest_of(&first), digest_of(&second));
    let view = env.json(&["inspect", "m:a"]);
    assert!(
        view["annotations"]
            .get("org.opencontainers.image.created")
            .is_none()
    );

    let dated = env
        .cmd(&["pack", model, "-t", "m:dated"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(dated.status.success());
    let view = env.json(&["inspect", "m:dated"]);
    assert_eq!(
        view["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(view["metadata"]["created"], "2023-11-14T22:13:20Z");
    assert_ne!(view["digest"], digest_of(&first));
}

#[test]
fn flags_override_the_model_file_and_land_in_annotations() {
    let env = Env::new();
    let sample = sample();
    let parent = format!("ghcr.io/acme/base@sha256:{}", "a".repeat(64));
    let dataset = format!("s3://bucket/train@sha256:{}", "b".repeat(64));
    env.ok(&[
        "pack",
        sample.to_str().unwrap(),
        "-t",
        "team/tiny:2.0.0",
        "--version",
        "2.0.0",
        "--framework",
        "pytorch",
        "--license",
        "MIT",
        "--license",
        "CC-BY-4.0",
        "--metric",
        "accuracy=0.93",
        "--metric",
        "latency_ms=12.5",
        "--parent",
        &parent,
        "--dataset",
        &dataset,
        "-a",
        "com.example.team=search",
        "--kind",
        "*.py=doc",
    ]);
    let view = env.json(&["inspect", "team/tiny:2.0.0"]);
    let a = &view["annotations"];
    assert_eq!(a["org.opencontainers.image.version"], "2.0.0");
    assert_eq!(a["dev.modelark.framework"], "pytorch");
    assert_eq!(a["org.opencontainers.image.licenses"], "MIT AND CC-BY-4.0");
    assert_eq!(a["dev.modelark.metric.accuracy"], "0.93");
    assert_eq!(a["dev.modelark.metric.latency_ms"], "12.5");
    assert_eq!(
        a["dev.modelark.metric.f1"], "0.861",
        "file metrics are kept"
    );
    assert_eq!(a["dev.modelark.lineage.parent"], parent);
    assert_eq!(a["dev.modelark.task"], "text-classification");
    assert_eq!(a["com.example.team"], "search");
    let datasets: serde_json::Value =
        serde_json::from_str(a["dev.modelark.lineage.datasets"].as_str().unwrap()).unwrap();
    assert_eq!(datasets[0]["uri"], "s3://bucket/train");
    let predict = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "predict.py")
        .unwrap();
    assert_eq!(predict["kind"], "doc");
    assert_eq!(predict["untested"], false);
}

#[test]
fn list_tag_rm_and_exit_codes() {
    let env = Env::new();
    let sample = sample();
    let packed = env.ok(&["pack", sample.to_str().unwrap(), "-t", "tiny:1.0.0"]);
    let tagged = env.ok(&["tag", "tiny:1.0.0", "tiny:production"]);
    assert_eq!(digest_of(&tagged), digest_of(&packed));
    let list = env.json(&["list"]);
    let tags: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["1.0.0", "production"]);
    assert_eq!(list[0]["version"], "1.0.0");

    let removed = env.json(&["rm", "tiny:1.0.0"]);
    assert_eq!(removed["removed"], serde_json::json!(["tiny:1.0.0"]));
    // The model is still reachable through the other tag, blobs intact.
    env.ok(&[
        "unpack",
        "tiny:production",
        "-o",
        env.path("out").to_str().unwrap(),
    ]);

    let digest = digest_of(&packed);
    env.ok(&["rm", &format!("tiny@{digest}")]);
    assert_eq!(env.json(&["list"]), serde_json::json!([]));
    let blobs = env.home().join("store/blobs/sha256");
    assert_eq!(names(&blobs), Vec::<String>::new(), "rm frees every blob");

    let stderr = env.fails(&["inspect", "tiny:1.0.0"], 1);
    assert!(
        stderr.contains("error: failed to read tiny:1.0.0") && stderr.contains("was not found"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: run `modelark list`"), "{stderr}");
    let stderr = env.fails(&["inspect", "Tiny:1"], 2);
    assert!(stderr.contains("must be lowercase"), "{stderr}");
    env.fails(&["tag", "tiny:production", "oci:elsewhere:x"], 2);
}

#[test]
fn export_import_round_trip_through_an_oci_archive() {
    let env = Env::new();
    let sample = sample();
    let packed = env.ok(&["pack", sample.to_str().unwrap(), "-t", "tiny:1.0.0"]);
    let archive = env.path("tiny.tar");
    env.ok(&["export", "tiny:1.0.0", "-o", archive.to_str().unwrap()]);
    let bytes_once = std::fs::read(&archive).unwrap();
    env.ok(&["export", "tiny:1.0.0", "-o", archive.to_str().unwrap()]);
    assert_eq!(
        bytes_once,
        std::fs::read(&archive).unwrap(),
        "exports are deterministic"
    );

    let other = Env::new();
    let imported = other.json(&["import", archive.to_str().unwrap()]);
    assert_eq!(imported[0]["reference"], "tiny:1.0.0");
    assert_eq!(imported[0]["digest"], digest_of(&packed));
    let renamed = other.json(&["import", archive.to_str().unwrap(), "-t", "restored:v1"]);
    assert_eq!(renamed[0]["reference"], "restored:v1");
    let out = other.path("out");
    other.ok(&["unpack", "restored:v1", "-o", out.to_str().unwrap()]);
    assert_same_tree(&sample, &out);

    // The archive is a standard OCI layout: tar extracts it into a layout modelark opens.
    let extracted = env.path("extracted");
    std::fs::create_dir(&extracted).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&extracted)
        .status()
        .unwrap();
    assert!(status.success());
    let view = env.json(&["inspect", &format!("oci:{}:1.0.0", extracted.display())]);
    assert_eq!(view["digest"], digest_of(&packed));
}

#[test]
fn oci_layouts_work_like_the_store() {
    let env = Env::new();
    let layout = env.path("layout");
    let target = format!("oci:{}:1.0.0", layout.display());
    let sample = sample();
    env.ok(&["pack", sample.to_str().unwrap(), "-t", &target]);
    let entries = names(&layout);
    for required in ["blobs", "index.json", "oci-layout"] {
        assert!(entries.iter().any(|n| n == required), "{entries:?}");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "1.0.0"
    );
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    env.ok(&["tag", &target, &format!("oci:{}:stable", layout.display())]);
    let list = env.json(&["list", &format!("oci:{}", layout.display())]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let out = env.path("out");
    env.ok(&[
        "unpack",
        &format!("oci:{}:stable", layout.display()),
        "-o",
        out.to_str().unwrap(),
        "--include",
        "*.json",
    ]);
    let mut files = names(&out);
    files.extend(
        names(&out.join("tokenizer"))
            .into_iter()
            .map(|n| format!("tokenizer/{n}")),
    );
    assert_eq!(
        files,
        ["config.json", "tokenizer", "tokenizer/tokenizer.json"]
    );
    let stderr = env.fails(
        &["inspect", &format!("oci:{}", root().join("src").display())],
        2,
    );
    assert!(stderr.contains("is not an OCI image layout"), "{stderr}");
}

#[test]
fn concurrent_packs_into_one_store_do_not_corrupt_it() {
    let env = Env::new();
    let sample = sample();
    let children: Vec<_> = (0..6)
        .map(|i| {
            env.cmd(&[
                "pack",
                sample.to_str().unwrap(),
                "-t",
                &format!("tiny:{i}"),
                "--metric",
                &format!("run={i}"),
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    // Removing while others pack must never delete their blobs.
    let remover = std::thread::spawn({
        let home = env.home();
        move || {
            for _ in 0..10 {
                let _ = Command::new(assert_cmd::cargo::cargo_bin("modelark"))
                    .args(["rm", "tiny:0"])
                    .env("MODELARK_HOME", &home)
                    .output();
            }
        }
    });
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    remover.join().unwrap();
    let list = env.json(&["list"]);
    for row in list.as_array().unwrap() {
        let reference = format!("tiny:{}", row["tag"].as_str().unwrap());
        let out = env.path(&format!("out-{}", row["tag"].as_str().unwrap()));
        env.ok(&["unpack", &reference, "-o", out.to_str().unwrap()]);
        assert_same_tree(&sample, &out);
    }
    assert!(list.as_array().unwrap().len() >= 5);
}

#[test]
fn the_sample_config_validates_against_the_modelpack_schema() {
    let env = Env::new();
    let layout = env.path("layout");
    let sample = sample();
    env.ok(&[
        "pack",
        sample.to_str().unwrap(),
        "-t",
        &format!("oci:{}:1", layout.display()),
    ]);
    // A second model with only the required fields exercises the minimal config.
    let minimal = env.path("minimal");
    std::fs::create_dir(&minimal).unwrap();
    std::fs::write(minimal.join("model.gguf"), b"GGUF").unwrap();
    env.ok(&[
        "pack",
        minimal.to_str().unwrap(),
        "-t",
        &format!("oci:{}:2", layout.display()),
    ]);
    for tag in ["1", "2"] {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap();
        let blob = |digest: &str| {
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"))
        };
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(blob(entry["digest"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert_eq!(
            manifest["artifactType"],
            "application/vnd.cncf.model.manifest.v1+json"
        );
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.cncf.model.config.v1+json"
        );
        for layer in manifest["layers"].as_array().unwrap() {
            assert!(layer["mediaType"].as_str().unwrap().ends_with(".v1.raw"));
            assert!(layer["annotations"]["org.cncf.model.filepath"].is_string());
            let metadata: serde_json::Value = serde_json::from_str(
                layer["annotations"]["org.cncf.model.file.metadata+json"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(metadata["typeflag"], 48);
        }
        let config_path = blob(manifest["config"]["digest"].as_str().unwrap());
        validate_with_python_jsonschema(&config_path);
    }
}

/// Validates a config with the PyPI `jsonschema` package (an independent implementation),
/// checking formats too.
fn validate_with_python_jsonschema(config: &std::path::Path) {
    let schema = root().join("testdata/modelpack/config-schema.json");
    assert!(schema.is_file(), "missing {}", schema.display());
    let script = "import json,sys,jsonschema\n\
        schema=json.load(open(sys.argv[1])); doc=json.load(open(sys.argv[2]))\n\
        v=jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)\n\
        errors=[e.message for e in v.iter_errors(doc)]\n\
        print('\\n'.join(errors)); sys.exit(1 if errors else 0)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(config)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} does not validate: {}{}",
        config.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pack_refuses_bad_directories_clearly() {
    let env = Env::new();
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let stderr = env.fails(&["pack", empty.to_str().unwrap(), "-t", "x:1"], 2);
    assert!(stderr.contains("has no files to pack"), "{stderr}");

    let linked = env.path("linked");
    std::fs::create_dir(&linked).unwrap();
    std::fs::write(env.path("secret.txt"), b"outside").unwrap();
    std::os::unix::fs::symlink(env.path("secret.txt"), linked.join("weights.bin")).unwrap();
    let stderr = env.fails(&["pack", linked.to_str().unwrap(), "-t", "x:1"], 2);
    assert!(
        stderr.contains("points outside the model directory") && stderr.contains("--dereference"),
        "{stderr}"
    );
    env.ok(&[
        "pack",
        linked.to_str().unwrap(),
        "-t",
        "x:1",
        "--dereference",
    ]);

    let bad_file = env.path("bad-file");
    copy_tree(&sample(), &bad_file);
    std::fs::write(bad_file.join("modelark.yaml"), "name: x\nversion: 1.0\n").unwrap();
    let stderr = env.fails(&["pack", bad_file.to_str().unwrap(), "-t", "x:1"], 2);
    assert!(
        stderr.contains("modelark.yaml") && stderr.contains("quoted semver"),
        "{stderr}"
    );
    assert_eq!(
        env.json(&["list"]).as_array().unwrap().len(),
        1,
        "failed packs tag nothing"
    );
}
