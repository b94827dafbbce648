//! Test helpers: the modelark binary with a private MODELARK_HOME, sample models, and a real
//! CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1 with a free port.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use tempfile::TempDir;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `testdata/tiny-sentiment`.
pub fn sample() -> PathBuf {
    root().join("testdata/tiny-sentiment")
}

/// A scratch directory with its own MODELARK_HOME.
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `modelark ARGS` with this environment's home and no SOURCE_DATE_EPOCH.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("modelark").expect("binary built");
        cmd.args(args)
            .env("MODELARK_HOME", self.home())
            .env("DOCKER_CONFIG", self.path("docker"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("COSIGN_PASSWORD")
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs modelark and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().expect("modelark runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs modelark, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(args);
        assert_eq!(code, 0, "modelark {args:?} failed:\n{stderr}");
        stdout
    }

    /// Runs modelark, asserts it exits with `code`, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let (actual, stdout, stderr) = self.run(args);
        assert_eq!(
            actual, code,
            "modelark {args:?}: expected exit {code}\nstdout: {stdout}\nstderr: {stderr}"
        );
        stderr
    }

    /// The digest `inspect --json` shows for the file at `path` in the model `reference`
    /// (registry references use `--plain-http`).
    pub fn file_digest(&self, reference: &str, path: &str) -> String {
        let mut args = vec!["inspect", reference];
        if reference.contains('/') && !reference.starts_with("oci:") {
            args.push("--plain-http");
        }
        let view = self.json(&args);
        view["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {view}"))["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `modelark ARGS --json` parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).expect("valid JSON")
    }
}

/// Asserts a finished process succeeded, showing its stderr if not.
pub fn assert_ran(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Asserts two directory trees hold the same files with the same bytes.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let status = Command::new("diff")
        .arg("-r")
        .arg(a)
        .arg(b)
        .status()
        .expect("diff runs");
    assert!(
        status.success(),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

/// Names in `dir` (for "nothing left behind" checks).
/// Waits for `child` to end; a hang guard, not a timing check: after two minutes it is
/// killed and the test fails with `hang`.
pub fn wait_unless_hung(mut child: Child, hang: &str) -> std::process::Output {
    for _ in 0..1200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
        panic!("{hang}");
    }
    child.wait_with_output().unwrap()
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Stores `bytes` as a manifest in `layout` tagged `tag` (replacing that tag) and returns
/// the `oci:` reference. Tests use it to plant hand-made or hostile manifests.
pub fn tag_manifest_bytes(layout: &modelark::store::Layout, bytes: &[u8], tag: &str) -> String {
    use modelark::oci::Descriptor;
    const REF_NAME: &str = "org.opencontainers.image.ref.name";
    let digest = layout.write_blob(bytes).unwrap();
    layout
        .update_index(|index| {
            let mut entry = Descriptor::new(
                "application/vnd.oci.image.manifest.v1+json",
                digest,
                bytes.len() as u64,
            );
            entry.annotations.insert(REF_NAME.into(), tag.into());
            index
                .manifests
                .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
            index.manifests.push(entry);
            Ok(())
        })
        .unwrap();
    format!("oci:{}:{tag}", layout.root().display())
}

/// Packs the sample model into `oci:<env>/layout:TAG`; returns the layout and the manifest.
pub fn pack_sample_layout(
    env: &Env,
    tag: &str,
) -> (modelark::store::Layout, modelark::oci::Manifest) {
    let layout = env.path("layout");
    let sample = sample();
    env.ok(&[
        "pack",
        sample.to_str().unwrap(),
        "-t",
        &format!("oci:{}:{tag}", layout.display()),
    ]);
    let layout = modelark::store::Layout::open(&layout).unwrap();
    let index = layout.index().unwrap();
    let manifest = layout.read_manifest(&index.manifests[0]).unwrap();
    (layout, manifest)
}

/// How to configure a test registry.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Require this user and password (bcrypt htpasswd).
    pub basic_auth: Option<(&'static str, &'static str)>,
    /// Serve TLS with a fresh self-signed certificate for 127.0.0.1.
    pub tls: bool,
    /// With `tls`: one self-signed certificate made by the common recipe (`openssl req
    /// -x509 ...`, so CA:TRUE) instead of a CA and a server certificate; `ca.pem` is it.
    pub self_signed: bool,
    /// Allow DELETE.
    pub delete: bool,
    /// Delegate auth to a token server: its realm and the certificate that signs tokens.
    pub token: Option<(String, PathBuf)>,
    /// Send notifications to this URL with `Authorization: Bearer SECRET`.
    pub notify: Option<(String, String)>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            basic_auth: None,
            tls: false,
            self_signed: false,
            delete: true,
            token: None,
            notify: None,
        }
    }
}

