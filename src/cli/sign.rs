//! `modelark generate-key-pair`, `sign`, `attest`, `approve` and `reject`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use modelark::ops;
use modelark::reference::Reference;
use modelark::sign::{self, Format, PrivateKey, predicate};

use super::{Env, key_value, output};

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, default_value = "cosign", value_name = "PREFIX")]
    output_key_prefix: String,
    /// Read the password from stdin (else COSIGN_PASSWORD, else a prompt).
    #[arg(long)]
    password_stdin: bool,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

/// A private key and how to unlock it.
#[derive(Debug, clap::Args)]
pub struct SigningKey {
    /// The private key: cosign's encrypted format, or PKCS#8 / SEC1 PEM.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Read the key's password from stdin (else COSIGN_PASSWORD, else "" then a prompt).
    #[arg(long)]
    password_stdin: bool,
    /// Ask this RFC 3161 time-stamping authority for a timestamp over the signature,
    /// stored where cosign and Sigstore bundles keep it (cosign: --timestamp-server-url).
    #[arg(long, value_name = "URL", alias = "timestamp-server-url")]
    timestamp_server: Option<String>,
}

impl SigningKey {
    /// The context signing runs in: `ctx`, stamping by the --timestamp-server, if any.
    pub fn context(&self, ctx: modelark::Context) -> modelark::Context {
        ctx.with_timestamp_server(self.timestamp_server.clone())
    }
}

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
enum FormatArg {
    /// cosign tags: sha256-<hex>.sig / .att
    #[default]
    Cosign,
    /// a Sigstore bundle v0.3 as an OCI 1.1 referrer
    Bundle,
    /// OpenSSF model signing v1.0 (what `model_signing sign` writes), as a referrer
    ModelSigning,
}

