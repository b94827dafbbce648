//! `modelark serve` as a user runs it: the real binary over a real registry (with
//! notifications), asked over HTTP: search, models, versions, verified downloads, writes
//! under access rules, replicas agreeing, hostile model cards.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::harness::{Env, Registry, RegistryConfig, free_port, sample, which};

/// A running `modelark serve`, killed on drop.
pub struct Service {
    child: Child,
    pub base: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Result<Vec<u8>, String>,
}

impl Answer {
    pub fn json(&self) -> Value {
        let body = self.body.as_ref().expect("a whole body");
        serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.body.as_ref().expect("a whole body")).into_owned()
    }
}

impl Service {
    pub fn start(env: &Env, config: &Path, port: u16) -> Service {
        let mut cmd = Command::cargo_bin("modelark").unwrap();
        cmd.args(["serve", "--config"])
            .arg(config)
            .env("MODELARK_HOME", env.home())
            .env("DOCKER_CONFIG", env.path("docker"))
            .env("MODELARK_EVENTS_SECRET", "hook-secret")
            .env("SERVICE_KEY_PASSWORD", "")
            .env("OIDC_CLIENT_SECRET", "web-secret")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.path(&format!("serve-{port}.log"))).unwrap());
        let mut service = Service {
            child: cmd.spawn().expect("modelark serve starts"),
            base: format!("http://127.0.0.1:{port}"),
            runtime: tokio::runtime::Runtime::new().unwrap(),
            http: reqwest::Client::new(),
        };
        let log = env.path(&format!("serve-{port}.log"));
        let deadline = Instant::now() + Duration::from_secs(90);
        while service.get("/readyz", None).status != 200 {
            let exited = service.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the service never became ready ({exited:?}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.runtime.block_on(async {
            let mut request = self.http.request(method, format!("{}{path}", self.base));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            // A response cut before its headers (a blob that fails verification at once).
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    let headers = reqwest::header::HeaderMap::new();
                    return Answer {
                        status: 0,
                        headers,
                        body: Err(e.to_string()),
                    };
                }
            };
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| e.to_string());
            Answer {
                status,
                headers,
                body,
            }
        })
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(reqwest::Method::GET, path, token, None, &[])
    }

    /// Polls until `done` (a liveness bound, not a timing assertion: generous on purpose).
    pub fn wait_until(&self, done: impl Fn(&Service) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ready = self.runtime.block_on(async {
                self.http
                    .get(format!("{}/healthz", self.base))
                    .send()
                    .await
                    .is_ok()
            }) && done(self);
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the service never became {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Pushes the sample model as `REMOTE:1.0.0` signed by a new key `alice`, and makes the
/// service's key.
pub fn signed_sample(env: &Env, remote: &str) {
    let (alice_key, _) = env.keypair("alice");
    env.keypair("service");
    let version = format!("{remote}:1.0.0");
    env.ok(&["push", sample().to_str().unwrap(), &version, "--plain-http"]);
    env.ok(&["sign", &version, "--key", &alice_key, "--plain-http"]);
}

/// A registry that notifies the service's future `port`, holding the signed sample as
/// `HOST/ml/tiny:1.0.0`, and `deploy.yaml`: alice must sign, production needs a service-
/// signed production approval. Returns the port, the registry and the repository.
pub fn governed(env: &Env) -> (u16, Registry, String) {
    let port = free_port();
    let registry = Registry::start_with(RegistryConfig {
        notify: Some((
            format!("http://127.0.0.1:{port}/api/v1/events"),
            "hook-secret".into(),
        )),
        ..RegistryConfig::default()
    });
    let remote = format!("{}/ml/tiny", registry.host());
    signed_sample(env, &remote);
    std::fs::write(
        env.path("deploy.yaml"),
        "keys: {alice: alice.pub, service: service.pub}\n\
         rules:\n  - scope: \"**\"\n    signatures: {signers: [alice]}\n\
         \x20   aliases:\n      production:\n        attestations:\n\
         \x20         - {type: approval, signers: [service], where: {environment: production, decision: approved}}\n",
    )
    .unwrap();
    (port, registry, remote)
}

/// Makes the service's key and a policy (`deploy.yaml`) that trusts it and asks nothing.
fn trust_only_the_service(env: &Env) {
    env.keypair("service");
    std::fs::write(
        env.path("deploy.yaml"),
        "keys: {service: service.pub}\nrules:\n  - scope: \"**\"\n",
    )
    .unwrap();
}

/// Waits until something listens on `port` (a liveness bound, generous on purpose).
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sha256(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

pub fn write_config(
    env: &Env,
    name: &str,
    port: u16,
    host: &str,
    data: &str,
    events: bool,
) -> std::path::PathBuf {
    let events = if events {
        "events: {secretEnv: MODELARK_EVENTS_SECRET}\n"
    } else {
        ""
    };
    let text = format!(
        "listen: 127.0.0.1:{port}\n\
         registries: [{{url: \"{host}/ml\", plainHttp: true}}]\n\
         policy: deploy.yaml\n\
         signingKey: {{path: service.key, passwordEnv: SERVICE_KEY_PASSWORD}}\n\
         dataDir: {data}\n\
         refresh: 2s\n\
         {events}\
         auth:\n  anonymous: viewer\n  tokens:\n\
         \x20   - {{name: alice, sha256: \"{}\", groups: [ml-leads]}}\n\
         \x20   - {{name: ci, sha256: \"{}\", groups: [publishers]}}\n\
         access:\n\
         \x20 - {{subjects: [\"group:publishers\"], repositories: [\"ml/**\"], allow: [read, sign, attest]}}\n\
         \x20 - {{subjects: [\"group:ml-leads\"], repositories: [\"ml/**\"], allow: [read, approve, promote], environments: [staging, production]}}\n",
        sha256("alice-token"),
        sha256("ci-token"),
    );
    let path = env.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_service_answers_searches_serves_verified_files_and_gates_writes() {
    let env = Env::new();
    let (port, registry, remote) = governed(&env);
    let host = registry.host();
    let config = write_config(&env, "serve.yaml", port, &host, "data-a", true);
    let service = Service::start(&env, &config, port);

    // Search and read.
    let found = service
        .get("/api/v1/search?where=framework%3Dnumpy&q=tiny", None)
        .json();
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["hits"][0]["repository"], remote);
    let model = service
        .get(&format!("/api/v1/models/{remote}"), None)
        .json();
    assert_eq!(model["versions"][0]["tag"], "1.0.0");
    assert_eq!(model["versions"][0]["verified"], true, "{model}");
    let version = service
        .get(&format!("/api/v1/models/{remote}/versions/1.0.0"), None)
        .json();
    assert_eq!(version["metadata"]["name"], "tiny-sentiment");
    assert_eq!(version["verified"], true);
    // Production needs an approval nobody gave yet: the version page says so.
    let findings = version["aliases"]["production"]["findings"]
        .as_array()
        .unwrap();
    assert!(findings.iter().any(|f| f["met"] == false), "{version}");

    // A file, verified while it streams; ETag, Range.
    let url = format!("/api/v1/models/{remote}/versions/1.0.0/files/config.json");
    let file = service.get(&url, None);
    assert_eq!(file.status, 200);
    let expected = std::fs::read(sample().join("config.json")).unwrap();
    assert_eq!(file.body.as_ref().unwrap(), &expected);
    let etag = file.headers["etag"].to_str().unwrap().to_owned();
    let cached = service.send(
        reqwest::Method::GET,
        &url,
        None,
        None,
        &[("if-none-match", &etag)],
    );
    assert_eq!(cached.status, 304);
    let part = service.send(
        reqwest::Method::GET,
        &url,
        None,
        None,
        &[("range", "bytes=2-5")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body.as_ref().unwrap(), &expected[2..6]);
    assert_eq!(
        service
            .get(
                &format!("/api/v1/models/{remote}/versions/1.0.0/files/nope"),
                None
            )
            .status,
        404
    );

    // Lineage as a picture, for the version page.
    let svg = service.get(
        &format!("/api/v1/models/{remote}/versions/1.0.0/lineage?format=svg"),
        None,
    );
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    assert!(
        svg.text().starts_with("<svg") && svg.text().contains("tiny-sentiment 1.0.0"),
        "{}",
        svg.text()
    );

    // Only configured registries are ever asked.
    let elsewhere = service.get("/api/v1/models/127.0.0.1:1/ml/x", None);
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.text());

    // Writes: anonymous must authenticate, a publisher may not approve, a lead may.
    let approve = json!({"environment": "production", "decision": "approve", "reason": "eval-7"});
    let approvals = format!("/api/v1/models/{remote}/versions/1.0.0/approvals");
    let post = |token: Option<&str>, body: &Value| {
        service.send(
            reqwest::Method::POST,
            &approvals,
            token,
            Some(body.clone()),
            &[],
        )
    };
    assert_eq!(post(None, &approve).status, 401);
    assert_eq!(post(Some("wrong-token"), &approve).status, 401);
    let refused = post(Some("ci-token"), &approve);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "forbidden");
    let qa = json!({"environment": "qa", "decision": "approve"});
    assert_eq!(
        post(Some("alice-token"), &qa).status,
        403,
        "qa is not among alice's environments"
    );
    let alias = format!("/api/v1/models/{remote}/aliases/production");
    let promote = |token| {
        service.send(
            reqwest::Method::PUT,
            &alias,
            Some(token),
            Some(json!({"version": "1.0.0", "reason": "ship"})),
            &[],
        )
    };
    let unmet = promote("alice-token");
    assert_eq!(unmet.status, 412, "{}", unmet.text());
    assert!(
        unmet.json()["error"]["details"]
            .to_string()
            .contains("approval"),
        "{}",
        unmet.text()
    );
    assert_eq!(post(Some("alice-token"), &approve).status, 201);
    let moved = promote("alice-token");
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json()["version"], "1.0.0");
    // The CLI sees the service's records: the alias moved with a verified promotion record.
    let history = env.json(&[
        "history",
        &remote,
        "--alias",
        "production",
        "--key",
        env.path("service.pub").to_str().unwrap(),
        "--plain-http",
    ]);
    assert!(history.to_string().contains("alice"), "{history}");
    let audit = service.get("/api/v1/audit", None).json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "approval" && e["verified"] == true),
        "{audit}"
    );

    // A push is found without a restart: notifications refresh the index.
    env.ok(&[
        "push",
        sample().to_str().unwrap(),
        &format!("{remote}:1.1.0"),
        "--plain-http",
        "--metric",
        "accuracy=0.99",
    ]);
    service.wait_until(
        |s| {
            s.get("/api/v1/search?where=metrics.accuracy%3E%3D0.95", None)
                .json()["hits"]
                .as_array()
                .is_some_and(|h| h.len() == 1)
        },
        "aware of the pushed version",
    );

    // A second replica, with its own (empty) index, answers alike.
    let port_b = free_port();
    let config_b = write_config(&env, "serve-b.yaml", port_b, &host, "data-b", false);
    let replica = Service::start(&env, &config_b, port_b);
    let a = service
        .get(&format!("/api/v1/models/{remote}"), None)
        .json();
    let b = replica
        .get(&format!("/api/v1/models/{remote}"), None)
        .json();
    assert_eq!(a, b);
    let search = "/api/v1/search?sort=-metrics.accuracy";
    assert_eq!(
        service.get(search, None).json(),
        replica.get(search, None).json()
    );

    // A blob corrupted in registry storage never reaches a client as a whole file.
    let weights = version["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "weights.npz")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = registry.blob_data(&weights);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let corrupt = service.get(
        &format!("/api/v1/models/{remote}/versions/1.0.0/files/weights.npz"),
        None,
    );
    assert!(corrupt.body.is_err(), "a corrupt blob was served whole");

    // Metrics count per route.
    let metrics = service.get("/metrics", None).text();
    assert!(
        metrics.contains("modelark_http_requests_total{route=\"/api/v1/search\",status=\"200\"}"),
        "{metrics}"
    );
    drop(replica);
}

