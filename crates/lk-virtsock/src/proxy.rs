//! Splicing two streams together, as vsudd and the port forwarders do: bytes both ways,
//! and an end of one direction passed on as a half-close where the transport keeps it.
//!
//! Toward the host side of hybrid vsock no half-close can be passed on (vhost-device-vsock
//! 0.3 would end the connection), so after `a` ends the connection stays open for the
//! guest's answer until the guest closes, or `a` hangs up altogether (a Unix peer that
//! closed: `POLLHUP`), which closes it.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Waits until `a` hangs up altogether (then shuts `b` down, ending the other direction)
/// or `done` is set.
fn close_on_hangup(a: &Stream, b: &Stream, done: &AtomicBool) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let t = Timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    while !done.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(a, PollFlags::empty())];
        match poll(&mut fds, Some(&t)) {
            Ok(_) if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR) => {
                let _ = b.shutdown(Shutdown::Both);
                return;
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Splices `a` and `b` until both directions end; blocks.
pub fn splice(a: Stream, b: Stream) -> io::Result<Spliced> {
    let (mut a2, mut b2) = (a.try_clone()?, b.try_clone()?);
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let back = std::thread::spawn(move || {
        let n = copy(&mut b2, &mut a2);
        end_direction(&b2, &a2);
        d2.store(true, Ordering::SeqCst);
        n
    });
    let (mut a1, mut b1) = (a, b);
    let a_to_b = copy(&mut a1, &mut b1);
    if b1.half_close_kept() {
        end_direction(&a1, &b1);
    } else {
        close_on_hangup(&a1, &b1, &done);
    }
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
    fn a_client_that_hangs_up_ends_a_hybrid_connection() {
        let (a, client) = unix();
        let (x, mut guest) = UnixStream::pair().unwrap();
        let b = Stream::Unix {
            stream: x,
            hybrid: true,
        };
        let t = std::thread::spawn(move || splice(a, b).unwrap());
        (&client).write_all(b"req").unwrap();
        let mut req = [0u8; 3];
        guest.read_exact(&mut req).unwrap();
        drop(client);
        // The guest side sees the connection end, though no half-close was passed on.
        let mut rest = Vec::new();
        guest.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(t.join().unwrap().a_to_b, 3);
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
