//! `vsudd`: virtsock's Unix-socket <-> vsock daemon.
//!
//! - `-inport PORT:unix:PATH`: listen on vsock PORT (any CID; PORT decimal, `0x` hex, or a
//!   Hyper-V service GUID standing for a port); each connection is joined to a new
//!   connection to the Unix socket PATH (the host reaches `docker.sock` or the service
//!   control socket this way).
//! - `-outport PORT:unix:PATH` (the reverse): listen on the Unix socket PATH; each
//!   connection is joined to the host's (CID 2) vsock PORT.
//! - `-syslog PORT:PATH`: datagrams on the Unix socket PATH go to the host's vsock PORT,
//!   framed as RFC 5425 (octet counting), over one reused connection.
//!
//! Half-close passes through both ways (AF_VSOCK keeps it).

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lk_virtsock::addr::{CID_ANY, CID_HOST, Guid, VsockAddr, parse_port};
use lk_virtsock::{Endpoint, Listener, Stream, splice};

/// One `-inport`/`-outport`: a vsock port and a Unix socket path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// The vsock port.
    pub port: u32,
    /// The Unix socket.
    pub path: PathBuf,
}

/// A port: decimal, `0x` hex, or a service GUID (`xxxxxxxx-facb-11e6-bd58-64006a7986d3`).
pub fn port(s: &str) -> Result<u32, String> {
    if s.contains('-') {
        let g: Guid = s.parse().map_err(|e: lk_virtsock::AddrError| e.0)?;
        return g.port().map_err(|e| e.0);
    }
    parse_port(s).map_err(|e| e.0)
}

impl PortSpec {
    /// Parses `PORT:unix:PATH`.
    pub fn parse(s: &str) -> Result<PortSpec, String> {
        let mut it = s.splitn(3, ':');
        match (it.next(), it.next(), it.next()) {
            (Some(p), Some("unix"), Some(path)) if !path.is_empty() => Ok(PortSpec {
                port: port(p)?,
                path: PathBuf::from(path),
            }),
            (Some(_), Some(net), Some(_)) if net != "unix" => Err(format!(
                "{s:?}: only unix sockets can be forwarded, not {net:?}"
            )),
            _ => Err(format!("{s:?}: want PORT:unix:PATH")),
        }
    }
}

static IDS: AtomicU64 = AtomicU64::new(1);

fn join(a: Stream, b: Stream, log: &(dyn Fn(&str) + Sync)) {
    let id = IDS.fetch_add(1, Ordering::SeqCst);
    match splice(a, b) {
        Ok(n) => log(&format!(
            "{id} Done. read: {} written: {}",
            n.a_to_b, n.b_to_a
        )),
        Err(e) => log(&format!("{id} failed: {e}")),
    }
}

/// Serves an `-inport`: vsock connections joined to the Unix socket. Blocks.
pub fn inport(spec: &PortSpec, log: &'static (dyn Fn(&str) + Sync)) -> Result<(), String> {
    let l = Listener::bind(&Endpoint::Vsock(VsockAddr::new(CID_ANY, spec.port)))
        .map_err(|e| e.to_string())?;
    log(&format!(
        "listening on {} for {}",
        l.describe(),
        spec.path.display()
    ));
    accept_loop(&l, Endpoint::Unix(spec.path.clone()), log)
}

/// Serves an `-outport`: Unix connections joined to the host's vsock port. Blocks.
pub fn outport(spec: &PortSpec, log: &'static (dyn Fn(&str) + Sync)) -> Result<(), String> {
    let l = Listener::bind(&Endpoint::Unix(spec.path.clone())).map_err(|e| e.to_string())?;
    let to = Endpoint::Vsock(VsockAddr::new(CID_HOST, spec.port));
    log(&format!("listening on {} for {to}", l.describe()));
    accept_loop(&l, to, log)
}

fn accept_loop(
    l: &Listener,
    to: Endpoint,
    log: &'static (dyn Fn(&str) + Sync),
) -> Result<(), String> {
    loop {
        let (c, peer) = match l.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("accept on {}: {e}", l.describe())),
        };
        let to = to.clone();
        std::thread::spawn(
            move || match Stream::connect(&to, Duration::from_secs(10)) {
                Ok(s) => join(c, s, log),
                // The caller's connection closes; the daemon keeps serving.
                Err(e) => log(&format!("{peer}: {e}")),
            },
        );
    }
}

/// RFC 5425 octet-counting framing: `<length> <message>`.
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg);
    out
}

/// Serves `-syslog PORT:PATH`: each datagram on PATH goes to the host's vsock PORT. A send
/// that fails reconnects (up to 2 tries) and re-sends the message before it too, as an
/// error shows only on the write after the one that was lost. Blocks.
pub fn syslog(port: u32, path: &Path, log: &'static (dyn Fn(&str) + Sync)) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let sock = UnixDatagram::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let to = Endpoint::Vsock(VsockAddr::new(CID_HOST, port));
    let mut conn: Option<Stream> = None;
    let mut last: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let msg = frame(&buf[..n]);
        let mut sent = false;
        for attempt in 0..2 {
            if conn.is_none() {
                match Stream::connect(&to, Duration::from_secs(5)) {
                    Ok(s) => {
                        let _ = s.shutdown(std::net::Shutdown::Read);
                        conn = Some(s);
                    }
                    Err(e) => {
                        log(&format!("vsyslog: {e}"));
                        continue;
                    }
                }
                if let Some(c) = conn.as_mut().filter(|_| attempt > 0 && !last.is_empty()) {
                    let _ = c.write_all(&last);
                }
            }
            if let Some(c) = conn.as_mut()
                && c.write_all(&msg).is_ok()
            {
                sent = true;
                break;
            }
            conn = None;
        }
        if sent {
            last = msg;
        } else {
            log("vsyslog: a message was dropped: the host does not answer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_virtsock() {
        assert_eq!(
            PortSpec::parse("2374:unix:/run/containerd/containerd.sock"),
            Ok(PortSpec {
                port: 2374,
                path: "/run/containerd/containerd.sock".into()
            })
        );
        assert_eq!(
            PortSpec::parse("0000094a-facb-11e6-bd58-64006a7986d3:unix:/var/run/docker.sock")
                .unwrap()
                .port,
            0x94a
        );
        assert!(
            PortSpec::parse("2374:tcp:1.2.3.4:5")
                .unwrap_err()
                .contains("only unix")
        );
        assert!(PortSpec::parse("2374").is_err());
        assert!(PortSpec::parse("x:unix:/a").is_err());
    }

    #[test]
    fn syslog_frames_count_octets() {
        assert_eq!(frame(b"<13>hello"), b"9 <13>hello");
    }
}
