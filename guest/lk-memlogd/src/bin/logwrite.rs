//! logwrite: runs a command, copying its stdout and stderr to ours and to memlogd as
//! `<name>.out` and `<name>`.
//!
//! `logwrite [-socket P] [-n name] command [args...]`; the name defaults to the command.
//! Exits with the command's status. Without memlogd the output still reaches the console.

use std::process::{Command, ExitCode, Stdio};

use lk_memlogd::args::Flags;
use lk_memlogd::{LOG_SOCKET, client};

const USAGE: &str = "  -n string\tname of the log (default: the command)\n  -socket string\tmemlogd log socket (default \"/var/run/linuxkit-external-logging.sock\")\n  command [args...]\tthe program to run\n";

fn main() -> ExitCode {
    lk_memlogd::args::main_with("logwrite", USAGE, run)
}

fn run(args: &[String]) -> Result<u8, String> {
    let f = Flags::parse(args, &[])?;
    let Some((cmd, cmd_args)) = f.rest.split_first() else {
        return Err("usage: logwrite [-socket P] [-n name] command [args...]".into());
    };
    let socket = f.get("socket").unwrap_or(LOG_SOCKET);
    let name = f.get("n").unwrap_or(cmd).to_owned();
    let sock = client::connect(Some(socket));
    let out_log = client::pipe_to(sock.as_ref(), &format!("{name}.out"));
    let err_log = client::pipe_to(sock.as_ref(), &name);
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
            s.spawn(move || client::tee(o, std::io::stdout(), out_log));
        }
        if let Some(e) = err {
            s.spawn(move || client::tee(e, std::io::stderr(), err_log));
        }
    });
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)))
}
