//! Command-line interface: one file per command, rendering in `output.rs`.

mod archive;
mod discover;
mod govern;
pub mod hints;
mod inspect;
mod list;
mod login;
mod output;
pub mod pack;
mod serve;
mod sign;
mod store;
mod tags;
mod transfer;
mod unpack;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use modelark::Context;
use modelark::store::Home;
use modelark::store::registry::{self, CredentialStore};

/// modelark: a governed model registry on any OCI registry or directory.
#[derive(Debug, Parser)]
#[command(name = "modelark", version, about, long_about = None)]
#[command(
    after_help = "References:\n  NAME[:TAG][@DIGEST]          a model in the local store ($MODELARK_HOME)\n  oci:PATH[:TAG|@DIGEST]       an OCI image layout directory (skopeo's syntax)\n  HOST[:PORT]/REPO[:TAG]       a registry repository\n  REPO@ALIAS                   the same as REPO:ALIAS (MLflow's alias syntax)\n\nExit codes: 0 ok, 1 not found, verification failed or refused by governance, 2 usage or operational error."
)]
pub struct Cli {
    /// Log what modelark does to stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never draw progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pack a model directory as a ModelPack artifact into the local store or a layout.
    #[command(
        after_help = "Examples:\n  modelark pack ./bert -t bert:1.0.0\n  modelark pack ./bert -t oci:./bert-layout:1.0.0 -f bert.yaml --metric accuracy=0.91\n  SOURCE_DATE_EPOCH=1700000000 modelark pack ./bert -t bert:1.0.0   # records that build time"
    )]
    Pack(Box<pack::Args>),
    /// Show a model's metadata and files.
    #[command(
        after_help = "Examples:\n  modelark inspect bert:1.0.0\n  modelark inspect oci:./bert-layout:1.0.0 --json"
    )]
    Inspect(inspect::Args),
    /// List models in the local store, or tags of a repository or layout.
    #[command(
        after_help = "Examples:\n  modelark list\n  modelark list bert\n  modelark list oci:./bert-layout --json"
    )]
    List(list::Args),
    /// Point a new tag at an existing model.
    #[command(
        after_help = "Examples:\n  modelark tag bert:1.0.0 bert:production\n  modelark tag oci:./layout:1.0.0 oci:./layout:stable"
    )]
    Tag(tags::TagArgs),
    /// Remove a tag (or, by digest, every tag of that model) and free unused blobs.
    #[command(
        after_help = "Examples:\n  modelark rm bert:1.0.0\n  modelark rm bert@sha256:4c3f..."
    )]
    Rm(tags::RmArgs),
    /// Write a model's files into a directory, verifying every blob.
    #[command(
        after_help = "Examples:\n  modelark unpack bert:1.0.0 -o ./bert\n  modelark unpack bert:1.0.0 -o ./weights --include '*.safetensors' --include config.json"
    )]
    Unpack(unpack::Args),
    /// Write a model as an OCI layout tar archive that any OCI tool reads.
    #[command(
        after_help = "Examples:\n  modelark export bert:1.0.0 -o bert.tar\n  skopeo copy oci-archive:bert.tar:1.0.0 docker://registry.example.com/bert:1.0.0"
    )]
    Export(archive::ExportArgs),
    /// Read models from an OCI layout tar archive into the local store.
    #[command(
        after_help = "Examples:\n  modelark import bert.tar\n  modelark import bert.tar -t bert:restored"
    )]
    Import(archive::ImportArgs),
    /// Push a model directory (packed on the fly, no local copy) or a stored model to a registry.
    #[command(
        after_help = "Examples:\n  modelark push ./bert registry.example.com/ml/bert:1.0.0\n  modelark push bert:1.0.0 localhost:5000/bert:1.0.0 --plain-http\n  modelark push oci:./layout:1.0.0 ghcr.io/acme/bert:1.0.0"
    )]
    Push(Box<transfer::PushArgs>),
    /// Pull a model from a registry into the local store, and unpack it with -o.
    #[command(
        after_help = "Examples:\n  modelark pull registry.example.com/ml/bert:1.0.0\n  modelark pull registry.example.com/ml/bert:1.0.0 -o ./bert\n  modelark pull localhost:5000/bert:1.0.0 -o ./w --include '*.safetensors' --plain-http"
    )]
    Pull(transfer::PullArgs),
    /// Copy a model between any two of: registry, local store, oci: layout.
    #[command(
        after_help = "Examples:\n  modelark copy registry-a.example.com/bert:1 registry-b.example.com/ml/bert:1\n  modelark copy bert:1.0.0 oci:./airgap:1.0.0\n  modelark copy oci:./airgap:1.0.0 registry.internal/bert:1.0.0"
    )]
    Copy(transfer::CopyArgs),
    /// Store credentials for a registry (docker config.json format; docker, podman and oras share it).
    #[command(
        after_help = "Examples:\n  echo \"$TOKEN\" | modelark login ghcr.io -u USER --password-stdin"
    )]
    Login(login::LoginArgs),
    /// Remove stored credentials for a registry.
    #[command(after_help = "Examples:\n  modelark logout ghcr.io")]
    Logout(login::LogoutArgs),
    /// Create a cosign-format key pair (cosign.key, encrypted, and cosign.pub).
    #[command(
        after_help = "Examples:\n  modelark generate-key-pair\n  COSIGN_PASSWORD= modelark generate-key-pair --output-key-prefix ci   # empty password for automation"
    )]
    GenerateKeyPair(sign::GenerateArgs),
    /// Sign a model (cosign simple signing under sha256-<hex>.sig, or a Sigstore bundle referrer).
    #[command(
        after_help = "Examples:\n  modelark sign registry.example.com/ml/bert:1.0.0 --key cosign.key\n  modelark sign bert:1.0.0 --key cosign.key -a pipeline=train-42\n  modelark sign registry.example.com/ml/bert:1.0.0 --key cosign.key --format bundle\n\nVerify with cosign: cosign verify --key cosign.pub --insecure-ignore-tlog HOST/REPO@DIGEST"
    )]
    Sign(sign::SignArgs),
    /// Attach a signed in-toto attestation (DSSE) to a model.
    #[command(
        after_help = "Examples:\n  modelark attest bert:1.0.0 --key cosign.key --type provenance\n  modelark attest registry.example.com/ml/bert:1.0.0 --key cosign.key --type approval --predicate approval.json\n  modelark attest bert:1.0.0 --key cosign.key --type https://example.com/eval/v1 --predicate eval.json --format bundle"
    )]
    Attest(sign::AttestArgs),
    /// Approve a model version for an environment (a signed approval attestation).
    #[command(
        after_help = "Examples:\n  modelark approve registry.example.com/ml/bert:1.4.0 --env production --key alice.key --ticket CHG-1234 --expires 90d"
    )]
    Approve(sign::ApproveArgs),
    /// Reject a model version for an environment (revokes the signer's earlier approval).
    #[command(
        after_help = "Examples:\n  modelark reject registry.example.com/ml/bert:1.4.0 --env production --key alice.key --reason 'bias regression'"
    )]
    Reject(sign::ApproveArgs),
    /// Check a model's signatures (and attestations) against keys or a trust policy.
    #[command(
        after_help = "Examples:\n  modelark verify registry.example.com/ml/bert:1.0.0 --key cosign.pub\n  modelark verify registry.example.com/ml/bert:production --policy deploy.yaml --json\n\nExit 1 when nothing trusted verifies or a policy requirement is unmet."
    )]
    Verify(verify::VerifyArgs),
    /// List a repository's versions with signatures, approvals and aliases (semver order).
    #[command(
        after_help = "Examples:\n  modelark versions registry.example.com/ml/bert --policy deploy.yaml\n  modelark versions registry.example.com/ml/bert --key release.pub --json"
    )]
    Versions(govern::VersionsArgs),
    /// Move an alias (production, champion) to a version, with a signed promotion record.
    #[command(
        after_help = "Examples:\n  modelark promote registry.example.com/ml/bert:1.4.0 --to production --key alice.key --policy deploy.yaml --reason 'beats 1.3 on eval-7'\n\nExit 1, saying what is missing, when the policy's requirements for the alias are not met."
    )]
    Promote(govern::PromoteArgs),
    /// Move an alias back to where its last verified promotion moved it from.
    #[command(
        after_help = "Examples:\n  modelark rollback registry.example.com/ml/bert --alias production --key alice.key --policy deploy.yaml"
    )]
    Rollback(govern::RollbackArgs),
    /// The timeline of versions, signatures, approvals and alias moves, verified or not.
    #[command(
        after_help = "Examples:\n  modelark history registry.example.com/ml/bert --policy deploy.yaml\n  modelark history registry.example.com/ml/bert --alias production --key alice.pub --json"
    )]
    History(govern::HistoryArgs),
    /// The chain of parent models, datasets and sources, across repositories.
    #[command(
        after_help = "Examples:\n  modelark lineage registry.example.com/ml/bert:1.4.0 --key release.pub\n  modelark lineage registry.example.com/ml/bert:1.4.0 --format dot | dot -Tsvg > lineage.svg"
    )]
    Lineage(discover::LineageArgs),
    /// Find models by metadata across a registry, without pulling weights.
    #[command(
        after_help = "Examples:\n  modelark search registry.example.com/ml --where framework=pytorch --where 'metrics.accuracy>=0.9'\n  modelark search registry.example.com --where license=apache-2.0 --where task=text-classification --json\n\nA local index ($MODELARK_HOME/index) makes repeat searches fast; --no-refresh searches it offline."
    )]
    Search(discover::SearchArgs),
    /// Show metadata and file differences between two models.
    #[command(
        after_help = "Examples:\n  modelark diff registry.example.com/ml/bert:1.3.0 registry.example.com/ml/bert:1.4.0"
    )]
    Diff(discover::DiffArgs),
    /// Look after the local store: list, remove local copies, collect garbage, check.
    #[command(
        after_help = "Examples:\n  modelark store list\n  modelark store rm ghcr.io/acme/bert:1.0.0\n  modelark store gc\n  modelark store fsck --repair"
    )]
    Store(store::Args),
    /// Serve the registry: REST API, web pages, access control (see docs/serve.md).
    #[command(
        after_help = "Examples:\n  modelark serve --config serve.yaml\n  modelark serve --listen 127.0.0.1:8080 --registry localhost:5000/ml --plain-http --policy deploy.yaml\n  modelark serve   # the local store, read-only, on 127.0.0.1:8080"
    )]
    Serve(serve::Args),
    /// Check that a model carries a verified attestation of a type.
    #[command(
        after_help = "Examples:\n  modelark verify-attestation bert:1.0.0 --key cosign.pub --type provenance --json"
    )]
    VerifyAttestation(verify::VerifyAttestationArgs),
    /// Check a model directory on disk against its OpenSSF model signature (model.sig).
    #[command(
        after_help = "Re-hashes every file (in parallel) and reports missing, extra and changed files: the check a node runs right before it serves a model. Reads signatures made by `model_signing sign key` and written by `pull -o DIR --model-sig`.\n\nExamples:\n  modelark verify-dir ./bert --key cosign.pub\n  modelark verify-dir ./bert --signature bert.sig --policy deploy.yaml --json"
    )]
    VerifyDir(verify::VerifyDirArgs),
}

