//! fdd: socketpairs shared over Unix sockets.
//!
//! Protocol (MirageSDK's): a client of the control socket writes one line, the path of a
//! new share. The daemon binds a Unix socket there, makes a socketpair and sends one end to
//! each of the first two clients that connect, as the 4-byte message `FDD0` with the
//! descriptor attached; then it removes the path. The two clients now hold the two ends of
//! one channel.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lk_guest_sys::fdpass;

/// The message each end comes with.
pub const MAGIC: &[u8; 4] = b"FDD0";
/// The default control socket.
pub const DEFAULT_SOCKET: &str = "/var/run/fdd.sock";

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

/// Binds a Unix socket at `path`, replacing a stale one.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(dir.display(), e))?;
    }
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(|e| err(path.display(), e))
}

/// The pid file beside the control socket (`fdd.sock` -> `fdd.pid`).
pub fn pid_file(socket: &Path) -> PathBuf {
    socket.with_extension("pid")
}

/// Offers a new socketpair at `path`: each of the next two clients gets one end.
pub fn offer(path: &Path) -> std::io::Result<()> {
    let listener = bind(path)?;
    let (a, b) = UnixStream::pair().map_err(|e| err("socketpair", e))?;
    let ends: [OwnedFd; 2] = [a.into(), b.into()];
    let mut sent = 0;
    for end in &ends {
        let (client, _) = listener.accept().map_err(|e| err(path.display(), e))?;
        fdpass::send_fds(&client, MAGIC, &[end.as_fd()]).map_err(|e| err(path.display(), e))?;
        sent += 1;
    }
    drop(listener);
    let _ = std::fs::remove_file(path);
    crate::say(
        "fdd",
        &format!("{}: both ends handed out ({sent})", path.display()),
    );
    Ok(())
}

/// The daemon: one thread per share request. `ready` is called once the control socket
/// listens.
pub fn serve(socket: &Path, shares: &[PathBuf], ready: &mut dyn FnMut()) -> std::io::Result<()> {
    let pid = pid_file(socket);
    // A pid file whose process is gone (killed) is stale: take it over.
    if let Ok(old) = std::fs::read_to_string(&pid)
        && let Ok(n) = old.trim().parse::<u32>()
        && !Path::new(&format!("/proc/{n}")).exists()
    {
        let _ = std::fs::remove_file(&pid);
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pid)
    {
        Ok(mut f) => writeln!(f, "{}", std::process::id()).map_err(|e| err(pid.display(), e))?,
        Err(e) => {
            return Err(err(
                pid.display(),
                format!("{e} (another fdd runs, or remove the stale file)"),
            ));
        }
    }
    let listener = bind(socket)?;
    for s in shares {
        let s = s.clone();
        std::thread::spawn(move || {
            if let Err(e) = offer(&s) {
                crate::say("fdd", &e.to_string());
            }
        });
    }
    ready();
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        std::thread::spawn(move || {
            let mut line = String::new();
            let r = BufReader::new(conn.take(4096)).read_line(&mut line);
            let path = PathBuf::from(line.trim());
            match r {
                Ok(_) if path.is_absolute() => {
                    if let Err(e) = offer(&path) {
                        crate::say("fdd", &e.to_string());
                    }
                }
                _ => crate::say("fdd", &format!("bad share request {line:?}")),
            }
        });
    }
    Ok(())
}

/// `fdd share`: asks the daemon at `socket` for a share at `path`.
pub fn share(socket: &Path, path: &Path) -> std::io::Result<()> {
    let mut s = UnixStream::connect(socket).map_err(|e| err(socket.display(), e))?;
    writeln!(s, "{}", path.display()).map_err(|e| err(socket.display(), e))
}

/// Connects to the share at `path` (waiting up to `wait` for it to appear) and returns the
/// end of the socketpair it hands over.
pub fn receive(path: &Path, wait: Duration) -> std::io::Result<UnixStream> {
    let start = Instant::now();
    let conn = loop {
        match UnixStream::connect(path) {
            Ok(c) => break c,
            Err(e) if start.elapsed() < wait => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(err(path.display(), e)),
        }
    };
    let (payload, mut fds) = fdpass::recv_fds(&conn).map_err(|e| err(path.display(), e))?;
    if payload.as_slice() != MAGIC || fds.len() != 1 {
        return Err(err(
            path.display(),
            format!(
                "not an fdd share (got {:?} and {} descriptors)",
                String::from_utf8_lossy(&payload),
                fds.len()
            ),
        ));
    }
    Ok(UnixStream::from(fds.remove(0)))
}

/// `fdd test`: takes both ends of the share at `path` and sends a line through.
pub fn test(path: &Path) -> std::io::Result<()> {
    if !path.exists() {
        return Err(err(path.display(), "does not exist"));
    }
    let mut x = receive(path, Duration::ZERO)?;
    let y = receive(path, Duration::ZERO)?;
    let payload = "This is a test!";
    writeln!(x, "{payload}").map_err(|e| err(path.display(), e))?;
    let mut line = String::new();
    BufReader::new(y)
        .read_line(&mut line)
        .map_err(|e| err(path.display(), e))?;
    if line.trim_end() == payload {
        Ok(())
    } else {
        Err(err(
            path.display(),
            format!("expected {payload:?}, got {line:?}"),
        ))
    }
}
