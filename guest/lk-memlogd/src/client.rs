//! The client side shared by `logwrite`, `logread` and the service supervisor: handing a
//! stream to memlogd, copying a stream to two places, reading entries back.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixDatagram, UnixStream};

use crate::{Entry, LOG_SOCKET, Mode};

/// A socket connected to memlogd's log socket, or None when memlogd is not running.
pub fn connect(socket: Option<&str>) -> Option<UnixDatagram> {
    let socket = socket.unwrap_or(LOG_SOCKET);
    UnixDatagram::unbound()
        .ok()
        .filter(|s| s.connect(socket).is_ok())
}

/// A pipe whose read end went to memlogd under `name`; None when memlogd is not there.
pub fn pipe_to(sock: Option<&UnixDatagram>, name: &str) -> Option<std::io::PipeWriter> {
    let sock = sock?;
    let (r, w) = std::io::pipe().ok()?;
    lk_guest_sys::fdpass::send_fds(sock, name.as_bytes(), &[r.as_fd()]).ok()?;
    Some(w)
}

/// Copies `from` to `console` and to `log` until EOF. No allocation, so it is safe to run
/// in a thread while the process clones a container.
pub fn tee(mut from: impl Read, mut console: impl Write, mut log: Option<impl Write>) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let _ = console.write_all(&buf[..n]);
                let _ = console.flush();
                if let Some(l) = log.as_mut()
                    && l.write_all(&buf[..n]).is_err()
                {
                    log = None;
                }
            }
        }
    }
}

/// Queries memlogd's query socket and calls `each` for every entry until the stream ends
/// (dump) or `each` returns false.
pub fn query(socket: &str, mode: Mode, each: &mut dyn FnMut(Entry) -> bool) -> Result<(), String> {
    let mut conn = UnixStream::connect(socket).map_err(|e| {
        format!("{socket}: {e} (is memlogd running? it starts from /etc/init.d/002-logging)")
    })?;
    conn.write_all(&[mode.byte()]).map_err(|e| e.to_string())?;
    for line in BufReader::new(conn).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(e) = serde_json::from_str::<Entry>(&line) else {
            continue;
        };
        if !each(e) {
            break;
        }
    }
    Ok(())
}