/// How to reach registries; shared by every command that can talk to one.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Talk plain HTTP to registries (e.g. a local test registry).
    #[arg(long, global = true)]
    plain_http: bool,
    /// Trust this PEM CA certificate for registry TLS.
    #[arg(long, global = true, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Per-registry certificate directories, DIR/HOST[:PORT]/*.crt as docker and podman keep
    /// them (repeatable) [default: /etc/docker/certs.d, /etc/containers/certs.d,
    /// ~/.config/containers/certs.d].
    #[arg(long = "registry-certs-dir", global = true, value_name = "DIR")]
    cert_dirs: Vec<PathBuf>,
    /// Do not verify registry TLS certificates (never in production).
    #[arg(long, global = true)]
    insecure: bool,
    /// Upload blobs in chunks of this many bytes (e.g. 4194304 for GHCR) instead of one PUT.
    #[arg(long, global = true, value_name = "BYTES")]
    chunk_size: Option<u64>,
    /// Retries after a dropped connection, 429 or 5xx.
    #[arg(long, global = true, default_value_t = 5, value_name = "N")]
    retries: u32,
    /// Connections for one large blob on pull (ranged parts; 1 disables) [default: 4, or 1
    /// for a registry on a loopback address].
    #[arg(long, global = true, value_name = "N")]
    connections: Option<u64>,
    /// Smallest part of a blob fetched over its own connection.
    #[arg(long, global = true, default_value_t = 64 << 20, value_name = "BYTES", hide = true)]
    part_size: u64,
    /// Give up connecting to a registry after this long (e.g. 30s, 2m).
    #[arg(long, global = true, default_value = "30s", value_name = "TIME", value_parser = duration)]
    connect_timeout: Duration,
    /// Wait this long for a registry to answer a request (retried, then an error).
    #[arg(long, global = true, default_value = "60s", value_name = "TIME", value_parser = duration)]
    timeout: Duration,
    /// A transfer that receives nothing for this long is stalled: resumed with Range, then an error.
    #[arg(long, global = true, default_value = "60s", value_name = "TIME", value_parser = duration)]
    read_timeout: Duration,
    /// The longest single wait before a retry, whatever a registry's Retry-After asks for.
    #[arg(long, global = true, default_value = "60s", value_name = "TIME", value_parser = duration)]
    max_retry_wait: Duration,
    /// Never talk to a registry: HOST/REPO:TAG means the local store's copy of a pulled model
    /// (inspect, unpack, verify, verify-attestation, diff, lineage work; anything else that
    /// needs the registry fails).
    #[arg(long, global = true, env = "MODELARK_OFFLINE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    offline: bool,
    /// Layers a signature or attestation manifest may have before it is refused unread.
    #[arg(long, global = true, default_value_t = 256, value_name = "N")]
    max_attachment_layers: usize,
}

