//! A registry that misbehaves on purpose, on a free 127.0.0.1 port: it serves one image
//! (`/v2/<repo>/manifests/<tag>` and its blobs) and fails blob requests the way a test
//! asks: cut connections, stalls, 5xx answers, wrong bytes, a slow trickle, range requests
//! ignored. It records every blob request (with its `Range` header) so tests can see a
//! download resumed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lk_oci::{Digest, MEDIA_OCI_MANIFEST};

use crate::image::TestImage;

/// How a blob request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Correctly (a range request gets 206 with the rest).
    None,
    /// Headers for the whole blob, then half of the requested bytes, then the connection closes.
    Cut,
    /// Half of the requested bytes, then nothing (the connection stays open until the test ends).
    Stall,
    /// `503 Service Unavailable`.
    Unavailable,
    /// The whole blob with one byte changed.
    Corrupt,
    /// Correct, but a range request gets the whole blob with 200.
    IgnoreRange,
    /// Correct, sent in 16 KiB pieces 20 ms apart (for killing a client mid-download).
    Slow,
}

/// One blob request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The digest asked for.
    pub digest: String,
    /// The first byte asked for (`Range: bytes=N-`), 0 without a range.
    pub from: u64,
}

struct State {
    /// Answers for the next blob requests, in order; then `after`.
    plan: Vec<Fault>,
    after: Fault,
    requests: Vec<Request>,
}

/// The running server; stopped on drop.
#[derive(Debug)]
pub struct FaultyRegistry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "State({:?}, then {:?})", self.plan, self.after)
    }
}

impl FaultyRegistry {
    /// Serves `image` as `<repo>:<tag>`; blob requests are answered with `plan`, one fault
    /// per request in order, then with `after`.
    pub fn start(
        repo: &str,
        tag: &str,
        image: &TestImage,
        plan: &[Fault],
        after: Fault,
    ) -> FaultyRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
        for b in std::iter::once(&image.config).chain(&image.layers) {
            blobs.insert(Digest::of(b).to_string(), b.clone());
        }
        let blobs = Arc::new(blobs);
        let manifest = Arc::new(image.manifest.clone());
        let state = Arc::new(Mutex::new(State {
            plan: plan.to_vec(),
            after,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let prefix = format!("/v2/{repo}/");
        let manifest_path = format!("/v2/{repo}/manifests/{tag}");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, sp, blobs, manifest) =
                    (st.clone(), sp.clone(), blobs.clone(), manifest.clone());
                let (prefix, manifest_path) = (prefix.clone(), manifest_path.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &st, &sp, &blobs, &manifest, &prefix, &manifest_path);
                });
            }
        });
        FaultyRegistry { host, state, stop }
    }

    /// The blob requests seen so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }

    /// Answers the next blob requests with `plan`, then with `after`.
    pub fn set_faults(&self, plan: &[Fault], after: Fault) {
        if let Ok(mut s) = self.state.lock() {
            s.plan = plan.to_vec();
            s.after = after;
        }
    }
}

impl Drop for FaultyRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

fn serve(
    mut conn: TcpStream,
    state: &Mutex<State>,
    stop: &AtomicBool,
    blobs: &HashMap<String, Vec<u8>>,
    manifest: &[u8],
    prefix: &str,
    manifest_path: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut from = 0u64;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            let v = v.trim().trim_start_matches("bytes=").trim_end_matches('-');
            from = v.parse().unwrap_or(0);
        }
    }
    let head = method == "HEAD";
    let reply = |conn: &mut TcpStream, status: &str, ctype: &str, extra: &str, body: &[u8]| {
        let h = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: {ctype}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(h.as_bytes())?;
        if !head {
            conn.write_all(body)?;
        }
        conn.flush()
    };
    if path == "/v2/" {
        return reply(&mut conn, "200 OK", "application/json", "", b"{}");
    }
    if path == manifest_path || path == format!("{prefix}manifests/{}", Digest::of(manifest)) {
        let extra = format!("Docker-Content-Digest: {}\r\n", Digest::of(manifest));
        return reply(&mut conn, "200 OK", MEDIA_OCI_MANIFEST, &extra, manifest);
    }
    let Some(digest) = path.strip_prefix(&format!("{prefix}blobs/")) else {
        return reply(&mut conn, "404 Not Found", "text/plain", "", b"not found");
    };
    let Some(blob) = blobs.get(digest) else {
        return reply(
            &mut conn,
            "404 Not Found",
            "text/plain",
            "",
            b"blob unknown",
        );
    };
    let fault = {
        let mut s = state
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        if !head {
            s.requests.push(Request {
                digest: digest.to_owned(),
                from,
            });
        }
        if s.plan.is_empty() {
            s.after
        } else {
            s.plan.remove(0)
        }
    };
    if head {
        return reply(&mut conn, "200 OK", "application/octet-stream", "", blob);
    }
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(blob.len());
    let ranged = from > 0 && fault != Fault::IgnoreRange;
    let body = if ranged { &blob[from..] } else { &blob[..] };
    let (status, extra) = if ranged {
        (
            "206 Partial Content",
            format!(
                "Content-Range: bytes {from}-{}/{}\r\n",
                blob.len() - 1,
                blob.len()
            ),
        )
    } else {
        ("200 OK", String::new())
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    match fault {
        Fault::Unavailable => reply(
            &mut conn,
            "503 Service Unavailable",
            "text/plain",
            "",
            b"busy",
        ),
        Fault::Corrupt => {
            let mut bad = body.to_vec();
            if let Some(b) = bad.last_mut() {
                *b ^= 0xff;
            }
            conn.write_all(header.as_bytes())?;
            conn.write_all(&bad)
        }
        Fault::Cut | Fault::Stall => {
            conn.write_all(header.as_bytes())?;
            conn.write_all(&body[..body.len() / 2])?;
            conn.flush()?;
            if fault == Fault::Stall {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Ok(())
        }
        Fault::Slow => {
            conn.write_all(header.as_bytes())?;
            for piece in body.chunks(16 * 1024) {
                conn.write_all(piece)?;
                conn.flush()?;
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
        Fault::None | Fault::IgnoreRange => {
            conn.write_all(header.as_bytes())?;
            conn.write_all(body)
        }
    }
}
