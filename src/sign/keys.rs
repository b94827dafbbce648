//! Signing keys in the formats cosign reads and writes: the scrypt + nacl/secretbox
//! encrypted `SIGSTORE`/`COSIGN` private key, unencrypted PKCS#8 and SEC1 keys, and PKIX
//! public keys. See <https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md>.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Error;
use crate::digest::Digest;

/// The PEM label cosign writes for an encrypted private key.
pub const SIGSTORE_PEM: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label older cosign releases wrote; still read.
pub const COSIGN_PEM: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// The scrypt cost cosign writes (N = 2^16, r = 8, p = 1).
const WRITE_LOG_N: u8 = 16;
/// The scrypt costs accepted on reading: N of 32768, 65536 or 131072 with r = 8, p = 1.
const READ_LOG_N: [u8; 3] = [15, 16, 17];

/// An ECDSA P-256 private key. `Debug` never shows it; the key zeroes its memory on drop.
#[derive(Clone)]
pub struct PrivateKey {
    key: SigningKey,
}

/// An ECDSA P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// What reading a private key file needs: an encrypted key needs a password.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyFile {
    /// Encrypted with a password (cosign's format).
    Encrypted,
    /// Plain PKCS#8 or SEC1.
    Plain,
}

#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    ///
    /// # Errors
    /// [`Error::Random`] when the OS has no randomness to give.
    pub fn generate() -> Result<PrivateKey, Error> {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut()).map_err(Error::Random)?;
            // Out-of-range scalars (probability ~2^-32) are drawn again.
            if let Ok(key) = SigningKey::from_slice(bytes.as_ref()) {
                return Ok(PrivateKey { key });
            }
        }
    }

    /// Tells whether a PEM private key file is encrypted, without decrypting it.
    ///
    /// # Errors
    /// [`Error::Key`] for files that hold no private key modelark reads.
    pub fn kind(pem: &str) -> Result<KeyFile, Error> {
        let label = pem_label(pem).ok_or_else(|| key_error("the file is not PEM"))?;
        match label.as_str() {
            SIGSTORE_PEM | COSIGN_PEM => Ok(KeyFile::Encrypted),
            "PRIVATE KEY" | "EC PRIVATE KEY" => Ok(KeyFile::Plain),
            "ENCRYPTED PRIVATE KEY" => Err(key_error(
                "PKCS#8 encrypted keys are not read; convert with `openssl pkcs8 -topk8 -nocrypt`",
            )),
            other => Err(key_error(&format!(
                "a PEM `{other}` block is not a private key"
            ))),
        }
    }

    /// Reads a private key: cosign's encrypted format (with `password`, which may be empty)
    /// or an unencrypted PKCS#8 / SEC1 key (password ignored).
    ///
    /// # Errors
    /// [`Error::Key`] for malformed files or refused scrypt parameters,
    /// [`Error::WrongPassword`] when decryption fails.
    pub fn from_pem(pem: &str, password: &[u8]) -> Result<PrivateKey, Error> {
        match Self::kind(pem)? {
            KeyFile::Plain => {
                let key = SigningKey::from_pkcs8_pem(pem)
                    .map_err(|e| e.to_string())
                    .or_else(|_| {
                        p256::SecretKey::from_sec1_pem(pem)
                            .map(SigningKey::from)
                            .map_err(|e| e.to_string())
                    })
                    .map_err(|e| key_error(&format!("not a P-256 private key ({e})")))?;
                Ok(PrivateKey { key })
            }
            KeyFile::Encrypted => {
                let body = pem_body(pem)?;
                let encrypted: Encrypted = serde_json::from_slice(&body).map_err(|e| {
                    key_error(&format!("the encrypted key is not cosign JSON ({e})"))
                })?;
                let der = decrypt(&encrypted, password)?;
                let key = SigningKey::from_pkcs8_der(&der)
                    .map_err(|e| key_error(&format!("the decrypted key is not P-256 ({e})")))?;
                Ok(PrivateKey { key })
            }
        }
    }

    /// Writes the key in cosign's encrypted format (scrypt N=65536 r=8 p=1, nacl/secretbox).
    ///
    /// # Errors
    /// [`Error::Random`]; encoding errors.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String, Error> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| key_error(&format!("cannot encode the key ({e})")))?;
        let mut salt = [0u8; 32];
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut salt).map_err(Error::Random)?;
        getrandom::fill(&mut nonce).map_err(Error::Random)?;
        let secret = derive(password, &salt, WRITE_LOG_N)?;
        let cipher = XSalsa20Poly1305::new(Key::from_slice(secret.as_ref()));
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), der.as_bytes())
            .map_err(|_| key_error("encryption failed"))?;
        let encrypted = Encrypted {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams {
                    N: 1 << WRITE_LOG_N,
                    r: 8,
                    p: 1,
                },
                salt: B64.encode(salt),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: B64.encode(nonce),
            },
            ciphertext: B64.encode(ciphertext),
        };
        let json = serde_json::to_vec(&encrypted).map_err(|e| key_error(&e.to_string()))?;
        Ok(to_pem(SIGSTORE_PEM, &json))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// Signs `message` (ECDSA P-256 over its SHA-256), returning the ASN.1 DER signature
    /// cosign stores.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

