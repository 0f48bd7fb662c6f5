//! External programs. Every wrapper (docker, git, xorriso, mkfs.erofs, qemu-img, and the
//! disk tools to come) fails with one type, [`ToolError`]: the program, its arguments, how
//! it ended and what it printed on stderr.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::process::{Command, ExitStatus, Output, Stdio};

/// How a program ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolStatus {
    /// It could not be started (not installed, not executable).
    NotStarted(String),
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Killed,
}

impl fmt::Display for ToolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolStatus::NotStarted(why) => write!(f, "could not start: {why}"),
            ToolStatus::Exited(c) => write!(f, "exited with status {c}"),
            ToolStatus::Killed => f.write_str("was killed by a signal"),
        }
    }
}

/// An external program failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{}` {status}{}", self.command_line(), self.stderr_tail())]
pub struct ToolError {
    /// The program as invoked.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// How it ended.
    pub status: ToolStatus,
    /// What it printed on stderr (trimmed).
    pub stderr: String,
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

impl ToolError {
    /// `cmd` could not be started.
    pub fn not_started(cmd: &Command, e: &io::Error) -> ToolError {
        ToolError {
            program: lossy(cmd.get_program()),
            args: cmd.get_args().map(lossy).collect(),
            status: ToolStatus::NotStarted(e.to_string()),
            stderr: String::new(),
        }
    }

    /// `cmd` ended with `status`, printing `stderr`.
    pub fn failed(cmd: &Command, status: ExitStatus, stderr: &[u8]) -> ToolError {
        ToolError {
            program: lossy(cmd.get_program()),
            args: cmd.get_args().map(lossy).collect(),
            status: status.code().map_or(ToolStatus::Killed, ToolStatus::Exited),
            stderr: String::from_utf8_lossy(stderr).trim().to_owned(),
        }
    }

    /// The exit status, if it ran and exited.
    pub fn code(&self) -> Option<i32> {
        match self.status {
            ToolStatus::Exited(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the program was not found or could not be started.
    pub fn not_installed(&self) -> bool {
        matches!(self.status, ToolStatus::NotStarted(_))
    }

    /// Program and arguments, space-separated.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The last lines of stderr (what usually says why), after `: `.
    fn stderr_tail(&self) -> String {
        if self.stderr.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n");
        format!(": {tail}")
    }
}

/// Runs `cmd` to completion with stdin closed and its output captured; any status but 0 is
/// an error.
pub fn output(cmd: &mut Command) -> Result<Output, ToolError> {
    let out = output_any(cmd)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(ToolError::failed(cmd, out.status, &out.stderr))
    }
}

/// Runs `cmd` to completion with stdin closed and its output captured, whatever its status
/// (for programs whose status 1 is an answer, like `git diff --quiet`).
pub fn output_any(cmd: &mut Command) -> Result<Output, ToolError> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| ToolError::not_started(cmd, &e))
}

/// How much of a streamed program's stderr is kept for its error (the end says why).
const KEPT_STDERR: usize = 64 * 1024;

/// Runs `cmd` with stdin closed, handing each line it prints (stdout and stderr, as they
/// come) to `line`; any status but 0 is an error naming the last of its stderr. For long
/// builds whose output is their progress.
pub fn stream_lines(cmd: &mut Command, line: &mut dyn FnMut(&str)) -> Result<(), ToolError> {
    use std::io::BufRead;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| ToolError::not_started(cmd, &e))?;
    let (tx, rx) = std::sync::mpsc::channel::<(bool, String)>();
    let stdout = child
        .stdout
        .take()
        .map(|o| (false, Box::new(o) as Box<dyn io::Read + Send>));
    let stderr = child
        .stderr
        .take()
        .map(|e| (true, Box::new(e) as Box<dyn io::Read + Send>));
    let readers: Vec<_> = [stdout, stderr]
        .into_iter()
        .flatten()
        .map(|(is_err, r)| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in io::BufReader::new(r).lines() {
                    let Ok(l) = l else { break };
                    if tx.send((is_err, l)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut kept = Vec::new();
    for (is_err, l) in rx {
        line(&l);
        if is_err {
            kept.extend_from_slice(l.as_bytes());
            kept.push(b'\n');
            if kept.len() > 2 * KEPT_STDERR {
                kept.drain(..kept.len() - KEPT_STDERR);
            }
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().map_err(|e| ToolError::not_started(cmd, &e))?;
    if status.success() {
        Ok(())
    } else {
        Err(ToolError::failed(cmd, status, &kept))
    }
}

/// Runs `cmd` with its output on this process's stderr (a program that draws its own
/// progress on the terminal); any status but 0 is an error (what it printed was seen).
pub fn run_on_terminal(cmd: &mut Command) -> Result<(), ToolError> {
    cmd.stdin(Stdio::null())
        .stdout(io::stderr())
        .stderr(Stdio::inherit());
    let status = cmd.status().map_err(|e| ToolError::not_started(cmd, &e))?;
    if status.success() {
        Ok(())
    } else {
        Err(ToolError::failed(cmd, status, b""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_lines_arrive_from_both_outputs_and_a_failure_keeps_stderr() {
        let mut got = Vec::new();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; echo out2"]);
        stream_lines(&mut cmd, &mut |l| got.push(l.to_owned())).unwrap();
        got.sort();
        assert_eq!(got, ["err", "out", "out2"]);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo step; echo why it failed >&2; exit 4"]);
        let mut n = 0;
        let e = stream_lines(&mut cmd, &mut |_| n += 1).unwrap_err();
        assert_eq!(n, 2);
        assert_eq!(e.status, ToolStatus::Exited(4));
        assert_eq!(e.stderr, "why it failed");
        let mut cmd = Command::new("/nonexistent/tool");
        assert!(
            stream_lines(&mut cmd, &mut |_| ())
                .unwrap_err()
                .not_installed()
        );
    }

    #[test]
    fn a_failure_names_program_arguments_status_and_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one >&2; echo why >&2; exit 3"]);
        let e = output(&mut cmd).unwrap_err();
        assert_eq!(e.program, "sh");
        assert_eq!(e.code(), Some(3));
        assert_eq!(e.stderr, "one\nwhy");
        assert_eq!(
            e.to_string(),
            "`sh -c echo one >&2; echo why >&2; exit 3` exited with status 3: one\nwhy"
        );
    }

    #[test]
    fn a_missing_program_says_it_could_not_start() {
        let e = output(&mut Command::new("/nonexistent/lk-tool")).unwrap_err();
        assert!(e.not_installed());
        assert!(
            e.to_string()
                .starts_with("`/nonexistent/lk-tool` could not start: ")
        );
    }

    #[test]
    fn status_one_can_be_an_answer() {
        let out = output_any(Command::new("sh").args(["-c", "exit 1"])).unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(output(&mut Command::new("true")).is_ok());
    }
}
