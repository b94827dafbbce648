//! An OCI distribution API client on `reqwest`
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>).
//!
//! Written here rather than on `oci-client` because modelark needs what that crate does not
//! expose: uploads streamed from any file (a model directory, not only a blob store),
//! resumable ranged downloads into its own store, chunk sizing, `Retry-After`, and the
//! quirks of real registries (see docs/architecture.md). Every request goes through
//! [`Repository::send`]: auth challenges, token refresh, retries with backoff.

pub mod auth;
pub mod download;
mod pool;
#[cfg(unix)]
mod ranged;
mod repository;
mod tls;
pub mod upload;
pub mod urls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use auth::{Challenge, Token, TokenAnswer};
pub use auth::{CredentialStore, Credentials};
pub use upload::BlobSource;
use urls::{Urls, redact};

/// Errors from talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed or timed out (after retries).
    #[error("failed to {operation} {url}")]
    Http {
        /// What was being done.
        operation: &'static str,
        /// The URL, redacted.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("failed to {operation} {url}: {status}{}", detail(code, message))]
    Registry {
        /// What was being done.
        operation: &'static str,
        /// The URL, redacted.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The distribution error code (`MANIFEST_UNKNOWN`, `DENIED`, ...).
        code: Option<String>,
        /// The registry's message.
        message: Option<String>,
    },
    /// Credentials are missing or were refused.
    #[error("{registry} refused the credentials{}", if *anonymous { " (none were sent)" } else { "" })]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// True when no credentials were found for the host.
        anonymous: bool,
    },
    /// The manifest or tag does not exist.
    #[error("{reference} was not found")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// The registry refuses deletes.
    #[error("{registry} does not allow deletes")]
    DeleteDisabled {
        /// The registry host.
        registry: String,
    },
    /// The registry answered with something that is not what the spec says.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL, redacted.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Content from the registry failed verification.
    #[error("{what} from {url} failed verification")]
    Verification {
        /// What was fetched.
        what: String,
        /// The URL, redacted.
        url: String,
        /// Expected and actual digest or size.
        #[source]
        source: crate::digest::Error,
    },
    /// The registry did not answer, or a body stopped arriving, within the timeout (after
    /// retries).
    #[error("{host} sent nothing for {} s while {what} ({url})", after.as_secs_f64())]
    Timeout {
        /// The registry host.
        host: String,
        /// What was waited for: `answering to download blob`, `sending blob sha256:...`.
        what: String,
        /// The URL, redacted.
        url: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The registry kept asking to retry for longer than the retry budget.
    #[error("{host} kept refusing to {operation} {url} ({status}) for longer than {} s of waiting", budget.as_secs())]
    RetryBudget {
        /// The registry host.
        host: String,
        /// What was being done.
        operation: &'static str,
        /// The URL, redacted.
        url: String,
        /// The last status.
        status: StatusCode,
        /// The total waiting allowed.
        budget: Duration,
    },
    /// The credential file is malformed.
    #[error("malformed credential file {}", path.display())]
    CredentialFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A credential helper failed.
    #[error("credential helper {helper} {message}")]
    CredentialHelper {
        /// The helper program.
        helper: String,
        /// What happened.
        message: String,
    },
    /// TLS trust could not be set up from the CA file (or a certificate directory).
    #[error("cannot set up TLS trust{}: {reason}", path.as_ref().map(|p| format!(" from {}", p.display())).unwrap_or_default())]
    Tls {
        /// The certificate file, when one is to blame.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// The CA file could not be used.
    #[error("cannot use CA file {}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A file changed (size, times or identity) while it was read for an upload.
    #[error("{} changed while it was being pushed", path.display())]
    ChangedWhileReading {
        /// The file.
        path: PathBuf,
    },
    /// A local file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A local store operation failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

fn detail(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" {code}: {message}"),
        (Some(code), None) => format!(" {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) => String::new(),
    }
}

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct Options {
    /// Use HTTP instead of HTTPS.
    pub plain_http: bool,
    /// An extra PEM CA certificate to trust; a self-signed server certificate given here is
    /// trusted as itself (name and validity still checked).
    pub ca_file: Option<PathBuf>,
    /// Directories of per-registry certificates as docker and podman keep them
    /// (`DIR/HOST[:PORT]/*.crt`), e.g. `/etc/docker/certs.d`, `/etc/containers/certs.d`.
    pub cert_dirs: Vec<PathBuf>,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Retries after a connection failure, 429 or 5xx (with exponential backoff).
    pub retries: u32,
    /// The first backoff delay; it doubles each retry, capped at 30 s.
    pub backoff: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Upload in chunks of this many bytes (PATCH); monolithic PUT when `None`.
    pub chunk_size: Option<u64>,
    /// Connections used at once for one large blob on pull; `None` picks: 4, or 1 for a
    /// registry on a loopback address, where one connection is never the bottleneck.
    pub connections_per_blob: Option<u64>,
    /// A blob is split into parts of at least this many bytes.
    pub min_part_size: u64,
    /// The most pages a tag or repository listing may have (`Link: rel="next"`).
    pub max_pages: usize,
    /// How long to wait for the answer to a request once it is sent (headers, not body).
    pub response_timeout: Duration,
    /// How long a response body may go without a byte before the transfer counts as
    /// stalled (it is then resumed with `Range`, like a dropped connection).
    pub read_timeout: Duration,
    /// The longest single wait before a retry, whatever `Retry-After` asks for.
    pub max_retry_wait: Duration,
    /// The most time one request may spend waiting between retries in all.
    pub retry_budget: Duration,
    /// The most layers a signature or attestation manifest may have.
    pub max_attachment_layers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plain_http: false,
            ca_file: None,
            cert_dirs: Vec::new(),
            insecure: false,
            retries: 5,
            backoff: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(30),
            chunk_size: None,
            connections_per_blob: None,
            min_part_size: 64 << 20,
            max_pages: 10_000,
            response_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            max_retry_wait: Duration::from_secs(60),
            retry_budget: Duration::from_secs(300),
            max_attachment_layers: 256,
        }
    }
}

