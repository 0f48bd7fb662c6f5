//! rtf's levelled log: the console (stderr) at a chosen verbosity, `TESTS.log` with
//! everything, and a per-test log that receives only its own test's lines.

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

/// Log levels; lower is more severe. A backend prints levels at or below its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Critical = 100,
    Error = 200,
    Warning = 300,
    Skip = 301,
    Pass = 302,
    Cancel = 303,
    Fail = 304,
    Summary = 305,
    Stderr = 306,
    Stdout = 307,
    Info = 400,
    Debug = 500,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Critical => "CRITICAL",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Skip => "SKIP",
            Level::Pass => "PASS",
            Level::Cancel => "CANCEL",
            Level::Fail => "FAIL",
            Level::Summary => "SUMMARY",
            Level::Stderr => "STDERR",
            Level::Stdout => "STDOUT",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// Result and summary lines carry no timestamp.
    fn timestamped(self) -> bool {
        !matches!(
            self,
            Level::Skip | Level::Pass | Level::Cancel | Level::Fail | Level::Summary
        )
    }

    fn color(self) -> &'static str {
        match self {
            Level::Critical | Level::Fail => "\x1b[1;31m",
            Level::Error | Level::Stderr => "\x1b[31m",
            Level::Warning => "\x1b[33m",
            Level::Skip => "\x1b[1;33m",
            Level::Pass => "\x1b[1;32m",
            Level::Cancel => "\x1b[1;35m",
            Level::Info => "\x1b[34m",
            Level::Summary | Level::Stdout | Level::Debug => "",
        }
    }

    /// Console threshold for `-v` given `count` times.
    pub fn for_verbosity(count: u8) -> Level {
        match count {
            0 => Level::Summary,
            1 => Level::Stderr,
            2 => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// A per-test log file.
#[derive(Debug)]
pub struct TestLog(Mutex<File>);

impl TestLog {
    /// Creates (truncates) the file.
    pub fn create(path: &std::path::Path) -> std::io::Result<TestLog> {
        Ok(TestLog(Mutex::new(File::create(path)?)))
    }
}

/// The run's logger.
#[derive(Debug)]
pub struct Logger {
    console: Level,
    color: bool,
    all: Option<Mutex<File>>,
}

/// Go's RFC3339Nano: fractional seconds with trailing zeros removed.
pub fn rfc3339_nano(t: std::time::SystemTime) -> String {
    let s = humantime::format_rfc3339_nanos(t).to_string();
    match s.rsplit_once('.') {
        Some((head, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{digits}Z")
            }
        }
        None => s,
    }
}

impl Logger {
    /// Console at `console`; `all` (TESTS.log) gets every level.
    pub fn new(console: Level, all: Option<File>) -> Logger {
        let color = std::env::var_os("NO_COLOR").is_none()
            && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Logger {
            console,
            color,
            all: all.map(Mutex::new),
        }
    }

    /// Writes `msg` at `level` to the console (if verbose enough), TESTS.log and `test`.
    pub fn log(&self, level: Level, msg: &str, test: Option<&TestLog>) {
        let line = if level.timestamped() {
            let ts = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
            format!("[{:<8}] {ts}: {msg}\n", level.name())
        } else {
            format!("[{:<8}] {msg}\n", level.name())
        };
        if level <= self.console {
            let mut err = std::io::stderr().lock();
            let _ = if self.color && !level.color().is_empty() {
                err.write_all(
                    format!("{}{}\x1b[0m", level.color(), line.trim_end_matches('\n')).as_bytes(),
                )
                .and_then(|()| err.write_all(b"\n"))
            } else {
                err.write_all(line.as_bytes())
            };
        }
        if let Some(all) = &self.all
            && let Ok(mut f) = all.lock()
        {
            let _ = f.write_all(line.as_bytes());
        }
        if let Some(TestLog(f)) = test
            && let Ok(mut f) = f.lock()
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}
