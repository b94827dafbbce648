//! `modelark._native`: the library's use cases (`modelark::ops`) as `modelark.Client`, and
//! the `modelark` command. Every method parses its arguments, runs one use case with the GIL
//! released and hands the result's JSON form (docs/json.md) to `modelark._records`, which
//! wraps it in a typed record; errors become the exceptions of `modelark.errors`, worded as
//! the CLI words them. Nothing here decides a rule of its own.

// A Python method's keyword arguments are its Rust parameters.
#![allow(clippy::too_many_arguments)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use modelark::governance::versions::Overwrite;
use modelark::metadata::Source as LineageSource;
use modelark::ops::{self, ListTarget, ModelInput, Move, Search, Source, Trust, Unpack};
use modelark::progress::Reporter;
use modelark::reference::{Reference, Tag};
use modelark::sign::{Format, PrivateKey, predicate};
use modelark::store::Home;
use modelark::store::registry::{self, CredentialStore};
use modelark::{Context, ModelMetadata};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBool;
use serde::Serialize;

/// The CLI's own source: the `modelark` command a wheel installs is this, not a copy.
#[path = "../../src/cli/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod cli;

/// One runtime for every client in the process; transfers run on its workers.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("modelark")
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "failed to start the async runtime: {e}"
            ))
        })?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Progress of one call, summed by the library's worker threads and read by the calling
/// thread ten times a second (so the callback runs on the caller's thread, never per buffer).
#[derive(Default)]
struct Tracker {
    total: AtomicU64,
    done: AtomicU64,
    transfers: Mutex<BTreeMap<usize, Transfer>>,
}

#[derive(Clone, Serialize)]
struct Transfer {
    label: String,
    done: u64,
    total: u64,
}

#[derive(Serialize)]
struct Snapshot {
    done: u64,
    total: u64,
    transfers: Vec<Transfer>,
    finished: bool,
}

impl Reporter for Tracker {
    fn total(&self, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
    }

    fn begin(&self, id: usize, label: &str, total: u64) {
        let mut transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        transfers.insert(
            id,
            Transfer {
                label: label.to_owned(),
                done: 0,
                total,
            },
        );
    }

    fn advance(&self, id: usize, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        let mut transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(transfer) = transfers.get_mut(&id) {
            transfer.done += bytes;
        }
    }

    fn end(&self, id: usize) {
        let mut transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        transfers.remove(&id);
    }
}

impl Tracker {
    fn snapshot(&self, finished: bool) -> Snapshot {
        let transfers: Vec<Transfer> = self
            .transfers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let done = self.done.load(Ordering::Relaxed);
        Snapshot {
            done,
            total: self.total.load(Ordering::Relaxed).max(done),
            transfers,
            finished,
        }
    }
}

/// A call's progress: where it goes (a callable taking a `modelark.Progress`), if anywhere.
struct Progress {
    callback: Option<Py<PyAny>>,
    tracker: Arc<Tracker>,
}

impl Progress {
    /// `progress=`: None (the client's default), False, True (tqdm bars) or a callable.
    fn new(
        py: Python<'_>,
        given: Option<&Bound<'_, PyAny>>,
        default: Option<&Py<PyAny>>,
    ) -> PyResult<Progress> {
        let callback = match given {
            None => default.map(|d| d.clone_ref(py)),
            Some(value) if value.is_none() => default.map(|d| d.clone_ref(py)),
            Some(value) if value.is_instance_of::<PyBool>() => {
                if value.extract::<bool>()? {
                    Some(
                        py.import("modelark._progress")?
                            .call_method0("bars")?
                            .unbind(),
                    )
                } else {
                    None
                }
            }
            Some(value) if value.is_callable() => Some(value.clone().unbind()),
            Some(value) => {
                return Err(usage(
                    py,
                    &format!(
                        "progress must be True, False, None or a callable, not {}",
                        value.get_type().name()?
                    ),
                ));
            }
        };
        Ok(Progress {
            callback,
            tracker: Arc::default(),
        })
    }

    fn report(&self, py: Python<'_>, finished: bool) -> PyResult<()> {
        let Some(callback) = &self.callback else {
            return Ok(());
        };
        let snapshot = serde_json::to_string(&self.tracker.snapshot(finished)).unwrap_or_default();
        let progress = py
            .import("modelark._records")?
            .call_method1("make", ("Progress", snapshot))?;
        callback.call1(py, (progress,))?;
        Ok(())
    }
}

/// Runs `work` with the GIL released. Ten times a second the calling thread takes the GIL
/// back to report progress and let Python handle signals (Ctrl-C raises `KeyboardInterrupt`
/// here); an exception from either stops the work as the CLI's Ctrl-C does (it is dropped,
/// its temp files with it; copies stop at their next buffer; partial downloads stay for
/// resume) and is raised.
fn block<T, F, M>(py: Python<'_>, progress: &Progress, make: M) -> PyResult<T>
where
    T: Send,
    M: FnOnce() -> F + Send,
    F: Future<Output = modelark::Result<T>>,
{
    run(py, progress, make)?.map_err(|e| raise(py, e))
}

/// As [`block`], for moving an alias: requirements the policy sets for the alias that are
/// unmet are governance refusing the move (`RefusedByGovernance`, with `.unmet`).
fn block_governed<T, F, M>(py: Python<'_>, progress: &Progress, make: M) -> PyResult<T>
where
    T: Send,
    M: FnOnce() -> F + Send,
    F: Future<Output = modelark::Result<T>>,
{
    run(py, progress, make)?.map_err(|error| match error.root() {
        modelark::Error::Verify(modelark::verify::Error::PolicyViolation { failures, .. }) => {
            let unmet = failures.clone();
            let message = cli::describe(&anyhow::Error::new(error));
            let unmet = object(py, unmet);
            exception(py, "RefusedByGovernance", &message, vec![("unmet", unmet)])
        }
        _ => raise(py, error),
    })
}

/// Runs `work` as [`block`] describes; the outer error is Python's (an interrupt, a
/// progress callback that raised), the inner the library's.
fn run<T, F, M>(py: Python<'_>, progress: &Progress, make: M) -> PyResult<modelark::Result<T>>
where
    T: Send,
    M: FnOnce() -> F + Send,
    F: Future<Output = modelark::Result<T>>,
{
    let runtime = runtime()?;
    modelark::interrupt::clear();
    // The future is made and driven on this thread only, so it need not be Send.
    let outcome = py.detach(|| {
        runtime.block_on(async {
            let mut work = std::pin::pin!(make());
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    result = &mut work => return Ok(result),
                    _ = tick.tick() => {
                        // Progress first: a callback that raises a signal is answered at once.
                        let polled = Python::attach(|py| {
                            progress.report(py, false)?;
                            py.check_signals()
                        });
                        if let Err(error) = polled {
                            // As the CLI does: stop every copy (blocking ones check the flag
                            // at their next buffer) and drop the work, removing its temp files.
                            modelark::interrupt::request();
                            let interrupted = Python::attach(|py| {
                                error.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py)
                            });
                            return Err(if interrupted { interrupted_error() } else { error });
                        }
                    }
                }
            }
        })
    });
    match outcome {
        Ok(Ok(value)) => {
            progress.report(py, true)?;
            Ok(Ok(value))
        }
        Ok(Err(error)) => Ok(Err(error)),
        Err(error) => Err(error),
    }
}