/// What a request needs access to: the token scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read the repository.
    Pull,
    /// Read and write the repository.
    Push,
    /// Write the repository and read `from` (cross-repository mount).
    Mount(String),
    /// List the registry's repositories.
    Catalog,
}

/// A shared HTTP client with credentials and cached tokens.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    options: Options,
    credentials: CredentialStore,
    state: Mutex<AuthState>,
    /// Held while a token is fetched, so concurrent requests wait for one fetch.
    token_fetch: tokio::sync::Mutex<()>,
    /// Set once a registry refused a streamed `PATCH`; later uploads use one `PUT` each.
    streaming_refused: std::sync::atomic::AtomicBool,
    /// Hosts found to lack the OCI 1.1 referrers API: not asked again by this client.
    without_referrers: Mutex<std::collections::HashSet<String>>,
}

#[derive(Debug, Default)]
struct AuthState {
    challenges: HashMap<String, Challenge>,
    tokens: HashMap<String, Token>,
    credentials: HashMap<String, Option<Credentials>>,
}

impl Client {
    /// A client with `options`, reading credentials from `credentials`.
    ///
    /// # Errors
    /// [`Error::CaFile`] when the CA file cannot be read or parsed.
    pub fn new(options: Options, credentials: CredentialStore) -> Result<Arc<Client>, Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("modelark/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .danger_accept_invalid_certs(options.insecure);
        if !options.insecure
            && let Some(config) =
                tls::client_config(options.ca_file.as_deref(), &options.cert_dirs)?
        {
            builder = builder.use_preconfigured_tls(config);
        }
        let http = builder.build().map_err(|source| Error::CaFile {
            path: options.ca_file.clone().unwrap_or_default(),
            source,
        })?;
        Ok(Arc::new(Client {
            http,
            options,
            credentials,
            state: Mutex::new(AuthState::default()),
            token_fetch: tokio::sync::Mutex::new(()),
            streaming_refused: std::sync::atomic::AtomicBool::new(false),
            without_referrers: Mutex::default(),
        }))
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The HTTP client under it (TLS roots, timeouts), for other services the registry's
    /// users reach the same way (a time-stamping authority).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A handle on one repository.
    pub fn repository(self: &Arc<Client>, host: &str, name: &str) -> Repository {
        Repository {
            client: Arc::clone(self),
            host: host.to_owned(),
            name: name.to_owned(),
            urls: Urls::new(host, self.options.plain_http),
        }
    }

    fn credentials_for(&self, host: &str) -> Result<Option<Credentials>, Error> {
        if let Some(cached) = self
            .state
            .lock()
            .expect("not poisoned")
            .credentials
            .get(host)
        {
            return Ok(cached.clone());
        }
        let found = self.credentials.get(host)?;
        self.state
            .lock()
            .expect("not poisoned")
            .credentials
            .insert(host.to_owned(), found.clone());
        Ok(found)
    }

    /// Checks that `credentials` (or anonymous access) work on `host`: `GET /v2/`.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] when refused.
    pub async fn ping(
        self: &Arc<Client>,
        host: &str,
        credentials: Option<Credentials>,
    ) -> Result<(), Error> {
        self.state
            .lock()
            .expect("not poisoned")
            .credentials
            .insert(host.to_owned(), credentials);
        let repository = self.repository(host, "");
        let url = repository.urls.ping();
        let response = repository
            .send("reach", &Access::Pull, |http| http.get(url.clone()))
            .await?;
        repository
            .expect(response, &[StatusCode::OK], "reach", &url)
            .await
            .map(|_| ())
    }
}

/// One repository on one registry.
#[derive(Clone, Debug)]
pub struct Repository {
    client: Arc<Client>,
    host: String,
    name: String,
    urls: Urls,
}

/// The distribution spec's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: Option<String>,
    message: Option<String>,
}