#[test]
fn model_cards_are_sanitized_and_bad_configs_refused() {
    let env = Env::new();
    let port = free_port();
    let registry = Registry::start();
    let host = registry.host();
    let dir = env.path("evil");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("model.safetensors"), b"weights").unwrap();
    std::fs::write(
        dir.join("README.md"),
        "# Evil\n\n<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n[click](javascript:alert(3))\n",
    )
    .unwrap();
    env.ok(&[
        "push",
        dir.to_str().unwrap(),
        &format!("{host}/ml/evil:1.0.0"),
        "--plain-http",
    ]);
    trust_only_the_service(&env);
    let config = write_config(&env, "serve.yaml", port, &host, "data", false);
    let service = Service::start(&env, &config, port);
    let page = service.get(&format!("/models/{host}/ml/evil"), None);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<h1>Evil</h1>"), "{html}");
    for hostile in ["<script", "onerror", "javascript:"] {
        assert!(!html.contains(hostile), "{hostile} survived:\n{html}");
    }
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let catalog = service.get("/?q=evil", None).text();
    assert!(catalog.contains(&format!("{host}/ml/evil")), "{catalog}");

    // An unknown key is named; a token hash that is not one is refused.
    std::fs::write(env.path("bad.yaml"), "listen: 127.0.0.1:1\nregistrys: []\n").unwrap();
    let stderr = env.fails(
        &["serve", "--config", env.path("bad.yaml").to_str().unwrap()],
        2,
    );
    assert!(stderr.contains("registrys"), "{stderr}");
    std::fs::write(
        env.path("bad.yaml"),
        "auth: {tokens: [{name: a, sha256: s3cret}]}\n",
    )
    .unwrap();
    let stderr = env.fails(
        &["serve", "--config", env.path("bad.yaml").to_str().unwrap()],
        2,
    );
    assert!(
        stderr.contains("64 lowercase hex") && !stderr.contains("s3cret\n"),
        "{stderr}"
    );
}

