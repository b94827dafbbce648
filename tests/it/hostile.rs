//! Hostile and damaged artifacts: each gives a clear error and leaves nothing behind.

use std::path::{Path, PathBuf};

use modelark::oci::{Descriptor, Manifest};
use modelark::store::Layout;

use crate::harness::{Env, names, pack_sample_layout, sample, tag_manifest_bytes};

fn packed(env: &Env) -> (Layout, Manifest) {
    pack_sample_layout(env, "good")
}

fn tag_raw_manifest(layout: &Layout, bytes: &[u8]) -> String {
    tag_manifest_bytes(layout, bytes, "bad")
}

/// Unpacking `reference` fails with `code` and a message containing `needle`; the output
/// directory is not created and no temp directory is left beside it.
fn assert_unpack_refused(env: &Env, reference: &str, code: i32, needle: &str) {
    let parent = env.path("outputs");
    std::fs::create_dir_all(&parent).unwrap();
    let out = parent.join("model");
    let stderr = env.fails(&["unpack", reference, "-o", out.to_str().unwrap()], code);
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(stderr.starts_with("error: failed to "), "{stderr}");
    assert_eq!(
        names(&parent),
        Vec::<String>::new(),
        "nothing may be left in {}",
        parent.display()
    );
    assert!(!env.path("evil").exists() && !PathBuf::from("/tmp/modelark-evil").exists());
}

#[test]
fn path_traversal_in_filepath_is_refused_before_writing() {
    for evil in [
        "../evil",
        "/tmp/modelark-evil",
        "a/../../evil",
        "tokenizer//x",
        "..\\evil",
    ] {
        let env = Env::new();
        let (layout, mut manifest) = packed(&env);
        // The evil layer comes last, so a careless unpacker would already have written files.
        let last = manifest.layers.last_mut().unwrap();
        last.annotations
            .insert("org.cncf.model.filepath".into(), evil.into());
        let reference = tag_raw_manifest(&layout, &manifest.to_bytes());
        assert_unpack_refused(&env, &reference, 2, "refusing file path");
    }
}

#[test]
fn duplicate_paths_are_refused() {
    let env = Env::new();
    let (layout, mut manifest) = packed(&env);
    let first = manifest.layers[0].annotations["org.cncf.model.filepath"].clone();
    manifest.layers[1]
        .annotations
        .insert("org.cncf.model.filepath".into(), first);
    let reference = tag_raw_manifest(&layout, &manifest.to_bytes());
    assert_unpack_refused(&env, &reference, 2, "two layers name the same file");
}

fn blob_file(layout: &Layout, descriptor: &Descriptor) -> PathBuf {
    layout.blob_path(&descriptor.digest)
}

