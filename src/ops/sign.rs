//! Sign, attest, approve and reject, and key generation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Error;
use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::oci::Descriptor;
use crate::reference::Reference;
use crate::sign::{self, Format, PrivateKey, predicate};
use crate::store::{Endpoint, Resolved};

/// A signature or attestation made.
#[derive(Clone, Debug, Serialize)]
pub struct Signed {
    /// The model, pinned.
    pub reference: Reference,
    /// Its manifest digest.
    pub digest: Digest,
    /// Where the signature is stored: its manifest digest, or `referrer DIGEST`.
    pub stored: String,
    /// The signing key's id.
    pub key: String,
    /// The time a time-stamping authority vouched for (RFC 3339), when one was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamped: Option<String>,
}

impl Signed {
    fn new(
        reference: &Reference,
        subject: &Descriptor,
        stored: &sign::Stored,
        key: &PrivateKey,
    ) -> Signed {
        let descriptor = &stored.descriptor;
        Signed {
            reference: reference.with_digest(subject.digest.clone()),
            digest: subject.digest.clone(),
            stored: match descriptor.artifact_type.as_deref() {
                Some(_) => format!("referrer {}", descriptor.digest),
                None => descriptor.digest.to_string(),
            },
            key: key.public_key().key_id(),
            timestamped: stored.timestamped.map(sign::x509::rfc3339),
        }
    }
}

async fn subject(endpoint: &Endpoint, reference: &Reference) -> Result<Descriptor> {
    Ok(model(endpoint, reference).await?.descriptor)
}

async fn model(endpoint: &Endpoint, reference: &Reference) -> Result<Resolved> {
    endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))
}

/// Signs a model (cosign simple signing, or a Sigstore bundle referrer), with `claims`
/// signed along as cosign's annotations are.
///
/// # Errors
/// Transport and store errors.
pub async fn sign(
    ctx: &Context,
    reference: &Reference,
    key: &PrivateKey,
    claims: BTreeMap<String, String>,
    format: Format,
) -> Result<Signed> {
    let endpoint = ctx.endpoint(reference, false)?;
    let model = model(&endpoint, reference).await?;
    let signer = ctx.signer(key)?;
    let stored = sign::sign(&endpoint, &model, &signer, claims, format)
        .await
        .op(|| format!("failed to sign {reference}"))?;
    Ok(Signed::new(reference, &model.descriptor, &stored, key))
}

/// Attaches a signed in-toto attestation of `kind` (a short name such as `provenance`, or
/// a URI). Without a predicate, provenance is built from the model's lineage metadata; an
/// approval predicate must be one.
///
/// # Errors
/// [`Error::PredicateRequired`], [`Error::NotAnApproval`]; transport and store errors.
pub async fn attest(
    ctx: &Context,
    reference: &Reference,
    key: &PrivateKey,
    kind: &str,
    predicate: Option<serde_json::Value>,
    format: Format,
) -> Result<Signed> {
    let predicate_type = predicate::predicate_type(kind).op(|| "failed to attest".into())?;
    let endpoint = ctx.endpoint(reference, false)?;
    let resolved = endpoint
        .resolve(reference)
        .await
        .op(|| format!("failed to read {reference}"))?;
    let predicate = match predicate {
        Some(predicate) => predicate,
        None if predicate_type == predicate::SLSA_PROVENANCE_V1 => {
            let config = endpoint
                .small_blob(&resolved.manifest.config)
                .await
                .op(|| format!("failed to read the config of {reference}"))?;
            let described =
                crate::package::describe(&resolved.descriptor, &resolved.manifest, Some(&config))
                    .op(|| format!("failed to read the metadata of {reference}"))?;
            predicate::provenance_from(&described.metadata)
        }
        None => return Err(Error::PredicateRequired { predicate_type }.into()),
    };
    if predicate_type == predicate::APPROVAL {
        serde_json::from_value::<predicate::Approval>(predicate.clone())
            .map_err(Error::NotAnApproval)?;
    }
    let signer = ctx.signer(key)?;
    let stored = sign::attest(
        &endpoint,
        &resolved.descriptor,
        &signer,
        &predicate_type,
        predicate,
        format,
    )
    .await
    .op(|| format!("failed to attest {reference}"))?;
    Ok(Signed::new(reference, &resolved.descriptor, &stored, key))
}