/// Base64url without padding.
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT signed RS256 by openssl with the key at `key`.
fn openssl_jwt(env: &Env, key: &Path, header: &Value, claims: &Value) -> String {
    let signed = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    std::fs::write(env.path("jwt-input"), &signed).unwrap();
    let out = Command::new(crate::harness::which("openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(env.path("jwt-input"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{signed}.{}", b64url(&out.stdout))
}

#[test]
fn oidc_tokens_from_an_rsa_issuer_act_and_forged_or_expired_ones_are_refused() {
    let env = Env::new();
    let port = free_port();
    let registry = Registry::start();
    let host = registry.host();
    let remote = format!("{host}/ml/tiny");
    env.ok(&[
        "push",
        sample().to_str().unwrap(),
        &format!("{remote}:1.0.0"),
        "--plain-http",
    ]);
    trust_only_the_service(&env);
    // The issuer's key, made and used by openssl; its JWKS as an identity provider serves it.
    let openssl = crate::harness::which("openssl");
    let key = env.path("issuer.pem");
    let made = Command::new(&openssl)
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .unwrap();
    assert!(made.status.success());
    let modulus = Command::new(&openssl)
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    let modulus = String::from_utf8(modulus.stdout).unwrap();
    let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "r1", "alg": "RS256", "n": b64url(&n), "e": "AQAB"}]});
    // The identity provider: a plain web server (Python's) publishing its discovery document
    // and JWKS, which the service fetches at start.
    let idp = env.path("idp");
    std::fs::create_dir_all(idp.join(".well-known")).unwrap();
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    std::fs::write(idp.join("jwks.json"), jwks.to_string()).unwrap();
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")});
    std::fs::write(
        idp.join(".well-known/openid-configuration"),
        discovery.to_string(),
    )
    .unwrap();
    let mut web = Command::new(which("python3"))
        .args([
            "-m",
            "http.server",
            &idp_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&idp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(idp_port, "the identity provider");
    let config = write_config(&env, "serve.yaml", port, &host, "data", false);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "  anonymous: viewer\n",
        &format!("  anonymous: viewer\n  oidc: {{issuer: \"{issuer}\", audience: modelark, groupsClaim: groups}}\n"),
    );
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&env, &config, port);

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |exp: i64| {
        json!({"iss": issuer, "aud": "modelark", "sub": "u-7",
        "email": "alice@example.com", "groups": ["ml-leads"], "exp": exp})
    };
    let header = json!({"alg": "RS256", "kid": "r1", "typ": "JWT"});
    let good = openssl_jwt(&env, &key, &header, &claims(now + 300));
    let approvals = format!("/api/v1/models/{remote}/versions/1.0.0/approvals");
    let approve = |token: &str| {
        let body = json!({"environment": "staging", "decision": "approve"});
        service.send(
            reqwest::Method::POST,
            &approvals,
            Some(token),
            Some(body),
            &[],
        )
    };
    let made = approve(&good);
    assert_eq!(made.status, 201, "{}", made.text());
    let history = service
        .get(&format!("/api/v1/models/{remote}/history"), None)
        .text();
    assert!(
        history.contains("alice@example.com"),
        "the approver is the token's subject: {history}"
    );

    let expired = approve(&openssl_jwt(&env, &key, &header, &claims(now - 3600)));
    assert_eq!(expired.status, 401);
    assert!(
        expired.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none"}"#),
        b64url(claims(now + 300).to_string().as_bytes())
    );
    assert_eq!(approve(&none).status, 401);
    let mut forged = good.clone();
    let at = forged.rfind('.').unwrap();
    forged.replace_range(at + 1..at + 5, "AAAA");
    assert_eq!(approve(&forged).status, 401);
    let log = std::fs::read_to_string(env.path(&format!("serve-{port}.log"))).unwrap();
    assert!(!log.contains(&good[..40]), "a token reached the log");
    let _ = web.kill();
    let _ = web.wait();
}