/// A running `docker-registry serve` on 127.0.0.1, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    /// Holds the registry's storage, config and certificate for its lifetime.
    dir: TempDir,
}

impl Registry {
    /// Starts a plain-HTTP registry with deletes enabled.
    pub fn start() -> Registry {
        Registry::start_with(RegistryConfig::default())
    }

    /// Starts a registry configured as asked.
    pub fn start_with(config: RegistryConfig) -> Registry {
        let binary = which("docker-registry");
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let mut yaml = format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: {}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display(),
                config.delete
            );
            if config.tls {
                if config.self_signed {
                    make_self_signed(dir.path(), "IP:127.0.0.1");
                } else {
                    make_certificate(dir.path());
                }
                yaml += &format!(
                    "  tls: {{certificate: {}, key: {}}}\n",
                    dir.path().join("cert.pem").display(),
                    dir.path().join("key.pem").display()
                );
            }
            if let Some((user, password)) = config.basic_auth {
                let out = Command::new(which("htpasswd"))
                    .args(["-Bbn", user, password])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
                yaml += &format!(
                    "auth:\n  htpasswd: {{realm: test-realm, path: {}}}\n",
                    dir.path().join("htpasswd").display()
                );
            }
            if let Some((realm, certificate)) = &config.token {
                yaml += &format!(
                    "auth:\n  token: {{realm: \"{realm}\", service: {}, issuer: {}, rootcertbundle: {}}}\n",
                    crate::token::SERVICE,
                    crate::token::ISSUER,
                    certificate.display()
                );
            }
            if let Some((url, secret)) = &config.notify {
                yaml += &format!(
                    "notifications:\n  endpoints:\n    - name: modelark\n      url: {url}\n      headers: {{Authorization: [\"Bearer {secret}\"]}}\n      timeout: 2s\n      threshold: 100\n      backoff: 500ms\n"
                );
            }
            std::fs::write(dir.path().join("config.yml"), yaml).unwrap();
            let child = Command::new(&binary)
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
                .spawn()
                .expect("docker-registry starts");
            let mut registry = Registry { child, port, dir };
            if registry.wait_ready() {
                return registry;
            }
            // Another process took the port between probing and binding: try another.
        }
        panic!("docker-registry did not become ready on 127.0.0.1");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The PEM certificate of the CA that issued a TLS registry's certificate.
    pub fn ca_certificate(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Where the registry keeps the bytes of a blob (for corrupting it).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA (`ca.pem`) and a server certificate it issued for 127.0.0.1 and localhost
/// (`cert.pem`, `key.pem`), made by openssl: the set-up of a registry behind a company CA.
pub fn make_certificate(dir: &Path) {
    let openssl = |args: &[&str]| openssl(dir, args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-days",
        "2",
        "-subj",
        "/CN=modelark test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    issue(dir, "server.csr", "server.ext", "cert.pem");
}

/// Runs `openssl ARGS` in `dir`; a failure fails the test with openssl's message.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(which("openssl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Has the CA in `dir` (`ca.pem`, `ca.key`) issue a two-day certificate `out` for the
/// request `csr`, with the extensions in the file `ext`.
pub fn issue(dir: &Path, csr: &str, ext: &str, out: &str) {
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            ext,
            "-out",
            out,
        ],
    );
}