impl PublicKey {
    /// Reads a PKIX (`PUBLIC KEY`) PEM.
    ///
    /// # Errors
    /// [`Error::Key`] for anything else, including non-P-256 keys.
    pub fn from_pem(pem: &str) -> Result<PublicKey, Error> {
        match pem_label(pem).as_deref() {
            Some("PUBLIC KEY") => VerifyingKey::from_public_key_pem(pem)
                .map(|key| PublicKey { key })
                .map_err(|e| key_error(&format!("not an ECDSA P-256 public key ({e})"))),
            Some(label) if label.contains("PRIVATE KEY") => Err(key_error(
                "this is a private key; verification takes the public key (cosign.pub)",
            )),
            Some(label) => Err(key_error(&format!(
                "a PEM `{label}` block is not a public key"
            ))),
            None => Err(key_error("the file is not PEM")),
        }
    }

    /// An uncompressed or compressed SEC1 point, as a certificate's key holds it.
    ///
    /// # Errors
    /// [`Error::Key`] for bytes that are not a P-256 point.
    pub fn from_sec1(point: &[u8]) -> Result<PublicKey, Error> {
        VerifyingKey::from_sec1_bytes(point)
            .map(|key| PublicKey { key })
            .map_err(|e| key_error(&format!("not an ECDSA P-256 point ({e})")))
    }

    /// The PKIX PEM cosign writes as `cosign.pub`.
    ///
    /// # Errors
    /// Encoding errors.
    pub fn to_pem(&self) -> Result<String, Error> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| key_error(&e.to_string()))
    }

    /// A stable identifier: the SHA-256 of the DER-encoded public key.
    pub fn key_id(&self) -> String {
        let der = self
            .key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        Digest::sha256_of(&der).hex().to_owned()
    }

    /// True when `signature` (ASN.1 DER or the 64-byte fixed form) signs a message whose
    /// SHA-256 is `prehash`.
    pub fn verify_prehash(&self, prehash: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        if let Ok(der) = DerSignature::from_bytes(signature) {
            return self.key.verify_prehash(prehash, &der).is_ok();
        }
        Signature::from_slice(signature).is_ok_and(|s| self.key.verify_prehash(prehash, &s).is_ok())
    }

    /// True when `signature` (ASN.1 DER, or the 64-byte fixed form) signs `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if let Ok(der) = DerSignature::from_bytes(signature) {
            return self.key.verify(message, &der).is_ok();
        }
        Signature::from_slice(signature).is_ok_and(|s| self.key.verify(message, &s).is_ok())
    }
}

fn derive(password: &[u8], salt: &[u8], log_n: u8) -> Result<Zeroizing<[u8; 32]>, Error> {
    let params =
        scrypt::Params::new(log_n, 8, 1).map_err(|_| key_error("bad scrypt parameters"))?;
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, out.as_mut())
        .map_err(|_| key_error("scrypt failed"))?;
    Ok(out)
}

fn decrypt(encrypted: &Encrypted, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if encrypted.kdf.name != "scrypt" || encrypted.cipher.name != "nacl/secretbox" {
        return Err(key_error(&format!(
            "unsupported encryption {} + {} (cosign uses scrypt + nacl/secretbox)",
            encrypted.kdf.name, encrypted.cipher.name
        )));
    }
    let ScryptParams { N, r, p } = encrypted.kdf.params;
    let log_n = READ_LOG_N
        .into_iter()
        .find(|log_n| 1u64 << log_n == N)
        .filter(|_| r == 8 && p == 1)
        .ok_or_else(|| {
            key_error(&format!(
                "scrypt parameters N={N} r={r} p={p} are refused (accepted: N=32768, 65536 or 131072 with r=8 p=1)"
            ))
        })?;
    let decode = |what: &str, text: &str| {
        B64.decode(text)
            .map_err(|_| key_error(&format!("the {what} is not base64")))
    };
    let salt = decode("salt", &encrypted.kdf.salt)?;
    let nonce = decode("nonce", &encrypted.cipher.nonce)?;
    let ciphertext = decode("ciphertext", &encrypted.ciphertext)?;
    if nonce.len() != 24 {
        return Err(key_error("the nonce is not 24 bytes"));
    }
    let secret = derive(password, &salt, log_n)?;
    let cipher = XSalsa20Poly1305::new(Key::from_slice(secret.as_ref()));
    cipher
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongPassword)
}

