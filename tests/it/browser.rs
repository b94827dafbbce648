//! The web pages in a real headless Chromium, driven through WebDriver (chromedriver):
//! search and open a model, read its card, download a file, be refused as a viewer and a
//! publisher, approve and promote as a lead, see the history. Screenshots of each page go
//! to target/browser-screenshots/ (and to `$MODELARK_SCREENSHOTS` when set, for the README).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Env, Registry, free_port, root, sample, which};
use crate::serve::{Service, signed_sample, write_config};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    shots: Vec<std::path::PathBuf>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.runtime.block_on(self.http.delete(url).send());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start(env: &Env) -> Browser {
        let port = free_port();
        let driver = Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.path("chromedriver.log")).unwrap())
            .spawn()
            .expect("chromedriver starts");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while runtime
            .block_on(http.get(format!("{base}/status")).send())
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": which("chromium").display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
            }
        }}});
        let answer: Value = runtime.block_on(async {
            let response = http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
                .unwrap();
            response.json().await.unwrap()
        });
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        let shots = [
            Some(root().join("target/browser-screenshots")),
            std::env::var_os("MODELARK_SCREENSHOTS").map(Into::into),
        ]
        .into_iter()
        .flatten()
        .collect();
        Browser {
            driver,
            base,
            session,
            runtime,
            http,
            shots,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        self.runtime.block_on(async {
            let mut request = self.http.request(method, url);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            answer["value"].clone()
        })
    }

    fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})));
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting for a page that is still loading (a
    /// liveness bound, generous on purpose).
    fn find(&self, css: &str) -> String {
        self.wait(|b| b.find_all(css).into_iter().next(), &format!("no {css}"))
    }

    fn wait<T>(&self, probe: impl Fn(&Browser) -> Option<T>, what: &str) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{what} on {}:\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the text of `css` contains `needle`; returns it.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        self.wait(
            |b| {
                let element = b.find_all(css).into_iter().next()?;
                let text = b.call(
                    reqwest::Method::GET,
                    &format!("/element/{element}/text"),
                    None,
                );
                text.as_str()
                    .filter(|t| t.contains(needle))
                    .map(str::to_owned)
            },
            &format!("{css} never said {needle:?}"),
        )
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn attribute(&self, css: &str, name: &str) -> String {
        let element = self.find(css);
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let png = self.call(reqwest::Method::GET, "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "not a screenshot");
        for dir in &self.shots {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &bytes).unwrap();
        }
    }

    fn sign_in(&self, service: &Service, token: &str) {
        self.open(&format!("{}/login", service.base));
        self.type_into("#token", token);
        self.click("#submit");
        self.wait(
            |b| (!b.find_all("#who").is_empty() || !b.find_all("#error").is_empty()).then_some(()),
            "no answer to sign-in",
        );
    }
}

#[test]
fn a_browser_finds_reads_downloads_approves_and_promotes() {
    let env = Env::new();
    let port = free_port();
    let registry = Registry::start();
    let host = registry.host();
    let remote = format!("{host}/ml/tiny");
    signed_sample(&env, &remote);
    std::fs::write(
        env.path("deploy.yaml"),
        "keys:\n  alice: alice.pub\n  service: {path: service.pub, vouchesForApprovers: true}\n\
         rules:\n  - scope: \"**\"\n    signatures: {signers: [alice]}\n\
         \x20   aliases:\n      production:\n        attestations:\n\
         \x20         - {type: approval, signers: [service], where: {environment: production, decision: approved}}\n",
    )
    .unwrap();
    let config = write_config(&env, "serve.yaml", port, &host, "data", false);
    let service = Service::start(&env, &config, port);
    let browser = Browser::start(&env);

    // Find the model from the catalog and read its card.
    browser.open(&format!("{}/", service.base));
    browser.type_into("input[name=q]", "tiny");
    browser.click("button[type=submit]");
    browser.screenshot("catalog");
    browser.click(&format!("a[href='/models/{remote}']"));
    assert!(
        browser
            .text(".card")
            .contains("bag-of-words logistic regression"),
        "{}",
        browser.source()
    );
    browser.screenshot("model");

    // The version page: files with download links that serve exactly the file.
    browser.click(&format!("a[href='/models/{remote}/versions/1.0.0']"));
    let href = browser.attribute("a[href$='/files/config.json']", "href");
    let downloaded = service.get(href.trim_start_matches(&service.base), None);
    assert_eq!(
        downloaded.body.unwrap(),
        std::fs::read(sample().join("config.json")).unwrap()
    );
    // A viewer sees no forms; neither does a publisher, who may not approve.
    assert!(browser.find_all("#approve").is_empty() && browser.find_all("#promote").is_empty());
    browser.sign_in(&service, "ci-token");
    assert_eq!(browser.text("#who"), "ci");
    browser.open(&format!("{}/models/{remote}/versions/1.0.0", service.base));
    assert!(
        browser.find_all("#approve").is_empty(),
        "a publisher was offered the approve form"
    );
    browser.click("header button[type=submit]");
    browser.find("#sign-in");

    // A wrong token does not sign in.
    browser.sign_in(&service, "not-a-token");
    assert!(browser.text("#error").contains("not valid"));

    // A lead approves for production, then promotes; the page and the history show it.
    browser.sign_in(&service, "alice-token");
    browser.open(&format!("{}/models/{remote}/versions/1.0.0", service.base));
    browser.screenshot("version");
    browser.type_into("#approve input[name=environment]", "production");
    browser.type_into("#approve input[name=reason]", "passes eval-7");
    browser.click("#approve button[value=approve]");
    browser.wait_text("#decisions", "production: approved by alice");
    browser.type_into("#promote input[name=alias]", "qa");
    browser.click("#promote button[type=submit]");
    assert!(
        browser.text("#error").contains("not allowed"),
        "qa is not among alice's aliases"
    );
    browser.open(&format!("{}/models/{remote}/versions/1.0.0", service.base));
    browser.type_into("#promote input[name=alias]", "production");
    browser.click("#promote button[type=submit]");
    service.wait_until(
        |s| {
            !s.get(&format!("/api/v1/models/{remote}"), None).json()["aliases"]["production"]
                .is_null()
        },
        "promoted",
    );
    browser.open(&format!("{}/models/{remote}/history", service.base));
    let history = browser.text("#history");
    assert!(
        history.contains("promote") && history.contains("production"),
        "{history}"
    );
    browser.screenshot("history");
    let model = service
        .get(&format!("/api/v1/models/{remote}"), None)
        .json();
    assert_eq!(
        model["aliases"]["production"],
        model["versions"][0]["digest"]
    );
}
