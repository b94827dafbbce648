//! A fault-injecting TCP proxy in front of the real registry, for what a real registry never
//! does by itself: storms of 5xx answers and connections cut in the middle of a blob. Every
//! forwarded request gets `Connection: close`, so each connection carries one request and
//! faults land on exactly the request they are meant for.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What to break.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answer this many requests whose request line contains `error_filter` with 503.
    pub server_errors: usize,
    /// Which requests the 503s hit (e.g. "/blobs/", or "" for all).
    pub error_filter: String,
    /// Cut the first download of the blob with this digest after this many response bytes.
    pub cut_download: Option<(String, usize)>,
    /// Answer 416 to any PATCH whose body is larger than this, after reading it (GHCR does
    /// this above 4 MiB).
    pub max_patch_body: Option<u64>,
    /// Accept requests whose request line contains this, and never answer them.
    pub silent: Option<String>,
    /// Send this many response bytes of every GET of the blob with this digest, then keep the
    /// connection open and send nothing more.
    pub stall_download: Option<(String, usize)>,
    /// Answer this many requests whose line contains the filter with 429 and this
    /// `Retry-After` (seconds).
    pub too_many: Option<(String, u64, usize)>,
    /// Add `Link: <the same URL>; rel="next"` to answers of requests whose line contains this:
    /// a listing that never ends.
    pub loop_link: Option<String>,
    /// Hold requests whose line contains the filter this many milliseconds before
    /// forwarding them (a slow link: a large upload takes that much longer to arrive).
    pub slow: Option<(String, u64)>,
    /// Answer this many manifest PUTs with 400 DIGEST_INVALID, as CNCF distribution does
    /// when the same blob is being pushed to the repository at the same moment.
    pub digest_invalid: usize,
}

#[derive(Default)]
struct State {
    faults: Faults,
    cut_done: bool,
    /// Every request head seen, for assertions.
    requests: Vec<String>,
}

/// A running proxy; stops on drop.
pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Proxies 127.0.0.1:<new port> to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            faults,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let state = Arc::clone(&state);
                            std::thread::spawn(move || handle(client, upstream, &state));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        FaultProxy {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The request heads seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Replaces the faults (counters restart).
    pub fn set_faults(&self, faults: Faults) {
        let mut state = self.state.lock().unwrap();
        state.faults = faults;
        state.cut_done = false;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Action {
    Fail,
    Silent,
    TooMany(u64),
    Stall(usize),
    LoopLink(String),
    RefusePatch(u64),
    DigestInvalid(u64),
    Cut(usize),
    Forward,
}

fn handle(mut client: TcpStream, upstream: u16, state: &Mutex<State>) {
    client.set_nonblocking(false).unwrap();
    let Some((head, extra)) = read_head(&mut client) else {
        return;
    };
    let line = head.lines().next().unwrap_or_default().to_owned();
    let action = {
        let mut state = state.lock().unwrap();
        state.requests.push(head.clone());
        let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
        if state.faults.server_errors > 0 && line.contains(&state.faults.error_filter) {
            state.faults.server_errors -= 1;
            Action::Fail
        } else if state
            .faults
            .silent
            .as_ref()
            .is_some_and(|f| line.contains(f))
        {
            Action::Silent
        } else if let Some((filter, seconds, count)) = state.faults.too_many.as_mut()
            && *count > 0
            && line.contains(filter.as_str())
        {
            *count -= 1;
            Action::TooMany(*seconds)
        } else if let Some((digest, after)) = state.faults.stall_download.clone()
            && line.starts_with("GET ")
            && line.contains(&format!("/blobs/{digest}"))
        {
            Action::Stall(after)
        } else if state
            .faults
            .loop_link
            .as_ref()
            .is_some_and(|f| line.contains(f))
        {
            Action::LoopLink(target)
        } else if state.faults.digest_invalid > 0
            && line.starts_with("PUT ")
            && line.contains("/manifests/")
        {
            state.faults.digest_invalid -= 1;
            Action::DigestInvalid(content_length(&head).unwrap_or(0))
        } else if let Some(limit) = state.faults.max_patch_body
            && line.starts_with("PATCH ")
            && content_length(&head).is_none_or(|length| length > limit)
        {
            Action::RefusePatch(content_length(&head).unwrap_or(u64::MAX))
        } else if let Some((digest, after)) = state
            .faults
            .cut_download
            .clone()
            .filter(|_| !state.cut_done)
            && line.starts_with("GET ")
            && line.contains(&format!("/blobs/{digest}"))
        {
            state.cut_done = true;
            Action::Cut(after)
        } else {
            Action::Forward
        }
    };
    if let Action::Fail = action {
        let _ = client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    if let Action::Silent = action {
        // Hold the connection open without a word until the proxy stops.
        hold(&client);
        return;
    }
    if let Action::TooMany(seconds) = action {
        let _ = client.write_all(
            format!("HTTP/1.1 429 Too Many Requests\r\nRetry-After: {seconds}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        return;
    }
    if let Action::DigestInvalid(length) = action {
        let rest = length.saturating_sub(extra.len() as u64);
        let _ = std::io::copy(&mut (&mut client).take(rest), &mut std::io::sink());
        let body = r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        let _ = client.write_all(
            format!("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        );
        return;
    }
    if let Action::RefusePatch(length) = action {
        // Read the body first, as a real server would, then refuse it.
        let rest = length.saturating_sub(extra.len() as u64);
        let _ = std::io::copy(&mut (&mut client).take(rest), &mut std::io::sink());
        let _ = client.write_all(
            b"HTTP/1.1 416 Requested Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let delay = state
        .lock()
        .unwrap()
        .faults
        .slow
        .as_ref()
        .filter(|(filter, _)| line.contains(filter.as_str()))
        .map(|(_, ms)| Duration::from_millis(*ms));
    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let head = head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    if server
        .write_all(head.as_bytes())
        .and_then(|_| server.write_all(&extra))
        .is_err()
    {
        return;
    }
    let (mut from_client, mut to_server) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_server);
        let _ = to_server.shutdown(Shutdown::Write);
    });
    let limit = match action {
        Action::Cut(after) | Action::Stall(after) => after as u64,
        _ => u64::MAX,
    };
    if let Action::LoopLink(target) = &action {
        // Forward the answer's head with one more header, then the body.
        if let Some((head, rest)) = read_head(&mut server) {
            let head = head.replacen(
                "\r\n\r\n",
                &format!("\r\nLink: <{target}>; rel=\"next\"\r\n\r\n"),
                1,
            );
            let _ = client.write_all(head.as_bytes());
            let _ = client.write_all(&rest);
        }
    }
    let _ = std::io::copy(&mut (&mut server).take(limit), &mut client);
    if let Action::Stall(_) = action {
        hold(&client);
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = upload.join();
}

/// Keeps a connection open, sending nothing, for up to two minutes (past any timeout a
/// test sets) or until the client goes away.
fn hold(client: &TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
    let mut byte = [0u8; 1];
    for _ in 0..600 {
        match (&*client).read(&mut byte) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// The Content-Length of a request head, if it has one.
fn content_length(head: &str) -> Option<u64> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Reads up to the end of the request head; returns it and any body bytes read past it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end + 4]).into_owned();
            return Some((head, buffer[end + 4..].to_vec()));
        }
    }
}
