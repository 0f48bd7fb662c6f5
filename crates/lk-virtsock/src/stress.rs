//! The `sock_stress` engine. A client opens connections (several at once), each sending a
//! random amount of random bytes in random-sized writes while reading the echo on another
//! thread; the server echoes. Each connection checks the echo's SHA-256 against what it
//! sent.
//!
//! Wire protocol: the client first sends the length as 8 bytes big-endian; the server
//! echoes exactly that many bytes and closes, and the client reads exactly that many, then
//! the close. No side waits for a half-close, which hybrid vsock does not carry
//! (vhost-device-vsock 0.3); a full close it does carry.
//! Not wire-compatible with virtsock's Go `sock_stress`, whose server copies until EOF.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::addr::Endpoint;
use crate::stream::{Listener, Stream};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Connections in all.
    pub connections: usize,
    /// Connections at once.
    pub parallel: usize,
    /// Bytes per connection, at least.
    pub min_len: usize,
    /// Bytes per connection, at most.
    pub max_len: usize,
    /// Write size, at least.
    pub min_buf: usize,
    /// Write size, at most.
    pub max_buf: usize,
    /// Bound on each read and write, and on the hybrid handshake.
    pub io_timeout: Duration,
    /// Stop at the first failed connection.
    pub exit_on_error: bool,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            connections: 100,
            parallel: 1,
            min_len: 0,
            max_len: 64 * 1024,
            min_buf: 1,
            max_buf: 16 * 1024,
            io_timeout: Duration::from_secs(60),
            exit_on_error: false,
        }
    }
}

/// What a client run found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Connections whose echo matched.
    pub ok: usize,
    /// Failed connections, with why (at most the first 20 kept).
    pub failures: Vec<String>,
    /// Failed connections in all.
    pub failed: usize,
    /// Bytes sent (and so expected back).
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// Connections per second.
    pub fn conn_rate(&self) -> f64 {
        (self.ok + self.failed) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Echoed MiB per second (each byte went both ways).
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn between(rng: &mut fastrand::Rng, lo: usize, hi: usize) -> usize {
    if hi <= lo { lo } else { rng.usize(lo..=hi) }
}

/// One connection: send, read the echo, compare.
fn one(ep: &Endpoint, cfg: &ClientConfig, seed: u64) -> Result<u64, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let len = between(&mut rng, cfg.min_len, cfg.max_len);
    let mut data = vec![0u8; len];
    rng.fill(&mut data);
    let want = Sha256::digest(&data);
    let s = Stream::connect(ep, cfg.io_timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(cfg.io_timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(cfg.io_timeout))
        .map_err(|e| e.to_string())?;
    let mut reader = s.try_clone().map_err(|e| e.to_string())?;
    let echo = std::thread::spawn(move || -> io::Result<(usize, Vec<u8>)> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0;
        while n < len {
            let want = buf.len().min(len - n);
            match reader.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Then the server's close: a connection is done when both sides are.
        if n == len && reader.read(&mut buf[..1])? != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more bytes came back than were sent",
            ));
        }
        Ok((n, h.finalize().to_vec()))
    });
    let mut w = s;
    let sent = (|| -> io::Result<()> {
        w.write_all(&(len as u64).to_be_bytes())?;
        let mut off = 0;
        while off < len {
            let k = between(&mut rng, cfg.min_buf.max(1), cfg.max_buf.max(1)).min(len - off);
            w.write_all(&data[off..off + k])?;
            off += k;
        }
        Ok(())
    })();
    let got = echo.join().map_err(|_| "reader panicked".to_owned())?;
    sent.map_err(|e| format!("{len} bytes: send: {e}"))?;
    let (n, sum) = got.map_err(|e| format!("{len} bytes: receive: {e}"))?;
    if n != len {
        return Err(format!("sent {len} bytes, {n} came back"));
    }
    if sum[..] != want[..] {
        return Err(format!("{len} bytes came back with another checksum"));
    }
    Ok(len as u64)
}

/// Runs the client against `ep`; `progress` is told about each failure as it happens.
pub fn client(ep: &Endpoint, cfg: &ClientConfig, progress: &(dyn Fn(&str) + Sync)) -> Report {
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let ok = AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let failures = std::sync::Mutex::new((0usize, Vec::new()));
    let seed = fastrand::u64(..);
    std::thread::scope(|scope| {
        for _ in 0..cfg.parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= cfg.connections || stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match one(ep, cfg, seed.wrapping_add(i as u64)) {
                        Ok(n) => {
                            bytes.fetch_add(n, Ordering::SeqCst);
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            let msg = format!("connection {i}: {e}");
                            progress(&msg);
                            let mut f = failures.lock().unwrap_or_else(|p| p.into_inner());
                            f.0 += 1;
                            if f.1.len() < 20 {
                                f.1.push(msg);
                            }
                            if cfg.exit_on_error {
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                }
            });
        }
    });
    let (failed, failures) = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    Report {
        ok: ok.into_inner(),
        failures,
        failed,
        bytes: bytes.into_inner(),
        elapsed: start.elapsed(),
    }
}