/// Where docker, podman and skopeo look for per-registry certificates.
pub fn default_cert_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("/etc/docker/certs.d"),
        PathBuf::from("/etc/containers/certs.d"),
    ];
    if let Some(home) = dirs::home_dir() {
        dirs.push(home.join(".config/containers/certs.d"));
    }
    dirs
}

/// Parses `90`, `90s`, `500ms`, `2m` or `1h`.
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 500ms or 2m"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

impl RegistryArgs {
    /// The registry options these flags describe.
    fn options(&self) -> registry::Options {
        registry::Options {
            plain_http: self.plain_http,
            ca_file: self.ca_file.clone(),
            cert_dirs: if self.cert_dirs.is_empty() {
                default_cert_dirs()
            } else {
                self.cert_dirs.clone()
            },
            insecure: self.insecure,
            retries: self.retries,
            chunk_size: self.chunk_size,
            connections_per_blob: self.connections.map(|n| n.max(1)),
            min_part_size: self.part_size.max(1),
            connect_timeout: self.connect_timeout,
            response_timeout: self.timeout,
            read_timeout: self.read_timeout,
            max_retry_wait: self.max_retry_wait,
            max_attachment_layers: self.max_attachment_layers,
            ..registry::Options::default()
        }
    }
}

/// What every command runs in: the flags and the environment, turned into the library's
/// [`Context`]. Progress bars are drawn unless `--quiet` or the command prints JSON.
pub struct Env {
    registry: RegistryArgs,
    quiet: bool,
}

