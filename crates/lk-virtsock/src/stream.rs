//! std-like [`Stream`] and [`Listener`] over every transport, with errors that name the
//! endpoint and say what to check.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::addr::{Endpoint, VsockAddr};

/// A socket operation on an endpoint failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {endpoint}: {source}{}", hint(.source))]
pub struct Error {
    /// `connect to`, `listen on`, `accept on`, ...
    pub op: &'static str,
    /// The endpoint, spelled out (CID and port, or path).
    pub endpoint: String,
    /// The cause.
    #[source]
    pub source: io::Error,
}

impl Error {
    fn new(op: &'static str, endpoint: &Endpoint, source: io::Error) -> Error {
        Error {
            op,
            endpoint: endpoint.to_string(),
            source,
        }
    }

    /// The kind of the cause (`ConnectionRefused` for a port nothing listens on).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc_consts::EAFNOSUPPORT) => {
            " (no AF_VSOCK here: load the vsock modules, e.g. vmw_vsock_virtio_transport)"
        }
        Some(libc_consts::ENODEV) | Some(libc_consts::EADDRNOTAVAIL) => {
            " (no vsock transport: does the VM have a vsock device? linuxkit run qemu --vsock)"
        }
        Some(libc_consts::ECONNRESET) | Some(libc_consts::ECONNREFUSED) => {
            " (nothing listens on that port)"
        }
        Some(libc_consts::ETIMEDOUT) => {
            " (no answer: nothing listens on that port, or the peer has no vsock device)"
        }
        _ => "",
    }
}

/// The errno values the hints name (Linux).
mod libc_consts {
    pub const ENODEV: i32 = 19;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ECONNRESET: i32 = 104;
    pub const ETIMEDOUT: i32 = 110;
    pub const ECONNREFUSED: i32 = 111;
}

/// A connected stream.
#[derive(Debug)]
pub enum Stream {
    /// AF_VSOCK.
    Vsock(vsock::VsockStream),
    /// A Unix socket; `hybrid` when it is the host side of a hybrid vsock connection,
    /// whose backend (vhost-device-vsock 0.3) ends the whole connection on a half-close.
    Unix {
        /// The socket.
        stream: UnixStream,
        /// Carries a hybrid vsock connection.
        hybrid: bool,
    },
    /// TCP.
    Tcp(TcpStream),
}

impl Stream {
    /// Connects to `ep`; `timeout` bounds the hybrid handshake and TCP connect (AF_VSOCK
    /// connects time out in the kernel, 2 s by default).
    pub fn connect(ep: &Endpoint, timeout: Duration) -> Result<Stream, Error> {
        let e = |source| Error::new("connect to", ep, source);
        match ep {
            Endpoint::Vsock(a) => vsock::VsockStream::connect_with_cid_port(a.cid, a.port)
                .map(Stream::Vsock)
                .map_err(e),
            Endpoint::Hybrid { path, port } => hybrid_connect(path, *port, timeout).map_err(e),
            Endpoint::Unix(p) => UnixStream::connect(p)
                .map(|stream| Stream::Unix {
                    stream,
                    hybrid: false,
                })
                .map_err(e),
            Endpoint::Tcp(a) => {
                use std::net::ToSocketAddrs;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for sa in a.to_socket_addrs().map_err(e)? {
                    match TcpStream::connect_timeout(&sa, timeout) {
                        Ok(s) => return Ok(Stream::Tcp(s)),
                        Err(x) => last = x,
                    }
                }
                Err(e(last))
            }
        }
    }

    /// Whether a write half-close keeps the connection (false for the host side of hybrid
    /// vsock: vhost-device-vsock 0.3 then drops the guest's later writes).
    pub fn half_close_kept(&self) -> bool {
        !matches!(self, Stream::Unix { hybrid: true, .. })
    }

    /// Shuts down one or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Vsock(s) => s.shutdown(how),
            Stream::Unix { stream, .. } => stream.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        }
    }

    /// Bounds each read (None: block).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Vsock(s) => s.set_read_timeout(d),
            Stream::Unix { stream, .. } => stream.set_read_timeout(d),
            Stream::Tcp(s) => s.set_read_timeout(d),
        }
    }

    /// Bounds each write (None: block).
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Vsock(s) => s.set_write_timeout(d),
            Stream::Unix { stream, .. } => stream.set_write_timeout(d),
            Stream::Tcp(s) => s.set_write_timeout(d),
        }
    }

    /// Another handle on the same connection.
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Vsock(s) => Stream::Vsock(s.try_clone()?),
            Stream::Unix { stream, hybrid } => Stream::Unix {
                stream: stream.try_clone()?,
                hybrid: *hybrid,
            },
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Stream::Vsock(s) => s.as_fd(),
            Stream::Unix { stream, .. } => stream.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Vsock(s) => s.read(buf),
            Stream::Unix { stream, .. } => stream.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Vsock(s) => s.write(buf),
            Stream::Unix { stream, .. } => stream.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The hybrid vsock handshake: `CONNECT <port>\n`, answered `OK <host port>\n` once the
