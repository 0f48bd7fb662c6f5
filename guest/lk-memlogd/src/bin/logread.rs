//! logread: prints memlogd's buffer as `time;source;msg` lines.
//!
//! `logread [-socket P] [-f] [-F]`: `-f` follows new entries, `-F` prints the buffer and follows.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use lk_memlogd::args::Flags;
use lk_memlogd::{Entry, Mode, QUERY_SOCKET};

fn main() -> ExitCode {
    lk_memlogd::args::main_with("logread", |args| run(args).map(|()| 0))
}

fn run(args: &[String]) -> Result<(), String> {
    let f = Flags::parse(args, &["f", "F"])?;
    let socket = f.get("socket").unwrap_or(QUERY_SOCKET);
    let mode = if f.flag("F") {
        Mode::DumpFollow
    } else if f.flag("f") {
        Mode::Follow
    } else {
        Mode::Dump
    };
    let mut conn = UnixStream::connect(socket).map_err(|e| {
        format!("{socket}: {e} (is memlogd running? it starts from /etc/init.d/002-logging)")
    })?;
    conn.write_all(&[mode.byte()]).map_err(|e| e.to_string())?;
    let out = std::io::stdout();
    let mut out = out.lock();
    for line in BufReader::new(conn).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(e) = serde_json::from_str::<Entry>(&line) else {
            continue;
        };
        if writeln!(out, "{}", e.logread_line()).is_err() {
            return Ok(()); // the reader went away (logread | head)
        }
        let _ = out.flush();
    }
    Ok(())
}