/// Records a signed decision (approval or rejection) on a model version for an
/// environment; a rejection revokes the signer's earlier approval.
///
/// # Errors
/// Transport and store errors.
pub async fn approve(
    ctx: &Context,
    reference: &Reference,
    key: &PrivateKey,
    approval: &predicate::Approval,
) -> Result<Signed> {
    let endpoint = ctx.endpoint(reference, false)?;
    let subject = subject(&endpoint, reference).await?;
    let predicate = serde_json::to_value(approval).map_err(Error::NotAnApproval)?;
    let signer = ctx.signer(key)?;
    let stored = sign::attest(
        &endpoint,
        &subject,
        &signer,
        predicate::APPROVAL,
        predicate,
        Format::Cosign,
    )
    .await
    .op(|| format!("failed to record the decision on {reference}"))?;
    Ok(Signed::new(reference, &subject, &stored, key))
}

/// The files a new key pair was written to.
#[derive(Clone, Debug, Serialize)]
pub struct KeyPair {
    /// The encrypted private key (cosign format, mode 0600).
    pub private: PathBuf,
    /// The public key (PEM).
    pub public: PathBuf,
}

/// The files a key pair with `prefix` goes to, checked free (unless `replace`): what
/// [`generate_key_pair`] checks first, for front ends that ask for a password only when
/// the key can be written.
///
/// # Errors
/// [`Error::KeyExists`].
pub fn key_pair_files(prefix: &str, replace: bool) -> Result<KeyPair> {
    let private = PathBuf::from(format!("{prefix}.key"));
    let public = PathBuf::from(format!("{prefix}.pub"));
    for path in [&private, &public] {
        if path.exists() && !replace {
            return Err(Error::KeyExists { path: path.clone() }.into());
        }
    }
    Ok(KeyPair { private, public })
}

/// Reads the private key file at `path`: an unencrypted key as it is, an encrypted one
/// (cosign's format) decrypted with `password`.
///
/// # Errors
/// A file that cannot be read or is not a key; [`sign::Error::WrongPassword`].
pub fn read_private_key(path: &Path, password: &[u8]) -> Result<PrivateKey> {
    let what = || format!("failed to read the private key {}", path.display());
    let pem = fs_err::read_to_string(path)
        .map_err(crate::store::Error::from)
        .op(what)?;
    let plain = PrivateKey::kind(&pem).op(what)? == sign::keys::KeyFile::Plain;
    PrivateKey::from_pem(&pem, if plain { b"" } else { password }).op(what)
}

/// Writes a new cosign-format key pair, `PREFIX.key` (encrypted with `password`; it may be
/// empty, as cosign allows for automation) and `PREFIX.pub`, each atomically. Existing
/// files are kept unless `replace`.
///
/// # Errors
/// [`Error::KeyExists`]; I/O errors naming the file.
pub fn generate_key_pair(prefix: &str, password: &[u8], replace: bool) -> Result<KeyPair> {
    let KeyPair { private, public } = key_pair_files(prefix, replace)?;
    let key = PrivateKey::generate().op(|| "failed to generate a key".into())?;
    let pem = key
        .to_encrypted_pem(password)
        .op(|| "failed to encrypt the key".into())?;
    let what = |p: &Path| format!("failed to write {}", p.display());
    // The temp file is created 0600 and renamed into place: the key is never readable by others.
    crate::store::layout::write_atomic(&private, pem.as_bytes())
        .map_err(crate::store::Error::from)
        .op(|| what(&private))?;
    let pub_pem = key
        .public_key()
        .to_pem()
        .op(|| "failed to encode the public key".into())?;
    crate::store::layout::write_atomic(&public, pub_pem.as_bytes())
        .map_err(crate::store::Error::from)
        .op(|| what(&public))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(&public, std::fs::Permissions::from_mode(0o644))
            .map_err(crate::store::Error::from)
            .op(|| what(&public))?;
    }
    Ok(KeyPair { private, public })
}
