//! How the process ends.

use std::process::ExitCode;

/// The exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0
    Success,
    /// 1: the command failed (bad input, failed build, ...).
    Failure,
    /// 2: the command exists but is not implemented yet.
    NotImplemented,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        match e {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::from(1),
            Exit::NotImplemented => ExitCode::from(2),
        }
    }
}

/// Prints that `linuxkit {command}` is not implemented yet and when it arrives; exit 2.
pub fn not_implemented(command: &str, when: &str) -> anyhow::Result<Exit> {
    crate::output::error(&anyhow::anyhow!(
        "`linuxkit {command}` is not implemented yet"
    ));
    crate::output::hint(&format!(
        "it arrives with {when}; `linuxkit validate` checks configuration files today"
    ));
    Ok(Exit::NotImplemented)
}