impl Env {
    /// The context for a command; `json` turns progress bars off.
    fn context(&self, json: bool) -> anyhow::Result<Context> {
        Ok(Context::new(home()?, credentials())
            .with_registry_options(self.registry.options())
            .with_offline(self.registry.offline)
            .with_reporter(output::reporter(self.quiet, json)))
    }
}

/// The data directory: `$MODELARK_HOME`, else `<XDG data dir>/modelark`.
pub fn home() -> anyhow::Result<Home> {
    match std::env::var_os("MODELARK_HOME") {
        Some(root) if !root.is_empty() => Ok(Home::new(root)),
        _ => dirs::data_dir()
            .map(|d| Home::new(d.join("modelark")))
            .ok_or_else(|| CliError::NoHome.into()),
    }
}

/// The Hugging Face Hub cache, where `huggingface_hub` keeps it: `$HF_HUB_CACHE`, else
/// `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_cache() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|home| home.join("hub")))
        .or_else(|| {
            var("XDG_CACHE_HOME")
                .or_else(|| dirs::home_dir().map(|h| h.join(".cache")))
                .map(|cache| cache.join("huggingface/hub"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"))
}

/// The credential store docker would use here: `$DOCKER_CONFIG/config.json` (else
/// `~/.docker/config.json`), falling back to `$REGISTRY_AUTH_FILE` and containers'
/// `$XDG_RUNTIME_DIR/containers/auth.json` when reading.
pub fn credentials() -> CredentialStore {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"));
    let mut fallbacks = Vec::new();
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        fallbacks.push(PathBuf::from(file));
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        fallbacks.push(PathBuf::from(runtime).join("containers/auth.json"));
    }
    CredentialStore::at(dir.join("config.json"), fallbacks)
}

pub use output::escape;

/// The whole command: parses `args` (the program name first), runs it and reports an error
/// on stderr; returns the exit code (0 ok, 1 not found, verification failed or refused by
/// governance, 2 usage or operational error, 130 interrupted).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let args = Cli::parse_from(args);
    init_logging(args.verbose);
    let situation = situation(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = anyhow::Error::new(error).context("failed to start the async runtime");
            return report(&error, situation);
        }
    };
    runtime.spawn(watch_signals());
    let result = run(args, &runtime);
    if modelark::interrupt::requested() {
        let _ = writeln!(
            std::io::stderr(),
            "error: interrupted; nothing half-written was left (partial downloads are kept and resume on the next run)"
        );
        return 130;
    }
    match result {
        Ok(()) => 0,
        Err(error) => report(&error, situation),
    }
}