#[test]
fn a_corrupted_blob_fails_verification_and_writes_nothing() {
    let env = Env::new();
    let (layout, manifest) = packed(&env);
    let weights = manifest
        .layers
        .iter()
        .find(|l| l.annotations["org.cncf.model.filepath"] == "weights.npz")
        .unwrap();
    let path = blob_file(&layout, weights);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let reference = format!("oci:{}:good", layout.root().display());
    assert_unpack_refused(&env, &reference, 1, "digest mismatch");
    let stderr = env.fails(
        &["unpack", &reference, "-o", env.path("o2").to_str().unwrap()],
        1,
    );
    assert!(
        stderr.contains(&weights.digest.to_string()),
        "names the expected digest: {stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn a_truncated_blob_fails_verification() {
    let env = Env::new();
    let (layout, manifest) = packed(&env);
    let path = blob_file(&layout, &manifest.layers[0]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_unpack_refused(
        &env,
        &format!("oci:{}:good", layout.root().display()),
        1,
        "size mismatch",
    );
}

#[test]
fn a_missing_blob_is_reported_by_digest() {
    let env = Env::new();
    let (layout, manifest) = packed(&env);
    std::fs::remove_file(blob_file(&layout, &manifest.layers[2])).unwrap();
    let needle = format!("blob {} is missing", manifest.layers[2].digest);
    assert_unpack_refused(
        &env,
        &format!("oci:{}:good", layout.root().display()),
        1,
        &needle,
    );
}

#[test]
fn a_manifest_over_4_mib_is_refused() {
    let env = Env::new();
    let (layout, mut manifest) = packed(&env);
    manifest
        .annotations
        .insert("padding".into(), "x".repeat(4 * 1024 * 1024 + 1));
    let reference = tag_raw_manifest(&layout, &manifest.to_bytes());
    let stderr = env.fails(&["inspect", &reference], 2);
    assert!(stderr.contains("over the 4194304-byte limit"), "{stderr}");
    assert_unpack_refused(&env, &reference, 2, "over the 4194304-byte limit");
}

#[test]
fn malformed_json_is_a_clear_error() {
    let env = Env::new();
    let (layout, manifest) = packed(&env);
    let reference = tag_raw_manifest(&layout, b"{\"schemaVersion\": 2, \"layers\": [");
    let stderr = env.fails(&["inspect", &reference], 2);
    assert!(stderr.contains("malformed manifest sha256:"), "{stderr}");
    assert_unpack_refused(&env, &reference, 2, "malformed manifest");

    // A config that is not JSON: inspect names the config blob.
    let mut broken = manifest.clone();
    let bad_config = b"not json";
    broken.config = Descriptor::new(
        &manifest.config.media_type,
        layout.write_blob(bad_config).unwrap(),
        bad_config.len() as u64,
    );
    let digest = broken.config.digest.to_string();
    let reference = tag_raw_manifest(&layout, &broken.to_bytes());
    let stderr = env.fails(&["inspect", &reference], 2);
    assert!(
        stderr.contains(&format!("malformed ModelPack config {digest}")),
        "{stderr}"
    );

    // A broken index.json.
    std::fs::write(layout.root().join("index.json"), b"[").unwrap();
    let stderr = env.fails(&["list", &format!("oci:{}", layout.root().display())], 2);
    assert!(stderr.contains("malformed index"), "{stderr}");
}

#[test]
fn hostile_tar_layers_are_refused() {
    let env = Env::new();
    let (layout, mut manifest) = packed(&env);
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    archive.append_link(&mut header, "weights", "/etc").unwrap();
    let bytes = archive.into_inner().unwrap();
    let digest = layout.write_blob(&bytes).unwrap();
    manifest.layers.push(Descriptor::new(
        "application/vnd.cncf.model.weight.v1.tar",
        digest,
        bytes.len() as u64,
    ));
    let reference = tag_raw_manifest(&layout, &manifest.to_bytes());
    assert_unpack_refused(
        &env,
        &reference,
        2,
        "only files and directories are unpacked",
    );
}

#[test]
fn unpack_never_clobbers_without_force_and_replaces_atomically_with_it() {
    let env = Env::new();
    let (layout, _) = packed(&env);
    let reference = format!("oci:{}:good", layout.root().display());
    let out = env.path("existing");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("precious.txt"), b"keep me").unwrap();
    let stderr = env.fails(&["unpack", &reference, "-o", out.to_str().unwrap()], 2);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(out.join("precious.txt")).unwrap(), b"keep me");
    env.ok(&["unpack", &reference, "-o", out.to_str().unwrap(), "--force"]);
    assert!(!out.join("precious.txt").exists());
    crate::harness::assert_same_tree(&sample(), &out);
    let leftovers: Vec<String> = names(Path::new(env.dir.path()))
        .into_iter()
        .filter(|n| n.starts_with(".modelark"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_corrupt_archive_imports_nothing() {
    let env = Env::new();
    let (layout, manifest) = packed(&env);
    let archive = env.path("tiny.tar");
    env.ok(&[
        "export",
        &format!("oci:{}:good", layout.root().display()),
        "-o",
        archive.to_str().unwrap(),
    ]);
    // Flip a byte inside the weights blob's data in the tar.
    let mut bytes = std::fs::read(&archive).unwrap();
    let weights = manifest
        .layers
        .iter()
        .find(|l| l.annotations["org.cncf.model.filepath"] == "weights.npz")
        .unwrap();
    let name = format!("blobs/sha256/{}", weights.digest.hex());
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap();
    bytes[at + 512 + 10] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let other = Env::new();
    let stderr = other.fails(&["import", archive.to_str().unwrap()], 1);
    assert!(stderr.contains("digest mismatch"), "{stderr}");
    assert_eq!(other.json(&["list"]), serde_json::json!([]));
    assert_eq!(
        names(&other.home().join("store/blobs/sha256")),
        Vec::<String>::new()
    );
}
