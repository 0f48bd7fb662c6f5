//! The `logwrite` package's program: memlogd's entries into per-source files.
//!
//! `logwrite [-socket P] [-log-dir DIR] [-max-log-size BYTES] [-max-log-files N]`
//! (installed as /usr/bin/logwrite in pkg/logwrite, as LinuxKit's).

use std::path::Path;
use std::process::ExitCode;

use lk_memlogd::args::Flags;
use lk_memlogd::files::LogFiles;
use lk_memlogd::{Mode, QUERY_SOCKET, client};

const USAGE: &str = "  -log-dir string\tdirectory of the log files (default \"/var/log\")\n  -max-log-files int\trotated files kept per log (default 10)\n  -max-log-size int\tbytes before a file is rotated (default 1048576)\n  -socket string\tmemlogd log query socket (default \"/var/run/memlogdq.sock\")\n";

fn main() -> ExitCode {
    lk_memlogd::args::main_with("logwrite", USAGE, |args| run(args).map(|()| 0))
}

fn run(args: &[String]) -> Result<(), String> {
    let f = Flags::parse(args, &[])?;
    let socket = f.get("socket").unwrap_or(QUERY_SOCKET);
    let dir = f.get("log-dir").unwrap_or("/var/log");
    let size = f.number("max-log-size", 1 << 20)?;
    let count = f.number("max-log-files", 10)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut files = LogFiles::new(Path::new(dir), size as u64, count);
    client::query(socket, Mode::DumpFollow, &mut |e| {
        if let Err(err) = files.write(&e) {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "logwrite: {}: {err}", e.source);
        }
        true
    })
}