/// Prints [`describe`] on stderr and picks the exit code.
fn report(error: &anyhow::Error, situation: hints::Situation) -> u8 {
    let broken_pipe = error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
    if broken_pipe {
        return 0;
    }
    let mut text = describe(error);
    if let Some(hint) = hints::hint(error, situation) {
        text.push_str("\n  hint: ");
        text.push_str(&escape(&hint));
    }
    let _ = writeln!(std::io::stderr().lock(), "error: {text}");
    let library = error
        .chain()
        .find_map(|e| e.downcast_ref::<modelark::Error>());
    match library.map(modelark::Error::class) {
        Some(modelark::error::Class::NotFound | modelark::error::Class::Verification) => 1,
        _ => 2,
    }
}

/// An error as the CLI words it: the operation and object, then each `caused by:` on its
/// own line; control characters escaped. (The CLI adds a `hint:` naming its flags.)
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut causes = error.chain();
    if let Some(top) = causes.next() {
        text.push_str(&escape(&top.to_string()));
    }
    for cause in causes {
        text.push_str("\n  caused by: ");
        text.push_str(&escape(&cause.to_string()));
    }
    text
}

/// Turns the first SIGINT or SIGTERM into [`modelark::interrupt::request`], so running
/// copies stop at their next buffer and clean up; a second one ends the process at once.
pub async fn watch_signals() {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
        if modelark::interrupt::requested() {
            std::process::exit(130);
        }
        modelark::interrupt::request();
    }
}

