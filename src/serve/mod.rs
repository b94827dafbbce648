//! `modelark serve`: the registry as a service. A stateless HTTP front end over one or more
//! OCI registries (or the local store): a REST API (`/api/v1`), server-rendered pages, API
//! tokens and access rules, registry notifications, metrics. Every answer comes from the
//! library's use cases (`crate::ops`); the only state is the search index under the data
//! directory, a cache that is rebuilt when deleted, so replicas on one registry agree.

mod access;
mod api;
mod auth;
pub mod config;
mod metrics;
mod mlflow;
mod oidc;
mod tls;
mod ui;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use config::Config;

use crate::context::Context;
use crate::error::Result;
use crate::ops::{self, Scope, Trust};
use crate::sign::PrivateKey;
use crate::store::Home;
use crate::store::cache::BlobCache;
use crate::store::registry::{CredentialStore, Options};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid service configuration {}: {reason}", path.display())]
    Config {
        /// The file (or `flags`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One place models come from: a registry prefix or the local store.
#[derive(Clone)]
pub(crate) struct Source {
    ctx: Context,
    scope: Scope,
}

impl Source {
    /// The registry host, or `None` for the local store.
    fn host(&self) -> Option<&str> {
        match &self.scope {
            Scope::Registry { host, .. } => Some(host),
            _ => None,
        }
    }

    /// Whether `repository` (`HOST/REPO`, or a local name) is one this source serves.
    fn covers(&self, repository: &str) -> bool {
        match &self.scope {
            Scope::Registry { host, prefix } => repository
                .strip_prefix(host.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| {
                    !r.is_empty()
                        && (prefix.is_empty()
                            || r == prefix
                            || r.starts_with(&format!("{prefix}/")))
                }),
            Scope::Store => !repository.is_empty(),
            Scope::Layout(_) => false,
        }
    }

    /// The repository's path without the host (what access rules match).
    fn path_of<'a>(&self, repository: &'a str) -> &'a str {
        match self.host() {
            Some(host) => repository
                .strip_prefix(host)
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(repository),
            None => repository,
        }
    }
}

/// What every request handler shares.
pub(crate) struct State {
    sources: Vec<Source>,
    /// The cache of verified blobs every source's context serves downloads from.
    blob_cache: Option<Arc<BlobCache>>,
    trust: Option<Trust>,
    key: Option<PrivateKey>,
    tokens: auth::Tokens,
    access: access::Access,
    events_secret: Option<String>,
    sessions: ui::session::Sessions,
    /// The listener speaks HTTPS itself.
    tls: bool,
    ready: AtomicBool,
    metrics: metrics::Metrics,
    refresh: Duration,
    /// Every indexed version, per source, read from the index after each refresh: searches
    /// filter this in memory instead of reading the index per request.
    catalog: std::sync::RwLock<Arc<Vec<Entry>>>,
    /// Rendered model and version views per repository, dropped when a notification or a
    /// write touches the repository, and after `VIEW_TTL` (approvals expire).
    views: std::sync::Mutex<std::collections::HashMap<String, Views>>,
    /// One computation per view at a time: concurrent requests for a view that is not
    /// cached wait for the first instead of all asking the registry.
    computing: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Asks the catalog reloader for a reload; many notifications make one reload.
    reload: tokio::sync::Notify,
    /// Repositories (paths on the registry) notifications said changed, not yet refreshed.
    pending: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Wakes the refresher for `pending`.
    refresh_now: tokio::sync::Notify,
    /// The catalog as MLflow's registry API shows it, rebuilt with the catalog.
    mlflow: std::sync::RwLock<Arc<mlflow::registry::Registry>>,
    /// MLflow names looked for in the registry because the catalog did not have them, and
    /// when: one look per name every `LOOK_INTERVAL`.
    looked: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// The URL clients reach the service at (`publicUrl`), for the download URIs it hands out.
    public_url: Option<String>,
}

/// How often a name the catalog lacks makes the service look in the registry.
const LOOK_INTERVAL: Duration = Duration::from_secs(5);

/// One version in the in-memory catalog: its source (an index into the sources), the hit,
/// and the text free-text search matches ([`ops::discover::search_text`]), made once per
/// reload instead of once per search.
pub(crate) struct Entry {
    source: usize,
    hit: Arc<crate::governance::index::Hit>,
    text: String,
}

