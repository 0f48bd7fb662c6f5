//! Ports that follow the guest: the protocol between a guest's `port-forwarder` and
//! `linuxkit run`, both ends.
//!
//! - Control (guest -> host, vsock host port [`CONTROL_PORT`]): lines
//!   `EXPOSE tcp HOST_IP:HOST_PORT GUEST_IP:GUEST_PORT` and `UNEXPOSE tcp HOST_IP:HOST_PORT`,
//!   each answered `OK` or `ERR <reason>`. The host listens on HOST_IP:HOST_PORT while the
//!   control connection lasts; when it ends, every port it opened closes.
//! - Data (host -> guest, vsock guest port [`DATA_PORT`], as vpnkit-forwarder's): per host
//!   connection, the host sends `CONNECT tcp GUEST_IP:GUEST_PORT`, the guest connects there
//!   and answers `OK` (or `ERR <reason>`), then the two streams are spliced.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::addr::Endpoint;
use crate::proxy::splice;
use crate::stream::{Listener, Stream};

/// The host's control port (guests connect to CID 2 here).
pub const CONTROL_PORT: u32 = 62374;
/// The guest's data port (the host connects here), vpnkit-forwarder's port.
pub const DATA_PORT: u32 = 62373;

/// A log sink.
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// One request on the control connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Listen on `host` and forward to `guest`.
    Expose {
        /// Host address to listen on.
        host: SocketAddr,
        /// Guest address connections go to.
        guest: SocketAddr,
    },
    /// Stop listening on `host`.
    Unexpose {
        /// The host address.
        host: SocketAddr,
    },
}

impl Request {
    /// The line on the wire (without the newline).
    pub fn line(&self) -> String {
        match self {
            Request::Expose { host, guest } => format!("EXPOSE tcp {host} {guest}"),
            Request::Unexpose { host } => format!("UNEXPOSE tcp {host}"),
        }
    }

    /// Parses a line.
    pub fn parse(line: &str) -> Result<Request, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let addr = |s: &str| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("bad address {s:?} (want IP:PORT)"))
        };
        match w.as_slice() {
            ["EXPOSE", "tcp", h, g] => Ok(Request::Expose {
                host: addr(h)?,
                guest: addr(g)?,
            }),
            ["UNEXPOSE", "tcp", h] => Ok(Request::Unexpose { host: addr(h)? }),
            ["EXPOSE" | "UNEXPOSE", proto, ..] if *proto != "tcp" => {
                Err(format!("protocol {proto} is not forwarded (only tcp)"))
            }
            _ => Err(format!("bad request {line:?}")),
        }
    }
}

/// Reads one `\n`-ended line byte by byte (what follows stays in the stream), at most 512
/// bytes; None at EOF.
pub fn read_line(s: &mut Stream) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b)? == 0 {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if b[0] == b'\n' {
            return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_owned()));
        }
        line.push(b[0]);
        if line.len() > 512 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

/// Sends `req` and reads the answer: Ok, or the host's reason.
pub fn ask(s: &mut Stream, req: &Request) -> io::Result<Result<(), String>> {
    s.write_all(format!("{}\n", req.line()).as_bytes())?;
    match read_line(s)? {
        Some(a) if a == "OK" => Ok(Ok(())),
        Some(a) => Ok(Err(a.strip_prefix("ERR ").unwrap_or(&a).to_owned())),
        None => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

/// The host side: takes control connections from the guest on `<backend>_CONTROL_PORT`
/// and opens the ports asked for, each connection going to the guest over hybrid vsock.
/// Returns once listening; serves in background threads.
pub fn serve_host(backend: &Path, log: Log) -> Result<(), crate::Error> {
    let l = Listener::bind(&Endpoint::Hybrid {
        path: backend.to_owned(),
        port: CONTROL_PORT,
    })?;
    let backend = backend.to_owned();
    std::thread::spawn(move || {
        let _keep = &l;
        while let Ok((s, _)) = l.accept() {
            let (b, log) = (backend.clone(), log.clone());
            std::thread::spawn(move || control(s, b, log));
        }
    });
    Ok(())
}

/// A listening host port and the flag that stops it.
struct Open {
    stop: Arc<AtomicBool>,
}

fn control(mut s: Stream, backend: PathBuf, log: Log) {
    let mut open: HashMap<SocketAddr, Open> = HashMap::new();
    while let Ok(Some(line)) = read_line(&mut s) {
        let answer = match Request::parse(&line) {
            Ok(Request::Expose { host, guest }) => match open.entry(host) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    Err(format!("{host} is already forwarded"))
                }
                std::collections::hash_map::Entry::Vacant(v) => match TcpListener::bind(host) {
                    Ok(tl) => {
                        let stop = Arc::new(AtomicBool::new(false));
                        log(&format!("forwarding {host} to the guest's {guest}"));
                        let (b, st, lg) = (backend.clone(), stop.clone(), log.clone());
                        std::thread::spawn(move || accept_loop(tl, guest, b, st, lg));
                        v.insert(Open { stop });
                        Ok(())
                    }
                    Err(e) => Err(format!("cannot listen on {host}: {e}")),
                },
            },
            Ok(Request::Unexpose { host }) => match open.remove(&host) {
                Some(o) => {
                    o.stop.store(true, Ordering::SeqCst);
                    log(&format!("no longer forwarding {host}"));
                    Ok(())
                }
                None => Err(format!("{host} is not forwarded")),
            },
            Err(e) => Err(e),
        };
        let reply = match answer {
            Ok(()) => "OK\n".to_owned(),
            Err(e) => format!("ERR {e}\n"),
        };
        if s.write_all(reply.as_bytes()).is_err() {
            break;
        }
    }
    for (host, o) in open {
        o.stop.store(true, Ordering::SeqCst);
        log(&format!(
            "no longer forwarding {host} (the guest's forwarder went away)"
        ));
    }
}

