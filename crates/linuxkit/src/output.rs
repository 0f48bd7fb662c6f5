//! The one place that writes to the terminal: data to stdout, everything else to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use lk_spec::Diagnostic;

/// Prints command output (data) to stdout.
pub fn data(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
}

/// Prints an informational line to stderr (suppressed with --quiet).
pub fn info(quiet: bool, text: &str) {
    if !quiet {
        eprintln!("{text}");
    }
}

/// Prints a warning to stderr.
pub fn warning(d: &Diagnostic) {
    eprintln!("warning: {d}");
}

/// Prints an error chain: `error: ...`, one `caused by: ...` per source, then hints.
pub fn error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            eprintln!("caused by: {first}");
        }
        for line in lines {
            eprintln!("  {line}");
        }
    }
}

/// Prints an error chain and its hint, if any; the command failed.
pub fn failure(hint_text: Option<&str>, err: anyhow::Error) -> crate::Exit {
    error(&err);
    if let Some(h) = hint_text {
        hint(h);
    }
    crate::Exit::Failure
}

/// Prints a hint line.
pub fn hint(text: &str) {
    eprintln!("hint: {text}");
}

/// Renders use-case warnings and log lines (`--quiet` hides the log lines).
pub struct Lines {
    /// Hide log lines.
    pub quiet: bool,
}

impl lk_ops::Reporter for Lines {
    fn warning(&self, d: &Diagnostic) {
        warning(d);
    }
    fn info(&self, line: &str) {
        info(self.quiet, line);
    }
}
