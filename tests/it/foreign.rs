//! Artifacts other tools write: KitOps ModelKits (tar+gzip layers) and ModelPack under the
//! legacy `cnai` names inspect and unpack.

use modelark::oci::{Descriptor, Manifest};
use modelark::store::Layout;

use crate::harness::Env;

/// Stores `manifest` in `layout` as tag `v1` and returns the `oci:` reference.
pub fn store_manifest(layout: &Layout, manifest: &Manifest) -> String {
    crate::harness::tag_manifest_bytes(layout, &manifest.to_bytes(), "v1")
}

fn blob(layout: &Layout, media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor::new(
        media_type,
        layout.write_blob(bytes).unwrap(),
        bytes.len() as u64,
    )
}

fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut archive = tar::Builder::new(encoder);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        archive.append_data(&mut header, path, *data).unwrap();
    }
    archive.into_inner().unwrap().finish().unwrap()
}

fn manifest(config: Descriptor, layers: Vec<Descriptor>, artifact_type: Option<&str>) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        artifact_type: artifact_type.map(str::to_owned),
        config,
        layers,
        subject: None,
        annotations: Default::default(),
    }
}

#[test]
fn kitops_modelkits_unpack() {
    let env = Env::new();
    let layout = Layout::create(env.path("layout")).unwrap();
    let kitfile =
        br#"{"manifestVersion":"1.0","package":{"name":"demo"},"model":{"path":"model.gguf"}}"#;
    let config = blob(
        &layout,
        "application/vnd.kitops.modelkit.config.v1+json",
        kitfile,
    );
    let model = blob(
        &layout,
        "application/vnd.kitops.modelkit.model.v1.tar+gzip",
        &tar_gz(&[("model.gguf", b"GGUF weights")]),
    );
    let docs = blob(
        &layout,
        "application/vnd.kitops.modelkit.docs.v1.tar+gzip",
        &tar_gz(&[("docs/README.md", b"# demo")]),
    );
    let reference = store_manifest(&layout, &manifest(config, vec![model, docs], None));
    let view = env.json(&["inspect", &reference]);
    assert_eq!(view["kind"], "kitops");
    let out = env.path("out");
    env.ok(&["unpack", &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join("model.gguf")).unwrap(),
        b"GGUF weights"
    );
    assert_eq!(
        std::fs::read(out.join("docs/README.md")).unwrap(),
        b"# demo"
    );
    let only = env.path("only-weights");
    env.ok(&[
        "unpack",
        &reference,
        "-o",
        only.to_str().unwrap(),
        "--include",
        "*.gguf",
    ]);
    assert!(only.join("model.gguf").is_file() && !only.join("docs").exists());
}

#[test]
fn legacy_cnai_modelpack_reads() {
    let env = Env::new();
    let layout = Layout::create(env.path("layout")).unwrap();
    let config_json = br#"{"descriptor":{"name":"old-model","version":"0.9.0"},"config":{"format":"safetensors"},"modelfs":{"type":"layers","diffIds":[]}}"#;
    let config = blob(
        &layout,
        "application/vnd.cnai.model.config.v1+json",
        config_json,
    );
    let mut weights = blob(
        &layout,
        "application/vnd.cnai.model.weight.v1.raw",
        b"weights",
    );
    weights
        .annotations
        .insert("org.cnai.model.filepath".into(), "model.safetensors".into());
    let reference = store_manifest(
        &layout,
        &manifest(
            config,
            vec![weights],
            Some("application/vnd.cnai.model.manifest.v1+json"),
        ),
    );
    let view = env.json(&["inspect", &reference]);
    assert_eq!(view["kind"], "modelpack-legacy");
    assert_eq!(view["metadata"]["name"], "old-model");
    assert_eq!(view["metadata"]["version"], "0.9.0");
    assert_eq!(view["files"][0]["kind"], "weight");
    let out = env.path("out");
    env.ok(&["unpack", &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        b"weights"
    );
}

#[test]
fn zstd_layers_are_reported_not_mangled() {
    let env = Env::new();
    let layout = Layout::create(env.path("layout")).unwrap();
    let config = blob(
        &layout,
        "application/vnd.cncf.model.config.v1+json",
        br#"{"descriptor":{"name":"z"},"config":{},"modelfs":{"type":"layers","diffIds":[]}}"#,
    );
    let layer = blob(
        &layout,
        "application/vnd.cncf.model.weight.v1.tar+zstd",
        b"\x28\xb5\x2f\xfd",
    );
    let reference = store_manifest(
        &layout,
        &manifest(
            config,
            vec![layer],
            Some("application/vnd.cncf.model.manifest.v1+json"),
        ),
    );
    let stderr = env.fails(
        &[
            "unpack",
            &reference,
            "-o",
            env.path("out").to_str().unwrap(),
        ],
        2,
    );
    assert!(stderr.contains("which modelark cannot unpack"), "{stderr}");
    assert!(!env.path("out").exists());
}
