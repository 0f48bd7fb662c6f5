//! `sock_stress`: echo stress over vsock, hybrid vsock, Unix or TCP; see lk_virtsock::stress.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use lk_virtsock::addr::{CID_ANY, CID_HOST, STRESS_PORT};
use lk_virtsock::stress::{self, ClientConfig, ServerStats};
use lk_virtsock::{Endpoint, Listener};

const USAGE: &str = "usage: sock_stress -s URL | -c URL [options]

Servers echo; clients open connections (-p at once, -i in all), send a random amount of
random data (-L..-l bytes) in random-sized writes (-B..-b bytes), and check the SHA-256 of
the echo. URL: vsock[://CID[:PORT]] (default port 0x5653; a server takes any CID, a client
defaults to the host, CID 2), hvsock[://parent|loopback[:SERVICE-GUID]] (carried by
AF_VSOCK), hybrid://PATH:PORT (the host side of linuxkit run qemu --vsock:
<state>/vsock.sock), unix://PATH, tcp://HOST:PORT.

options:
  -i N     connections in all (100)
  -p N     connections at once (1)
  -L N     minimum bytes per connection (0)
  -l N     maximum bytes per connection (65536; K, M suffixes)
  -B N     minimum write size (1)
  -b N     maximum write size (16384)
  -t SECS  bound on each read or write (60)
  -e       stop at the first failure
  -send M  instead: send M, half-close, print the answer (checks the transport keeps
           half-close: against a server run with -at-eof)
  -at-eof  (server) read to EOF, then answer with what came
  -v N     verbosity: 1 prints each failure as it happens (1)";

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "sock_stress: {msg}");
}

fn fail(msg: &str) -> ! {
    say(msg);
    std::process::exit(2);
}

fn size(s: &str) -> usize {
    let (n, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1024),
        Some('M' | 'm') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    n.parse::<usize>()
        .map(|n| n * mul)
        .unwrap_or_else(|_| fail(&format!("bad size {s:?}")))
}

fn main() {
    let mut server = None;
    let mut client = None;
    let mut cfg = ClientConfig::default();
    let mut verbose = 1;
    let mut send = None;
    let mut at_eof = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let flag = a.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.to_owned(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| fail(&format!("-{name} needs a value\n{USAGE}")))
        };
        match name.as_str() {
            "s" => server = Some(val()),
            "c" => client = Some(val()),
            "i" => cfg.connections = size(&val()),
            "p" => cfg.parallel = size(&val()),
            "L" => cfg.min_len = size(&val()),
            "l" => cfg.max_len = size(&val()),
            "B" => cfg.min_buf = size(&val()),
            "b" => cfg.max_buf = size(&val()),
            "t" => cfg.io_timeout = Duration::from_secs(size(&val()) as u64),
            "e" => cfg.exit_on_error = true,
            "send" => send = Some(val()),
            "at-eof" => at_eof = true,
            "v" => verbose = size(&val()),
            "h" | "help" => {
                let _ = writeln!(std::io::stdout(), "{USAGE}");
                return;
            }
            _ => fail(&format!("unknown option {a}\n{USAGE}")),
        }
    }
    match (server, client) {
        (Some(url), None) => {
            let ep = Endpoint::parse(&url, CID_ANY, STRESS_PORT).unwrap_or_else(|e| fail(&e.0));
            let l = Listener::bind(&ep).unwrap_or_else(|e| fail(&e.to_string()));
            // As a container's PID 1 it has no default SIGTERM handler.
            if let Ok(mut sig) = signal_hook::iterator::Signals::new([
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGINT,
            ]) {
                std::thread::spawn(move || {
                    if sig.forever().next().is_some() {
                        std::process::exit(0);
                    }
                });
            }
            say(&format!("echoing on {}", l.describe()));
            let stats = Arc::new(ServerStats::default());
            let r = stress::serve(
                l,
                at_eof,
                stats,
                Arc::new(move |m: &str| {
                    if verbose > 0 {
                        say(m)
                    }
                }),
            );
            if let Err(e) = r {
                fail(&format!("accept: {e}"));
            }
        }
        (None, Some(url)) => {
            let ep = Endpoint::parse(&url, CID_HOST, STRESS_PORT).unwrap_or_else(|e| fail(&e.0));
            if let Some(m) = send {
                match stress::send_half_closed(&ep, m.as_bytes(), cfg.io_timeout) {
                    Ok(a) => {
                        let _ = writeln!(std::io::stdout(), "{}", String::from_utf8_lossy(&a));
                        return;
                    }
                    Err(e) => {
                        say(&e);
                        std::process::exit(1);
                    }
                }
            }
            let r = stress::client(&ep, &cfg, &|m| {
                if verbose > 0 {
                    say(m)
                }
            });
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "sock_stress: {ep}: {} ok, {} failed, {} bytes echoed in {:.2} s ({:.1} conn/s, {:.2} MiB/s)",
                r.ok,
                r.failed,
                r.bytes,
                r.elapsed.as_secs_f64(),
                r.conn_rate(),
                r.mib_per_s()
            );
            for f in &r.failures {
                let _ = writeln!(out, "sock_stress: FAIL {f}");
            }
            std::process::exit(if r.failed == 0 { 0 } else { 1 });
        }
        _ => fail(USAGE),
    }
}