/// How long a cached view is served: approvals expire, and without notifications new
/// signatures are only seen this late.
const VIEW_TTL: Duration = Duration::from_secs(30);

/// How long a stale view may still be served while a fresh one is computed.
const STALE_LIMIT: Duration = Duration::from_secs(300);

/// The cached views of one repository.
#[derive(Default)]
struct Views {
    entries: std::collections::HashMap<String, (std::time::Instant, Arc<serde_json::Value>)>,
}

impl State {
    fn source_for(&self, repository: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.covers(repository))
    }

    /// Reads every source's hits from the index into the in-memory catalog.
    async fn reload_catalog(&self) {
        let mut all = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            let search = ops::Search {
                scope: source.scope.clone(),
                conditions: Vec::new(),
                no_refresh: true,
                text: None,
            };
            match ops::search(&source.ctx, &search).await {
                Ok(hits) => all.extend(hits.into_iter().map(|h| (i, Arc::new(h)))),
                Err(e) => tracing::warn!("reading the index of {} failed: {e}", source.scope),
            }
        }
        let scopes: Vec<Scope> = self.sources.iter().map(|s| s.scope.clone()).collect();
        let registry = mlflow::registry::Registry::build(&all, &scopes);
        let entries = all
            .into_iter()
            .map(|(source, hit)| Entry {
                source,
                text: ops::discover::search_text(&hit),
                hit,
            })
            .collect();
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
        *self.mlflow.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
    }

    /// The MLflow view of the catalog.
    fn mlflow(&self) -> Arc<mlflow::registry::Registry> {
        Arc::clone(&self.mlflow.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Refreshes the index for one repository of `source` and reloads the catalog: after
    /// a write, so the writer's next read sees it.
    async fn reindex(&self, source: &Source, repository: &str) {
        let scope = match &source.scope {
            Scope::Registry { host, .. } => Scope::Registry {
                host: host.clone(),
                prefix: source.path_of(repository).to_owned(),
            },
            other => other.clone(),
        };
        if let Err(e) = ops::refresh(&source.ctx, &scope).await {
            self.metrics.registry_error();
            tracing::warn!("refreshing {repository} failed: {e}");
        }
        self.reload_catalog().await;
    }

    /// After an alias moved in `repo` (promote, rollback, from any front end): its views are
    /// dropped and the index and catalog read it again, so the writer's next read (a search,
    /// an MLflow alias lookup) sees the move without waiting for notifications.
    async fn alias_moved(&self, source: &Source, repo: &crate::reference::Reference) {
        let repository = repo.to_string();
        self.invalidate(&repository);
        self.reindex(source, &repository).await;
    }

    /// Looks for the repository an MLflow `name` stands for in the registry (the first
    /// source that serves it), unless that was done within `LOOK_INTERVAL`; true when it
    /// looked.
    async fn look_for(&self, name: &str) -> bool {
        let found = self.sources.iter().find_map(|source| {
            let repository = mlflow::registry::repository_of(&source.scope, name)?;
            source.covers(&repository).then_some((source, repository))
        });
        let Some((source, repository)) = found else {
            return false;
        };
        {
            let mut looked = self.looked.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            if looked
                .get(name)
                .is_some_and(|at| now.duration_since(*at) < LOOK_INTERVAL)
            {
                return false;
            }
            if looked.len() > 10_000 {
                looked.retain(|_, at| now.duration_since(*at) < LOOK_INTERVAL);
            }
            looked.insert(name.to_owned(), now);
        }
        self.reindex(source, &repository).await;
        true
    }

    /// `http(s)://HOST[:PORT]` as clients reach the service: `publicUrl`, else the
    /// request's `Host` (and `X-Forwarded-Proto` from a proxy in front).
    fn public_base(&self, headers: &axum::http::HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let forwarded = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .filter(|p| *p == "https" || *p == "http");
        let scheme = forwarded.unwrap_or(if self.tls { "https" } else { "http" });
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        format!("{scheme}://{host}")
    }

    /// The in-memory catalog.
    fn catalog(&self) -> Arc<Vec<Entry>> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A cached view and whether it is fresh; views older than `STALE_LIMIT` are gone.
    fn cached(&self, repository: &str, key: &str) -> Option<(Arc<serde_json::Value>, bool)> {
        let views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        let (at, value) = views.get(repository)?.entries.get(key)?;
        let age = at.elapsed();
        (age < STALE_LIMIT).then(|| (Arc::clone(value), age < VIEW_TTL))
    }

    /// Marks every cached view stale (after a periodic refresh): the next request for each
    /// recomputes it while concurrent ones are still served the old one.
    fn age_views(&self) {
        let Some(stale) = std::time::Instant::now().checked_sub(VIEW_TTL) else {
            return;
        };
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        for entry in views.values_mut().flat_map(|v| v.entries.values_mut()) {
            entry.0 = entry.0.min(stale);
        }
    }

    /// A cached view (`key` within `repository`), or `make`'s, cached; one `make` runs at
    /// a time per view. While it runs for a view that went stale, other requests get the
    /// stale one instead of waiting (a view of a model with many versions takes seconds).
    async fn view<F>(
        &self,
        repository: &str,
        key: &str,
        make: F,
    ) -> Result<Arc<serde_json::Value>, ApiError>
    where
        F: std::future::Future<Output = Result<serde_json::Value, ApiError>>,
    {
        let stale = match self.cached(repository, key) {
            Some((value, true)) => return Ok(value),
            Some((value, false)) => Some(value),
            None => None,
        };
        let slot = format!("{repository}\t{key}");
        let lock = Arc::clone(
            self.computing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(slot.clone())
                .or_default(),
        );
        let _turn = match (lock.try_lock(), stale) {
            (Ok(turn), _) => turn,
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => lock.lock().await,
        };
        if let Some((value, true)) = self.cached(repository, key) {
            return Ok(value);
        }
        let value = Arc::new(make.await?);
        self.computing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&slot);
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        views
            .entry(repository.to_owned())
            .or_default()
            .entries
            .insert(
                key.to_owned(),
                (std::time::Instant::now(), Arc::clone(&value)),
            );
        Ok(value)
    }

    /// Forgets the cached views of `repository` (after a write or a notification).
    fn invalidate(&self, repository: &str) {
        self.views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(repository);
    }
}