impl From<FormatArg> for Format {
    fn from(value: FormatArg) -> Format {
        match value {
            FormatArg::Cosign => Format::Cosign,
            FormatArg::Bundle => Format::Bundle,
            FormatArg::ModelSigning => Format::ModelSigning,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The model: HOST/REPO:TAG, NAME:TAG or oci:PATH:TAG (a digest pins it).
    reference: Reference,
    #[command(flatten)]
    key: SigningKey,
    /// A claim to sign along (repeatable), as cosign's -a.
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// How the signature is stored.
    #[arg(long, value_enum, default_value_t)]
    format: FormatArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    /// The model: HOST/REPO:TAG, NAME:TAG or oci:PATH:TAG.
    reference: Reference,
    #[command(flatten)]
    key: SigningKey,
    /// Predicate type: approval, provenance, promotion, custom, spdxjson, cyclonedx, or a URI.
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// The predicate JSON file (- for stdin). For provenance it defaults to one built from
    /// the model's lineage metadata.
    #[arg(long, value_name = "FILE")]
    predicate: Option<PathBuf>,
    /// How the attestation is stored.
    #[arg(long, value_enum, default_value_t)]
    format: FormatArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The model version: HOST/REPO:VERSION, NAME:VERSION or oci:PATH:VERSION.
    reference: Reference,
    /// The environment or stage (production, staging).
    #[arg(long = "env", value_name = "ENV")]
    environment: String,
    #[command(flatten)]
    key: SigningKey,
    /// Who decides (default: $USER).
    #[arg(long, value_name = "NAME")]
    approver: Option<String>,
    /// Why.
    #[arg(long)]
    reason: Option<String>,
    /// A change or ticket reference.
    #[arg(long)]
    ticket: Option<String>,
    /// When it stops counting: RFC 3339 time, or a duration from now (90d, 12h).
    #[arg(long, value_name = "TIME")]
    expires: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl SigningKey {
    /// The key file.
    pub fn path(&self) -> &Path {
        &self.key
    }
}

/// Reads a private key, asking for its password only when it is encrypted.
pub(super) fn load_private_key(args: &SigningKey) -> anyhow::Result<PrivateKey> {
    if let Some(password) = given_password(args.password_stdin)? {
        return Ok(ops::sign::read_private_key(&args.key, password.as_bytes())?);
    }
    // Keys made for automation often have an empty password (cosign allows it).
    match ops::sign::read_private_key(&args.key, b"") {
        Err(e)
            if matches!(e.root(), modelark::Error::Sign(sign::Error::WrongPassword))
                && std::io::stdin().is_terminal() =>
        {
            let password = zeroize::Zeroizing::new(rpassword::prompt_password(format!(
                "Enter password for private key {}: ",
                args.key.display()
            ))?);
            Ok(ops::sign::read_private_key(&args.key, password.as_bytes())?)
        }
        other => Ok(other?),
    }
}

/// The password from COSIGN_PASSWORD or stdin, when either is given.
fn given_password(from_stdin: bool) -> anyhow::Result<Option<zeroize::Zeroizing<String>>> {
    if from_stdin {
        let mut text = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read the password from stdin")?;
        let trimmed = text.trim_end_matches(['\n', '\r']).to_owned();
        return Ok(Some(zeroize::Zeroizing::new(trimmed)));
    }
    Ok(std::env::var("COSIGN_PASSWORD")
        .ok()
        .map(zeroize::Zeroizing::new))
}

pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let prefix = &args.output_key_prefix;
    // Checked before any password is asked for.
    if let Err(modelark::Error::Op(ops::Error::KeyExists { path })) =
        ops::sign::key_pair_files(prefix, args.force)
    {
        anyhow::bail!(
            "{} exists; pass --force to replace it (its signatures would no longer verify with a new key)",
            path.display()
        );
    }
    let password = match given_password(args.password_stdin)? {
        Some(password) => password,
        None if std::io::stdin().is_terminal() => {
            let first = zeroize::Zeroizing::new(rpassword::prompt_password(
                "Enter password for private key: ",
            )?);
            let again = zeroize::Zeroizing::new(rpassword::prompt_password(
                "Enter password for private key again: ",
            )?);
            anyhow::ensure!(*first == *again, "the passwords do not match");
            first
        }
        None => anyhow::bail!(
            "no password given: set COSIGN_PASSWORD (it may be empty) or pass --password-stdin"
        ),
    };
    let pair = ops::generate_key_pair(prefix, password.as_bytes(), args.force)?;
    output::line(format!("Private key written to {}", pair.private.display()))?;
    output::line(format!("Public key written to {}", pair.public.display()))
}

fn print_signed(json: bool, signed: &ops::Signed, what: &str) -> anyhow::Result<()> {
    if json {
        return output::json(signed);
    }
    output::line(format!("{what} {} ({})", signed.reference, signed.stored))?;
    if let Some(time) = &signed.timestamped {
        output::line(format!("timestamped at {time}"))?;
    }
    Ok(())
}

pub async fn sign(args: SignArgs, env: &Env) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let claims: BTreeMap<String, String> = args
        .annotations
        .iter()
        .map(|a| key_value(a))
        .collect::<Result<_, _>>()?;
    let ctx = args.key.context(env.context(args.json)?);
    let signed = ops::sign(&ctx, &args.reference, &key, claims, args.format.into()).await?;
    print_signed(args.json, &signed, "signed")
}

pub async fn attest(args: AttestArgs, env: &Env) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let predicate = args.predicate.as_deref().map(read_predicate).transpose()?;
    let ctx = args.key.context(env.context(args.json)?);
    let format = args.format.into();
    let signed = ops::attest(&ctx, &args.reference, &key, &args.kind, predicate, format).await?;
    print_signed(args.json, &signed, "attested")
}

fn read_predicate(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        fs_err::read_to_string(path)?
    };
    serde_json::from_str(&text)
        .with_context(|| format!("the predicate {} is not JSON", path.display()))
}

pub async fn approve(
    args: ApproveArgs,
    env: &Env,
    decision: predicate::Decision,
) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let now = time::OffsetDateTime::now_utc();
    let expires = args
        .expires
        .as_deref()
        .map(|text| predicate::expiry(text, now))
        .transpose()
        .with_context(|| {
            format!(
                "invalid --expires {:?}",
                args.expires.as_deref().unwrap_or_default()
            )
        })?;
    let approval = predicate::Approval {
        environment: args.environment.clone(),
        decision,
        approver: args
            .approver
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into()),
        reason: args.reason.clone(),
        ticket: args.ticket.clone(),
        time: predicate::now_rfc3339(),
        expires,
    };
    let ctx = args.key.context(env.context(args.json)?);
    let signed = ops::approve(&ctx, &args.reference, &key, &approval).await?;
    let verb = match decision {
        predicate::Decision::Approved => format!("approved for {}:", args.environment),
        predicate::Decision::Rejected => format!("rejected for {}:", args.environment),
    };
    print_signed(args.json, &signed, &verb)
}