/// Echoes one connection as the protocol says; returns the bytes echoed.
pub fn echo(mut s: Stream) -> io::Result<u64> {
    let mut len = [0u8; 8];
    s.read_exact(&mut len)?;
    let len = u64::from_be_bytes(len);
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let k = s.read(&mut buf[..want])?;
        if k == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} of {len} bytes came", len - left),
            ));
        }
        s.write_all(&buf[..k])?;
        left -= k as u64;
    }
    Ok(len)
}

/// The half-close check's server: reads to EOF, then sends it all back and closes (only
/// a transport that keeps half-close lets the answer through).
pub fn echo_at_eof(mut s: Stream) -> io::Result<u64> {
    let mut got = Vec::new();
    Read::by_ref(&mut s).take(1 << 20).read_to_end(&mut got)?;
    s.write_all(&got)?;
    Ok(got.len() as u64)
}

/// Half-close check: connects, sends `msg`, shuts down the write half and reads the
/// answer to the end (a server that answers after EOF shows the transport kept the
/// half-close).
pub fn send_half_closed(ep: &Endpoint, msg: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let mut s = Stream::connect(ep, timeout).map_err(|e| e.to_string())?;
    if !s.half_close_kept() {
        return Err(format!("{ep} keeps no half-close"));
    }
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(msg).map_err(|e| format!("send: {e}"))?;
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("half-close: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("receive: {e}"))?;
    Ok(out)
}

/// Open connections of a running server (for leak checks).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections being served.
    pub open: AtomicUsize,
    /// Connections served.
    pub done: AtomicUsize,
}

/// Serves the echo protocol (or, `at_eof`, [`echo_at_eof`]) on `l` forever, a thread per
/// connection; each failed connection is logged with its peer.
pub fn serve(
    l: Listener,
    at_eof: bool,
    stats: Arc<ServerStats>,
    log: crate::forward::Log,
) -> io::Result<()> {
    loop {
        let (s, peer) = match l.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stats.open.fetch_add(1, Ordering::SeqCst);
        let (st, lg) = (stats.clone(), log.clone());
        let r = std::thread::Builder::new().spawn(move || {
            let r = if at_eof { echo_at_eof(s) } else { echo(s) };
            if let Err(e) = r {
                lg(&format!("{peer}: {e}"));
            }
            st.open.fetch_sub(1, Ordering::SeqCst);
            st.done.fetch_add(1, Ordering::SeqCst);
        });
        if let Err(e) = r {
            stats.open.fetch_sub(1, Ordering::SeqCst);
            log(&format!("no thread for a connection: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_agree_over_unix() {
        let d = tempfile::tempdir().unwrap();
        let ep = Endpoint::Unix(d.path().join("s.sock"));
        let l = Listener::bind(&ep).unwrap();
        let stats = Arc::new(ServerStats::default());
        let st = stats.clone();
        std::thread::spawn(move || serve(l, false, st, Arc::new(|_: &str| {})));
        let cfg = ClientConfig {
            connections: 30,
            parallel: 5,
            max_len: 300_000,
            ..ClientConfig::default()
        };
        let r = client(&ep, &cfg, &|m| panic!("{m}"));
        assert_eq!((r.ok, r.failed), (30, 0));
        assert!(r.bytes > 0);
        let t = Instant::now();
        while stats.open.load(Ordering::SeqCst) > 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            stats.open.load(Ordering::SeqCst),
            0,
            "every connection closed"
        );
        assert_eq!(stats.done.load(Ordering::SeqCst), 30);
    }

    #[test]
    fn a_short_echo_is_a_failure() {
        let d = tempfile::tempdir().unwrap();
        let ep = Endpoint::Unix(d.path().join("bad.sock"));
        let l = Listener::bind(&ep).unwrap();
        // A server that answers half of what it gets.
        std::thread::spawn(move || {
            while let Ok((mut s, _)) = l.accept() {
                let mut len = [0u8; 8];
                s.read_exact(&mut len).unwrap();
                let n = u64::from_be_bytes(len) as usize;
                let mut b = vec![0u8; n];
                s.read_exact(&mut b).unwrap();
                s.write_all(&b[..n / 2]).unwrap();
            }
        });
        let cfg = ClientConfig {
            connections: 3,
            min_len: 100,
            max_len: 1000,
            ..ClientConfig::default()
        };
        let r = client(&ep, &cfg, &|_| {});
        assert_eq!((r.ok, r.failed), (0, 3));
        assert!(r.failures[0].contains("came back"), "{:?}", r.failures);
    }
}