/// Builds the service from `config`, with registry `credentials` as the front end found
/// them (reading the key password and secrets from the environment variables the config
/// names), and serves until SIGINT.
///
/// # Errors
/// [`Error`] for an unusable configuration or address; library errors loading the policy
/// or the key.
pub async fn run(
    config: Config,
    credentials: CredentialStore,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let state = Arc::new(build(&config, credentials).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            address: config.listen,
            source,
        })?;
    tracing::warn!(
        "modelark serve listening on http://{}",
        listener.local_addr().map_or(config.listen, |a| a)
    );
    tokio::spawn(refresh_loop(Arc::clone(&state)));
    tokio::spawn(reload_loop(Arc::clone(&state)));
    tokio::spawn(notified_loop(Arc::clone(&state)));
    if let Some(tls) = &config.tls {
        let acceptor = tls::acceptor(tls).map_err(|reason| Error::Config {
            path: "tls".into(),
            reason,
        })?;
        return tls::serve(listener, acceptor, router(state)).await;
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn build(
    config: &Config,
    credentials: CredentialStore,
) -> Result<State, Box<dyn std::error::Error + Send + Sync>> {
    let home = config
        .store
        .clone()
        .unwrap_or_else(|| config.data_dir.clone());
    let cache = (config.blob_cache.max_size > 0)
        .then(|| BlobCache::open(config.data_dir.join("blobs"), config.blob_cache.max_size))
        .transpose()?;
    let base = Context::new(Home::new(home), credentials)
        .with_index_dir(config.data_dir.join("index"))
        .with_blob_cache(cache.clone())
        .with_concurrency(8)
        .with_timestamp_server(config.timestamp_server.clone());
    let sources = if config.registries.is_empty() {
        vec![Source {
            ctx: base.clone(),
            scope: Scope::Store,
        }]
    } else {
        config
            .registries
            .iter()
            .map(|r| Source {
                ctx: base.clone().with_registry_options(Options {
                    plain_http: r.plain_http,
                    ca_file: r.ca_file.clone(),
                    ..Options::default()
                }),
                scope: Scope::parse(&r.url),
            })
            .collect()
    };
    let trust = config
        .policy
        .as_deref()
        .map(Trust::load_policy)
        .transpose()?;
    let key = match &config.signing_key {
        Some(key) => {
            let password = key
                .password_env
                .as_deref()
                .and_then(|name| std::env::var(name).ok())
                .unwrap_or_default();
            let pem = fs_err::read_to_string(&key.path)?;
            Some(PrivateKey::from_pem(&pem, password.as_bytes())?)
        }
        None => None,
    };
    let oidc = match &config.auth.oidc {
        Some(o) => Some(Arc::new(oidc::Oidc::load(o).await.map_err(|reason| {
            Error::Config {
                path: "auth.oidc.jwks".into(),
                reason,
            }
        })?)),
        None => None,
    };
    if let Some(oidc) = oidc.as_ref().filter(|o| o.remote()) {
        let oidc = Arc::clone(oidc);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                if let Err(e) = oidc.refresh().await {
                    tracing::warn!("refreshing the OIDC keys failed (the old ones stay): {e}");
                }
            }
        });
    }
    let secret = config
        .auth
        .session_secret_env
        .as_deref()
        .map(|name| {
            std::env::var(name).map_err(|_| Error::Config {
                path: "auth.sessionSecretEnv".into(),
                reason: format!("{name} is not set"),
            })
        })
        .transpose()?;
    let sessions = ui::session::Sessions::new(secret.as_deref().map(str::as_bytes))?;
    let events_secret = match &config.events {
        Some(events) => Some(
            std::env::var(&events.secret_env).map_err(|_| Error::Config {
                path: "events.secretEnv".into(),
                reason: format!("{} is not set", events.secret_env),
            })?,
        ),
        None => None,
    };
    Ok(State {
        sources,
        blob_cache: cache,
        trust,
        key,
        tokens: auth::Tokens::new(&config.auth.tokens, oidc),
        access: access::Access::new(config.auth.anonymous, &config.access),
        events_secret,
        sessions,
        tls: config.tls.is_some(),
        ready: AtomicBool::new(false),
        metrics: metrics::Metrics::default(),
        refresh: config.refresh,
        catalog: std::sync::RwLock::default(),
        views: std::sync::Mutex::default(),
        computing: std::sync::Mutex::default(),
        reload: tokio::sync::Notify::new(),
        pending: std::sync::Mutex::default(),
        refresh_now: tokio::sync::Notify::new(),
        mlflow: std::sync::RwLock::default(),
        looked: std::sync::Mutex::default(),
        public_url: config.public_url.clone(),
    })
}

