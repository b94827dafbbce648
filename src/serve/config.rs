//! `serve.yaml`: loaded strictly (an unknown key is an error naming it) and checked before
//! the service starts; docs/serve.md is the reference.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Error;

/// The service configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Registries (and repository prefixes) to serve; none serves the local store.
    #[serde(default)]
    pub registries: Vec<RegistryConfig>,
    /// The trust policy versions are shown and promoted under.
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// The service's cosign key, which signs approvals, promotions and signatures made
    /// through the service.
    #[serde(default)]
    pub signing_key: Option<SigningKeyConfig>,
    /// An RFC 3161 time-stamping authority (URL) asked for a timestamp over every record
    /// the service signs.
    #[serde(default)]
    pub timestamp_server: Option<String>,
    /// Who may connect.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Who may do what where.
    #[serde(default)]
    pub access: Vec<AccessRule>,
    /// How often the index is refreshed without notifications (e.g. 60s, 5m).
    #[serde(default = "default_refresh", with = "duration")]
    pub refresh: Duration,
    /// The modelark home whose local store is served when no registry is named (the CLI
    /// defaults it to `$MODELARK_HOME`).
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// Where the index cache lives (rebuilt when deleted).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The cache of verified file downloads under `dataDir/blobs`.
    #[serde(default)]
    pub blob_cache: BlobCacheConfig,
    /// Registry notifications (`POST /api/v1/events`).
    #[serde(default)]
    pub events: Option<EventsConfig>,
    /// TLS for the listener.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The URL clients reach the service at (behind a load balancer or proxy), e.g.
    /// `https://models.example.com`: the download URIs handed to MLflow clients start
    /// with it. Without it, the request's `Host` header decides.
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_refresh() -> Duration {
    Duration::from_secs(60)
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("modelark-data")
}

/// The cache of verified file downloads: a file verified once is served from local disk.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlobCacheConfig {
    /// At most this many bytes (`10GiB`, `500MB`, a number of bytes); `0` turns the cache
    /// off, so every download is fetched and verified anew.
    #[serde(default = "default_cache_size", with = "size")]
    pub max_size: u64,
}

impl Default for BlobCacheConfig {
    fn default() -> BlobCacheConfig {
        BlobCacheConfig {
            max_size: default_cache_size(),
        }
    }
}

fn default_cache_size() -> u64 {
    10 << 30
}

/// One registry (and repository prefix) to serve.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryConfig {
    /// `HOST[:PORT][/PREFIX]`.
    pub url: String,
    /// Plain HTTP (a local test registry).
    #[serde(default)]
    pub plain_http: bool,
    /// A PEM CA certificate for the registry's TLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// The service's signing key.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// A cosign key file.
    pub path: PathBuf,
    /// The environment variable holding its password (unset: the empty password).
    #[serde(default)]
    pub password_env: Option<String>,
}

/// Authentication.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthConfig {
    /// What an unauthenticated client may do: `viewer` (read everything) or `none`.
    #[serde(default)]
    pub anonymous: Anonymous,
    /// API tokens, stored as the sha256 of the token.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// The environment variable holding the key that signs browser sessions (the same for
    /// every replica); without it each process makes a random one.
    #[serde(default)]
    pub session_secret_env: Option<String>,
    /// OpenID Connect bearer tokens (JWTs).
    #[serde(default)]
    pub oidc: Option<super::oidc::OidcConfig>,
}

/// What an unauthenticated client may do.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    /// Read every repository.
    #[default]
    Viewer,
    /// Nothing: every request needs a token.
    None,
}

/// One API token.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenConfig {
    /// Who it is (recorded in signed records).
    pub name: String,
    /// The lowercase hex sha256 of the token.
    pub sha256: String,
    /// Groups, for access rules (`group:NAME`).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One access rule: `subjects` may do `allow` in `repositories` (and, for approve and
/// promote, only for `environments` when given).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRule {
    /// Token names, `group:NAME`, `authenticated` or `anonymous`.
    pub subjects: Vec<String>,
    /// Repository globs (`ml/**`), over the repository path without the host.
    pub repositories: Vec<String>,
    /// Actions.
    pub allow: Vec<super::access::Action>,
    /// Environments (approve) and aliases (promote, rollback) the rule covers; all when absent.
    #[serde(default)]
    pub environments: Option<Vec<String>>,
}

