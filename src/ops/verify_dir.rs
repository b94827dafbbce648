//! `verify-dir`: checks a model directory on disk against its OpenSSF model signature
//! (`model.sig`, made by `model_signing sign` or written by `pull --model-sig`) — the check
//! a serving node runs right before it loads a model. The signature is verified first (no
//! file is read for a forgery), then every file is hashed, in parallel, and compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::Trust;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Op, Result};
use crate::sign::keyless::Keyless;
use crate::sign::model_signing::{self, Comparison, ModelSignature};
use crate::sign::x509::{Cert, SpkiKey, verify_chain};
use crate::verify::TrustedKey;

/// What verify-dir trusts: keys for key-signed signatures, CA certificates for
/// certificate-mode ones, a Sigstore trusted root and identities for keyless ones.
#[derive(Clone, Debug, Default)]
pub struct DirTrust {
    /// Public keys (ECDSA P-256 or P-384, RSA, Ed25519), each with its name.
    pub keys: Vec<(String, SpkiKey)>,
    /// The CA certificates a certificate-mode signature must chain to.
    pub certificate_chain: Vec<Cert>,
    /// Keyless signatures: the trusted root and the accepted identities.
    pub keyless: Option<Keyless>,
    /// Paths (relative to the directory) left out besides those the signature names, as
    /// model_signing's `--ignore-paths`.
    pub ignore_paths: Vec<String>,
}

impl DirTrust {
    /// The keys a policy or `--key` list trusts.
    pub fn from_trust(trust: &Trust) -> DirTrust {
        DirTrust {
            keys: trust
                .trusted_keys()
                .iter()
                .filter_map(|k| {
                    let pem = k.key.to_pem().ok()?;
                    Some((k.name.clone(), SpkiKey::from_pem(&pem).ok()?))
                })
                .collect(),
            keyless: trust.rules().keyless().cloned(),
            ..DirTrust::default()
        }
    }

    /// Public key files of any kind a model signature can be made with.
    ///
    /// # Errors
    /// [`crate::sign::Error::Key`] naming the file.
    pub fn load_keys(paths: &[PathBuf]) -> Result<Vec<(String, SpkiKey)>> {
        paths
            .iter()
            .map(|path| {
                let unusable = |reason: String| crate::sign::Error::Key {
                    reason: format!("{}: {reason}", path.display()),
                };
                let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
                let key = SpkiKey::from_pem(&text).map_err(unusable)?;
                Ok((path.display().to_string(), key))
            })
            .collect()
    }

    /// The CA certificates in PEM files (`--certificate-chain`).
    ///
    /// # Errors
    /// [`crate::sign::Error::Key`] naming the file.
    pub fn load_certificates(paths: &[PathBuf]) -> Result<Vec<Cert>> {
        let mut out = Vec::new();
        for path in paths {
            let unusable = |reason: String| crate::sign::Error::Key {
                reason: format!("{}: {reason}", path.display()),
            };
            let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
            out.extend(Cert::from_pem_chain(&text).map_err(unusable)?);
        }
        Ok(out)
    }

    /// True when it trusts nothing at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.certificate_chain.is_empty() && self.keyless.is_none()
    }
}

/// What verify-dir found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirReport {
    /// The directory.
    pub dir: PathBuf,
    /// The signature file.
    pub signature: PathBuf,
    /// The model name the signature records.
    pub model_name: String,
    /// Whether the signature verified and the files are exactly the signed ones.
    pub verified: bool,
    /// The trusted keys that verify the signature.
    pub signers: Vec<String>,
    /// Files hashed.
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// How the directory differs from what was signed.
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl DirReport {
    /// The report when it verified, else the verification failure it is.
    ///
    /// # Errors
    /// [`crate::verify::Error::PolicyViolation`] naming each difference.
    pub fn into_result(self, root: &Digest) -> Result<DirReport> {
        if self.verified {
            return Ok(self);
        }
        Err(crate::verify::Error::PolicyViolation {
            reference: self.dir.display().to_string(),
            digest: root.clone(),
            failures: self.comparison.sentences(),
        }
        .into())
    }
}