/// The `KeyboardInterrupt` a stopped call raises, saying what it left.
fn interrupted_error() -> PyErr {
    pyo3::exceptions::PyKeyboardInterrupt::new_err(
        "interrupted; nothing half-written was left (partial downloads are kept and resume on the next call)",
    )
}

/// Wraps a result's JSON form in the record class `kind` (`modelark._records`).
fn record<T: Serialize>(py: Python<'_>, kind: &str, value: &T) -> PyResult<Py<PyAny>> {
    let json = serde_json::to_string(value).map_err(|e| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("failed to encode the result: {e}"))
    })?;
    Ok(py
        .import("modelark._records")?
        .call_method1("make", (kind, json))?
        .unbind())
}

/// The exception of `modelark.errors` named `class`, with `attributes` set on it.
fn exception(
    py: Python<'_>,
    class: &str,
    message: &str,
    attributes: Vec<(&str, Py<PyAny>)>,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let errors = py.import("modelark.errors")?;
        let value = errors.getattr(class)?.call1((message,))?;
        for (name, attribute) in attributes {
            value.setattr(name, attribute)?;
        }
        Ok(PyErr::from_value(value))
    })();
    made.unwrap_or_else(|e| e)
}

/// A usage error raised by this module itself (an argument the library never saw).
fn usage(py: Python<'_>, message: &str) -> PyErr {
    exception(py, "UsageError", message, Vec::new())
}

/// The exception for a library error: its class from what the library says it is, its
/// message the CLI's (operation and object, then each cause).
fn raise(py: Python<'_>, error: modelark::Error) -> PyErr {
    let interrupted = modelark::interrupt::requested()
        || error
            .io_error()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::Interrupted);
    if interrupted {
        return interrupted_error();
    }
    let (class, attributes) = classify(py, &error);
    let message = cli::describe(&anyhow::Error::new(error));
    exception(py, class, &message, attributes)
}

/// `value` as a Python object (None when it cannot be one).
fn object<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> Py<PyAny> {
    value.into_py_any(py).unwrap_or_else(|_| py.None())
}

fn classify(
    py: Python<'_>,
    error: &modelark::Error,
) -> (&'static str, Vec<(&'static str, Py<PyAny>)>) {
    use modelark::Error as E;
    let text = |t: &str| object(py, t);
    let number = |n: u16| object(py, n);
    let optional = |t: Option<&str>| object(py, t);
    let list = |items: &[String]| object(py, items.to_vec());
    match error.root() {
        E::Registry(registry::Error::Unauthorized { registry, .. }) => (
            "AuthenticationError",
            vec![
                ("registry", text(registry)),
                ("status", number(401)),
                ("code", py.None()),
            ],
        ),
        E::Registry(registry::Error::Registry { status, code, .. })
            if matches!(status.as_u16(), 401 | 403) =>
        {
            (
                "AuthenticationError",
                vec![
                    ("status", number(status.as_u16())),
                    ("code", optional(code.as_deref())),
                ],
            )
        }
        E::Verify(modelark::verify::Error::PolicyViolation {
            failures, digest, ..
        }) => (
            "VerificationFailed",
            vec![
                ("unmet", list(failures)),
                ("digest", text(&digest.to_string())),
            ],
        ),
        _ if error.is_refused_by_governance() => ("RefusedByGovernance", Vec::new()),
        _ if error.is_verification_failure() => ("VerificationFailed", vec![("unmet", list(&[]))]),
        _ if error.is_not_found() => ("NotFound", Vec::new()),
        E::Registry(registry::Error::Registry { status, code, .. }) => (
            "RegistryError",
            vec![
                ("status", number(status.as_u16())),
                ("code", optional(code.as_deref())),
            ],
        ),
        E::Registry(registry::Error::RetryBudget { status, .. }) => (
            "RegistryError",
            vec![("status", number(status.as_u16())), ("code", py.None())],
        ),
        E::Registry(_) => (
            "RegistryError",
            vec![("status", py.None()), ("code", py.None())],
        ),
        E::Reference(_)
        | E::Metadata(_)
        | E::Sign(
            modelark::sign::Error::PredicateType { .. } | modelark::sign::Error::Expiry { .. },
        ) => ("UsageError", Vec::new()),
        E::Op(
            ops::Error::NothingTrusted
            | ops::Error::NoVersion { .. }
            | ops::Error::Glob { .. }
            | ops::Error::PredicateRequired { .. }
            | ops::Error::NotAnApproval(_)
            | ops::Error::NotARegistry { .. }
            | ops::Error::RegistryReference { .. }
            | ops::Error::NotASource { .. }
            | ops::Error::BuildTime { .. }
            | ops::Error::KeyExists { .. }
            | ops::Error::DifferentStores { .. }
            | ops::Error::NotLocal { .. }
            | ops::Error::Offline
            | ops::Error::SharedManifest { .. },
        ) => ("UsageError", Vec::new()),
        E::Op(ops::Error::HfCache { .. }) => ("NotFound", Vec::new()),
        _ => ("Error", Vec::new()),
    }
}