fn key_error(reason: &str) -> Error {
    Error::Key {
        reason: reason.to_owned(),
    }
}

fn pem_label(pem: &str) -> Option<String> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = pem[start..].find("-----")?;
    Some(pem[start..start + end].to_owned())
}

fn pem_body(pem: &str) -> Result<Vec<u8>, Error> {
    let text: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END "))
        .filter(|l| !l.contains(':'))
        .collect();
    B64.decode(text)
        .map_err(|_| key_error("the PEM body is not base64"))
}

fn to_pem(label: &str, body: &[u8]) -> String {
    let encoded = B64.encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_KEY: &str = include_str!("../../testdata/cosign/cosign-generated.key");
    const FIXTURE_PUB: &str = include_str!("../../testdata/cosign/cosign-generated.pub");

    #[test]
    fn reads_the_key_real_cosign_made() {
        let key = PrivateKey::from_pem(FIXTURE_KEY, b"").unwrap();
        let public = PublicKey::from_pem(FIXTURE_PUB).unwrap();
        assert_eq!(key.public_key(), public);
        let signature = key.sign(b"payload");
        assert!(public.verify(b"payload", &signature));
        assert!(!public.verify(b"payload!", &signature));
    }

    #[test]
    fn wrong_password_is_named() {
        let error = PrivateKey::from_pem(FIXTURE_KEY, b"nope").unwrap_err();
        assert!(matches!(error, Error::WrongPassword), "{error:?}");
    }

    #[test]
    fn round_trips_the_encrypted_format() {
        let key = PrivateKey::generate().unwrap();
        let pem = key.to_encrypted_pem(b"s3cret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pem(&pem, b"s3cret").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let cosign_label = pem.replace(SIGSTORE_PEM, COSIGN_PEM);
        assert!(PrivateKey::from_pem(&cosign_label, b"s3cret").is_ok());
    }

    #[test]
    fn refuses_other_scrypt_parameters() {
        let body = pem_body(FIXTURE_KEY).unwrap();
        for (n, r, p, ok) in [
            (32768, 8, 1, true),
            (131072, 8, 1, true),
            (1024, 8, 1, false),
            (65536, 1, 1, false),
            (65536, 8, 2, false),
        ] {
            let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            json["kdf"]["params"] = serde_json::json!({"N": n, "r": r, "p": p});
            let pem = to_pem(SIGSTORE_PEM, &serde_json::to_vec(&json).unwrap());
            let result = PrivateKey::from_pem(&pem, b"");
            // Accepted parameters reach decryption (and fail there: the key was made with N=65536).
            match result {
                Err(Error::WrongPassword) => assert!(ok, "N={n} r={r} p={p} accepted"),
                Err(Error::Key { reason }) => {
                    assert!(!ok && reason.contains("refused"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn reads_unencrypted_pkcs8_and_sec1() {
        let key = PrivateKey::generate().unwrap();
        let pkcs8 = key.key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(PrivateKey::kind(&pkcs8).unwrap(), KeyFile::Plain);
        assert_eq!(
            PrivateKey::from_pem(&pkcs8, b"").unwrap().public_key(),
            key.public_key()
        );
        let sec1 = p256::SecretKey::from(key.key.as_nonzero_scalar())
            .to_sec1_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(
            PrivateKey::from_pem(&sec1, b"").unwrap().public_key(),
            key.public_key()
        );
    }

    #[test]
    fn public_key_files_are_checked() {
        assert!(
            PublicKey::from_pem(FIXTURE_KEY)
                .unwrap_err()
                .to_string()
                .contains("private key")
        );
        let key = PrivateKey::generate().unwrap();
        let pem = key.public_key().to_pem().unwrap();
        assert_eq!(PublicKey::from_pem(&pem).unwrap(), key.public_key());
        assert_eq!(format!("{key:?}"), "PrivateKey(<redacted>)");
    }
}
