//! MLflow's own client, unchanged, against `modelark serve` over a real registry: every
//! registry call it makes for reading, promoting and downloading models, refusals with
//! MLflow's error codes, pagination, and a corrupt blob (tests/interop/mlflow_client.py).

use std::process::Command;

use crate::harness::{Env, root, sample, venv_python};
use crate::serve::{Service, governed, write_config};

#[test]
fn mlflow_clients_read_promote_and_download_governed_models() {
    let env = Env::new();
    let (port, registry, remote) = governed(&env);
    let host = registry.host();
    let alice_key = env.path("alice.key").display().to_string();
    let sample_dir = sample();
    let sample_dir = sample_dir.to_str().unwrap();
    let newer = format!("{remote}:1.1.0");
    env.ok(&[
        "push",
        sample_dir,
        &newer,
        "--plain-http",
        "--version",
        "1.1.0",
    ]);
    env.ok(&["sign", &newer, "--key", &alice_key, "--plain-http"]);
    for other in ["other-a", "other-b"] {
        let reference = format!("{host}/ml/{other}:0.1.0");
        let flags = ["--plain-http", "--version", "0.1.0", "--framework", "onnx"];
        env.ok(&[&["push", sample_dir, &reference][..], &flags].concat());
    }
    let config = write_config(&env, "serve.yaml", port, &host, "data", true);
    // Every download fetched and verified anew: the blob corrupted in registry storage
    // below must fail MLflow's download (with the cache on, the copy verified by the
    // earlier downloads would be served: tests/it/serve.rs shows that).
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("blobCache: {maxSize: 0}\n");
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&env, &config, port);
    let inspected = env.json(&["inspect", &format!("{remote}:1.0.0"), "--plain-http"]);
    let digest = inspected["digest"].as_str().unwrap().to_owned();
    let weights = inspected["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "weights.npz")
        .expect("the sample has weights")["digest"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = Command::new(venv_python())
        .arg(root().join("tests/interop/mlflow_client.py"))
        .env("MODELARK_URL", &service.base)
        .env("SAMPLE_DIR", sample_dir)
        .env("CORRUPT_BLOB", registry.blob_data(&weights))
        .env("EXPECT_DIGEST", &digest)
        // A server error would be retried for minutes by default; none is expected.
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .output()
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "the MLflow client failed:\n{stdout}\n{stderr}\nservice log:\n{}",
        std::fs::read_to_string(env.path(&format!("serve-{port}.log"))).unwrap_or_default()
    );
    assert!(stderr.contains("corrupt blob refused"), "{stderr}");
}
