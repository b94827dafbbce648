//! Registry credentials and authentication: the docker `config.json` (shared with docker,
//! podman, skopeo and oras, including `credHelpers` and `credsStore`), `WWW-Authenticate`
//! challenges, and bearer tokens (<https://distribution.github.io/distribution/spec/auth/token/>).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use super::Error;

/// A username and password or identity token. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username (`<token>` for identity tokens).
    pub username: String,
    secret: String,
}

impl Credentials {
    /// Credentials from a username and secret.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            secret: secret.into(),
        }
    }

    /// The secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.username, self.secret))
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The docker-format credential store: `$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`, falling back to containers' `auth.json` when reading.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    path: PathBuf,
    fallbacks: Vec<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// Docker Hub's hosts all share the key docker writes.
fn config_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".into()
        }
        other => other.into(),
    }
}

impl CredentialStore {
    /// A store at `path` (docker uses `$DOCKER_CONFIG/config.json`), reading `fallbacks` when `path` has nothing.
    pub fn at(path: PathBuf, fallbacks: Vec<PathBuf>) -> CredentialStore {
        CredentialStore { path, fallbacks }
    }

    /// Where `login` writes.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn read(path: &std::path::Path) -> Result<ConfigFile, Error> {
        match fs_err::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::CredentialFile {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// The credentials stored for `host`, if any.
    ///
    /// # Errors
    /// A malformed config file or a failing credential helper.
    pub fn get(&self, host: &str) -> Result<Option<Credentials>, Error> {
        let key = config_key(host);
        for path in std::iter::once(&self.path).chain(&self.fallbacks) {
            let config = Self::read(path)?;
            if let Some(helper) = config.cred_helpers.get(&key) {
                return helper_get(helper, &key);
            }
            let entry = [
                key.clone(),
                format!("https://{key}"),
                format!("http://{key}"),
            ]
            .iter()
            .find_map(|k| config.auths.get(k));
            if let Some(entry) = entry {
                if let Some(token) = &entry.identitytoken {
                    return Ok(Some(Credentials::new("<token>", token.clone())));
                }
                if let Some(auth) = &entry.auth {
                    return decode_auth(auth, path).map(Some);
                }
            }
            if let Some(store) = &config.creds_store
                && let Some(found) = helper_get(store, &key)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Stores credentials for `host`: through its credential helper when one is configured,
    /// else base64 in `auths`, keeping every other field of the file. The file is written
    /// atomically with mode 0600.
    ///
    /// # Errors
    /// I/O or helper failures.
    pub fn store(&self, host: &str, credentials: &Credentials) -> Result<(), Error> {
        let key = config_key(host);
        let config = Self::read(&self.path)?;
        if let Some(helper) = config
            .cred_helpers
            .get(&key)
            .or(config.creds_store.as_ref())
        {
            let input = serde_json::json!({"ServerURL": key, "Username": credentials.username, "Secret": credentials.secret});
            return run_helper(helper, "store", &input.to_string()).map(|_| ());
        }
        let auth = BASE64.encode(format!("{}:{}", credentials.username, credentials.secret));
        self.edit(|auths| {
            auths.insert(key.clone(), serde_json::json!({ "auth": auth }));
        })
    }

    /// Removes credentials for `host`; returns whether there were any.
    ///
    /// # Errors
    /// I/O or helper failures.
    pub fn erase(&self, host: &str) -> Result<bool, Error> {
        let key = config_key(host);
        let config = Self::read(&self.path)?;
        if let Some(helper) = config
            .cred_helpers
            .get(&key)
            .or(config.creds_store.as_ref())
        {
            run_helper(helper, "erase", &key)?;
            return Ok(true);
        }
        if !config.auths.contains_key(&key) {
            return Ok(false);
        }
        self.edit(|auths| {
            auths.remove(&key);
        })?;
        Ok(true)
    }

    /// Rewrites the `auths` object, preserving every other field.
    fn edit(
        &self,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Result<(), Error> {
        let mut document: serde_json::Value = match fs_err::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::CredentialFile {
                    path: self.path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(e) => return Err(e.into()),
        };
        let object = document
            .as_object_mut()
            .ok_or_else(|| Error::CredentialFile {
                path: self.path.clone(),
                source: serde::de::Error::custom("the top level is not an object"),
            })?;
        let auths = object
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
            .ok_or_else(|| Error::CredentialFile {
                path: self.path.clone(),
                source: serde::de::Error::custom("auths is not an object"),
            })?;
        change(auths);
        if let Some(dir) = self.path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(&document).expect("JSON always serializes");
        crate::store::layout::write_atomic(&self.path, &bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
}

fn decode_auth(auth: &str, path: &std::path::Path) -> Result<Credentials, Error> {
    let bad = |reason: &str| Error::CredentialFile {
        path: path.to_owned(),
        source: serde::de::Error::custom(reason),
    };
    let decoded = BASE64
        .decode(auth.trim())
        .map_err(|_| bad("an auth entry is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("an auth entry is not UTF-8"))?;
    let (user, secret) = text
        .split_once(':')
        .ok_or_else(|| bad("an auth entry is not user:password"))?;
    Ok(Credentials::new(user, secret))
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>, Error> {
    match run_helper(helper, "get", key) {
        Ok(output) => {
            let answer: HelperAnswer =
                serde_json::from_str(&output).map_err(|_| Error::CredentialHelper {
                    helper: helper.to_owned(),
                    message: "answered with something that is not credentials JSON".into(),
                })?;
            Ok(Some(Credentials::new(answer.username, answer.secret)))
        }
        // Helpers say "credentials not found" with a non-zero exit: that is no credentials.
        Err(Error::CredentialHelper { message, .. })
            if message.to_lowercase().contains("not found") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn run_helper(helper: &str, action: &str, input: &str) -> Result<String, Error> {
    let program = format!("docker-credential-{helper}");
    let fail = |message: String| Error::CredentialHelper {
        helper: program.clone(),
        message,
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("could not be started: {e}")))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .map_err(|e| fail(format!("could not be given input: {e}")))?;
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!(
            "{action} failed: {}",
            format!("{stdout} {stderr}").trim()
        )));
    }
    Ok(stdout)
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service to ask a token for.
        service: Option<String>,
        /// The scope the registry asks for, if it says.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` header value; `None` for schemes modelark does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            }),
            _ => None,
        }
    }
}

/// `key="value", key=value` pairs; quoted values may contain commas.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
}

/// A bearer token and when it stops being usable.
#[derive(Clone)]
pub struct Token {
    value: String,
    expires: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token valid for `lifetime`, renewed 10 % (at least 5 s) early.
    pub fn new(value: String, lifetime: Duration) -> Token {
        let margin = (lifetime / 10)
            .max(Duration::from_secs(5))
            .min(lifetime / 2);
        Token {
            value,
            expires: Instant::now() + lifetime - margin,
        }
    }

    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        format!("Bearer {}", self.value)
    }

    /// True while the token may still be used.
    pub fn fresh(&self) -> bool {
        Instant::now() < self.expires
    }
}

/// The JSON a token endpoint answers with.
#[derive(Deserialize)]
pub struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The token, with the spec's default lifetime of 60 s when none is given.
    pub fn into_token(self) -> Option<Token> {
        let value = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        Some(Token::new(
            value,
            Duration::from_secs(self.expires_in.unwrap_or(60).max(1)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges_with_quoted_commas() {
        let header = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#;
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="test-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(
            Challenge::parse("Bearer service=x"),
            None,
            "a bearer challenge needs a realm"
        );
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let credentials = Credentials::new("alice", "hunter2");
        assert!(!format!("{credentials:?}").contains("hunter2"));
        assert_eq!(credentials.basic_header(), "Basic YWxpY2U6aHVudGVyMg==");
        assert!(
            !format!("{:?}", Token::new("t0k3n".into(), Duration::from_secs(60))).contains("t0k3n")
        );
    }

    #[test]
    fn config_file_round_trips_and_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs_err::write(
            &path,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"psFormat":"table"}"#,
        )
        .unwrap();
        let store = CredentialStore::at(path.clone(), vec![]);
        store
            .store("127.0.0.1:5000", &Credentials::new("u", "p:w"))
            .unwrap();
        assert_eq!(
            store.get("127.0.0.1:5000").unwrap(),
            Some(Credentials::new("u", "p:w"))
        );
        assert_eq!(
            store.get("other.io").unwrap(),
            Some(Credentials::new("x", "y"))
        );
        let document: serde_json::Value =
            serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
        assert_eq!(document["psFormat"], "table");
        assert!(store.erase("127.0.0.1:5000").unwrap());
        assert!(!store.erase("127.0.0.1:5000").unwrap());
        assert_eq!(store.get("127.0.0.1:5000").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn docker_hub_hosts_share_one_key() {
        assert_eq!(
            config_key("registry-1.docker.io"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(config_key("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn token_answers_accept_both_field_names() {
        let answer: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(answer.into_token().unwrap().header(), "Bearer abc");
        let empty: TokenAnswer = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(empty.into_token().is_none());
    }
}
