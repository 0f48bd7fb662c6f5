//! The part of Docker's API `trim-after-delete` and `port-forwarder` need, over the
//! engine's Unix socket: `GET /events` (a never-ending chunked HTTP/1.1 answer carrying one
//! JSON object per event) and one-shot JSON `GET`s (`/containers/json`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde::Deserialize;

/// One event (the fields used here).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct Event {
    /// `image`, `container`, `volume`, `builder`, ...
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// `delete`, `destroy`, `prune`, `untag`, ...
    #[serde(rename = "Action", default)]
    pub action: String,
}

/// Decodes HTTP/1.1 chunked transfer coding.
#[derive(Debug)]
pub struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    /// Reads the chunks of `inner` (positioned after the header).
    pub fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            // The CRLF that ends the previous chunk, then the size line.
            while line.trim().is_empty() {
                line.clear();
                if self.inner.read_line(&mut line)? == 0 {
                    self.done = true;
                    return Ok(0);
                }
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let n = self.inner.by_ref().take(self.left as u64).read(buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        Ok(n)
    }
}

/// Sends `GET path` to the engine at `socket` and reads the answer's head; the answer
/// must be 200 from Docker (`Server: Docker/...`). Returns the body's reader.
fn get(socket: &Path, path: &str, agent: &str) -> io::Result<Box<dyn Read>> {
    let mut s = UnixStream::connect(socket)?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: {agent}\r\n\r\n").as_bytes(),
    )?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(io::Error::other(format!("GET {path}: {}", status.trim())));
    }
    let mut server = String::new();
    let mut chunked = false;
    let mut length = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("server") {
                server = v.trim().to_owned();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.trim().eq_ignore_ascii_case("chunked");
            } else if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<u64>().ok();
            }
        }
    }
    if !server.starts_with("Docker") {
        return Err(io::Error::other(format!(
            "the server at {} says it is {server:?}, not Docker",
            socket.display()
        )));
    }
    Ok(match (chunked, length) {
        (true, _) => Box::new(Chunked::new(r)),
        (false, Some(n)) => Box::new(r.take(n)),
        (false, None) => Box::new(r),
    })
}

/// Opens the event stream `path` (`/v1.24/events`, maybe with filters) of the engine at
/// `socket`.
pub fn events(
    socket: &Path,
    path: &str,
    agent: &str,
) -> io::Result<impl Iterator<Item = io::Result<Event>>> {
    let body = get(socket, path, agent)?;
    Ok(serde_json::Deserializer::from_reader(body)
        .into_iter::<Event>()
        .map(|e| e.map_err(io::Error::other)))
}

/// `GET path` as JSON.
pub fn get_json(socket: &Path, path: &str) -> io::Result<serde_json::Value> {
    let body = get(socket, path, "linuxkit")?;
    serde_json::from_reader(body).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_joined() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        let mut out = String::new();
        Chunked::new(&wire[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello, world");
        let mut bad = String::new();
        assert!(
            Chunked::new(&b"zz\r\n"[..])
                .read_to_string(&mut bad)
                .is_err()
        );
    }
}