/// guest accepted; a refused port closes the socket without an answer.
fn hybrid_connect(path: &Path, port: u32, timeout: Duration) -> io::Result<Stream> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(format!("CONNECT {port}\n").as_bytes())?;
    let start = Instant::now();
    // Byte by byte: what follows the line is the guest's data.
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let n = s.read(&mut b).map_err(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer to CONNECT {port} within {timeout:?}"),
                )
            } else {
                e
            }
        })?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!(
                    "the backend closed the connection after CONNECT {port}{}: the guest refused the port",
                    if line.is_empty() { "" } else { " mid-answer" }
                ),
            ));
        }
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
        if line.len() > 64 || start.elapsed() > timeout {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "bad answer to CONNECT {port}: {:?}",
                    String::from_utf8_lossy(&line)
                ),
            ));
        }
    }
    let text = String::from_utf8_lossy(&line);
    if !text.starts_with("OK ") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad answer to CONNECT {port}: {text:?}"),
        ));
    }
    s.set_read_timeout(None)?;
    Ok(Stream::Unix {
        stream: s,
        hybrid: true,
    })
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// AF_VSOCK.
    Vsock(vsock::VsockListener, VsockAddr),
    /// A Unix socket (removed when dropped); `hybrid` for `PATH_PORT` of a hybrid backend.
    Unix {
        /// The socket.
        listener: UnixListener,
        /// Its path.
        path: PathBuf,
        /// Takes guest connections to a host port.
        hybrid: bool,
    },
    /// TCP.
    Tcp(TcpListener),
}

/// The Unix socket on which a hybrid backend at `path` delivers guest connections to host
/// port `port`: `PATH_PORT`.
pub fn hybrid_listen_path(path: &Path, port: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!("_{port}"));
    PathBuf::from(s)
}

impl Listener {
    /// Listens on `ep` (a stale Unix socket file is replaced).
    pub fn bind(ep: &Endpoint) -> Result<Listener, Error> {
        let e = |source| Error::new("listen on", ep, source);
        match ep {
            Endpoint::Vsock(a) => vsock::VsockListener::bind_with_cid_port(a.cid, a.port)
                .map(|l| Listener::Vsock(l, *a))
                .map_err(e),
            Endpoint::Hybrid { path, port } => {
                let p = hybrid_listen_path(path, *port);
                unix_listen(&p, true).map_err(e)
            }
            Endpoint::Unix(p) => unix_listen(p, false).map_err(e),
            Endpoint::Tcp(a) => TcpListener::bind(a.as_str()).map(Listener::Tcp).map_err(e),
        }
    }

    /// Waits for a connection; returns it and a description of the peer.
    pub fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Vsock(l, _) => {
                let (s, a) = l.accept()?;
                Ok((
                    Stream::Vsock(s),
                    format!("vsock CID {} port {}", a.cid(), a.port()),
                ))
            }
            Listener::Unix {
                listener, hybrid, ..
            } => {
                let (stream, _) = listener.accept()?;
                Ok((
                    Stream::Unix {
                        stream,
                        hybrid: *hybrid,
                    },
                    "unix".to_owned(),
                ))
            }
            Listener::Tcp(l) => {
                let (s, a) = l.accept()?;
                Ok((Stream::Tcp(s), format!("tcp {a}")))
            }
        }
    }

    /// What it listens on.
    pub fn describe(&self) -> String {
        match self {
            Listener::Vsock(_, a) => Endpoint::Vsock(*a).to_string(),
            Listener::Unix { path, .. } => format!("unix socket {}", path.display()),
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => format!("tcp {a}"),
                Err(_) => "tcp".to_owned(),
            },
        }
    }
}

fn unix_listen(p: &Path, hybrid: bool) -> io::Result<Listener> {
    if let Ok(m) = std::fs::symlink_metadata(p) {
        use std::os::unix::fs::FileTypeExt;
        if m.file_type().is_socket() {
            std::fs::remove_file(p)?;
        }
    }
    Ok(Listener::Unix {
        listener: UnixListener::bind(p)?,
        path: p.to_owned(),
        hybrid,
    })
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A fake hybrid backend: answers CONNECT for port 7 and echoes; refuses others.
    fn backend(path: &Path) -> std::thread::JoinHandle<()> {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = l.accept().unwrap();
                let mut r = io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "CONNECT 7\n" {
                    s.write_all(b"OK 1073741824\nhello").unwrap();
                    let mut b = [0u8; 3];
                    r.read_exact(&mut b).unwrap();
                    s.write_all(&b).unwrap();
                }
            }
        })
    }

    #[test]
    fn hybrid_connect_handshakes_and_keeps_the_data_after_the_answer() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("v.sock");
        let t = backend(&path);
        let ep = Endpoint::Hybrid {
            path: path.clone(),
            port: 7,
        };
        let mut s = Stream::connect(&ep, Duration::from_secs(5)).unwrap();
        assert!(!s.half_close_kept());
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"hello");
        s.write_all(b"abc").unwrap();
        let mut back = [0u8; 3];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"abc");
        let refused = Stream::connect(&Endpoint::Hybrid { path, port: 8 }, Duration::from_secs(5))
            .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let msg = refused.to_string();
        assert!(msg.contains("port 8") && msg.contains("v.sock"), "{msg}");
        t.join().unwrap();
    }

    #[test]
    fn errors_name_the_endpoint() {
        let ep = Endpoint::Unix("/nonexistent/x.sock".into());
        let e = Stream::connect(&ep, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.sock"), "{e}");
    }

    #[test]
    fn hybrid_listeners_sit_beside_the_backend_socket() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("vsock.sock");
        assert_eq!(
            hybrid_listen_path(&base, 1024),
            d.path().join("vsock.sock_1024")
        );
        let l = Listener::bind(&Endpoint::Hybrid {
            path: base,
            port: 1024,
        })
        .unwrap();
        assert!(d.path().join("vsock.sock_1024").exists());
        drop(l);
        assert!(!d.path().join("vsock.sock_1024").exists());
    }
}
