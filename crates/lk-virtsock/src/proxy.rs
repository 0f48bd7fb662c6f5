//! Splicing two streams together, as vsudd and the port forwarders do: bytes both ways,
//! and an end of one direction passed on as a half-close where the transport keeps it.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use crate::stream::Stream;

/// What a splice moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spliced {
    /// Bytes from `a` to `b`.
    pub a_to_b: u64,
    /// Bytes from `b` to `a`.
    pub b_to_a: u64,
}

/// Copies until EOF or an error; the count so far either way.
fn copy(from: &mut Stream, to: &mut Stream) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => return n,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return n,
        };
        if to.write_all(&buf[..got]).is_err() {
            return n;
        }
        n += got as u64;
    }
}

/// Passes on the end of one direction: a write half-close where `to` keeps the rest of the
/// connection; for the host side of hybrid vsock (whose backend would drop the guest's
/// later writes) nothing, the connection ending when the other direction does.
fn end_direction(from: &Stream, to: &Stream) {
    if to.half_close_kept() {
        let _ = to.shutdown(Shutdown::Write);
    }
    let _ = from.shutdown(Shutdown::Read);
}

/// Splices `a` and `b` until both directions end; blocks.
pub fn splice(a: Stream, b: Stream) -> io::Result<Spliced> {
    let (mut a2, mut b2) = (a.try_clone()?, b.try_clone()?);
    let back = std::thread::spawn(move || {
        let n = copy(&mut b2, &mut a2);
        end_direction(&b2, &a2);
        n
    });
    let (mut a1, mut b1) = (a, b);
    let a_to_b = copy(&mut a1, &mut b1);
    end_direction(&a1, &b1);
    let b_to_a = back.join().unwrap_or(0);
    let _ = a1.shutdown(Shutdown::Both);
    let _ = b1.shutdown(Shutdown::Both);
    Ok(Spliced { a_to_b, b_to_a })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn unix() -> (Stream, UnixStream) {
        let (x, y) = UnixStream::pair().unwrap();
        (
            Stream::Unix {
                stream: x,
                hybrid: false,
            },
            y,
        )
    }

    #[test]
    fn both_ways_with_half_close() {
        let (a, mut client) = unix();
        let (b, mut server) = unix();
        let t = std::thread::spawn(move || splice(a, b).unwrap());
        client.write_all(b"ping").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        // The server sees EOF after the request, then still answers.
        let mut req = Vec::new();
        server.read_to_end(&mut req).unwrap();
        assert_eq!(req, b"ping");
        server.write_all(b"pong!").unwrap();
        drop(server);
        let mut resp = Vec::new();
        client.read_to_end(&mut resp).unwrap();
        assert_eq!(resp, b"pong!");
        assert_eq!(
            t.join().unwrap(),
            Spliced {
                a_to_b: 4,
                b_to_a: 5
            }
        );
    }
}