/// `cert.pem` and `key.pem` made the way most internal registries make theirs (`openssl req
/// -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=...`: CA:TRUE),
/// and `ca.pem`, the same certificate, for clients to trust.
pub fn make_self_signed(dir: &Path, alt_names: &str) {
    let status = Command::new(which("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg(format!("subjectAltName={alt_names}"))
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl req -x509 failed");
    std::fs::copy(dir.join("cert.pem"), dir.join("ca.pem")).unwrap();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The path of a required tool; a missing one fails the test (make test installs them).
/// The Python of the project's venv (`.venv`, made by `make deps` with MLflow and the other
/// PyPI tools that need isolation from the system's packages).
pub fn venv_python() -> PathBuf {
    let python = root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing; `make deps` creates the venv",
        python.display()
    );
    python
}

pub fn which(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("{tool} is not installed; `make deps` installs it"))
}

/// The digest of a `REF@DIGEST` line.
pub fn digest_of(line: &str) -> String {
    line.trim()
        .rsplit_once('@')
        .expect("REF@DIGEST")
        .1
        .to_owned()
}

/// A model directory with one deterministic pseudo-random weights file of `size` bytes.
pub fn random_model(env: &Env, name: &str, size: usize) -> std::path::PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ size as u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
    std::fs::write(dir.join("config.json"), b"{\"hidden\": 8}").unwrap();
    dir
}

/// A fresh registry holding one pushed random model of `size` bytes: the registry, the
/// environment, the model directory and its reference `HOST/REPOSITORY:TAG`.
pub fn pushed_model(size: usize, repository: &str) -> (Registry, Env, PathBuf, String) {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", size);
    let remote = format!("{}/{repository}", registry.host());
    env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    (registry, env, model, remote)
}

impl Env {
    /// An ECDSA P-256 key pair made by openssl: `NAME.pem` (SEC1, unencrypted, as
    /// `model_signing` and `openssl dgst` read it) and `NAME.pub`; returns their paths.
    pub fn openssl_key_pair(&self, name: &str) -> (String, String) {
        let path = |ext: &str| self.path(&format!("{name}.{ext}")).display().to_string();
        let (key, public) = (path("pem"), path("pub"));
        let openssl = which("openssl");
        let run = |args: &[&str]| assert_ran(&Command::new(&openssl).args(args).output().unwrap());
        run(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ]);
        run(&["ec", "-in", &key, "-pubout", "-out", &public]);
        (key, public)
    }

    /// Makes `NAME.key` / `NAME.pub` with `modelark generate-key-pair` (password "") and
    /// returns their paths as strings.
    pub fn keypair(&self, name: &str) -> (String, String) {
        let out = self
            .cmd(&["generate-key-pair", "--output-key-prefix", name])
            .env("COSIGN_PASSWORD", "")
            .output()
            .expect("modelark runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = |ext: &str| self.path(&format!("{name}.{ext}")).display().to_string();
        (path("key"), path("pub"))
    }
}

/// Raw distribution API access, for crafting what modelark itself never writes (forged,
/// tampered or malformed attachments).
pub struct Raw {
    runtime: tokio::runtime::Runtime,
    endpoint: modelark::store::Endpoint,
}

impl Raw {
    pub fn new(host: &str, repository: &str) -> Raw {
        let options = modelark::store::registry::Options {
            plain_http: true,
            ..Default::default()
        };
        let empty = tempfile::tempdir().unwrap();
        let credentials = modelark::store::registry::CredentialStore::at(
            empty.path().join("none.json"),
            Vec::new(),
        );
        let client = modelark::store::registry::Client::new(options, credentials).unwrap();
        Raw {
            runtime: tokio::runtime::Runtime::new().unwrap(),
            endpoint: modelark::store::Endpoint::Registry(client.repository(host, repository)),
        }
    }

