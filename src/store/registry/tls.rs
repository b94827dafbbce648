//! TLS trust for registries: the platform's roots and Mozilla's, a `--ca-file`, and docker's
//! and containers' per-registry certificate directories (`certs.d/HOST[:PORT]/*.crt`).
//!
//! Internal registries often serve a self-signed certificate made with the common recipe
//! (`openssl req -x509 ...`), which marks it `CA:TRUE`; WebPKI refuses a CA certificate as a
//! server's (`CaUsedAsEndEntity`) while curl (`--cacert`) and skopeo (`--cert-dir`) accept
//! it. So a server certificate that is byte for byte one the user trusts is accepted as
//! itself, once its name and validity period are checked; everything else goes through
//! WebPKI as usual.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::Error;

/// A TLS client configuration trusting `ca_file` everywhere and each `certs.d` directory's
/// certificates for its own host; `None` when neither adds a certificate (then the HTTP
/// client's defaults apply).
///
/// # Errors
/// [`Error::CaFile`] for a file that holds no usable certificate.
pub fn client_config(
    ca_file: Option<&Path>,
    cert_dirs: &[PathBuf],
) -> Result<Option<rustls::ClientConfig>, Error> {
    let everywhere = match ca_file {
        Some(path) => read_certificates(path)?,
        None => Vec::new(),
    };
    let per_host = host_certificates(cert_dirs);
    if everywhere.is_empty() && per_host.is_empty() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let base = base_roots();
    let verifier = |extra: &[CertificateDer<'static>]| -> Result<Arc<WebPkiServerVerifier>, Error> {
        let mut roots = base.clone();
        for certificate in everywhere.iter().chain(extra) {
            // A certificate WebPKI cannot use as a root (some self-signed server
            // certificates) still counts as pinned below.
            let _ = roots.add(certificate.clone());
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| tls_error(ca_file, e.to_string()))
    };
    let mut hosts = HashMap::new();
    for (host, certificates) in &per_host {
        hosts.insert(
            host.clone(),
            (verifier(certificates)?, certificates.clone()),
        );
    }
    let verifier = Verifier {
        default: verifier(&[])?,
        pinned: everywhere,
        hosts,
        provider: Arc::clone(&provider),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(ca_file, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Some(config))
}

fn tls_error(ca_file: Option<&Path>, reason: String) -> Error {
    Error::Tls {
        path: ca_file.map(Path::to_owned),
        reason,
    }
}

/// The platform's trusted roots and Mozilla's (what the HTTP client trusts by default).
fn base_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    roots
}

/// The PEM certificates in a file.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = fs_err::read(path)?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(Some(path), format!("not a PEM certificate file ({e})")))?;
    if certificates.is_empty() {
        return Err(tls_error(Some(path), "it holds no PEM certificate".into()));
    }
    Ok(certificates)
}

/// `DIR/HOST[:PORT]/*.crt` for each of `dirs`, by host (a TLS server name has no port).
/// Unreadable files are skipped with a warning: they are the machine's configuration, not
/// something this command was asked to use.
fn host_certificates(dirs: &[PathBuf]) -> HashMap<String, Vec<CertificateDer<'static>>> {
    let mut found: HashMap<String, Vec<CertificateDer<'static>>> = HashMap::new();
    for dir in dirs {
        let Ok(entries) = fs_err::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let host = host_of(&name);
            let Ok(files) = fs_err::read_dir(entry.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().is_none_or(|e| e != "crt") {
                    continue;
                }
                match read_certificates(&path) {
                    Ok(certificates) => found.entry(host.clone()).or_default().extend(certificates),
                    Err(e) => tracing::warn!("ignoring {}: {e}", path.display()),
                }
            }
        }
    }
    found
}

/// `HOST` of `HOST:PORT`, `[V6]:PORT` or `HOST`.
fn host_of(name: &str) -> String {
    if let Some(rest) = name.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_owned();
    }
    match name.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_owned(),
        _ => name.to_owned(),
    }
}