#[test]
fn browsers_sign_in_through_the_identity_providers_login_page() {
    let env = Env::new();
    let port = free_port();
    let registry = Registry::start();
    let host = registry.host();
    let openssl = crate::harness::which("openssl");
    let key = env.path("issuer.pem");
    let made = Command::new(&openssl)
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    // A real authorization-code-with-PKCE issuer (Python, tests/interop/oidc_idp.py).
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let mut idp = Command::new(which("python3"))
        .arg(crate::harness::root().join("tests/interop/oidc_idp.py"))
        .arg(idp_port.to_string())
        .arg(&key)
        .args([
            "modelark-web",
            "web-secret",
            "alice@example.com",
            "ml-leads",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path("idp.log")).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(idp_port, "the identity provider");
    trust_only_the_service(&env);
    let config = write_config(&env, "serve.yaml", port, &host, "data", false);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "  anonymous: viewer\n",
        &format!(
            "  anonymous: viewer\n  oidc: {{issuer: \"{issuer}\", audience: modelark, \
             clientId: modelark-web, clientSecretEnv: OIDC_CLIENT_SECRET}}\n"
        ),
    );
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&env, &config, port);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |url: &str, cookie: Option<&str>| {
        runtime.block_on(async {
            let mut request = http.get(url);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let response = request.send().await.expect("an answer");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (status, headers, response.text().await.unwrap_or_default())
        })
    };
    let location =
        |headers: &reqwest::header::HeaderMap| headers["location"].to_str().unwrap().to_owned();
    let set_cookie = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
    };
    let (_, _, login) = get(&format!("{}/login", service.base), None);
    assert!(login.contains(&format!("Sign in with {issuer}")), "{login}");

    // The flow: to the issuer, back with a code, a session.
    let begin = || {
        let (status, headers, _) = get(&format!("{}/login/oidc", service.base), None);
        assert_eq!(status, 303, "{headers:?}");
        let pending = set_cookie(&headers, "modelark_oidc");
        assert!(
            pending.contains("HttpOnly") && pending.contains("SameSite=Lax"),
            "{pending}"
        );
        let to = location(&headers);
        assert!(to.starts_with(&format!("{issuer}/authorize?")), "{to}");
        assert!(
            to.contains("code_challenge_method=S256") && to.contains("nonce="),
            "{to}"
        );
        let (status, headers, body) = get(&to, None);
        assert_eq!(status, 302, "the issuer refused the request: {body}");
        (
            pending.split(';').next().unwrap().to_owned(),
            location(&headers),
        )
    };
    let (pending, callback) = begin();
    assert!(
        callback.starts_with(&format!("{}/login/oidc/callback?code=", service.base)),
        "{callback}"
    );
    let (status, headers, body) = get(&callback, Some(&pending));
    assert_eq!(status, 303, "{body}");
    let session = set_cookie(&headers, "modelark_session");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let cleared = set_cookie(&headers, "modelark_oidc");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (_, _, home) = get(
        &format!("{}/", service.base),
        Some(session.split(';').next().unwrap()),
    );
    assert!(
        home.contains("alice@example.com"),
        "signed in as the issuer's user: {home}"
    );

    // A code works once; a callback without the pending cookie, or with another state, fails.
    let (status, _, body) = get(&callback, Some(&pending));
    assert_eq!(status, 401, "a replayed code: {body}");
    assert!(body.contains("invalid_grant"), "{body}");
    let (pending, callback) = begin();
    let (status, _, body) = get(&callback, None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("sign in again"), "{body}");
    let (other, _) = begin();
    let (status, _, body) = get(&callback, Some(&other));
    assert_eq!(status, 400, "a state from another sign-in: {body}");
    let (status, headers, _) = get(&callback, Some(&pending));
    assert_eq!(status, 303, "the flow's own cookie still works");
    set_cookie(&headers, "modelark_session");
    let (status, _, body) = get(
        &format!(
            "{}/login/oidc/callback?error=access_denied&state=x",
            service.base
        ),
        Some(&pending),
    );
    assert_eq!(status, 401);
    assert!(body.contains("access_denied"), "{body}");
    let _ = idp.kill();
    let _ = idp.wait();
}

