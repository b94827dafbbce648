//! Every `--json` output against its documented example in docs/json.md: the same keys, the
//! same kinds of value, at every level. A change to a result type's shape fails here until
//! the documentation shows it. `MODELARK_JSON_EXAMPLES=FILE` writes what each command
//! printed, to refresh the examples.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{Env, Registry, root, sample};

/// The ```json block under each "### `modelark COMMAND`" heading of docs/json.md.
fn documented() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(root().join("docs/json.md")).unwrap();
    let mut examples = BTreeMap::new();
    let mut heading = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("### `modelark ") {
            heading = Some(rest.trim_end_matches('`').to_owned());
        } else if line == "```json" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            let name = heading.take().expect("a ```json block under a ### heading");
            let value = serde_json::from_str(&block.join("\n"))
                .unwrap_or_else(|e| panic!("docs/json.md, {name}: {e}"));
            examples.insert(name, value);
        }
    }
    examples
}

/// Where `actual` differs from `expected` in shape: a missing or extra key, or another kind
/// of value. `null` stands for an optional value and matches anything; the first element
/// of arrays is compared; objects keyed by data (metrics, approvals) compare their values.
fn differences(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(e), Value::Object(a)) => {
            for key in e.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{key}: documented, not printed"));
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}.{key}: printed, not documented"));
            }
            for (key, value) in e {
                if let Some(other) = a.get(key) {
                    differences(&format!("{path}.{key}"), value, other, out);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e), Some(a)) = (e.first(), a.first()) {
                differences(&format!("{path}[0]"), e, a, out);
            }
        }
        (e, a) if kind(e) == kind(a) => {}
        (e, a) => out.push(format!(
            "{path}: documented as {}, printed {}",
            kind(e),
            kind(a)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[test]
fn every_json_output_has_its_documented_shape() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let remote = format!("{host}/ml/tiny");
    let (alice, alice_pub) = env.keypair("alice");
    std::fs::write(
        env.path("deploy.yaml"),
        "keys:\n  alice: alice.pub\nrules:\n  - scope: \"**\"\n    signatures: {signers: [alice]}\n",
    )
    .unwrap();
    let dir = sample().display().to_string();
    let v1 = format!("{remote}:1.0.0");
    let v2 = format!("{remote}:1.1.0");
    let plain = "--plain-http";
    let mut printed: Vec<(&str, Value)> = Vec::new();
    let json = |name: &'static str, args: &[&str]| (name, env.json(args));
    printed.push(json(
        "pack",
        &[
            "pack",
            &dir,
            "-t",
            "tiny:1.0.0",
            "--metric",
            "accuracy=0.91",
        ],
    ));
    printed.push(json("inspect", &["inspect", "tiny:1.0.0"]));
    printed.push(json("list", &["list"]));
    printed.push(json("push", &["push", &dir, &v1, plain]));
    printed.push(json("push", &["push", "tiny:1.0.0", &v2, plain]));
    printed.push(json("copy", &["copy", &v1, "oci:copy:1.0.0", plain]));
    printed.push(json("sign", &["sign", &v1, "--key", &alice, plain]));
    printed.push(json(
        "attest",
        &[
            "attest",
            &v1,
            "--key",
            &alice,
            "--type",
            "provenance",
            plain,
        ],
    ));
    printed.push(json(
        "approve",
        &[
            "approve",
            &v1,
            "--env",
            "production",
            "--key",
            &alice,
            plain,
        ],
    ));
    printed.push(json("verify", &["verify", &v1, "--key", &alice_pub, plain]));
    printed.push(json(
        "verify-attestation",
        &[
            "verify-attestation",
            &v1,
            "--key",
            &alice_pub,
            "--type",
            "provenance",
            plain,
        ],
    ));
    printed.push(json(
        "pull",
        &["pull", &v1, "-o", "out", "--policy", "deploy.yaml", plain],
    ));
    printed.push(json("unpack", &["unpack", "tiny:1.0.0", "-o", "unpacked"]));
    printed.push(json(
        "versions",
        &["versions", &remote, "--key", &alice_pub, plain],
    ));
    printed.push(json(
        "promote",
        &["promote", &v1, "--to", "production", "--key", &alice, plain],
    ));
    env.ok(&["promote", &v2, "--to", "production", "--key", &alice, plain]);
    printed.push(json(
        "rollback",
        &[
            "rollback",
            &remote,
            "--alias",
            "production",
            "--key",
            &alice,
            plain,
        ],
    ));
    printed.push(json(
        "history",
        &["history", &remote, "--key", &alice_pub, plain],
    ));
    printed.push(json("diff", &["diff", &v1, &v2, plain]));
    printed.push(json(
        "search",
        &["search", &host, "--where", "framework=numpy", plain],
    ));
    printed.push(json("list HOST/", &["list", &format!("{host}/"), plain]));
    printed.push(json("list HOST/REPO", &["list", &remote, plain]));
    printed.push(json("tag", &["tag", "tiny:1.0.0", "tiny:stable"]));
    printed.push(json("rm", &["rm", "tiny:stable"]));
    let lineage = env.ok(&["lineage", &v1, "--format", "json", plain]);
    printed.push(("lineage", serde_json::from_str(&lineage).unwrap()));
    env.ok(&["export", "tiny:1.0.0", "-o", "tiny.tar"]);
    printed.push(json(
        "import",
        &["import", "tiny.tar", "-t", "restored:1.0.0"],
    ));
    printed.push(json("store gc", &["store", "gc"]));
    printed.push(json("store fsck", &["store", "fsck"]));
    printed.push(json("store rm", &["store", "rm", &v1]));

    if let Some(file) = std::env::var_os("MODELARK_JSON_EXAMPLES") {
        let text: String = printed
            .iter()
            .map(|(name, value)| {
                let pretty = serde_json::to_string_pretty(value).unwrap();
                format!("### `modelark {name}`\n\n```json\n{pretty}\n```\n\n")
            })
            .collect();
        std::fs::write(file, text).unwrap();
    }
    let documented = documented();
    let mut problems = Vec::new();
    for (name, value) in &printed {
        match documented.get(*name) {
            Some(expected) => differences(name, expected, value, &mut problems),
            None => problems.push(format!("{name}: no example in docs/json.md")),
        }
    }
    for name in documented.keys() {
        if !printed.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name}: documented, never checked"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/json.md is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_shape_check_notices_changes() {
    let expected: Value =
        serde_json::from_str(r#"{"a": 1, "b": [{"c": "x"}], "d": null}"#).unwrap();
    let mut problems = Vec::new();
    let same: Value = serde_json::from_str(r#"{"a": 2, "b": [], "d": {"e": 1}}"#).unwrap();
    differences("x", &expected, &same, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let changed: Value = serde_json::from_str(r#"{"a": "2", "b": [{"z": "x"}], "f": 1}"#).unwrap();
    differences("x", &expected, &changed, &mut problems);
    assert_eq!(problems.len(), 5, "{problems:?}");
}
