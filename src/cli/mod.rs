//! Command-line interface: one file per command, rendering in `output.rs`.

mod archive;
mod inspect;
mod list;
mod output;
mod pack;
mod tags;
mod unpack;

use anyhow::Context;
use clap::{Parser, Subcommand};
use modelark::reference::{Location, Reference};
use modelark::store::{Home, LayoutRepo};

/// modelark: a governed model registry on any OCI registry or directory.
#[derive(Debug, Parser)]
#[command(name = "modelark", version, about, long_about = None)]
#[command(
    after_help = "References:\n  NAME[:TAG][@DIGEST]          a model in the local store ($MODELARK_HOME)\n  oci:PATH[:TAG|@DIGEST]       an OCI image layout directory (skopeo's syntax)\n  HOST[:PORT]/REPO[:TAG]       a registry repository\n\nExit codes: 0 ok, 1 not found or verification failed, 2 usage or operational error."
)]
pub struct Cli {
    /// Log what modelark does to stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never draw progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
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
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Pack(args) => pack::run(*args, quiet),
        Command::Inspect(args) => inspect::run(args),
        Command::List(args) => list::run(args),
        Command::Tag(args) => tags::tag(args),
        Command::Rm(args) => tags::rm(args),
        Command::Unpack(args) => unpack::run(args, quiet),
        Command::Export(args) => archive::export(args),
        Command::Import(args) => archive::import(args),
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

/// Hints for errors raised by the CLI itself rather than the library.
pub fn hint_for(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<CliError>())
        .map(|e| e.hint().to_owned())
}

/// Usage errors the CLI detects.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A registry reference where only local ones work yet.
    #[error("{0} is a registry reference; this command works on the local store and oci: layouts")]
    RegistryNotSupported(String),
    /// Two references that must share a store do not.
    #[error("{0} and {1} are in different stores")]
    DifferentStores(String, String),
    /// A malformed `KEY=VALUE` argument.
    #[error("{0:?} is not KEY=VALUE")]
    KeyValue(String),
}

impl CliError {
    fn hint(&self) -> &'static str {
        match self {
            CliError::RegistryNotSupported(_) => {
                "use a local NAME:TAG or an oci:PATH:TAG reference"
            }
            CliError::DifferentStores(..) => {
                "use `modelark export` and `modelark import` to move a model between stores"
            }
            CliError::KeyValue(_) => "write it as KEY=VALUE, e.g. accuracy=0.91",
        }
    }
}

/// Converts a library error into the crate error (so `main` finds its class and hint) and
/// adds what was being done.
pub trait Op<T> {
    /// Wraps the error with `what` (operation + object).
    fn op(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: Into<modelark::Error>> Op<T> for Result<T, E> {
    fn op(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(Into::into).with_context(what)
    }
}

/// Opens the local store or layout a reference names (creating it with `create`).
fn open_repo(reference: &Reference, create: bool) -> anyhow::Result<LayoutRepo> {
    if matches!(reference.location(), Location::Registry { .. }) {
        return Err(CliError::RegistryNotSupported(reference.to_string()).into());
    }
    let home = Home::from_env().op(|| "failed to locate the local store".into())?;
    LayoutRepo::open(reference, &home, create)
        .op(|| format!("failed to open the store for {reference}"))
}

/// Parses a `KEY=VALUE` argument.
fn key_value(text: &str) -> Result<(String, String), CliError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(CliError::KeyValue(text.to_owned())),
    }
}