#[test]
fn the_service_speaks_https_with_the_configured_certificate() {
    let env = Env::new();
    let port = free_port();
    let certs = env.path("certs");
    std::fs::create_dir(&certs).unwrap();
    crate::harness::make_certificate(&certs);
    std::fs::write(
        env.path("serve.yaml"),
        format!("listen: 127.0.0.1:{port}\ndataDir: data\ntls: {{cert: certs/cert.pem, key: certs/key.pem}}\n"),
    )
    .unwrap();
    let mut child = Command::cargo_bin("modelark")
        .unwrap()
        .args(["serve", "--config"])
        .arg(env.path("serve.yaml"))
        .env("MODELARK_HOME", env.home())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(certs.join("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match runtime.block_on(
            client
                .get(format!("https://127.0.0.1:{port}/healthz"))
                .send(),
        ) {
            Ok(response) => break response.status().as_u16(),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("no HTTPS answer: {e}"),
        }
    };
    assert_eq!(status, 200);
    // Plain HTTP to the TLS port gets no answer; an unknown CA is refused by the client.
    let plain = runtime.block_on(reqwest::get(format!("http://127.0.0.1:{port}/healthz")));
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()));
    let untrusted = runtime.block_on(reqwest::get(format!("https://127.0.0.1:{port}/healthz")));
    assert!(
        untrusted.is_err(),
        "a certificate from an unknown CA was accepted"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn without_a_registry_the_service_shows_the_local_store() {
    let env = Env::new();
    env.ok(&["pack", sample().to_str().unwrap(), "-t", "tiny:1.0.0"]);
    let port = free_port();
    let mut cmd = Command::cargo_bin("modelark").unwrap();
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("MODELARK_HOME", env.home())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let service = Service {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        runtime: tokio::runtime::Runtime::new().unwrap(),
        http: reqwest::Client::new(),
    };
    service.wait_until(|s| s.get("/readyz", None).status == 200, "ready");
    let found = service.get("/api/v1/search?q=tiny", None).json();
    assert_eq!(found["hits"][0]["repository"], "tiny", "{found}");
    let model = service.get("/api/v1/models/tiny", None).json();
    assert_eq!(model["versions"][0]["tag"], "1.0.0", "{model}");
    let file = service.get("/api/v1/models/tiny/versions/1.0.0/files/config.json", None);
    assert_eq!(
        file.body.unwrap(),
        std::fs::read(sample().join("config.json")).unwrap()
    );
    // Read-only: nothing can be written without a key and tokens.
    let approvals = "/api/v1/models/tiny/versions/1.0.0/approvals";
    let body = json!({"environment": "production", "decision": "approve"});
    let refused = service.send(reqwest::Method::POST, approvals, None, Some(body), &[]);
    assert_eq!(refused.status, 401);
}

#[test]
fn a_file_verified_once_is_served_from_the_cache_and_a_corrupt_one_never() {
    let (registry, env, model, remote) = crate::harness::pushed_model(3 << 20, "ml/big:1.0.0");
    let host = registry.host();
    let start = |data: &str, max: &str| {
        let port = free_port();
        let config = env.path(&format!("{data}.yaml"));
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\nregistries: [{{url: \"{host}/ml\", plainHttp: true}}]\n\
                 dataDir: {}\nblobCache: {{maxSize: {max}}}\nauth: {{anonymous: viewer}}\n",
                env.path(data).display()
            ),
        )
        .unwrap();
        Service::start(&env, &config, port)
    };
    let digest_of = |file: &str| {
        let bytes = std::fs::read(model.join(file)).unwrap();
        (
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))),
            bytes,
        )
    };
    let (weights, expected) = digest_of("model.safetensors");
    let (config_digest, _) = digest_of("config.json");
    let url = |file: &str| format!("/api/v1/models/{remote}/versions/1.0.0/files/{file}");
    let cached = |data: &str, digest: &str| {
        env.path(data)
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let corrupt = |digest: &str| {
        let blob = registry.blob_data(digest);
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[7] ^= 0xff;
        std::fs::write(&blob, bytes).unwrap();
    };

    let service = start("data", "64MiB");
    let first = service.get(&url("model.safetensors"), None);
    assert_eq!(first.status, 200);
    assert!(first.body.as_ref().unwrap() == &expected, "first download");
    assert_eq!(std::fs::read(cached("data", &weights)).unwrap(), expected);
    // The registry's copy goes bad: the verified copy is what clients get, whole and in
    // ranges, without the registry being read again.
    corrupt(&weights);
    let again = service.get(&url("model.safetensors"), None);
    assert!(again.body.as_ref().unwrap() == &expected, "cached download");
    let part = service.send(
        reqwest::Method::GET,
        &url("model.safetensors"),
        None,
        None,
        &[("range", "bytes=1048570-2097160")],
    );
    assert_eq!(part.status, 206);
    assert!(part.body.as_ref().unwrap() == &expected[1048570..2097161]);
    // Operators see it in /metrics: one blob kept, the two later downloads hits.
    let metrics = service.get("/metrics", None).text();
    for line in [
        "modelark_blob_cache_kept_total 1",
        "modelark_blob_cache_hits_total 2",
        "modelark_blob_cache_max_bytes 67108864",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line:?} not in:\n{metrics}"
        );
    }
    // A blob that is bad before anyone downloaded it is never served whole, nor cached.
    corrupt(&config_digest);
    for _ in 0..2 {
        let bad = service.get(&url("config.json"), None);
        assert!(bad.body.is_err(), "a corrupt blob was served whole");
    }
    assert!(!cached("data", &config_digest).exists());
    drop(service);

    // With the cache off, every download is fetched and verified anew.
    let uncached = start("nocache", "0");
    let bad = uncached.get(&url("model.safetensors"), None);
    assert!(bad.body.is_err(), "a corrupt blob was served whole");
    assert!(!env.path("nocache/blobs").exists());
}
