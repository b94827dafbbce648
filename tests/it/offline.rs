//! `--offline` / `MODELARK_OFFLINE=1`: an air-gapped inference node verifies and unpacks what
//! it pulled earlier, with the registry gone, and is told clearly what it does not hold.

use crate::harness::{Env, Registry, assert_same_tree, digest_of, random_model};

#[test]
fn pulled_models_are_inspected_verified_and_unpacked_with_the_registry_stopped() {
    let registry = Registry::start();
    let env = Env::new();
    let (key, public) = env.keypair("release");
    let base = random_model(&env, "base", 4096);
    let base_ref = format!("{}/air/base:1.0.0", registry.host());
    let base_digest =
        digest_of(&env.ok(&["push", base.to_str().unwrap(), &base_ref, "--plain-http"]));
    let model = random_model(&env, "model", 8192);
    let parent = format!("{}/air/base@{base_digest}", registry.host());
    let model_ref = format!("{}/air/model:1.0.0", registry.host());
    env.ok(&[
        "push",
        model.to_str().unwrap(),
        &model_ref,
        "--plain-http",
        "--parent",
        &parent,
        "--version",
        "1.0.0",
    ]);
    let other_ref = format!("{}/air/model:1.1.0", registry.host());
    env.ok(&[
        "push",
        base.to_str().unwrap(),
        &other_ref,
        "--plain-http",
        "--version",
        "1.1.0",
    ]);
    env.ok(&["sign", &model_ref, "--key", &key, "--plain-http"]);
    env.ok(&[
        "attest",
        &model_ref,
        "--key",
        &key,
        "--type",
        "provenance",
        "--plain-http",
    ]);
    for reference in [
        &model_ref,
        &other_ref,
        &format!("{}/air/base:1.0.0", registry.host()),
    ] {
        env.ok(&["pull", reference, "--plain-http"]);
    }
    let policy = env.path("deploy.yaml");
    std::fs::write(
        &policy,
        format!(
            "keys: {{release: {public}}}\nrules:\n  - scope: \"**\"\n    signatures: {{signers: [release]}}\n"
        ),
    )
    .unwrap();
    drop(registry);

    let policy = policy.to_str().unwrap();
    let out = env.path("deploy");
    // The air-gapped node's two commands.
    env.ok(&["verify", &model_ref, "--offline", "--policy", policy]);
    env.ok(&[
        "unpack",
        &model_ref,
        "--offline",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_same_tree(&model, &out);
    let view = env.json(&["inspect", &model_ref, "--offline"]);
    assert_eq!(view["metadata"]["version"], "1.0.0");
    env.ok(&[
        "verify-attestation",
        &model_ref,
        "--offline",
        "--key",
        &public,
        "--type",
        "provenance",
    ]);
    let diff = env.ok(&["diff", &model_ref, &other_ref, "--offline"]);
    assert!(diff.contains("model.safetensors"), "{diff}");
    let lineage: serde_json::Value =
        serde_json::from_str(&env.ok(&["lineage", &model_ref, "--offline", "--format", "json"]))
            .unwrap();
    let nodes = lineage["nodes"].as_array().unwrap();
    assert!(
        nodes.iter().any(
            |n| n["id"].as_str().unwrap_or_default().contains(&base_digest)
                && n["state"] != "missing"
        ),
        "the parent is read from the store: {lineage}"
    );
    // The environment variable does the same.
    let mut verify = env.cmd(&["verify", &model_ref, "--policy", policy]);
    crate::harness::assert_ran(&verify.env("MODELARK_OFFLINE", "1").output().unwrap());

    // A model the store does not hold: a clear refusal, no connection attempt.
    let missing = model_ref.replace("model:1.0.0", "model:9.9.9");
    let stderr = env.fails(&["verify", &missing, "--offline", "--key", &public], 1);
    assert!(stderr.contains("was not found"), "{stderr}");
    assert!(
        stderr.contains("offline, only the local store was read"),
        "{stderr}"
    );
    let stderr = env.fails(&["unpack", &missing, "--offline", "-o", "x"], 1);
    assert!(stderr.contains("modelark pull"), "{stderr}");
    // What needs the registry says so rather than trying it.
    let stderr = env.fails(&["pull", &model_ref, "--offline"], 2);
    assert!(stderr.contains("offline"), "{stderr}");
    assert!(!stderr.contains("connect"), "{stderr}");
    // Online, the stopped registry is an error, so the commands above really read the store.
    let stderr = env.fails(
        &["inspect", &model_ref, "--plain-http", "--retries", "0"],
        2,
    );
    assert!(stderr.contains("failed to"), "{stderr}");
}

#[test]
fn offline_with_no_local_store_says_what_to_do() {
    let env = Env::new();
    let stderr = env.fails(
        &["unpack", "registry.example.com/m:1", "--offline", "-o", "x"],
        2,
    );
    assert!(stderr.contains("is not in the local store"), "{stderr}");
    assert!(
        stderr.contains("modelark pull registry.example.com/m:1"),
        "{stderr}"
    );
}