/// Verifies the directory `dir` against `signature` (default `DIR/model.sig`) under the
/// keys `trust` holds, hashing with `threads` threads. The report is returned when the
/// signature verifies, whether or not the files match ([`DirReport::verified`]).
///
/// # Errors
/// [`super::Error::NotAModelSignature`]; [`crate::verify::Error::PolicyViolation`] when no
/// trusted key verifies the signature (nothing is hashed then); I/O errors, a symbolic
/// link where the signer followed none.
pub async fn verify_dir(
    dir: &Path,
    signature: Option<&Path>,
    trust: &DirTrust,
    threads: usize,
) -> Result<(DirReport, Digest)> {
    let path = signature.map_or_else(|| dir.join(model_signing::SIGNATURE_FILE), Path::to_owned);
    let what = || format!("failed to verify {}", dir.display());
    let bytes = super::pack::read_small(&path)
        .map_err(crate::store::Error::from)
        .op(what)?;
    let signature =
        ModelSignature::from_slice(&bytes).map_err(|e| super::Error::NotAModelSignature {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let root = signature.files.root_digest();
    let signers = match signers(&signature, trust) {
        Ok(signers) => signers,
        Err(reason) => {
            return Err(crate::verify::Error::PolicyViolation {
                reference: path.display().to_string(),
                digest: root,
                failures: vec![reason],
            }
            .into());
        }
    };
    let (dir_owned, path_owned) = (dir.to_owned(), path.clone());
    let mut files = signature.files.clone();
    files
        .ignore_paths
        .extend(trust.ignore_paths.iter().cloned());
    let hashed = tokio::task::spawn_blocking(move || {
        // A model signed as one file: that file, under the name `.`.
        let list = if dir_owned.is_file() {
            let size = fs_err::metadata(&dir_owned)?.len();
            vec![(
                model_signing::SINGLE_FILE.to_owned(),
                dir_owned.clone(),
                size,
            )]
        } else {
            list(&dir_owned, &path_owned, &files)?
        };
        hash_all(list, threads)
    })
    .await
    .map_err(|e| crate::store::Error::from(std::io::Error::other(e)))?
    .map_err(crate::store::Error::from)
    .op(what)?;
    let comparison = signature.files.compare(&hashed.digests);
    Ok((
        DirReport {
            dir: dir.to_owned(),
            signature: path,
            model_name: signature.files.model_name.clone(),
            verified: comparison.is_exact(),
            signers,
            files: hashed.digests.len(),
            bytes: hashed.bytes,
            comparison,
        },
        root,
    ))
}

/// Who signed it, under `trust`: the names of the keys that verify it, the certificate's
/// subject (certificate mode) or the keyless identity. Never empty when `Ok`.
fn signers(
    signature: &ModelSignature,
    trust: &DirTrust,
) -> std::result::Result<Vec<String>, String> {
    let bundle = &signature.bundle;
    let envelope = signature.envelope();
    if !signature.has_certificate() {
        let names: Vec<String> = trust
            .keys
            .iter()
            .filter(|(_, key)| envelope.verified_by_spki(key))
            .map(|(name, _)| name.clone())
            .collect();
        if names.is_empty() {
            return Err("no trusted key verifies it".into());
        }
        return Ok(names);
    }
    let logged = bundle.verification_material["tlogEntries"]
        .as_array()
        .is_some_and(|entries| !entries.is_empty());
    if logged {
        let keyless = trust.keyless.as_ref().ok_or(
            "it is a keyless Sigstore signature: verifying it needs --trusted-root and the \
             signer's identity (--certificate-identity and --certificate-oidc-issuer)",
        )?;
        let signer = keyless.verify_envelope(bundle)?;
        return Ok(vec![signer.to_string()]);
    }
    if trust.certificate_chain.is_empty() {
        return Err(
            "it is signed with a certificate: verifying it needs the CA certificates \
                    to trust (--certificate-chain)"
                .into(),
        );
    }
    let chain: Vec<Cert> = bundle.verification_material["x509CertificateChain"]["certificates"]
        .as_array()
        .map(|certs| {
            certs
                .iter()
                .filter_map(|c| c["rawBytes"].as_str())
                .map(Cert::from_base64)
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or("the signature's certificate chain is empty")?;
    // As model_signing does: the chain is checked when the signing certificate began.
    let (issued, _) = leaf.validity();
    verify_chain(leaf, intermediates, &trust.certificate_chain, issued)?;
    if !leaf.can_sign() {
        return Err("the signing certificate is not for signing (key usage)".into());
    }
    if !envelope.verified_by_spki(leaf.key()?) {
        return Err("the signature does not verify under its certificate".into());
    }
    Ok(vec![format!("certificate {}", leaf.subject())])
}

/// Every regular file under `dir` that the signature does not leave out (its ignore
/// paths, `model_signing`'s default git paths and the signature file itself), with its
/// size, `/`-separated relative path first.
fn list(
    dir: &Path,
    signature: &Path,
    files: &model_signing::ModelFiles,
) -> std::io::Result<Vec<(String, PathBuf, u64)>> {
    let signature = std::path::absolute(signature)?;
    let ignored = |relative: &str| {
        files.ignores(relative)
            || model_signing::GIT_PATHS
                .iter()
                .any(|git| model_signing::is_under(relative, git))
    };
    let mut out = Vec::new();
    let mut pending = vec![(dir.to_owned(), String::new())];
    while let Some((path, prefix)) = pending.pop() {
        for entry in fs_err::read_dir(&path)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a UTF-8 name", entry.path().display()),
                )
            })?;
            let relative = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let full = entry.path();
            if ignored(&relative) || std::path::absolute(&full)? == signature {
                continue;
            }
            let kind = entry.file_type()?;
            let metadata = if kind.is_symlink() {
                if !files.allow_symlinks {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is a symbolic link, and the signature was made without \
                             following links",
                            full.display()
                        ),
                    ));
                }
                fs_err::metadata(&full)?
            } else {
                entry.metadata()?
            };
            if metadata.is_dir() {
                pending.push((full, relative));
            } else if metadata.is_file() {
                out.push((relative, full, metadata.len()));
            } else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a regular file", full.display()),
                ));
            }
        }
    }
    Ok(out)
}

