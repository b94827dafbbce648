//! Interop with independent implementations: skopeo (containers/image) moves what modelark
//! packs through a real CNCF distribution registry and back without changing a digest.

use std::process::Command;

use crate::harness::{Env, Registry, assert_same_tree, sample, which};

/// skopeo with its own HOME, so no shared blob cache or auth file changes what it does.
pub fn skopeo(env: &Env, args: &[&str]) -> String {
    let home = env.path("skopeo-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(which("skopeo"))
        .args(args)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &home)
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    modelark::Digest::sha256_of(bytes).to_string()
}

#[test]
fn skopeo_copies_our_layout_through_a_real_registry_with_identical_digests() {
    let registry = Registry::start();
    let env = Env::new();
    let layout = env.path("layout");
    let sample = sample();
    let packed = env.ok(&[
        "pack",
        sample.to_str().unwrap(),
        "-t",
        &format!("oci:{}:1.0.0", layout.display()),
    ]);
    let digest = packed.trim().rsplit_once('@').unwrap().1.to_owned();

    let remote = format!("docker://{}/models/tiny:1.0.0", registry.host());
    skopeo(
        &env,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:1.0.0", layout.display()),
            &remote,
        ],
    );
    let raw = skopeo(&env, &["inspect", "--raw", "--tls-verify=false", &remote]);
    assert_eq!(
        sha256_hex(raw.as_bytes()),
        digest,
        "the registry serves our exact manifest bytes"
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    let config = skopeo(
        &env,
        &[
            "inspect",
            "--config",
            "--raw",
            "--tls-verify=false",
            &remote,
        ],
    );
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["descriptor"]["name"], "tiny-sentiment");

    let back = env.path("back");
    skopeo(
        &env,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &remote,
            &format!("oci:{}:1.0.0", back.display()),
        ],
    );
    let view = env.json(&["inspect", &format!("oci:{}:1.0.0", back.display())]);
    assert_eq!(view["digest"], digest);
    assert_eq!(view["metadata"]["metrics"]["f1"], 0.861);
    let out = env.path("out");
    env.ok(&[
        "unpack",
        &format!("oci:{}:1.0.0", back.display()),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_same_tree(&sample, &out);
}

#[test]
fn skopeo_reads_what_modelark_pushes_and_modelark_pulls_what_skopeo_pushes() {
    let registry = Registry::start();
    let env = Env::new();
    let sample = sample();
    let host = registry.host();

    let pushed = env.ok(&[
        "push",
        sample.to_str().unwrap(),
        &format!("{host}/ours/tiny:1"),
        "--plain-http",
    ]);
    let digest = pushed.trim().rsplit_once('@').unwrap().1.to_owned();
    let remote = format!("docker://{host}/ours/tiny:1");
    let raw = skopeo(&env, &["inspect", "--raw", "--tls-verify=false", &remote]);
    assert_eq!(sha256_hex(raw.as_bytes()), digest);
    let copied = env.path("copied");
    // skopeo verifies every blob digest while copying.
    skopeo(
        &env,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &remote,
            &format!("oci:{}:1", copied.display()),
        ],
    );
    assert_eq!(
        env.json(&["inspect", &format!("oci:{}:1", copied.display())])["digest"],
        digest
    );

    let layout = env.path("layout");
    let packed = env.ok(&[
        "pack",
        sample.to_str().unwrap(),
        "-t",
        &format!("oci:{}:2", layout.display()),
    ]);
    skopeo(
        &env,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:2", layout.display()),
            &format!("docker://{host}/theirs/tiny:2"),
        ],
    );
    let out = env.path("out");
    let pulled = env.json(&[
        "pull",
        &format!("{host}/theirs/tiny:2"),
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_eq!(pulled["digest"], packed.trim().rsplit_once('@').unwrap().1);
    assert_same_tree(&sample, &out);
}

#[test]
fn modelark_pulls_what_the_oras_python_client_pushes() {
    let registry = Registry::start();
    let env = Env::new();
    let files = env.path("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("weights.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(files.join("config.json"), b"{\"layers\": 2}").unwrap();
    let target = format!("{}/oras/model:v1", registry.host());
    let script = format!(
        "import oras.client\n\
         c = oras.client.OrasClient(hostname='{host}', insecure=True)\n\
         r = c.push(target='{target}', files=['weights.bin', 'config.json'], manifest_annotations={{'org.example.team': 'nlp'}})\n\
         assert r.status_code == 201, r.status_code\n",
        host = registry.host()
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .current_dir(&files)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "oras push failed");
    let view = env.json(&["inspect", &target, "--plain-http"]);
    assert_eq!(view["annotations"]["org.example.team"], "nlp");
    let out = env.path("out");
    env.ok(&["pull", &target, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&files, &out);
}

#[test]
fn logins_are_shared_with_skopeo_both_ways() {
    use std::io::Write;
    let registry = Registry::start_with(crate::harness::RegistryConfig {
        basic_auth: Some(("carol", "pw-123")),
        ..Default::default()
    });
    let env = Env::new();
    let host = registry.host();
    let sample = sample();
    let mut login = env
        .cmd(&[
            "login",
            &host,
            "-u",
            "carol",
            "--password-stdin",
            "--plain-http",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"pw-123").unwrap();
    assert!(login.wait().unwrap().success());
    env.ok(&[
        "push",
        sample.to_str().unwrap(),
        &format!("{host}/shared/tiny:1"),
        "--plain-http",
    ]);
    // skopeo reads the credentials modelark stored.
    let authfile = env.path("docker/config.json");
    skopeo(
        &env,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--authfile",
            authfile.to_str().unwrap(),
            &format!("docker://{host}/shared/tiny:1"),
        ],
    );

    // modelark reads the credentials skopeo stored.
    let other = Env::new();
    let skopeo_auth = other.path("auth.json");
    skopeo(
        &other,
        &[
            "login",
            "--tls-verify=false",
            "-u",
            "carol",
            "-p",
            "pw-123",
            "--authfile",
            skopeo_auth.to_str().unwrap(),
            &host,
        ],
    );
    let out = other
        .cmd(&[
            "inspect",
            &format!("{host}/shared/tiny:1"),
            "--plain-http",
            "--json",
        ])
        .env("REGISTRY_AUTH_FILE", &skopeo_auth)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn skopeo_reads_our_export_archive() {
    let env = Env::new();
    let sample = sample();
    let packed = env.ok(&["pack", sample.to_str().unwrap(), "-t", "tiny:2.0.0"]);
    let digest = packed.trim().rsplit_once('@').unwrap().1.to_owned();
    let archive = env.path("tiny.tar");
    env.ok(&["export", "tiny:2.0.0", "-o", archive.to_str().unwrap()]);
    let raw = skopeo(
        &env,
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}:2.0.0", archive.display()),
        ],
    );
    assert_eq!(sha256_hex(raw.as_bytes()), digest);
    let copied = env.path("copied");
    skopeo(
        &env,
        &[
            "copy",
            "--preserve-digests",
            &format!("oci-archive:{}:2.0.0", archive.display()),
            &format!("oci:{}:2.0.0", copied.display()),
        ],
    );
    let view = env.json(&["inspect", &format!("oci:{}:2.0.0", copied.display())]);
    assert_eq!(view["digest"], digest);
}

#[test]
fn foreign_artifacts_without_modelpack_metadata_unpack() {
    // A plain ORAS-style artifact: files named by org.opencontainers.image.title, an empty
    // config, no ModelPack annotations. skopeo moves it into a layout; modelark unpacks it.
    use modelark::oci::{Descriptor, Manifest};
    let env = Env::new();
    let layout = modelark::store::Layout::create(env.path("layout")).unwrap();
    let readme = b"hello from oras\n";
    let mut layer = Descriptor::new(
        "text/markdown",
        layout.write_blob(readme).unwrap(),
        readme.len() as u64,
    );
    layer.annotations.insert(
        "org.opencontainers.image.title".into(),
        "docs/README.md".into(),
    );
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        artifact_type: Some("application/vnd.example.thing".into()),
        config: Descriptor::new(
            "application/vnd.oci.empty.v1+json",
            layout.write_blob(b"{}").unwrap(),
            2,
        ),
        layers: vec![layer],
        subject: None,
        annotations: Default::default(),
    };
    let source = crate::foreign::store_manifest(&layout, &manifest);
    let copied = env.path("copied");
    skopeo(
        &env,
        &[
            "copy",
            "--preserve-digests",
            &source,
            &format!("oci:{}:v1", copied.display()),
        ],
    );
    let view = env.json(&["inspect", &format!("oci:{}:v1", copied.display())]);
    assert_eq!(view["kind"], "other");
    assert_eq!(view["files"][0]["path"], "docs/README.md");
    let out = env.path("out");
    env.ok(&[
        "unpack",
        &format!("oci:{}:v1", copied.display()),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(out.join("docs/README.md")).unwrap(), readme);
}