/// Every manifest type modelark reads; without these a registry may answer 404 for an
/// OCI manifest (CNCF distribution does).
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl Repository {
    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this client already found the host without the referrers API.
    pub(crate) fn lacks_referrers(&self) -> bool {
        let hosts = self.client.without_referrers.lock().expect("not poisoned");
        hosts.contains(&self.host)
    }

    /// Remembers that the host has no referrers API.
    pub(crate) fn note_no_referrers(&self) {
        let mut hosts = self.client.without_referrers.lock().expect("not poisoned");
        hosts.insert(self.host.clone());
    }

    /// The client.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// How many ranged connections to use for one large blob.
    pub fn connections_per_blob(&self) -> u64 {
        self.client.options.connections_per_blob.unwrap_or_else(|| {
            let host = self
                .host
                .rsplit_once(':')
                .map_or(self.host.as_str(), |(h, _)| h);
            let loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
            if loopback { 1 } else { 4 }
        })
    }

    fn scope_key(&self, access: &Access) -> String {
        let own = match access {
            Access::Pull => format!("repository:{}:pull", self.name),
            Access::Push | Access::Mount(_) => format!("repository:{}:pull,push", self.name),
            Access::Catalog => "registry:catalog:*".to_owned(),
        };
        match access {
            Access::Mount(from) => format!("{own} repository:{from}:pull"),
            _ => own,
        }
    }

    /// The cached token for `access`; a push token also serves pulls of the repository.
    fn cached_token(&self, access: &Access) -> Option<Token> {
        let state = self.client.state.lock().expect("not poisoned");
        let fresh = |access: &Access| {
            let key = format!("{} {}", self.host, self.scope_key(access));
            state.tokens.get(&key).filter(|t| t.fresh()).cloned()
        };
        fresh(access).or_else(|| match access {
            Access::Pull => fresh(&Access::Push),
            _ => None,
        })
    }

    /// The `Authorization` header for a request: basic credentials, or a bearer token for
    /// `access`, fetched first (once, however many requests wait) when none is cached.
    async fn authorization(&self, access: &Access) -> Result<Option<String>, Error> {
        let challenge = self
            .client
            .state
            .lock()
            .expect("not poisoned")
            .challenges
            .get(&self.host)
            .cloned();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self
                .client
                .credentials_for(&self.host)?
                .map(|c| c.basic_header())),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if let Some(token) = self.cached_token(access) {
                    return Ok(Some(token.header()));
                }
                let _one_fetch = self.client.token_fetch.lock().await;
                if let Some(token) = self.cached_token(access) {
                    return Ok(Some(token.header()));
                }
                Ok(Some(
                    self.fetch_token(&realm, service.as_deref(), access)
                        .await?
                        .header(),
                ))
            }
        }
    }

    /// Answers a 401: learns the challenge and, for bearer auth, fetches a new token.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        access: &Access,
        sent: Option<&str>,
    ) -> Result<(), Error> {
        let challenge = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(Challenge::parse);
        let credentials = self.client.credentials_for(&self.host)?;
        let Some(challenge) = challenge else {
            return Err(Error::Unauthorized {
                registry: self.host.clone(),
                anonymous: credentials.is_none(),
            });
        };
        self.client
            .state
            .lock()
            .expect("not poisoned")
            .challenges
            .insert(self.host.clone(), challenge.clone());
        match challenge {
            Challenge::Basic if credentials.is_none() => Err(Error::Unauthorized {
                registry: self.host.clone(),
                anonymous: true,
            }),
            Challenge::Basic => Ok(()),
            Challenge::Bearer { realm, service, .. } => {
                let _one_fetch = self.client.token_fetch.lock().await;
                // Another request may have fetched a token while this one waited.
                if let Some(token) = self.cached_token(access)
                    && Some(token.header().as_str()) != sent
                {
                    return Ok(());
                }
                self.fetch_token(&realm, service.as_deref(), access)
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Gets a token for `access` from the realm, with the stored credentials if any.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        access: &Access,
    ) -> Result<Token, Error> {
        let credentials = self.client.credentials_for(&self.host)?;
        let unauthorized = || Error::Unauthorized {
            registry: self.host.clone(),
            anonymous: credentials.is_none(),
        };
        let mut url = reqwest::Url::parse(realm).map_err(|e| Error::Protocol {
            url: realm.to_owned(),
            reason: format!("the token realm is not a URL: {e}"),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in self.scope_key(access).split(' ') {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.client.http.get(url.clone());
        if let Some(credentials) = &credentials {
            request = request.header(AUTHORIZATION, credentials.basic_header());
        }
        let response = match tokio::time::timeout(
            self.client.options.response_timeout,
            request.send(),
        )
        .await
        {
            Ok(sent) => sent.map_err(|source| Error::Http {
                operation: "get a token from",
                url: redact(&url),
                source,
            })?,
            Err(_) => {
                return Err(Error::Timeout {
                    host: self.host.clone(),
                    what: "answering to a token request".into(),
                    url: redact(&url),
                    after: self.client.options.response_timeout,
                });
            }
        };
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(unauthorized());
        }
        let response = self
            .expect(response, &[StatusCode::OK], "get a token from", &url)
            .await?;
        let body = response.bytes().await.map_err(|source| Error::Http {
            operation: "get a token from",
            url: redact(&url),
            source,
        })?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            url: redact(&url),
            reason: format!("the token answer is not JSON: {e}"),
        })?;
        let token = answer.into_token().ok_or_else(|| Error::Protocol {
            url: redact(&url),
            reason: "the token answer has no token".into(),
        })?;
        let key = format!("{} {}", self.host, self.scope_key(access));
        self.client
            .state
            .lock()
            .expect("not poisoned")
            .tokens
            .insert(key, token.clone());
        Ok(token)
    }

    /// Sends the request `build` makes, authenticating on 401 and retrying connection
    /// failures, 429 and 5xx with exponential backoff (honouring `Retry-After`). `build` is
    /// called again for every attempt, so streamed bodies are re-opened.
    ///
    /// # Errors
    /// [`Error::Http`] after the last retry; [`Error::Unauthorized`].
    pub async fn send(
        &self,
        operation: &'static str,
        access: &Access,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, Error> {
        let options = &self.client.options;
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        // Two rounds: the first answers the challenge; a second replaces a token the
        // registry refused anyway (expired early, clock skew, revoked).
        let mut authentications = 0;
        loop {
            let mut request = build(&self.client.http);
            let sent = self.authorization(access).await?;
            if let Some(header) = &sent {
                request = request.header(AUTHORIZATION, header);
            }
            let request = request.build().map_err(|source| Error::Http {
                operation,
                url: String::new(),
                source,
            })?;
            let url = request.url().clone();
            // The answer to a streamed upload comes only once the whole body is sent, which
            // takes as long as the blob is large: only requests with no body or a small one
            // in memory are timed from sending to answer.
            let timed = request.body().is_none_or(|body| body.as_bytes().is_some());
            let execution = self.client.http.execute(request);
            let answer = if timed {
                match tokio::time::timeout(options.response_timeout, execution).await {
                    Ok(answer) => answer.map_err(Failure::Transport),
                    Err(_) => Err(Failure::Silent),
                }
            } else {
                execution.await.map_err(Failure::Transport)
            };
            let delay = match answer {
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED && authentications < 2 =>
                {
                    authentications += 1;
                    self.authenticate(response.headers(), access, sent.as_deref())
                        .await?;
                    continue;
                }
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    return Err(Error::Unauthorized {
                        registry: self.host.clone(),
                        anonymous: self.client.credentials_for(&self.host)?.is_none(),
                    });
                }
                Ok(response) if retryable(response.status()) && attempt < options.retries => {
                    let asked = retry_after(response.headers());
                    let wait = asked
                        .unwrap_or_else(|| backoff(options, attempt))
                        .min(options.max_retry_wait);
                    if waited + wait > options.retry_budget {
                        return Err(Error::RetryBudget {
                            host: self.host.clone(),
                            operation,
                            url: redact(&url),
                            status: response.status(),
                            budget: options.retry_budget,
                        });
                    }
                    let asked = match asked {
                        Some(asked) if asked > wait => format!(
                            " (it asked for {} s; waits are capped at {} s)",
                            asked.as_secs(),
                            options.max_retry_wait.as_secs()
                        ),
                        _ => String::new(),
                    };
                    tracing::warn!(
                        "{} answered {} to {operation} {}: waiting {:.1} s before retry {} of {}{asked}",
                        self.host,
                        response.status(),
                        redact(&url),
                        wait.as_secs_f64(),
                        attempt + 1,
                        options.retries,
                    );
                    wait
                }
                Ok(response) => return Ok(response),
                Err(failure) if attempt < options.retries && failure.transient() => {
                    tracing::info!("{} {}: {failure}; retrying", operation, redact(&url));
                    backoff(options, attempt)
                }
                Err(Failure::Transport(source)) => {
                    return Err(Error::Http {
                        operation,
                        url: redact(&url),
                        source,
                    });
                }
                Err(Failure::Silent) => {
                    return Err(Error::Timeout {
                        host: self.host.clone(),
                        what: format!("answering to {operation}"),
                        url: redact(&url),
                        after: options.response_timeout,
                    });
                }
            };
            attempt += 1;
            waited += delay;
            tokio::time::sleep(delay).await;
        }
    }

    /// Turns any status not in `ok` into [`Error::Registry`] with the registry's message.
    ///
    /// # Errors
    /// [`Error::Registry`].
    pub async fn expect(
        &self,
        response: Response,
        ok: &[StatusCode],
        operation: &'static str,
        url: &reqwest::Url,
    ) -> Result<Response, Error> {
        if ok.contains(&response.status()) {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let first = serde_json::from_str::<ErrorBody>(&body)
            .ok()
            .and_then(|b| b.errors.into_iter().next());
        let (code, message) = match first {
            Some(entry) => (entry.code, entry.message),
            None => (
                None,
                Some(body.chars().take(200).collect::<String>()).filter(|m| !m.trim().is_empty()),
            ),
        };
        Err(Error::Registry {
            operation,
            url: redact(url),
            status,
            code,
            message,
        })
    }
}

/// Why a request got no response.
#[derive(Debug)]
enum Failure {
    /// Connecting or sending failed.
    Transport(reqwest::Error),
    /// The registry took the request and did not answer within the response timeout.
    Silent,
}

impl Failure {
    fn transient(&self) -> bool {
        match self {
            Failure::Transport(source) => transient(source),
            Failure::Silent => true,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(source) => source.fmt(f),
            Failure::Silent => f.write_str("no answer within the response timeout"),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is read as no advice).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl Repository {
    /// The error for a response body that failed: a stalled body (no byte within the read
    /// timeout) is [`Error::Timeout`] naming what was being fetched; anything else
    /// [`Error::Http`].
    pub(crate) fn body_error(
        &self,
        operation: &'static str,
        what: impl FnOnce() -> String,
        url: &reqwest::Url,
        source: reqwest::Error,
    ) -> Error {
        if source.is_timeout() {
            return Error::Timeout {
                host: self.host.clone(),
                what: what(),
                url: redact(url),
                after: self.client.options.read_timeout,
            };
        }
        Error::Http {
            operation,
            url: redact(url),
            source,
        }
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn transient(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
}

fn backoff(options: &Options, attempt: u32) -> Duration {
    (options.backoff * 2u32.saturating_pow(attempt)).min(Duration::from_secs(30))
}