struct Hashed {
    digests: BTreeMap<String, Digest>,
    bytes: u64,
}

/// Hashes the files on `threads` threads, largest first so that one big file does not
/// start last.
fn hash_all(mut files: Vec<(String, PathBuf, u64)>, threads: usize) -> std::io::Result<Hashed> {
    files.sort_by_key(|f| std::cmp::Reverse(f.2));
    let bytes = files.iter().map(|f| f.2).sum();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(BTreeMap::new());
    let failure: Mutex<Option<std::io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, files.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if crate::interrupt::requested() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((relative, path, _)) = files.get(i) else {
                        return;
                    };
                    match hash_file(path) {
                        Ok(digest) => {
                            results
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(relative.clone(), digest);
                        }
                        Err(e) => {
                            failure
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                            next.store(files.len(), Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(error);
    }
    if crate::interrupt::requested() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted",
        ));
    }
    Ok(Hashed {
        digests: results.into_inner().unwrap_or_else(|e| e.into_inner()),
        bytes,
    })
}

fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    crate::store::layout::copy(&mut fs_err::File::open(path)?, &mut hasher)?;
    Ok(hasher.finish())
}

/// The model signature `--model-sig` writes: the first model-signing attachment whose
/// files are exactly the model's (and that one of `keys`, or for a keyless signature
/// `keyless`, verifies, when either is given), as
/// `("model.sig", its exact bytes)`.
///
/// # Errors
/// [`super::Error::NoModelSignature`].
pub(crate) fn choose_signature(
    reference: &str,
    attachments: &crate::sign::attach::Attachments,
    manifest: &crate::oci::Manifest,
    keys: Option<&[TrustedKey]>,
    keyless: Option<&Keyless>,
) -> Result<(String, Vec<u8>)> {
    let found = attachments.model_signatures();
    if found.is_empty() {
        return Err(super::Error::NoModelSignature {
            reference: reference.to_owned(),
            what: "",
        }
        .into());
    }
    let files = model_signing::ModelFiles::from_manifest("", manifest)?;
    let matching: Vec<_> = found
        .into_iter()
        .filter(|(_, s)| s.files.compare(&files.files).is_exact())
        .collect();
    let trusted = |s: &ModelSignature| {
        if s.has_certificate() {
            keyless.is_some_and(|k| k.verify_envelope(&s.bundle).is_ok())
        } else {
            keys.unwrap_or_default()
                .iter()
                .any(|k| s.verified_by(&k.key))
        }
    };
    let chosen = if keys.is_none() && keyless.is_none() {
        matching.into_iter().next()
    } else {
        matching.into_iter().find(|(_, s)| trusted(s))
    };
    chosen
        .map(|(bytes, _)| (model_signing::SIGNATURE_FILE.to_owned(), bytes))
        .ok_or_else(|| {
            super::Error::NoModelSignature {
                reference: reference.to_owned(),
                what: if keys.is_some() || keyless.is_some() {
                    "trusted, matching "
                } else {
                    "matching "
                },
            }
            .into()
        })
}
