//! Result files: TESTS.csv, SUMMARY.csv, SUMMARY.json (formats of rtf, spec/rtf.md §6).

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::logger::rfc3339_nano;
use crate::runner::{Status, TestResult};
use crate::sysinfo::SystemInfo;

/// Go's zero time, written for tests that did not run.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// SUMMARY.json.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Run id.
    pub id: String,
    /// Start (RFC3339Nano).
    pub start: String,
    /// End.
    pub end: String,
    /// Host facts.
    pub system: serde_json::Value,
    /// Host labels.
    pub labels: Vec<String>,
    /// One per test (iteration).
    pub results: Vec<JsonResult>,
}

/// One entry of SUMMARY.json's `results`.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonResult {
    /// Test name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// 0 pass, 1 fail, 2 skip, 3 cancel.
    pub result: u8,
    /// Benchmark value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub benchmark: String,
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duration: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_row(fields: &[String]) -> String {
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row
}

fn time_or_zero(t: Option<SystemTime>) -> String {
    t.map_or_else(|| ZERO_TIME.to_owned(), rfc3339_nano)
}

fn seconds(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || ZERO_TIME.to_owned(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

/// Counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pass.
    pub passed: usize,
    /// Fail.
    pub failed: usize,
    /// Skip.
    pub skipped: usize,
    /// Cancel.
    pub cancelled: usize,
}

impl Counts {
    /// Tallies `results`.
    pub fn of(results: &[TestResult]) -> Counts {
        let mut c = Counts::default();
        for r in results {
            match r.status {
                Status::Pass => c.passed += 1,
                Status::Fail => c.failed += 1,
                Status::Skip => c.skipped += 1,
                Status::Cancel => c.cancelled += 1,
            }
        }
        c
    }
}

/// Everything a finished run writes.
#[derive(Debug)]
pub struct RunRecord<'a> {
    /// Run id.
    pub id: &'a str,
    /// Start.
    pub start: SystemTime,
    /// End.
    pub end: SystemTime,
    /// Host facts.
    pub system: &'a SystemInfo,
    /// Host labels.
    pub labels: Vec<String>,
    /// Results in order.
    pub results: &'a [TestResult],
}

/// Writes TESTS.csv, SUMMARY.csv and SUMMARY.json into `dir`, each atomically.
pub fn write(dir: &Path, run: &RunRecord<'_>) -> std::io::Result<()> {
    let mut tests = csv_row(
        &[
            "ID",
            "Timestamp",
            "Duration",
            "Name",
            "Result",
            "Benchmark",
            "Description",
            "Issues",
        ]
        .map(String::from),
    );
    for r in run.results {
        tests.push_str(&csv_row(&[
            run.id.to_owned(),
            seconds(r.end),
            r.duration.as_secs_f64().to_string(),
            r.name.clone(),
            r.status.name().to_owned(),
            r.benchmark.clone(),
            r.summary.clone(),
            r.issues.clone(),
        ]));
    }
    let c = Counts::of(run.results);
    let total = run.end.duration_since(run.start).unwrap_or_default();
    let s = run.system;
    let mut summary = csv_row(
        &[
            "ID",
            "Version",
            "Start Time",
            "End Time",
            "Duration",
            "Passed",
            "Failed",
            "Skipped",
            "Labels",
            "OS",
            "OS Name",
            "OS Version",
            "System Model",
            "CPU",
            "Memory",
        ]
        .map(String::from),
    );
    summary.push_str(&csv_row(&[
        run.id.to_owned(),
        "UNKNOWN".into(),
        seconds(Some(run.start)),
        seconds(Some(run.end)),
        total.as_secs_f64().to_string(),
        c.passed.to_string(),
        c.failed.to_string(),
        c.skipped.to_string(),
        run.labels.join(" "),
        s.os.clone(),
        s.name.clone(),
        s.version.clone(),
        s.model.clone(),
        s.cpu.clone(),
        s.memory.to_string(),
    ]));
    let json = Summary {
        id: run.id.to_owned(),
        start: rfc3339_nano(run.start),
        end: rfc3339_nano(run.end),
        system: serde_json::to_value(s).unwrap_or_default(),
        labels: run.labels.clone(),
        results: run
            .results
            .iter()
            .map(|r| JsonResult {
                name: r.name.clone(),
                result: r.status.code(),
                benchmark: r.benchmark.clone(),
                start: time_or_zero(r.start),
                end: time_or_zero(r.end),
                duration: u64::try_from(r.duration.as_nanos()).unwrap_or(u64::MAX),
            })
            .collect(),
    };
    atomic_write(&dir.join("TESTS.csv"), tests.as_bytes())?;
    atomic_write(&dir.join("SUMMARY.csv"), summary.as_bytes())?;
    atomic_write(
        &dir.join("SUMMARY.json"),
        serde_json::to_string(&json).unwrap_or_default().as_bytes(),
    )
}

fn atomic_write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The end of each failed test's log, for the recap printed after the summary (a long run's
/// output is often read from its end only): one header line per failed test, then its last
/// `lines` log lines, each indented.
pub fn failure_recap(dir: &Path, results: &[TestResult], lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    for r in results.iter().filter(|r| r.status == Status::Fail) {
        let log = dir.join(format!("{}.log", r.name));
        let reason = if r.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.reason)
        };
        out.push(format!(
            "failed: {}{reason}; the end of {}:",
            r.name,
            log.display()
        ));
        match std::fs::read_to_string(&log) {
            Ok(text) => {
                let all: Vec<&str> = text.lines().collect();
                let from = all.len().saturating_sub(lines);
                out.extend(all[from..].iter().map(|l| format!("  | {l}")));
            }
            Err(e) => out.push(format!("  (no log: {e})")),
        }
    }
    out
}
