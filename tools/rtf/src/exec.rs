//! Running one script: `/bin/sh [-x] script args...` in its directory, output streamed line
//! by line, a timeout that kills the whole process group.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// stdout
    Stdout,
    /// stderr
    Stderr,
}

/// How a script ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status.
    Exited(i32),
    /// Killed by a signal.
    Signaled(i32),
    /// Killed after running longer than the timeout.
    TimedOut(Duration),
    /// Could not be started.
    NotStarted(String),
}

/// One script invocation.
#[derive(Debug)]
pub struct Script<'a> {
    /// The script path.
    pub path: &'a Path,
    /// Arguments after the script.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: &'a Path,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// `sh -x`.
    pub trace: bool,
    /// Kill after this long.
    pub timeout: Option<Duration>,
}

/// Grace period between SIGTERM and SIGKILL, and for stray pipe holders after exit.
const GRACE: Duration = Duration::from_secs(2);

/// Runs `s`, calling `on_line` for every output line.
pub fn run(s: &Script<'_>, on_line: &mut dyn FnMut(Stream, &str)) -> Outcome {
    let mut cmd = Command::new("/bin/sh");
    if s.trace {
        cmd.arg("-x");
    }
    cmd.arg(s.path)
        .args(&s.args)
        .current_dir(s.cwd)
        .envs(s.env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Own process group, so a timeout can stop everything the script started.
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::NotStarted(format!("{}: {e}", s.path.display())),
    };
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let (tx, rx) = mpsc::channel::<(Stream, String)>();
    let mut readers = 0;
    for (stream, pipe) in [
        (
            Stream::Stdout,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ),
        (
            Stream::Stderr,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ),
    ] {
        let Some(pipe) = pipe else { continue };
        let tx = tx.clone();
        readers += 1;
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .to_owned();
                        if tx.send((stream, line)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let start = Instant::now();
    let mut status = None;
    let mut timed_out = None;
    let mut term_sent: Option<Instant> = None;
    let mut exited_at: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok((stream, line)) => on_line(stream, &line),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if status.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if status.is_none()
            && let Ok(Some(st)) = child.try_wait()
        {
            status = Some(st);
            exited_at = Some(Instant::now());
        }
        if status.is_none()
            && let Some(limit) = s.timeout
            && start.elapsed() > limit
        {
            match term_sent {
                None => {
                    timed_out = Some(limit);
                    let _ = killpg(pgid, Signal::SIGTERM);
                    term_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > GRACE => {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                Some(_) => {}
            }
        }
        // A background process may hold the pipes open: stop waiting for them after a grace period.
        if exited_at.is_some_and(|t| t.elapsed() > GRACE) {
            break;
        }
    }
    let _ = readers;
    if let Some(limit) = timed_out {
        let _ = killpg(pgid, Signal::SIGKILL);
        return Outcome::TimedOut(limit);
    }
    match status {
        Some(st) => match st.code() {
            Some(c) => Outcome::Exited(c),
            None => {
                Outcome::Signaled(std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0))
            }
        },
        None => Outcome::NotStarted("lost track of the process".to_owned()),
    }
}
