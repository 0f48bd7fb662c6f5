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

#[cfg(test)]
mod tests {
    use super::*;

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
