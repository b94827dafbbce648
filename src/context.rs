//! The [`Context`] every use case in [`crate::ops`] runs in: where the local store is, how
//! registries are reached (options and credentials), whether they may be reached at all
//! (offline), how much runs at once, and where progress goes. A front end builds one from
//! its own configuration (the CLI from flags and the environment, the service from its
//! config file, the Python package from `Client(...)` arguments); the library itself reads
//! no environment variable.

use std::sync::{Arc, OnceLock};

use crate::error::Result;
use crate::governance::index::SearchIndex;
use crate::ops::Error;
use crate::progress::{Reporter, Silent};
use crate::reference::{Location, Reference};
use crate::store::registry::{self, Client, CredentialStore};
use crate::store::{Endpoint, Home, LayoutRepo};

/// Configuration shared by every use case; cheap to clone (the registry client, made on
/// first use, is shared by clones).
#[derive(Clone)]
pub struct Context {
    home: Home,
    registry: registry::Options,
    credentials: CredentialStore,
    offline: bool,
    concurrency: usize,
    reporter: Arc<dyn Reporter>,
    client: Arc<OnceLock<Arc<Client>>>,
    index: Arc<std::sync::Mutex<Option<Arc<SearchIndex>>>>,
    index_dir: Option<std::path::PathBuf>,
    timestamp_server: Option<String>,
    blob_cache: Option<Arc<crate::store::cache::BlobCache>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("home", &self.home)
            .field("registry", &self.registry)
            .field("credentials", &self.credentials.path())
            .field("offline", &self.offline)
            .field("concurrency", &self.concurrency)
            .field("timestamp_server", &self.timestamp_server)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with the local store under `home`, default registry options, the
    /// credentials in `credentials`, online, four transfers at once and no progress.
    pub fn new(home: Home, credentials: CredentialStore) -> Context {
        Context {
            home,
            registry: registry::Options::default(),
            credentials,
            offline: false,
            concurrency: 4,
            reporter: Arc::new(Silent),
            client: Arc::default(),
            index: Arc::default(),
            index_dir: None,
            timestamp_server: None,
            blob_cache: None,
        }
    }

    /// Ask the RFC 3161 time-stamping authority at `url` for a timestamp over every
    /// signature this context's use cases make (sign, attest, approve, promote, rollback).
    #[must_use]
    pub fn with_timestamp_server(mut self, url: Option<String>) -> Context {
        self.timestamp_server = url;
        self
    }

