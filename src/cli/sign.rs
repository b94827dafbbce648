//! `modelark generate-key-pair`, `sign`, `attest`, `approve` and `reject`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use modelark::oci::Descriptor;
use modelark::reference::Reference;
use modelark::sign::{self, Format, PrivateKey, keys::KeyFile, predicate};
use modelark::store::Endpoint;
use serde::Serialize;

use super::{Op, RegistryArgs, endpoint, key_value, output};

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
}

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
enum FormatArg {
    /// cosign tags: sha256-<hex>.sig / .att
    #[default]
    Cosign,
    /// a Sigstore bundle v0.3 as an OCI 1.1 referrer
    Bundle,
}

impl From<FormatArg> for Format {
    fn from(value: FormatArg) -> Format {
        match value {
            FormatArg::Cosign => Format::Cosign,
            FormatArg::Bundle => Format::Bundle,
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
    let what = || format!("failed to read the private key {}", args.key.display());
    let pem = fs_err::read_to_string(&args.key).with_context(what)?;
    if PrivateKey::kind(&pem).op(what)? == KeyFile::Plain {
        return PrivateKey::from_pem(&pem, b"").op(what);
    }
    if let Some(password) = given_password(args.password_stdin)? {
        return PrivateKey::from_pem(&pem, password.as_bytes()).op(what);
    }
    // Keys made for automation often have an empty password (cosign allows it).
    match PrivateKey::from_pem(&pem, b"") {
        Err(sign::Error::WrongPassword) if std::io::stdin().is_terminal() => {
            let password = zeroize::Zeroizing::new(rpassword::prompt_password(format!(
                "Enter password for private key {}: ",
                args.key.display()
            ))?);
            PrivateKey::from_pem(&pem, password.as_bytes()).op(what)
        }
        other => other.op(what),
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
    let private = PathBuf::from(format!("{}.key", args.output_key_prefix));
    let public = PathBuf::from(format!("{}.pub", args.output_key_prefix));
    for path in [&private, &public] {
        if path.exists() && !args.force {
            anyhow::bail!(
                "{} exists; pass --force to replace it (its signatures would no longer verify with a new key)",
                path.display()
            );
        }
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
    let key = PrivateKey::generate().op(|| "failed to generate a key".into())?;
    let pem = key
        .to_encrypted_pem(password.as_bytes())
        .op(|| "failed to encrypt the key".into())?;
    let what = |p: &Path| format!("failed to write {}", p.display());
    // The temp file is created 0600 and renamed into place: the key is never readable by others.
    modelark::store::layout::write_atomic(&private, pem.as_bytes())
        .with_context(|| what(&private))?;
    let pub_pem = key
        .public_key()
        .to_pem()
        .op(|| "failed to encode the public key".into())?;
    modelark::store::layout::write_atomic(&public, pub_pem.as_bytes())
        .with_context(|| what(&public))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(&public, std::fs::Permissions::from_mode(0o644))?;
    }
    output::line(format!("Private key written to {}", private.display()))?;
    output::line(format!("Public key written to {}", public.display()))
}

#[derive(Serialize)]
struct Signed {
    reference: String,
    digest: String,
    stored: String,
    key: String,
}

/// Resolves `reference` to its manifest descriptor in `endpoint`.
pub(super) async fn subject(
    endpoint: &Endpoint,
    reference: &Reference,
) -> anyhow::Result<Descriptor> {
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    Ok(resolved.descriptor)
}

fn print_signed(
    json: bool,
    reference: &Reference,
    subject: &Descriptor,
    stored: &Descriptor,
    key: &PrivateKey,
    what: &str,
) -> anyhow::Result<()> {
    let pinned = reference.with_digest(subject.digest.clone());
    let stored = match stored.artifact_type.as_deref() {
        Some(_) => format!("referrer {}", stored.digest),
        None => format!("{}", stored.digest),
    };
    if json {
        return output::json(&Signed {
            reference: pinned.to_string(),
            digest: subject.digest.to_string(),
            stored,
            key: key.public_key().key_id(),
        });
    }
    output::line(format!("{what} {pinned} ({stored})"))
}

pub async fn sign(args: SignArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let claims: BTreeMap<String, String> = args
        .annotations
        .iter()
        .map(|a| key_value(a))
        .collect::<Result<_, _>>()?;
    let endpoint = endpoint(&args.reference, registry, false)?;
    let subject = subject(&endpoint, &args.reference).await?;
    let stored = sign::sign(&endpoint, &subject, &key, claims, args.format.into())
        .await
        .op(|| format!("failed to sign {}", args.reference))?;
    print_signed(
        args.json,
        &args.reference,
        &subject,
        &stored,
        &key,
        "signed",
    )
}

pub async fn attest(args: AttestArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let predicate_type = predicate::predicate_type(&args.kind).op(|| "failed to attest".into())?;
    let endpoint = endpoint(&args.reference, registry, false)?;
    let resolved = endpoint
        .resolve(&args.reference)
        .await
        .op(|| format!("failed to read {}", args.reference))?;
    let predicate = match &args.predicate {
        Some(path) => read_predicate(path)?,
        None if predicate_type == predicate::SLSA_PROVENANCE_V1 => {
            let config = endpoint
                .small_blob(&resolved.manifest.config)
                .await
                .op(|| format!("failed to read the config of {}", args.reference))?;
            let described = modelark::package::describe(
                &resolved.descriptor,
                &resolved.manifest,
                Some(&config),
            )
            .op(|| format!("failed to read the metadata of {}", args.reference))?;
            predicate::provenance_from(&described.metadata)
        }
        None => anyhow::bail!("--predicate FILE is required for --type {}", args.kind),
    };
    if predicate_type == predicate::APPROVAL {
        serde_json::from_value::<predicate::Approval>(predicate.clone())
            .context("the predicate is not an approval (see docs/signing.md for its fields)")?;
    }
    let stored = sign::attest(
        &endpoint,
        &resolved.descriptor,
        &key,
        &predicate_type,
        predicate,
        args.format.into(),
    )
    .await
    .op(|| format!("failed to attest {}", args.reference))?;
    print_signed(
        args.json,
        &args.reference,
        &resolved.descriptor,
        &stored,
        &key,
        "attested",
    )
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
    registry: &RegistryArgs,
    decision: predicate::Decision,
) -> anyhow::Result<()> {
    let key = load_private_key(&args.key)?;
    let expires = args.expires.as_deref().map(expiry).transpose()?;
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
    let endpoint = endpoint(&args.reference, registry, false)?;
    let subject = subject(&endpoint, &args.reference).await?;
    let predicate = serde_json::to_value(&approval)?;
    let stored = sign::attest(
        &endpoint,
        &subject,
        &key,
        predicate::APPROVAL,
        predicate,
        Format::Cosign,
    )
    .await
    .op(|| format!("failed to record the decision on {}", args.reference))?;
    let verb = match decision {
        predicate::Decision::Approved => format!("approved for {}:", args.environment),
        predicate::Decision::Rejected => format!("rejected for {}:", args.environment),
    };
    print_signed(args.json, &args.reference, &subject, &stored, &key, &verb)
}

/// An RFC 3339 time, or a duration from now (`90d`, `12h`, `30m`).
fn expiry(text: &str) -> anyhow::Result<String> {
    use time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return Ok(text.to_owned());
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().with_context(|| {
        format!("--expires {text:?} is neither RFC 3339 nor a duration like 90d")
    })?;
    let duration = match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        _ => anyhow::bail!("--expires {text:?}: use d, h or m (90d, 12h, 30m) or an RFC 3339 time"),
    };
    let at = time::OffsetDateTime::now_utc().replace_nanosecond(0)? + duration;
    Ok(at.format(&Rfc3339)?)
}