/// Refreshes every source now, then every `refresh` interval.
async fn refresh_loop(state: Arc<State>) {
    loop {
        refresh_all(&state).await;
        state.reload_catalog().await;
        state.age_views();
        state.ready.store(true, Ordering::SeqCst);
        tokio::time::sleep(state.refresh).await;
    }
}

/// Reloads the catalog when asked, at most every 100 ms: a burst of notifications (a bulk
/// push) makes a few reloads, not one per event.
async fn reload_loop(state: Arc<State>) {
    loop {
        state.reload.notified().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        state.reload_catalog().await;
    }
}

/// Refreshes the repositories notifications named, each once however many events named it
/// meanwhile, then asks for a catalog reload.
async fn notified_loop(state: Arc<State>) {
    loop {
        state.refresh_now.notified().await;
        let repositories =
            std::mem::take(&mut *state.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for repository in repositories {
            for source in &state.sources {
                let Scope::Registry { host, prefix } = &source.scope else {
                    continue;
                };
                let covered = prefix.is_empty()
                    || repository == *prefix
                    || repository.starts_with(&format!("{prefix}/"));
                if !covered {
                    continue;
                }
                let scope = Scope::Registry {
                    host: host.clone(),
                    prefix: repository.clone(),
                };
                if let Err(e) = ops::refresh(&source.ctx, &scope).await {
                    state.metrics.registry_error();
                    tracing::warn!(
                        "refreshing {host}/{repository} after a notification failed: {e}"
                    );
                }
                // After the refresh: a view cached meanwhile may predate the change.
                state.invalidate(&format!("{host}/{repository}"));
            }
        }
        state.reload.notify_one();
    }
}

async fn refresh_all(state: &State) {
    for source in &state.sources {
        let started = std::time::Instant::now();
        match ops::refresh(&source.ctx, &source.scope).await {
            Ok(()) => state.metrics.refreshed(started.elapsed()),
            Err(e) => {
                state.metrics.registry_error();
                tracing::warn!("refreshing {} failed: {e}", source.scope);
            }
        }
    }
}

fn router(state: Arc<State>) -> Router {
    let security = tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    api::routes()
        .merge(mlflow::routes())
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::record,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(security)
        .with_state(state)
}

/// An error as the API answers it: `{"error": {"code", "message", "hint"}}` with a status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn forbidden(action: access::Action, repository: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} on {repository} is not allowed for this subject",
                action.as_str()
            ),
        )
    }
}

