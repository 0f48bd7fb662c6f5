//! logread: prints memlogd's buffer as `time;source;msg` lines.
//!
//! `logread [-socket P] [-f] [-F]`: `-f` follows new entries, `-F` prints the buffer and follows.

use std::io::Write;
use std::process::ExitCode;

use lk_memlogd::args::Flags;
use lk_memlogd::{Mode, QUERY_SOCKET, client};

const USAGE: &str = "  -F\tdump log, then follow\n  -f\tfollow log buffer\n  -socket string\tmemlogd log query socket (default \"/var/run/memlogdq.sock\")\n";

fn main() -> ExitCode {
    lk_memlogd::args::main_with("logread", USAGE, |args| run(args).map(|()| 0))
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
    let out = std::io::stdout();
    let mut out = out.lock();
    client::query(socket, mode, &mut |e| {
        // false when the reader went away (logread | head)
        writeln!(out, "{}", e.logread_line()).is_ok() && out.flush().is_ok()
    })
}