/// Registry notifications.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsConfig {
    /// The environment variable holding the shared secret sent as
    /// `Authorization: Bearer SECRET` by the registry's notification endpoint.
    pub secret_env: String,
}

/// TLS for the listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl Config {
    /// Reads `path`; relative paths in it are relative to its directory.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and what is wrong (an unknown key included).
    pub fn load(path: &Path) -> Result<Config, Error> {
        let fail = |reason: String| Error::Config {
            path: path.to_owned(),
            reason,
        };
        let text = fs_err::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut config: Config = serde_yaml_ng::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        config.policy.as_mut().map(rebase);
        if let Some(key) = config.signing_key.as_mut() {
            rebase(&mut key.path);
        }
        rebase(&mut config.data_dir);
        config.store.as_mut().map(rebase);
        if let Some(tls) = config.tls.as_mut() {
            rebase(&mut tls.cert);
            rebase(&mut tls.key);
        }
        if let Some(jwks) = config.auth.oidc.as_mut().and_then(|o| o.jwks.as_mut())
            && !jwks.starts_with("http://")
            && !jwks.starts_with("https://")
        {
            *jwks = base.join(&*jwks).display().to_string();
        }
        for registry in &mut config.registries {
            registry.ca_file.as_mut().map(rebase);
        }
        config.check().map_err(fail)?;
        Ok(config)
    }

    /// What cannot work, found before the service starts.
    pub fn check(&self) -> Result<(), String> {
        for token in &self.auth.tokens {
            let ok = token.sha256.len() == 64
                && token
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
            if !ok {
                return Err(format!(
                    "auth.tokens: {}: sha256 must be 64 lowercase hex digits (`printf %s TOKEN | sha256sum`)",
                    token.name
                ));
            }
        }
        for rule in &self.access {
            for glob in &rule.repositories {
                globset::Glob::new(glob).map_err(|e| format!("access: {glob:?}: {e}"))?;
            }
        }
        if self.refresh < Duration::from_secs(1) {
            return Err("refresh: at least 1s".into());
        }
        if let Some(url) = &self.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(['?', '#', ' '])) {
                return Err(format!(
                    "publicUrl: {url:?} is not an http(s) URL such as https://models.example.com"
                ));
            }
        }
        Ok(())
    }
}

/// `30s`, `5m`, `1h` or a number of seconds.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::metadata::parse_duration(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a duration such as 30s, 5m or 1h"))
        })
    }
}

mod size {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Size::deserialize(d)? {
            Size::Bytes(n) => Ok(n),
            Size::Text(text) => crate::metadata::parse_size(&text).ok_or_else(|| {
                serde::de::Error::custom(format!("{text:?} is not a size such as 10GiB or 500MB"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blob_cache_size_reads_with_units_and_zero_turns_it_off() {
        let size = |yaml: &str| {
            serde_yaml_ng::from_str::<Config>(yaml).map(|c: Config| c.blob_cache.max_size)
        };
        assert_eq!(size("{}").unwrap(), 10 << 30);
        assert_eq!(size("blobCache: {maxSize: 512MiB}").unwrap(), 512 << 20);
        assert_eq!(size("blobCache: {maxSize: 2GB}").unwrap(), 2_000_000_000);
        assert_eq!(size("blobCache: {maxSize: 0}").unwrap(), 0);
        let error = size("blobCache: {maxSize: lots}").unwrap_err().to_string();
        assert!(error.contains("not a size"), "{error}");
        assert!(size("blobCache: {maxSize: 1GiB, dir: /tmp}").is_err());
    }

    #[test]
    fn a_timestamp_server_is_read_and_a_misspelt_one_refused() {
        let config: Config =
            serde_yaml_ng::from_str("timestampServer: http://127.0.0.1:3000/tsr\n").unwrap();
        assert_eq!(
            config.timestamp_server.as_deref(),
            Some("http://127.0.0.1:3000/tsr")
        );
        let wrong = serde_yaml_ng::from_str::<Config>("timestampServerUrl: x\n").unwrap_err();
        assert!(wrong.to_string().contains("timestampServerUrl"), "{wrong}");
    }
}