/// Parses a reference, raising `UsageError` with the library's reason.
fn reference(py: Python<'_>, text: &str) -> PyResult<Reference> {
    text.parse::<Reference>()
        .map_err(|e| raise(py, modelark::Error::from(e)))
}

fn tag(py: Python<'_>, text: &str) -> PyResult<Tag> {
    text.parse::<Tag>()
        .map_err(|e| usage(py, &format!("{text:?} is not a valid alias: {e}")))
}

/// `policy=` or `keys=` (a path or a list of paths), never both.
fn trust(py: Python<'_>, policy: Option<PathBuf>, keys: Vec<PathBuf>) -> PyResult<Option<Trust>> {
    match (policy, keys.is_empty()) {
        (Some(_), false) => Err(usage(py, "give policy= or keys=, not both")),
        (Some(path), true) => Trust::load_policy(&path)
            .map(Some)
            .map_err(|e| raise(py, e)),
        (None, false) => Trust::load_keys(&keys).map(Some).map_err(|e| raise(py, e)),
        (None, true) => Ok(None),
    }
}

/// `keys=`: one path or a list of them.
fn paths(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<PathBuf>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(one) = value.extract::<PathBuf>() {
        return Ok(vec![one]);
    }
    value
        .extract::<Vec<PathBuf>>()
        .map_err(|_| PyTypeError::new_err("keys must be a path or a list of paths"))
}

/// A private key file, decrypted with `password` (cosign's `COSIGN_PASSWORD` when None;
/// an unencrypted key needs none).
fn private_key(
    py: Python<'_>,
    path: &std::path::Path,
    password: Option<&str>,
) -> PyResult<PrivateKey> {
    let password = zeroize::Zeroizing::new(match password {
        Some(p) => p.to_owned(),
        None => std::env::var("COSIGN_PASSWORD").unwrap_or_default(),
    });
    ops::sign::read_private_key(path, password.as_bytes()).map_err(|e| raise(py, e))
}

/// Who an approval or alias move records: as given, else `$USER`, as the CLI does.
fn who(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The metadata a `pack`/`push` call sets over the model file's (the CLI's flags).
#[derive(Default)]
struct Overrides {
    name: Option<String>,
    version: Option<String>,
    title: Option<String>,
    description: Option<String>,
    authors: Vec<String>,
    licenses: Vec<String>,
    framework: Option<String>,
    format: Option<String>,
    architecture: Option<String>,
    param_size: Option<String>,
    precision: Option<String>,
    quantization: Option<String>,
    task: Option<String>,
    tags: Vec<String>,
    metrics: BTreeMap<String, f64>,
    source_repo: Option<String>,
    source_revision: Option<String>,
    datasets: Vec<String>,
    training_run: Option<String>,
    parent: Option<String>,
    annotations: BTreeMap<String, String>,
    kinds: BTreeMap<String, String>,
    exclude: Vec<String>,
    model_file: Option<PathBuf>,
    dereference: bool,
    created: Option<String>,
}

impl Overrides {
    /// The model input for `dir`: a directory, or `hf:ORG/NAME[@REVISION]` in the Hugging
    /// Face cache (found as the CLI finds it).
    fn input(self, py: Python<'_>, dir: PathBuf) -> PyResult<ModelInput> {
        let spec = dir
            .to_str()
            .and_then(|d| d.strip_prefix(ops::hf::PREFIX))
            .map(str::to_owned);
        match spec {
            Some(spec) => {
                let snapshot =
                    ops::hf::resolve(&cli::hf_cache(), &spec).map_err(|e| raise(py, e))?;
                let input = self.directory(py, snapshot.dir.clone())?;
                Ok(snapshot.apply(input))
            }
            None => self.directory(py, dir),
        }
    }

    fn directory(self, py: Python<'_>, dir: PathBuf) -> PyResult<ModelInput> {
        let version = self
            .version
            .map(|v| {
                v.parse::<semver::Version>().map_err(|e| {
                    usage(py, &format!("version {v:?} is not a semantic version: {e}"))
                })
            })
            .transpose()?;
        let parent = self.parent.map(|p| reference(py, &p)).transpose()?;
        let mut metadata = ModelMetadata {
            name: self.name,
            version,
            title: self.title,
            description: self.description,
            authors: self.authors,
            licenses: self.licenses,
            framework: self.framework,
            format: self.format,
            architecture: self.architecture,
            param_size: self.param_size,
            precision: self.precision,
            quantization: self.quantization,
            task: self.task,
            tags: self.tags,
            metrics: self.metrics,
            ..ModelMetadata::default()
        };
        metadata.lineage.training_run = self.training_run;
        metadata.lineage.parent = parent;
        metadata.lineage.source = self.source_repo.map(|repo| LineageSource {
            repo,
            revision: self.source_revision,
        });
        metadata.lineage.datasets = self
            .datasets
            .iter()
            .map(|d| cli::pack::dataset(d))
            .collect();
        let kinds = self
            .kinds
            .into_iter()
            .map(|(glob, kind)| {
                kind.parse::<modelark::package::Kind>()
                    .map(|k| (glob.clone(), k))
                    .map_err(|e| usage(py, &format!("kinds[{glob:?}]: {e}")))
            })
            .collect::<PyResult<_>>()?;
        let created = cli::pack::build_time(self.created.as_deref())
            .map_err(|e| usage(py, &cli::describe(&e)))?;
        Ok(ModelInput {
            dir,
            model_file: self.model_file,
            overrides: metadata,
            kinds,
            exclude: self.exclude,
            annotations: self.annotations,
            dereference: self.dereference,
            created,
            links_within: None,
        })
    }
}

