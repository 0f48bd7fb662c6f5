//! memlogd: keeps the VM's logs in memory (see the crate docs for the protocols).
//!
//! `memlogd [-socket-log P] [-socket-query P] [-max-lines N] [-max-line-len N] [-daemonize]`.
//! With `-daemonize` it starts itself in the background and returns once both sockets accept,
//! so `/etc/init.d/002-logging` can go on (LinuxKit passes the bound sockets to a re-executed
//! child; waiting for the child's sockets gives the same guarantee without descriptor games).

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use lk_memlogd::args::Flags;
use lk_memlogd::{LOG_SOCKET, Log, Mode, QUERY_SOCKET};

const USAGE: &str = "  -daemonize\tbind the sockets, then run in the background\n  -max-line-len int\tmaximum line length (default 1024)\n  -max-lines int\tlines kept in the ring buffer (default 5000)\n  -socket-log string\tsocket of the log writers (default \"/var/run/linuxkit-external-logging.sock\")\n  -socket-query string\tsocket of the log readers (default \"/var/run/memlogdq.sock\")\n";

fn main() -> ExitCode {
    lk_memlogd::args::main_with("memlogd", USAGE, |args| run(args).map(|()| 0))
}

fn run(args: &[String]) -> Result<(), String> {
    let f = Flags::parse(args, &["daemonize"])?;
    let log_path = f.get("socket-log").unwrap_or(LOG_SOCKET).to_owned();
    let query_path = f.get("socket-query").unwrap_or(QUERY_SOCKET).to_owned();
    if f.flag("daemonize") {
        return daemonize(args, &log_path, &query_path);
    }
    let log = Log::new(
        f.number("max-lines", 5000)?,
        f.number("max-line-len", 1024)?,
    );
    for p in [&log_path, &query_path] {
        let _ = std::fs::remove_file(p);
        if let Some(dir) = Path::new(p).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    let writers = UnixDatagram::bind(&log_path).map_err(|e| format!("bind {log_path}: {e}"))?;
    let readers = UnixListener::bind(&query_path).map_err(|e| format!("bind {query_path}: {e}"))?;
    log.push("memlogd", "memlogd started");
    let l = log.clone();
    std::thread::spawn(move || serve_queries(&l, &readers));
    loop {
        match lk_guest_sys::fdpass::recv_fds(&writers) {
            Ok((name, fds)) => {
                let name = String::from_utf8_lossy(&name).into_owned();
                for fd in fds {
                    let l = log.clone();
                    let name = name.clone();
                    std::thread::spawn(move || l.drain(&name, std::fs::File::from(fd)));
                }
            }
            Err(e) => log.push("memlogd", &format!("receiving descriptors: {e}")),
        }
    }
}

fn serve_queries(log: &Log, listener: &UnixListener) {
    for conn in listener.incoming().flatten() {
        let log = log.clone();
        std::thread::spawn(move || answer(&log, conn));
    }
}

fn answer(log: &Log, mut conn: UnixStream) {
    let mut b = [0u8; 1];
    if conn.read_exact(&mut b).is_err() {
        return;
    }
    let Some(mode) = Mode::from_byte(b[0]) else {
        return;
    };
    let (dump, follow) = log.query(mode);
    let mut out = std::io::BufWriter::new(conn);
    for e in &dump {
        if send(&mut out, e, false).is_err() {
            return;
        }
    }
    if out.flush().is_err() {
        return;
    }
    for e in follow.into_iter().flatten() {
        if send(&mut out, &e, true).is_err() {
            return;
        }
    }
}

/// One JSON line; flushed when following (each entry should arrive as it happens).
fn send(out: &mut impl Write, e: &lk_memlogd::Entry, flush: bool) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, e)?;
    out.write_all(b"\n")?;
    if flush { out.flush() } else { Ok(()) }
}

fn daemonize(args: &[String], log_path: &str, query_path: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let rest: Vec<&String> = args
        .iter()
        .filter(|a| !matches!(a.as_str(), "-daemonize" | "--daemonize"))
        .collect();
    for p in [log_path, query_path] {
        let _ = std::fs::remove_file(p);
    }
    let mut child = Command::new(exe)
        .args(rest)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("start: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the background memlogd exited: {status}"));
        }
        if UnixStream::connect(query_path).is_ok() && Path::new(log_path).exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("the background memlogd did not open its sockets in 10 s".into())
}
