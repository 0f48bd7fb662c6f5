//! logwrite: runs a command, copying its stdout and stderr to ours and to memlogd as
//! `<name>.out` and `<name>`.
//!
//! `logwrite [-socket P] [-n name] command [args...]`; the name defaults to the command.
//! Exits with the command's status. Without memlogd the output still reaches the console.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, ExitCode, Stdio};

use lk_memlogd::LOG_SOCKET;
use lk_memlogd::args::Flags;

fn main() -> ExitCode {
    lk_memlogd::args::main_with("logwrite", run)
}

/// A pipe whose read end went to memlogd under `name`; None when memlogd is not there.
fn to_memlogd(sock: Option<&UnixDatagram>, name: &str) -> Option<std::io::PipeWriter> {
    let sock = sock?;
    let (r, w) = std::io::pipe().ok()?;
    lk_guest_sys::fdpass::send_fds(sock, name.as_bytes(), &[r.as_fd()]).ok()?;
    Some(w)
}

fn tee(mut from: impl Read, mut console: impl Write, mut log: Option<std::io::PipeWriter>) {
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

fn run(args: &[String]) -> Result<u8, String> {
    let f = Flags::parse(args, &[])?;
    let Some((cmd, cmd_args)) = f.rest.split_first() else {
        return Err("usage: logwrite [-socket P] [-n name] command [args...]".into());
    };
    let socket = f.get("socket").unwrap_or(LOG_SOCKET);
    let name = f.get("n").unwrap_or(cmd).to_owned();
    let sock = UnixDatagram::unbound()
        .ok()
        .filter(|s| s.connect(socket).is_ok());
    let out_log = to_memlogd(sock.as_ref(), &format!("{name}.out"));
    let err_log = to_memlogd(sock.as_ref(), &name);
    let mut child = Command::new(cmd)
        .args(cmd_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    std::thread::scope(|s| {
        if let Some(o) = out {
            s.spawn(move || tee(o, std::io::stdout(), out_log));
        }
        if let Some(e) = err {
            s.spawn(move || tee(e, std::io::stderr(), err_log));
        }
    });
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)))
}