/// A modelark client: where the local store is, how registries are reached (credentials
/// from the docker config, as the CLI reads them), whether they are reached at all.
#[pyclass(frozen, name = "Client", module = "modelark")]
struct Client {
    ctx: Context,
    progress: Option<Py<PyAny>>,
    home: PathBuf,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (home=None, plain_http=false, ca_file=None, insecure=false, offline=false, *,
        concurrency=4, docker_config=None, registry_certs_dirs=None, retries=5, connect_timeout=30.0,
        timeout=60.0, read_timeout=60.0, max_retry_wait=60.0, chunk_size=None, connections=None,
        max_attachment_layers=256, timestamp_server=None, progress=None))]
    fn new(
        py: Python<'_>,
        home: Option<PathBuf>,
        plain_http: bool,
        ca_file: Option<PathBuf>,
        insecure: bool,
        offline: bool,
        concurrency: usize,
        docker_config: Option<PathBuf>,
        registry_certs_dirs: Option<Vec<PathBuf>>,
        retries: u32,
        connect_timeout: f64,
        timeout: f64,
        read_timeout: f64,
        max_retry_wait: f64,
        chunk_size: Option<u64>,
        connections: Option<u64>,
        max_attachment_layers: usize,
        timestamp_server: Option<String>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Client> {
        let home = match home {
            Some(root) => Home::new(root),
            None => cli::home().map_err(|e| usage(py, &cli::describe(&e)))?,
        };
        let credentials = match docker_config {
            Some(dir) => CredentialStore::at(dir.join("config.json"), Vec::new()),
            None => cli::credentials(),
        };
        let seconds = |name: &str, s: f64| {
            Duration::try_from_secs_f64(s).map_err(|e| usage(py, &format!("{name}={s}: {e}")))
        };
        let options = registry::Options {
            plain_http,
            ca_file,
            cert_dirs: registry_certs_dirs.unwrap_or_else(cli::default_cert_dirs),
            insecure,
            retries,
            chunk_size,
            connections_per_blob: connections.map(|n| n.max(1)),
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            response_timeout: seconds("timeout", timeout)?,
            read_timeout: seconds("read_timeout", read_timeout)?,
            max_retry_wait: seconds("max_retry_wait", max_retry_wait)?,
            max_attachment_layers,
            ..registry::Options::default()
        };
        let root = home.root().to_owned();
        let ctx = Context::new(home, credentials)
            .with_registry_options(options)
            .with_offline(offline)
            .with_concurrency(concurrency)
            .with_timestamp_server(timestamp_server);
        let progress = Progress::new(py, progress.as_ref(), None)?.callback;
        Ok(Client {
            ctx,
            progress,
            home: root,
        })
    }

    /// The data directory (local store, search index, fetch cache).
    #[getter]
    fn home(&self) -> String {
        self.home.display().to_string()
    }

    /// Whether registries are never asked.
    #[getter]
    fn offline(&self) -> bool {
        self.ctx.offline()
    }

    fn __repr__(&self) -> String {
        format!(
            "modelark.Client(home={:?}, offline={})",
            self.home.display().to_string(),
            if self.ctx.offline() { "True" } else { "False" }
        )
    }

    /// Packs a model directory into the local store (NAME[:TAG]) or an oci: layout.
    #[pyo3(signature = (path, reference, *, force=false, progress=None, **metadata))]
    fn pack(
        &self,
        py: Python<'_>,
        path: PathBuf,
        reference: &str,
        force: bool,
        progress: Option<Bound<'_, PyAny>>,
        metadata: Option<Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let target = self::reference(py, reference)?;
        let model = overrides(py, metadata)?.input(py, path)?;
        let progress = self.progress(py, progress.as_ref())?;
        let ctx = self.with(&progress);
        let overwrite = Overwrite {
            force,
            policy: None,
        };
        let packed = block(py, &progress, || {
            ops::pack(&ctx, &model, &target, overwrite)
        })?;
        record(py, "Packed", &packed)
    }

    /// Pushes a model directory or a stored model to a registry.
    #[pyo3(signature = (source, reference, *, force=false, policy=None, progress=None, **metadata))]
    fn push(
        &self,
        py: Python<'_>,
        source: PathBuf,
        reference: &str,
        force: bool,
        policy: Option<PathBuf>,
        progress: Option<Bound<'_, PyAny>>,
        metadata: Option<Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let target = self::reference(py, reference)?;
        let text = source.to_string_lossy().into_owned();
        let parsed = if text.starts_with(ops::hf::PREFIX) {
            Source::Directory(Box::default())
        } else {
            Source::parse(&text).map_err(|e| raise(py, e))?
        };
        let source = match parsed {
            Source::Directory(_) => {
                Source::Directory(Box::new(overrides(py, metadata)?.input(py, source)?))
            }
            model => {
                if metadata.as_ref().is_some_and(|m| !m.is_empty()) {
                    return Err(usage(
                        py,
                        "metadata keywords describe a directory; a stored model keeps its own",
                    ));
                }
                model
            }
        };
        let policy = policy
            .map(|p| Trust::load_policy(&p))
            .transpose()
            .map_err(|e| raise(py, e))?;
        let overwrite = Overwrite {
            force,
            policy: policy.as_ref().and_then(Trust::governing),
        };
        let progress = self.progress(py, progress.as_ref())?;
        let ctx = self.with(&progress);
        let pushed = block(py, &progress, || {
            ops::push(&ctx, &source, &target, overwrite)
        })?;
        record(py, "Pushed", &pushed)
    }

    /// Pulls a model from a registry into the local store and, with dest=, into a directory;
    /// with policy= or keys=, verifies first and writes nothing when that fails.
    #[pyo3(signature = (reference, dest=None, *, include=None, policy=None, keys=None, force=false, model_sig=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn pull(
        &self,
        py: Python<'_>,
        reference: &str,
        dest: Option<PathBuf>,
        include: Option<Vec<String>>,
        policy: Option<PathBuf>,
        keys: Option<Bound<'_, PyAny>>,
        force: bool,
        model_sig: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let trust = trust(py, policy, paths(keys.as_ref())?)?;
        let include = include.unwrap_or_default();
        if dest.is_none() && (!include.is_empty() || force || model_sig) {
            return Err(usage(py, "include=, force= and model_sig= need dest="));
        }
        let unpack = dest.map(|dir| Unpack {
            dir,
            include,
            force,
            model_sig,
        });
        let progress = self.progress(py, progress.as_ref())?;
        let ctx = self.with(&progress);
        let pulled = block(py, &progress, || {
            ops::pull(&ctx, &reference, trust.as_ref(), unpack.as_ref())
        })?;
        record(py, "Pulled", &pulled)
    }

    /// A verified model as a read-only directory in the fetch cache under the home; returns
    /// its path. A digest the cache holds is not fetched again (pinned by digest: no network).
    #[pyo3(signature = (reference, *, policy=None, keys=None, progress=None))]
    fn fetch(
        &self,
        py: Python<'_>,
        reference: &str,
        policy: Option<PathBuf>,
        keys: Option<Bound<'_, PyAny>>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let fetched = self.fetch_model(py, reference, policy, keys, progress)?;
        Ok(fetched.path.display().to_string())
    }

    /// As fetch, returning the whole record (reference, digest, path, cached).
    #[pyo3(signature = (reference, *, policy=None, keys=None, progress=None))]
    fn fetch_info(
        &self,
        py: Python<'_>,
        reference: &str,
        policy: Option<PathBuf>,
        keys: Option<Bound<'_, PyAny>>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let fetched = self.fetch_model(py, reference, policy, keys, progress)?;
        record(py, "Fetched", &fetched)
    }

    /// Copies a model between stores, layouts and registries (verified first with policy=/keys=).
    #[pyo3(signature = (source, target, *, policy=None, keys=None, force=false, progress=None))]
    fn copy(
        &self,
        py: Python<'_>,
        source: &str,
        target: &str,
        policy: Option<PathBuf>,
        keys: Option<Bound<'_, PyAny>>,
        force: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let source = reference(py, source)?;
        let target = reference(py, target)?;
        let trust = trust(py, policy, paths(keys.as_ref())?)?;
        let overwrite = Overwrite {
            force,
            policy: trust.as_ref().and_then(Trust::governing),
        };
        let progress = self.progress(py, progress.as_ref())?;
        let ctx = self.with(&progress);
        let pushed = block(py, &progress, || {
            ops::copy(&ctx, &source, &target, trust.as_ref(), overwrite)
        })?;
        record(py, "Pushed", &pushed)
    }

    /// A model's metadata and files, without reading any weights.
    fn inspect(&self, py: Python<'_>, reference: &str) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let inspected = block(py, &self.quiet(), || ops::inspect(&self.ctx, &reference))?;
        record(py, "Inspected", &inspected)
    }

    /// The local store (no argument), a registry catalog (HOST/ or HOST/PREFIX/) or one
    /// repository's tags.
    #[pyo3(signature = (target=None, *, all=false))]
    fn list(&self, py: Python<'_>, target: Option<&str>, all: bool) -> PyResult<Py<PyAny>> {
        let target = match target {
            None | Some("") => ListTarget::Store,
            Some(text) => text
                .parse::<ListTarget>()
                .map_err(|e| raise(py, modelark::Error::from(e)))?,
        };
        let listed = block(py, &self.quiet(), || ops::list(&self.ctx, &target, all))?;
        match listed {
            ops::Listed::Repositories(rows) => record(py, "RepositoryList", &rows),
            ops::Listed::Models(rows) => record(py, "ModelList", &rows),
        }
    }

    /// Tags a model with a new tag in the same store or registry.
    #[pyo3(signature = (source, target, *, force=false))]
    fn tag(&self, py: Python<'_>, source: &str, target: &str, force: bool) -> PyResult<Py<PyAny>> {
        let source = reference(py, source)?;
        let target = reference(py, target)?;
        let overwrite = Overwrite {
            force,
            policy: None,
        };
        let tagged = block(py, &self.quiet(), || {
            ops::tag(&self.ctx, &source, &target, overwrite)
        })?;
        record(py, "Tagged", &tagged)
    }

    /// Removes a tag (or a pinned manifest).
    fn rm(&self, py: Python<'_>, reference: &str) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let removed = block(py, &self.quiet(), || ops::rm(&self.ctx, &reference))?;
        record(py, "Removed", &removed)
    }

    /// Writes a stored model as a tar archive (an OCI layout) at path.
    fn export(&self, py: Python<'_>, reference: &str, path: PathBuf) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let ctx = self.ctx.clone();
        let exported = block(py, &self.quiet(), move || async move {
            ops::export(&ctx, &reference, &path)
        })?;
        record(py, "Exported", &exported)
    }

    /// Imports the models of a tar archive into the local store (as target, when given).
    #[pyo3(signature = (path, target=None))]
    fn import_archive(
        &self,
        py: Python<'_>,
        path: PathBuf,
        target: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        let target = target.map(|t| reference(py, t)).transpose()?;
        let ctx = self.ctx.clone();
        let imported = block(py, &self.quiet(), move || async move {
            ops::import(&ctx, &path, target.as_ref())
        })?;
        record(py, "ImportedList", &imported)
    }

    /// Signs a model (cosign's format, or a Sigstore bundle with format="bundle").
    #[pyo3(signature = (reference, *, key, password=None, claims=None, format="cosign"))]
    fn sign(
        &self,
        py: Python<'_>,
        reference: &str,
        key: PathBuf,
        password: Option<&str>,
        claims: Option<BTreeMap<String, String>>,
        format: &str,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let format = signature_format(py, format)?;
        let key = private_key(py, &key, password)?;
        let claims = claims.unwrap_or_default();
        let signed = block(py, &self.quiet(), || {
            ops::sign(&self.ctx, &reference, &key, claims, format)
        })?;
        record(py, "Signed", &signed)
    }

    /// Attests a model: an in-toto statement of type (provenance, evaluation, a URI, ...).
    #[pyo3(signature = (reference, *, key, r#type, predicate=None, password=None, format="cosign"))]
    fn attest(
        &self,
        py: Python<'_>,
        reference: &str,
        key: PathBuf,
        r#type: &str,
        predicate: Option<Bound<'_, PyAny>>,
        password: Option<&str>,
        format: &str,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let format = signature_format(py, format)?;
        let key = private_key(py, &key, password)?;
        let predicate = predicate.map(|p| json_value(py, &p)).transpose()?;
        let signed = block(py, &self.quiet(), || {
            ops::attest(&self.ctx, &reference, &key, r#type, predicate, format)
        })?;
        record(py, "Signed", &signed)
    }

    /// Records a signed approval of a model for an environment (`password`, `approver`,
    /// `reason`, `ticket`, `expires` as the CLI's flags).
    #[pyo3(signature = (reference, *, environment, key, **options))]
    fn approve(
        &self,
        py: Python<'_>,
        reference: &str,
        environment: String,
        key: PathBuf,
        options: Option<Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let options = Decision::parse(py, predicate::Decision::Approved, options)?;
        self.decide(py, reference, environment, key, options)
    }

    /// Records a signed rejection of a model for an environment (options as `approve`).
    #[pyo3(signature = (reference, *, environment, key, **options))]
    fn reject(
        &self,
        py: Python<'_>,
        reference: &str,
        environment: String,
        key: PathBuf,
        options: Option<Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let options = Decision::parse(py, predicate::Decision::Rejected, options)?;
        self.decide(py, reference, environment, key, options)
    }

    /// Verifies a model under policy= or keys=; returns the report, raises
    /// VerificationFailed (with .unmet and .report) when it does not verify.
    #[pyo3(signature = (reference, *, keys=None, policy=None, claims=None))]
    fn verify(
        &self,
        py: Python<'_>,
        reference: &str,
        keys: Option<Bound<'_, PyAny>>,
        policy: Option<PathBuf>,
        claims: Option<BTreeMap<String, String>>,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let Some(trust) = trust(py, policy, paths(keys.as_ref())?)? else {
            return Err(raise(py, ops::Error::NothingTrusted.into()));
        };
        let claims: Vec<(String, String)> = claims.unwrap_or_default().into_iter().collect();
        let report = block(py, &self.quiet(), || {
            ops::verify(&self.ctx, &reference, &trust, &claims)
        })?;
        let dict = record(py, "Report", &report)?;
        if let Err(error) = report.into_result() {
            let error = raise(py, error);
            error.value(py).setattr("report", dict)?;
            return Err(error);
        }
        Ok(dict)
    }

    /// Checks a model directory against its OpenSSF model signature (DIR/model.sig, or
    /// signature=) under keys= or policy=: every file re-hashed in parallel. Returns the
    /// DirReport; raises VerificationFailed (with .unmet and .report) when a file is
    /// missing, extra or changed, or no trusted key verifies the signature.
    #[pyo3(signature = (dir, *, keys=None, policy=None, signature=None, threads=None))]
    fn verify_dir(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        keys: Option<Bound<'_, PyAny>>,
        policy: Option<PathBuf>,
        signature: Option<PathBuf>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let Some(trust) = trust(py, policy, paths(keys.as_ref())?)? else {
            return Err(raise(py, ops::Error::NothingTrusted.into()));
        };
        let threads = threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        let trust = ops::verify_dir::DirTrust::from_trust(&trust);
        let (report, root) = block(py, &self.quiet(), || {
            ops::verify_dir(&dir, signature.as_deref(), &trust, threads)
        })?;
        let dict = record(py, "DirReport", &report)?;
        if let Err(error) = report.into_result(&root) {
            let error = raise(py, error);
            error.value(py).setattr("report", dict)?;
            return Err(error);
        }
        Ok(dict)
    }

    /// The verified statements of one type attached to a model (raises VerificationFailed
    /// when there is none).
    #[pyo3(signature = (reference, *, keys, r#type))]
    fn verify_attestation(
        &self,
        py: Python<'_>,
        reference: &str,
        keys: Bound<'_, PyAny>,
        r#type: &str,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let keys = ops::verify::load_public_keys(&paths(Some(&keys))?).map_err(|e| raise(py, e))?;
        let report = block(py, &self.quiet(), || {
            ops::verify_attestation(&self.ctx, &reference, &keys, r#type)
        })?;
        let report = report.into_result().map_err(|e| raise(py, e))?;
        record(py, "StatementList", &report.verified)
    }

    /// A repository's versions (semver order) with aliases, signatures and approvals.
    #[pyo3(signature = (repository, *, keys=None, policy=None))]
    fn versions(
        &self,
        py: Python<'_>,
        repository: &str,
        keys: Option<Bound<'_, PyAny>>,
        policy: Option<PathBuf>,
    ) -> PyResult<Py<PyAny>> {
        let repository = reference(py, repository)?;
        let trust = trust_policy(py, policy, keys)?;
        let ctx = self.ctx.clone().with_concurrency(8);
        let found = block(py, &self.quiet(), || {
            ops::versions(&ctx, &repository, &trust)
        })?;
        record(py, "Versions", &found)
    }

    /// Moves an alias to a version, with what the policy asks for the alias (signed record).
    #[pyo3(signature = (reference, alias, *, key, password=None, policy=None, reason=None, by=None))]
    fn promote(
        &self,
        py: Python<'_>,
        reference: &str,
        alias: &str,
        key: PathBuf,
        password: Option<&str>,
        policy: Option<PathBuf>,
        reason: Option<String>,
        by: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let mover = Mover::load(py, alias, &key, password, policy, by)?;
        let how = mover.how(reason.as_deref());
        let ctx = self.ctx.clone().with_concurrency(8);
        let moved = block_governed(py, &self.quiet(), || {
            ops::promote(&ctx, &reference, &mover.alias, &how)
        })?;
        record(py, "Moved", &moved)
    }

    /// Moves an alias back to the version it named before (signed record).
    #[pyo3(signature = (repository, alias, *, key, password=None, policy=None, reason=None, by=None))]
    fn rollback(
        &self,
        py: Python<'_>,
        repository: &str,
        alias: &str,
        key: PathBuf,
        password: Option<&str>,
        policy: Option<PathBuf>,
        reason: Option<String>,
        by: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let repository = reference(py, repository)?;
        let mover = Mover::load(py, alias, &key, password, policy, by)?;
        let how = mover.how(reason.as_deref());
        let ctx = self.ctx.clone().with_concurrency(8);
        let moved = block_governed(py, &self.quiet(), || {
            ops::rollback(&ctx, &repository, &mover.alias, &how)
        })?;
        record(py, "Moved", &moved)
    }

    /// A repository's signed history: pushes, promotions, rollbacks, approvals.
    #[pyo3(signature = (repository, *, alias=None, keys=None, policy=None))]
    fn history(
        &self,
        py: Python<'_>,
        repository: &str,
        alias: Option<&str>,
        keys: Option<Bound<'_, PyAny>>,
        policy: Option<PathBuf>,
    ) -> PyResult<Py<PyAny>> {
        let repository = reference(py, repository)?;
        let trust = trust_policy(py, policy, keys)?;
        let ctx = self.ctx.clone().with_concurrency(8);
        let events = block(py, &self.quiet(), || {
            ops::history(&ctx, &repository, &trust, alias)
        })?;
        record(py, "EventList", &events)
    }

    /// The lineage graph of a model: parents, datasets, sources.
    #[pyo3(signature = (reference, *, keys=None, policy=None, depth=32))]
    fn lineage(
        &self,
        py: Python<'_>,
        reference: &str,
        keys: Option<Bound<'_, PyAny>>,
        policy: Option<PathBuf>,
        depth: usize,
    ) -> PyResult<Py<PyAny>> {
        let reference = self::reference(py, reference)?;
        let trust = trust_policy(py, policy, keys)?;
        let graph = block(py, &self.quiet(), || {
            ops::lineage(&self.ctx, &reference, trust.keys(), depth)
        })?;
        record(py, "Graph", &graph)
    }

    /// Searches a registry (HOST, HOST/PREFIX) or a layout (oci:PATH) by metadata: where=
    /// holds the CLI's --where conditions (`framework=pytorch`, `metrics.accuracy>=0.9`).
    #[pyo3(signature = (scope, r#where=None, *, text=None, no_refresh=false))]
    fn search(
        &self,
        py: Python<'_>,
        scope: &str,
        r#where: Option<Bound<'_, PyAny>>,
        text: Option<String>,
        no_refresh: bool,
    ) -> PyResult<Py<PyAny>> {
        let conditions: Vec<String> = match r#where {
            None => Vec::new(),
            Some(value) if value.is_none() => Vec::new(),
            Some(value) => match value.extract::<String>() {
                Ok(one) => vec![one],
                Err(_) => value.extract::<Vec<String>>()?,
            },
        };
        let conditions = conditions
            .iter()
            .map(|c| {
                c.parse::<modelark::governance::query::Condition>()
                    .map_err(|e| raise(py, e.into()))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mut search = Search::new(scope, conditions);
        search.no_refresh = no_refresh;
        search.text = text;
        let ctx = self.ctx.clone().with_concurrency(16);
        let hits = block(py, &self.quiet(), || ops::search(&ctx, &search))?;
        record(py, "HitList", &hits)
    }

    /// What differs between two models: metadata, files, annotations.
    fn diff(&self, py: Python<'_>, first: &str, second: &str) -> PyResult<Py<PyAny>> {
        let first = reference(py, first)?;
        let second = reference(py, second)?;
        let diff = block(py, &self.quiet(), || ops::diff(&self.ctx, &first, &second))?;
        record(py, "Diff", &diff)
    }

    /// Writes a cosign-format key pair PREFIX.key (encrypted with password) and PREFIX.pub.
    #[pyo3(signature = (prefix="cosign", password="", *, replace=false))]
    fn generate_key_pair(
        &self,
        py: Python<'_>,
        prefix: &str,
        password: &str,
        replace: bool,
    ) -> PyResult<Py<PyAny>> {
        let pair = ops::generate_key_pair(prefix, password.as_bytes(), replace)
            .map_err(|e| raise(py, e))?;
        record(py, "KeyPair", &pair)
    }
}

impl Client {
    fn progress(&self, py: Python<'_>, given: Option<&Bound<'_, PyAny>>) -> PyResult<Progress> {
        Progress::new(py, given, self.progress.as_ref())
    }

    /// No progress: metadata calls report nothing.
    fn quiet(&self) -> Progress {
        Progress {
            callback: None,
            tracker: Arc::default(),
        }
    }

    fn with(&self, progress: &Progress) -> Context {
        self.ctx
            .clone()
            .with_reporter(Arc::clone(&progress.tracker) as Arc<dyn Reporter>)
    }

    fn fetch_model(
        &self,
        py: Python<'_>,
        reference: &str,
        policy: Option<PathBuf>,
        keys: Option<Bound<'_, PyAny>>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<ops::Fetched> {
        let reference = self::reference(py, reference)?;
        let trust = trust(py, policy, paths(keys.as_ref())?)?;
        let progress = self.progress(py, progress.as_ref())?;
        let ctx = self.with(&progress);
        block(py, &progress, || {
            ops::fetch(&ctx, &reference, trust.as_ref())
        })
    }

    fn decide(
        &self,
        py: Python<'_>,
        reference: &str,
        environment: String,
        key: PathBuf,
        options: Decision,
    ) -> PyResult<Py<PyAny>> {
        let Decision {
            decision,
            password,
            approver,
            reason,
            ticket,
            expires,
        } = options;
        let reference = self::reference(py, reference)?;
        let key = private_key(py, &key, password.as_deref())?;
        let now = time::OffsetDateTime::now_utc();
        let expires = expires
            .as_deref()
            .map(|text| {
                predicate::expiry(text, now)
                    .map_err(|e| usage(py, &format!("invalid expires {text:?}: {e}")))
            })
            .transpose()?;
        let approval = predicate::Approval {
            environment,
            decision,
            approver: who(approver),
            reason,
            ticket,
            time: predicate::now_rfc3339(),
            expires,
        };
        let signed = block(py, &self.quiet(), || {
            ops::approve(&self.ctx, &reference, &key, &approval)
        })?;
        record(py, "Signed", &signed)
    }
}

/// An approval's or rejection's keyword options.
struct Decision {
    decision: predicate::Decision,
    password: Option<String>,
    approver: Option<String>,
    reason: Option<String>,
    ticket: Option<String>,
    expires: Option<String>,
}

impl Decision {
    fn parse(
        py: Python<'_>,
        decision: predicate::Decision,
        options: Option<Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Decision> {
        let mut out = Decision {
            decision,
            password: None,
            approver: None,
            reason: None,
            ticket: None,
            expires: None,
        };
        for (key, value) in options.iter().flat_map(|o| o.iter()) {
            let key: String = key.extract()?;
            let value: Option<String> = value
                .extract()
                .map_err(|_| usage(py, &format!("{key} must be a string")))?;
            match key.as_str() {
                "password" => out.password = value,
                "approver" => out.approver = value,
                "reason" => out.reason = value,
                "ticket" => out.ticket = value,
                "expires" => out.expires = value,
                _ => {
                    return Err(usage(
                        py,
                        &format!(
                            "unknown keyword {key:?}; the options are password, approver, reason, ticket, expires"
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// What an alias move is signed and checked with: `promote` and `rollback` arguments.
struct Mover {
    alias: Tag,
    key: PrivateKey,
    key_name: String,
    policy: Option<Trust>,
    by: String,
}

impl Mover {
    fn load(
        py: Python<'_>,
        alias: &str,
        key: &std::path::Path,
        password: Option<&str>,
        policy: Option<PathBuf>,
        by: Option<String>,
    ) -> PyResult<Mover> {
        Ok(Mover {
            alias: tag(py, alias)?,
            key_name: key.display().to_string(),
            key: private_key(py, key, password)?,
            policy: policy
                .map(|p| Trust::load_policy(&p))
                .transpose()
                .map_err(|e| raise(py, e))?,
            by: who(by),
        })
    }

    fn how<'a>(&'a self, reason: Option<&'a str>) -> Move<'a> {
        Move {
            key: &self.key,
            key_name: &self.key_name,
            policy: self.policy.as_ref().map(Trust::rules),
            by: &self.by,
            reason,
        }
    }
}

/// The policy `policy=` or `keys=` describe (everything it trusts: keys, keyless
/// identities, time-stamping authorities); trusting no one without either.
fn trust_policy(
    py: Python<'_>,
    policy: Option<PathBuf>,
    keys: Option<Bound<'_, PyAny>>,
) -> PyResult<modelark::verify::Policy> {
    Ok(trust(py, policy, paths(keys.as_ref())?)?.map_or_else(
        || modelark::verify::Policy::trust_keys(Vec::new()),
        |t| t.rules().clone(),
    ))
}

fn signature_format(py: Python<'_>, text: &str) -> PyResult<Format> {
    match text {
        "cosign" => Ok(Format::Cosign),
        "bundle" => Ok(Format::Bundle),
        "model-signing" => Ok(Format::ModelSigning),
        other => Err(usage(
            py,
            &format!("format {other:?} is not cosign, bundle or model-signing"),
        )),
    }
}

/// A predicate given as a dict (or anything `json.dumps` takes), or a path to a JSON file.
fn json_value(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let text: String = if let Ok(path) = value.extract::<PathBuf>() {
        fs_err::read_to_string(&path).map_err(|e| usage(py, &e.to_string()))?
    } else {
        py.import("json")?
            .call_method1("dumps", (value,))?
            .extract()?
    };
    serde_json::from_str(&text).map_err(|e| usage(py, &format!("the predicate is not JSON: {e}")))
}

/// `**metadata` keywords of pack and push: the CLI's metadata flags, by their Python names.
fn overrides(
    py: Python<'_>,
    metadata: Option<Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<Overrides> {
    let Some(metadata) = metadata else {
        return Ok(Overrides::default());
    };
    const KNOWN: &[&str] = &[
        "name",
        "version",
        "title",
        "description",
        "authors",
        "licenses",
        "framework",
        "format",
        "architecture",
        "param_size",
        "precision",
        "quantization",
        "task",
        "tags",
        "metrics",
        "source_repo",
        "source_revision",
        "datasets",
        "training_run",
        "parent",
        "annotations",
        "kinds",
        "exclude",
        "model_file",
        "dereference",
        "created",
    ];
    let mut out = Overrides::default();
    for (key, value) in metadata.iter() {
        let key: String = key.extract()?;
        if !KNOWN.contains(&key.as_str()) {
            return Err(usage(
                py,
                &format!(
                    "unknown keyword {key:?}; metadata keywords are {}",
                    KNOWN.join(", ")
                ),
            ));
        }
        if value.is_none() {
            continue;
        }
        let bad = |e: PyErr| usage(py, &format!("{key}: {e}"));
        let strings = |v: &Bound<'_, PyAny>| -> PyResult<Vec<String>> {
            match v.extract::<String>() {
                Ok(one) => Ok(vec![one]),
                Err(_) => v.extract::<Vec<String>>(),
            }
        };
        match key.as_str() {
            "name" => out.name = Some(value.extract().map_err(bad)?),
            "version" => out.version = Some(value.str()?.extract()?),
            "title" => out.title = Some(value.extract().map_err(bad)?),
            "description" => out.description = Some(value.extract().map_err(bad)?),
            "authors" => out.authors = strings(&value).map_err(bad)?,
            "licenses" => out.licenses = strings(&value).map_err(bad)?,
            "framework" => out.framework = Some(value.extract().map_err(bad)?),
            "format" => out.format = Some(value.extract().map_err(bad)?),
            "architecture" => out.architecture = Some(value.extract().map_err(bad)?),
            "param_size" => out.param_size = Some(value.str()?.extract()?),
            "precision" => out.precision = Some(value.extract().map_err(bad)?),
            "quantization" => out.quantization = Some(value.extract().map_err(bad)?),
            "task" => out.task = Some(value.extract().map_err(bad)?),
            "tags" => out.tags = strings(&value).map_err(bad)?,
            "metrics" => out.metrics = value.extract().map_err(bad)?,
            "source_repo" => out.source_repo = Some(value.extract().map_err(bad)?),
            "source_revision" => out.source_revision = Some(value.extract().map_err(bad)?),
            "datasets" => out.datasets = strings(&value).map_err(bad)?,
            "training_run" => out.training_run = Some(value.extract().map_err(bad)?),
            "parent" => out.parent = Some(value.extract().map_err(bad)?),
            "annotations" => out.annotations = value.extract().map_err(bad)?,
            "kinds" => out.kinds = value.extract().map_err(bad)?,
            "exclude" => out.exclude = strings(&value).map_err(bad)?,
            "model_file" => out.model_file = Some(value.extract().map_err(bad)?),
            "dereference" => out.dereference = value.extract().map_err(bad)?,
            "created" => out.created = Some(value.extract().map_err(bad)?),
            _ => unreachable!("checked against KNOWN"),
        }
    }
    Ok(out)
}

/// The `modelark` command (the CLI, in this process): returns its exit code.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| cli::main(argv))
}

/// The library version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