#[derive(Debug)]
struct Verifier {
    default: Arc<WebPkiServerVerifier>,
    /// Certificates trusted for every host (`--ca-file`).
    pinned: Vec<CertificateDer<'static>>,
    /// Per host: a verifier with that host's extra roots, and those certificates.
    hosts: HashMap<String, (Arc<WebPkiServerVerifier>, Vec<CertificateDer<'static>>)>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let host = server_name.to_str();
        let (verifier, extra) = match self.hosts.get(host.as_ref()) {
            Some((verifier, extra)) => (verifier, extra.as_slice()),
            None => (&self.default, &[][..]),
        };
        match verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(refused) => {
                let pinned = self
                    .pinned
                    .iter()
                    .chain(extra)
                    .any(|c| c.as_ref() == end_entity.as_ref());
                if !pinned {
                    return Err(refused);
                }
                check_pinned(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A trusted certificate presented as the server's own: it must name the server and be
/// within its validity period (the handshake signature is checked against it as usual).
fn check_pinned(
    certificate: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let invalid = rustls::Error::InvalidCertificate;
    let parsed = webpki::EndEntityCert::try_from(certificate)
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    parsed
        .verify_is_valid_for_subject_name(server_name)
        .map_err(|_| invalid(CertificateError::NotValidForName))?;
    use x509_cert::der::Decode as _;
    let decoded = x509_cert::Certificate::from_der(certificate.as_ref())
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    let validity = &decoded.tbs_certificate().validity();
    let now = now.as_secs();
    if now < validity.not_before.to_unix_duration().as_secs() {
        return Err(invalid(CertificateError::NotValidYet));
    }
    if now > validity.not_after.to_unix_duration().as_secs() {
        return Err(invalid(CertificateError::Expired));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `testdata/tls/self-signed.pem`: `openssl req -x509 -newkey rsa:2048 -nodes -subj
    /// /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 3650` (CA:TRUE, as that recipe
    /// makes it), valid from 2026-12-01 for ten years.
    const SELF_SIGNED: &[u8] = include_bytes!("../../../testdata/tls/self-signed.pem");

    fn at(unix: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(unix))
    }

    #[test]
    fn a_pinned_certificate_must_name_the_server_and_be_valid_now() {
        let certificate = CertificateDer::pem_slice_iter(SELF_SIGNED)
            .next()
            .unwrap()
            .unwrap();
        let ip = ServerName::try_from("127.0.0.1").unwrap();
        let other = ServerName::try_from("127.0.0.2").unwrap();
        let name = ServerName::try_from("registry.example.com").unwrap();
        // 2027-06-01: inside the validity period.
        check_pinned(&certificate, &ip, at(1_811_808_000)).unwrap();
        for (server, when, expected) in [
            (&other, 1_811_808_000, CertificateError::NotValidForName),
            (&name, 1_811_808_000, CertificateError::NotValidForName),
            // 2020-01-01, before it was made; 2040-01-01, after it expired.
            (&ip, 1_577_836_800, CertificateError::NotValidYet),
            (&ip, 2_208_988_800, CertificateError::Expired),
        ] {
            let error = check_pinned(&certificate, server, at(when)).unwrap_err();
            assert_eq!(
                error,
                rustls::Error::InvalidCertificate(expected),
                "{server:?} at {when}"
            );
        }
    }

    #[test]
    fn certificate_directories_are_keyed_by_host() {
        for (name, host) in [
            ("registry.example.com:5000", "registry.example.com"),
            ("127.0.0.1:5443", "127.0.0.1"),
            ("registry.example.com", "registry.example.com"),
            ("[::1]:5000", "::1"),
        ] {
            assert_eq!(host_of(name), host);
        }
        let dir = tempfile::tempdir().unwrap();
        let host_dir = dir.path().join("127.0.0.1:5443");
        fs_err::create_dir_all(&host_dir).unwrap();
        fs_err::write(host_dir.join("ca.crt"), SELF_SIGNED).unwrap();
        fs_err::write(host_dir.join("client.key"), "not a certificate").unwrap();
        let found = host_certificates(&[dir.path().to_owned(), dir.path().join("absent")]);
        assert_eq!(found.keys().collect::<Vec<_>>(), ["127.0.0.1"]);
        assert_eq!(found["127.0.0.1"].len(), 1);
    }
}