fn accept_loop(
    tl: TcpListener,
    guest: SocketAddr,
    backend: PathBuf,
    stop: Arc<AtomicBool>,
    log: Log,
) {
    // Non-blocking, polled, so the stop flag closes the port promptly.
    if tl.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        match tl.accept() {
            Ok((c, peer)) => {
                let _ = c.set_nonblocking(false);
                let (b, lg) = (backend.clone(), log.clone());
                std::thread::spawn(move || {
                    if let Err(e) = to_guest(Stream::Tcp(c), guest, &b) {
                        lg(&format!("{peer} -> guest {guest}: {e}"));
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Connects to the guest's data port and asks for `guest`; splices on success.
fn to_guest(c: Stream, guest: SocketAddr, backend: &Path) -> Result<(), String> {
    let ep = Endpoint::Hybrid {
        path: backend.to_owned(),
        port: DATA_PORT,
    };
    let mut g = Stream::connect(&ep, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    g.write_all(format!("CONNECT tcp {guest}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    match read_line(&mut g).map_err(|e| e.to_string())? {
        Some(a) if a == "OK" => {}
        Some(a) => return Err(a),
        None => return Err("the guest's forwarder closed the connection".into()),
    }
    splice(c, g).map_err(|e| e.to_string())?;
    Ok(())
}

/// The guest side of a data connection: reads `CONNECT tcp ADDR`, connects, answers,
/// splices.
pub fn serve_data_connection(mut s: Stream) -> Result<(), String> {
    let line = read_line(&mut s)
        .map_err(|e| e.to_string())?
        .ok_or("closed before asking")?;
    let target = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["CONNECT", "tcp", a] => a
            .parse::<SocketAddr>()
            .map_err(|_| format!("bad address {a:?}"))?,
        _ => {
            let _ = s.write_all(b"ERR bad request\n");
            return Err(format!("bad request {line:?}"));
        }
    };
    match Stream::connect(&Endpoint::Tcp(target.to_string()), Duration::from_secs(10)) {
        Ok(t) => {
            s.write_all(b"OK\n").map_err(|e| e.to_string())?;
            splice(s, t).map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(e) => {
            let _ = s.write_all(format!("ERR {e}\n").as_bytes());
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let r = Request::Expose {
            host: "127.0.0.1:8080".parse().unwrap(),
            guest: "10.0.0.2:80".parse().unwrap(),
        };
        assert_eq!(r.line(), "EXPOSE tcp 127.0.0.1:8080 10.0.0.2:80");
        assert_eq!(Request::parse(&r.line()), Ok(r));
        assert_eq!(
            Request::parse("UNEXPOSE tcp [::1]:80"),
            Ok(Request::Unexpose {
                host: "[::1]:80".parse().unwrap()
            })
        );
        assert!(
            Request::parse("EXPOSE udp 1.2.3.4:5 1.2.3.4:5")
                .unwrap_err()
                .contains("only tcp")
        );
        assert!(Request::parse("EXPOSE tcp x y").is_err());
    }
}