impl From<crate::Error> for ApiError {
    /// Every library error maps to a status here, and only here.
    fn from(error: crate::Error) -> ApiError {
        use crate::store::registry::Error as R;
        let root = error.root();
        let message = chain(&error);
        let (status, code) = match root {
            crate::Error::Verify(crate::verify::Error::PolicyViolation { failures, .. }) => {
                let mut e = ApiError::new(StatusCode::PRECONDITION_FAILED, "policy_unmet", message);
                e.details = failures.clone();
                return e;
            }
            crate::Error::Governance(crate::governance::Error::VersionExists { .. }) => {
                (StatusCode::CONFLICT, "version_immutable")
            }
            crate::Error::Governance(crate::governance::Error::Alias { .. }) => {
                (StatusCode::CONFLICT, "alias")
            }
            crate::Error::Governance(crate::governance::Error::Query { .. })
            | crate::Error::Reference(_)
            | crate::Error::Op(_)
                if !root.is_not_found() =>
            {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            e if e.is_not_found() => (StatusCode::NOT_FOUND, "not_found"),
            crate::Error::Registry(R::Verification { .. }) => {
                (StatusCode::BAD_GATEWAY, "registry_content")
            }
            crate::Error::Registry(_) => (StatusCode::BAD_GATEWAY, "registry"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, message)
    }
}

use crate::error::chain;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"code": self.code, "message": self.message, "details": self.details}
        });
        (self.status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state(dir: &std::path::Path) -> State {
        let yaml = format!(
            "dataDir: {}\nstore: {}\n",
            dir.join("data").display(),
            dir.join("home").display()
        );
        let config: Config = serde_yaml_ng::from_str(&yaml).unwrap();
        let credentials = CredentialStore::at(dir.join("docker.json"), Vec::new());
        build(&config, credentials).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_view_is_served_while_one_request_recomputes_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(state(dir.path()).await);
        let first = state
            .view("r", "k", async { Ok(serde_json::json!(1)) })
            .await
            .unwrap();
        assert_eq!(*first, serde_json::json!(1));
        // Fresh: not recomputed.
        let again = state
            .view("r", "k", async { Ok(serde_json::json!(9)) })
            .await
            .unwrap();
        assert_eq!(*again, serde_json::json!(1));

        state.age_views();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                state
                    .view("r", "k", async move {
                        let _ = started_tx.send(());
                        let _ = release_rx.await;
                        Ok(serde_json::json!(2))
                    })
                    .await
                    .unwrap()
            })
        };
        started_rx.await.unwrap();
        // Meanwhile: the stale view, without waiting for the recomputation (which only
        // ends when released below; the bound is for liveness, not timing).
        let meanwhile = tokio::time::timeout(
            Duration::from_secs(60),
            state.view("r", "k", async { Ok(serde_json::json!(3)) }),
        )
        .await
        .expect("the stale view was not served while it was recomputed")
        .unwrap();
        assert_eq!(*meanwhile, serde_json::json!(1));
        release_tx.send(()).unwrap();
        assert_eq!(*slow.await.unwrap(), serde_json::json!(2));
        let after = state
            .view("r", "k", async { Ok(serde_json::json!(4)) })
            .await
            .unwrap();
        assert_eq!(
            *after,
            serde_json::json!(2),
            "the recomputed view is the fresh one"
        );

        // A view a write dropped is waited for, never served stale.
        state.invalidate("r");
        let dropped = state
            .view("r", "k", async { Ok(serde_json::json!(5)) })
            .await
            .unwrap();
        assert_eq!(*dropped, serde_json::json!(5));
    }
}