/// Runs `work` until it ends or an interruption is requested; then it is dropped (its
/// temp files with it) and the command ends.
fn block<T>(
    runtime: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    runtime.block_on(async {
        tokio::select! {
            result = work => result,
            () = async {
                while !modelark::interrupt::requested() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => Err(modelark::interrupt::check().unwrap_err().into()),
        }
    })
}

/// Runs the parsed command; `runtime` drives everything that talks to a registry.
pub fn run(cli: Cli, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let env = Env {
        registry: cli.registry,
        quiet: cli.quiet,
    };
    let env = &env;
    use modelark::sign::predicate::Decision;
    match cli.command {
        Command::Pack(args) => block(runtime, pack::run(*args, env)),
        Command::Inspect(args) => block(runtime, inspect::run(args, env)),
        Command::List(args) => block(runtime, list::run(args, env)),
        Command::Tag(args) => block(runtime, tags::tag(args, env)),
        Command::Rm(args) => block(runtime, tags::rm(args, env)),
        Command::Unpack(args) => block(runtime, unpack::run(args, env)),
        Command::Export(args) => archive::export(args, env),
        Command::Import(args) => archive::import(args, env),
        Command::Push(args) => block(runtime, transfer::push(*args, env)),
        Command::Pull(args) => block(runtime, transfer::pull(args, env)),
        Command::Copy(args) => block(runtime, transfer::copy(args, env)),
        Command::Login(args) => block(runtime, login::login(args, env)),
        Command::Logout(args) => login::logout(args, env),
        Command::GenerateKeyPair(args) => sign::generate(args),
        Command::Sign(args) => block(runtime, sign::sign(args, env)),
        Command::Attest(args) => block(runtime, sign::attest(args, env)),
        Command::Approve(args) => block(runtime, sign::approve(args, env, Decision::Approved)),
        Command::Reject(args) => block(runtime, sign::approve(args, env, Decision::Rejected)),
        Command::Verify(args) => block(runtime, verify::verify(args, env)),
        Command::Versions(args) => block(runtime, govern::list_versions(args, env)),
        Command::Promote(args) => block(runtime, govern::promote(args, env)),
        Command::Rollback(args) => block(runtime, govern::rollback(args, env)),
        Command::History(args) => block(runtime, govern::show_history(args, env)),
        Command::Lineage(args) => block(runtime, discover::show_lineage(args, env)),
        Command::Search(args) => block(runtime, discover::search(args, env)),
        Command::Diff(args) => block(runtime, discover::show_diff(args, env)),
        Command::Store(args) => block(runtime, store::run(args, env)),
        Command::Serve(args) => block(runtime, serve::run(args, &env.registry)),
        Command::VerifyAttestation(args) => block(runtime, verify::verify_attestation(args, env)),
        Command::VerifyDir(args) => block(runtime, verify::verify_dir(args)),
    }
}

/// Whether the command lists every signature and attestation itself (so hints must not
/// send the user back to it), and whether it runs offline: what [`hints::hint`] needs to
/// know about the command line.
pub fn situation(cli: &Cli) -> hints::Situation {
    hints::Situation {
        verifying: matches!(
            cli.command,
            Command::Verify(_) | Command::VerifyAttestation(_) | Command::VerifyDir(_)
        ),
        offline: cli.registry.offline,
        directory: matches!(cli.command, Command::VerifyDir(_)),
    }
}

/// Sends `tracing` output to stderr at the level `-v` asks for.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Usage errors the CLI detects.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A malformed `KEY=VALUE` argument.
    #[error("{0:?} is not KEY=VALUE")]
    KeyValue(String),
    /// Neither `MODELARK_HOME` nor a user data directory is known.
    #[error("cannot find a data directory for the local store; set MODELARK_HOME")]
    NoHome,
}

impl CliError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            CliError::KeyValue(_) => "write it as KEY=VALUE, e.g. accuracy=0.91".into(),
            CliError::NoHome => return None,
        })
    }
}

/// Parses a `KEY=VALUE` argument.
fn key_value(text: &str) -> Result<(String, String), CliError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(CliError::KeyValue(text.to_owned())),
    }
}