    /// The manifest a tag points at, raw.
    pub fn tag(&self, tag: &str) -> Option<(modelark::oci::Descriptor, Vec<u8>)> {
        let tag = tag.parse().unwrap();
        self.runtime
            .block_on(self.endpoint.fetch_tag(&tag))
            .unwrap()
    }

    pub fn manifest(&self, tag: &str) -> modelark::oci::Manifest {
        let (descriptor, bytes) = self.tag(tag).unwrap_or_else(|| panic!("no tag {tag}"));
        modelark::oci::Manifest::from_slice(&bytes, &descriptor.digest).unwrap()
    }

    /// The manifest with this digest.
    pub fn manifest_at(&self, digest: &str) -> modelark::oci::Manifest {
        let digest: modelark::Digest = digest.parse().unwrap();
        let descriptor =
            modelark::oci::Descriptor::new(modelark::media_types::OCI_MANIFEST, digest.clone(), 0);
        let bytes = self
            .runtime
            .block_on(self.endpoint.fetch_manifest(&descriptor))
            .unwrap();
        modelark::oci::Manifest::from_slice(&bytes, &digest).unwrap()
    }

    pub fn put_manifest(&self, tag: &str, manifest: &modelark::oci::Manifest) {
        self.put_bytes(
            tag,
            modelark::media_types::OCI_MANIFEST,
            &manifest.to_bytes(),
        );
    }

    /// Stores manifest or index bytes as they are under `tag`.
    pub fn put_bytes(&self, tag: &str, media_type: &str, bytes: &[u8]) {
        let descriptor = modelark::oci::Descriptor::of(media_type, bytes);
        let tag = tag.parse().unwrap();
        self.runtime
            .block_on(
                self.endpoint
                    .put_manifest_bytes(Some(&tag), &descriptor, bytes),
            )
            .unwrap();
    }

    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> modelark::oci::Descriptor {
        let descriptor = modelark::oci::Descriptor::of(media_type, bytes);
        self.runtime
            .block_on(self.endpoint.put_blob_bytes(&descriptor, bytes.to_vec()))
            .unwrap();
        descriptor
    }

    /// Runs `f` on this handle's repository (library calls the CLI has no command for).
    pub fn run<T>(&self, f: impl AsyncFnOnce(&modelark::store::registry::Repository) -> T) -> T {
        let modelark::store::Endpoint::Registry(repository) = &self.endpoint else {
            unreachable!("Raw always talks to a registry")
        };
        self.runtime.block_on(f(repository))
    }

    /// The referrer manifests the `sha256-<hex>` fallback index of `digest` lists.
    pub fn referrers(&self, digest: &str) -> Vec<modelark::oci::Manifest> {
        let (_, index) = self
            .tag(&attachment_tag(digest, ""))
            .expect("fallback index");
        let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| self.manifest_at(entry["digest"].as_str().unwrap()))
            .collect()
    }

    /// Attaches a bundle's bytes as a referrer of `subject`, as modelark stores its own.
    pub fn attach_bundle(&self, subject: &modelark::oci::Descriptor, bundle: Vec<u8>) {
        self.runtime
            .block_on(modelark::sign::attach::attach_bundle_bytes(
                &self.endpoint,
                subject,
                bundle,
                Default::default(),
            ))
            .unwrap();
    }

    pub fn blob(&self, descriptor: &modelark::oci::Descriptor) -> Vec<u8> {
        self.runtime
            .block_on(self.endpoint.small_blob(descriptor))
            .unwrap()
    }
}

/// `sha256-<hex>.sig` for a `sha256:<hex>` digest (`suffix` ".sig", ".att" or "").
pub fn attachment_tag(digest: &str, suffix: &str) -> String {
    format!("{}{suffix}", digest.replacen(':', "-", 1))
}