    /// How this context's use cases sign with `key`: stamped by the time-stamping
    /// authority named, reached through the registry client's HTTP settings.
    ///
    /// # Errors
    /// As [`Context::client`], when an authority is named.
    pub fn signer<'a>(&self, key: &'a crate::sign::PrivateKey) -> Result<crate::sign::Signer<'a>> {
        let timestamps = match &self.timestamp_server {
            Some(url) => Some(crate::sign::timestamp::Server::new(
                url.clone(),
                self.client()?.http().clone(),
            )),
            None => None,
        };
        Ok(crate::sign::Signer { key, timestamps })
    }

    /// How registries are reached (TLS, retries, timeouts, chunking).
    #[must_use]
    pub fn with_registry_options(mut self, options: registry::Options) -> Context {
        self.registry = options;
        self.client = Arc::default();
        self
    }

    /// Offline: no connection is ever opened; a registry reference names the local store's
    /// copy of a pulled model, and use cases that need a registry fail with
    /// [`Error::Offline`].
    #[must_use]
    pub fn with_offline(mut self, offline: bool) -> Context {
        self.offline = offline;
        self
    }

    /// Keep the search index in `dir` instead of `HOME/index` (a service keeps its cache in
    /// its own data directory while serving the user's local store).
    #[must_use]
    pub fn with_index_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Context {
        self.index_dir = Some(dir.into());
        self.index = Arc::default();
        self
    }

    /// Keep the files [`crate::ops::open_file`] streams from registries in `cache` once
    /// they verified, and serve them from there afterwards (a long-running service).
    #[must_use]
    pub fn with_blob_cache(
        mut self,
        cache: Option<Arc<crate::store::cache::BlobCache>>,
    ) -> Context {
        self.blob_cache = cache;
        self
    }

    /// The cache of verified blobs, when there is one.
    pub fn blob_cache(&self) -> Option<&Arc<crate::store::cache::BlobCache>> {
        self.blob_cache.as_ref()
    }

    /// How many blobs (or files, or manifests) a use case moves at once.
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Context {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Where progress of byte transfers goes.
    #[must_use]
    pub fn with_reporter(mut self, reporter: Arc<dyn Reporter>) -> Context {
        self.reporter = reporter;
        self
    }

    /// The modelark data directory.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The registry credentials (docker `config.json` format).
    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// Whether registries are never asked.
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// How many transfers run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The progress reporter.
    pub fn reporter(&self) -> Arc<dyn Reporter> {
        Arc::clone(&self.reporter)
    }

    /// The registry client, made on first use.
    ///
    /// # Errors
    /// [`Error::Offline`]; a CA file or certificate directory that cannot be read.
    pub fn client(&self) -> Result<Arc<Client>> {
        if self.offline {
            return Err(Error::Offline.into());
        }
        if let Some(client) = self.client.get() {
            return Ok(Arc::clone(client));
        }
        let client = Client::new(self.registry.clone(), self.credentials.clone())?;
        Ok(Arc::clone(self.client.get_or_init(|| client)))
    }

    /// The search index under the home directory, opened on first use and shared by
    /// clones (the database allows one opener per process).
    ///
    /// # Errors
    /// An index that cannot be opened (another process holds it).
    pub fn search_index(&self) -> Result<Arc<SearchIndex>> {
        let mut slot = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = slot.as_ref() {
            return Ok(Arc::clone(index));
        }
        let dir = self
            .index_dir
            .clone()
            .unwrap_or_else(|| self.home.root().join("index"));
        let path = dir.join("search.redb");
        let index = Arc::new(SearchIndex::open(&path)?);
        *slot = Some(Arc::clone(&index));
        Ok(index)
    }

    /// Where `reference` lives: a registry repository, or the local store / an `oci:`
    /// layout (created when `create`). Offline, a registry reference names the local
    /// store's copy of a pulled model, unless it is to be written (`create`).
    ///
    /// # Errors
    /// [`Error::Offline`] (offline, writing to a registry), [`Error::NotStored`], store errors.
    pub fn endpoint(&self, reference: &Reference, create: bool) -> Result<Endpoint> {
        match reference.location() {
            Location::Registry { .. } if self.offline && !create => {
                Ok(Endpoint::Layout(self.local(reference, false)?))
            }
            Location::Registry { host, repository } => Ok(Endpoint::Registry(
                self.client()?.repository(host, repository.as_str()),
            )),
            _ => Ok(Endpoint::Layout(self.local(reference, create)?)),
        }
    }

    /// The local store or `oci:` layout `reference` names (created when `create`);
    /// offline, a registry reference names the local store's copy of a pulled model.
    ///
    /// # Errors
    /// [`Error::RegistryReference`] for a registry reference online,
    /// [`Error::NotStored`] offline when the store has no copy; store errors.
    pub fn local(&self, reference: &Reference, create: bool) -> Result<LayoutRepo> {
        if matches!(reference.location(), Location::Registry { .. }) {
            if !self.offline || create {
                return Err(Error::RegistryReference {
                    reference: reference.to_string(),
                }
                .into());
            }
            if !self.home.store_path().exists() {
                return Err(Error::NotStored {
                    reference: reference.to_string(),
                }
                .into());
            }
        }
        Ok(LayoutRepo::open(reference, &self.home, create)?)
    }

    /// The local store's copy of any reference (what `pull` keeps for a registry one).
    ///
    /// # Errors
    /// Store errors.
    pub fn cache_for(&self, reference: &Reference) -> Result<LayoutRepo> {
        Ok(LayoutRepo::open(reference, &self.home, true)?)
    }
}
