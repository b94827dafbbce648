//! A bearer-token server for the real registry (`auth: token:` in its config), the flow GHCR,
//! Docker Hub, Harbor and ECR use: the registry answers 401 with a `Bearer realm=...`
//! challenge, the client fetches a JWT for its scopes here with basic credentials, and the
//! registry verifies the JWT's `x5c` certificate against its `rootcertbundle`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::harness::which;

pub const SERVICE: &str = "modelark-test-registry";
pub const ISSUER: &str = "modelark-test-issuer";

/// A running token server; stops on drop.
pub struct TokenServer {
    pub port: u16,
    dir: tempfile::TempDir,
    /// Tokens issued so far.
    pub issued: Arc<AtomicUsize>,
    /// How many of the next tokens to issue already expired.
    pub expired_next: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Serves tokens to `user`/`password` for any scope they ask.
    pub fn start(user: &'static str, password: &'static str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(which("openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "2",
                "-subj",
                "/CN=token-signer",
            ])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let der = Command::new(which("openssl"))
            .args(["x509", "-in", "cert.pem", "-outform", "der"])
            .current_dir(dir.path())
            .output()
            .unwrap()
            .stdout;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (issued, expired_next, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let thread = {
            let (issued, expired_next, stop) = (
                Arc::clone(&issued),
                Arc::clone(&expired_next),
                Arc::clone(&stop),
            );
            let key = dir.path().join("key.pem");
            let x5c = STANDARD.encode(&der);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let signer = Signer {
                                key: key.clone(),
                                x5c: x5c.clone(),
                                user,
                                password,
                            };
                            let (issued, expired_next) =
                                (Arc::clone(&issued), Arc::clone(&expired_next));
                            std::thread::spawn(move || {
                                signer.answer(stream, &issued, &expired_next)
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        TokenServer {
            port,
            dir,
            issued,
            expired_next,
            stop,
            thread: Some(thread),
        }
    }

    /// The realm to put in the registry's config.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The certificate the registry trusts for tokens.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Signer {
    key: PathBuf,
    x5c: String,
    user: &'static str,
    password: &'static str,
}

impl Signer {
    fn answer(&self, mut stream: TcpStream, issued: &AtomicUsize, expired_next: &AtomicUsize) {
        stream.set_nonblocking(false).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let target = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let authorized = head.lines().any(|line| {
            let Some((name, value)) = line.split_once(':') else {
                return false;
            };
            name.eq_ignore_ascii_case("authorization")
                && value
                    .trim()
                    .strip_prefix("Basic ")
                    .and_then(|b| STANDARD.decode(b.trim()).ok())
                    == Some(format!("{}:{}", self.user, self.password).into_bytes())
        });
        if !authorized {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        let scopes: Vec<String> = target
            .split_once('?')
            .map(|(_, query)| {
                query
                    .split('&')
                    .filter_map(|p| p.strip_prefix("scope="))
                    .map(percent_decode)
                    .collect()
            })
            .unwrap_or_default();
        let expired = expired_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let token = self.token(&scopes, expired);
        issued.fetch_add(1, Ordering::SeqCst);
        let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// An RS256 JWT granting `scopes`, signed by openssl.
    fn token(&self, scopes: &[String], expired: bool) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let exp = if expired { now - 120 } else { now + 300 };
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": self.user, "aud": SERVICE, "exp": exp, "nbf": now - 600, "iat": now - 600,
            "jti": format!("{now}-{}", rand_suffix()), "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = sign(&self.key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn sign(key: &Path, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(which("openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl could not sign");
    out.stdout
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
