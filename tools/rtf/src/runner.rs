//! `rtf run`: choose the tests (labels, pattern, shard), run them with their group scripts
//! and hooks, and collect results.
//!
//! Fixes over rtf (see docs/rtf.md): `-p` uses a bounded worker pool and never deadlocks;
//! group init/deinit bracket their tests in parallel runs too and are not counted as tests;
//! a failed group init fails that group's tests and the run goes on, results are written;
//! per-iteration logs hold only their iteration; tests can time out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::exec::{self, Outcome, Script, Stream};
use crate::labels::HostLabels;
use crate::logger::{Level, Logger, TestLog};
use crate::tree::{Child, Group, Project, Test};

/// `RT_TEST_CANCEL`: a test exiting with this status is cancelled, not failed.
pub const CANCEL_STATUS: i32 = 253;
/// `RT_TEST_SKIP` (our addition): the test found a prerequisite missing; it is reported as
/// skipped with the reason it printed as `RT_SKIP_REASON: ...`.
pub const SKIP_STATUS: i32 = 252;

/// A test's result status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Pass,
    /// Any other exit, a timeout, or a failed group init.
    Fail,
    /// Not run (labels).
    Skip,
    /// Exit 253.
    Cancel,
}

impl Status {
    /// The integer rtf writes to SUMMARY.json and passes to post-test hooks.
    pub fn code(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Skip => 2,
            Status::Cancel => 3,
        }
    }

    /// `Pass`, `Fail`, ...
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "Pass",
            Status::Fail => "Fail",
            Status::Skip => "Skip",
            Status::Cancel => "Cancel",
        }
    }
}

/// One result row.
#[derive(Clone, Debug)]
pub struct TestResult {
    /// Test name (with `.N` for repeated tests).
    pub name: String,
    /// Status.
    pub status: Status,
    /// `RT_BENCHMARK_RESULT:` value.
    pub benchmark: String,
    /// Start (None for skipped tests).
    pub start: Option<SystemTime>,
    /// End.
    pub end: Option<SystemTime>,
    /// Wall time.
    pub duration: Duration,
    /// SUMMARY tag.
    pub summary: String,
    /// ISSUE tag.
    pub issues: String,
    /// Why it failed or was skipped, when not just an exit status.
    pub reason: String,
}

/// Settings of a run.
#[derive(Debug)]
pub struct RunSettings {
    /// Host labels.
    pub host: HostLabels,
    /// Test name prefix.
    pub pattern: Option<String>,
    /// `(n, m)`: run shard n of m (1-based).
    pub shard: Option<(usize, usize)>,
    /// `sh -x`.
    pub trace: bool,
    /// Run tests of a group concurrently.
    pub parallel: bool,
    /// Default per-test timeout.
    pub timeout: Option<Duration>,
    /// This run's results directory.
    pub results_dir: PathBuf,
    /// `RT_ROOT`.
    pub rt_root: PathBuf,
}

/// One step of a run, in order.
#[derive(Debug)]
pub enum Item<'p> {
    /// `group.sh init`.
    Init(&'p Group),
    /// `group.sh deinit`.
    Deinit(&'p Group),
    /// A test to run.
    Run(&'p Test),
    /// A test not run because of its labels (or its group's).
    Skip(&'p Test),
}

fn pattern_admits_test(p: Option<&str>, name: &str) -> bool {
    p.is_none_or(|p| name.starts_with(p))
}

fn pattern_admits_group(p: Option<&str>, name: &str) -> bool {
    p.is_none_or(|p| p.starts_with(name) || name.starts_with(p))
}

fn all_tests<'p>(g: &'p Group, out: &mut Vec<&'p Test>) {
    for c in &g.children {
        match c {
            Child::Test(t) => out.push(t),
            Child::Group(sub) => all_tests(sub, out),
        }
    }
}

/// The ordered steps for `group`. `only`: restrict to these test names (sharding).
pub fn gather<'p>(
    group: &'p Group,
    s: &RunSettings,
    only: Option<&HashSet<String>>,
    report_skips: bool,
) -> Vec<Item<'p>> {
    let pattern = s.pattern.as_deref();
    if !pattern_admits_group(pattern, &group.name) {
        return Vec::new();
    }
    if !s.host.admits(&group.labels) {
        let mut tests = Vec::new();
        all_tests(group, &mut tests);
        return if report_skips {
            tests
                .into_iter()
                .filter(|t| pattern_admits_test(pattern, &t.name))
                .map(Item::Skip)
                .collect()
        } else {
            Vec::new()
        };
    }
    let mut items = Vec::new();
    for c in &group.children {
        match c {
            Child::Test(t) => {
                if !pattern_admits_test(pattern, &t.name) {
                    continue;
                }
                if !s.host.admits(&t.labels) {
                    if report_skips {
                        items.push(Item::Skip(t));
                    }
                } else if only.is_none_or(|o| o.contains(&t.name)) {
                    items.push(Item::Run(t));
                }
            }
            Child::Group(sub) => items.extend(gather(sub, s, only, report_skips)),
        }
    }
    if group.script.is_some() && items.iter().any(|i| matches!(i, Item::Run(_))) {
        items.insert(0, Item::Init(group));
        items.push(Item::Deinit(group));
    }
    items
}

/// The tests that would run (no skips), in order, restricted to shard `n` of `m`.
pub fn selected<'p>(project: &'p Project, s: &RunSettings) -> Vec<&'p Test> {
    let all: Vec<&Test> = gather(&project.root, s, None, false)
        .into_iter()
        .filter_map(|i| match i {
            Item::Run(t) => Some(t),
            _ => None,
        })
        .collect();
    match s.shard {
        Some((n, m)) if m > 1 => {
            let (per, rem) = (all.len() / m, all.len() % m);
            let start = (n - 1) * per + rem.min(n - 1);
            let count = per + usize::from(rem >= n);
            all.into_iter().skip(start).take(count).collect()
        }
        _ => all,
    }
}

/// Parses `N/M`.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (n, m) = s
        .split_once('/')
        .ok_or_else(|| format!("shard `{s}` is not N/M"))?;
    let n: usize = n
        .parse()
        .map_err(|_| format!("shard `{s}`: `{n}` is not a number"))?;
    let m: usize = m
        .parse()
        .map_err(|_| format!("shard `{s}`: `{m}` is not a number"))?;
    if n == 0 || m == 0 || n > m {
        return Err(format!("shard `{s}`: need 1 <= N <= M"));
    }
    Ok((n, m))
}

struct Runner<'a> {
    project: &'a Project,
    s: &'a RunSettings,
    log: &'a Logger,
}

impl Runner<'_> {
    fn env(&self, test_name: &str) -> Vec<(String, String)> {
        let root = &self.s.rt_root;
        let path = format!(
            "{}:{}",
            root.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("RT_ROOT".into(), root.display().to_string()),
            (
                "RT_LIB".into(),
                root.join("lib/lib.sh").display().to_string(),
            ),
            ("RT_UTILS".into(), root.join("bin").display().to_string()),
            ("PATH".into(), path),
            (
                "RT_PROJECT_ROOT".into(),
                self.project.root.dir.display().to_string(),
            ),
            ("RT_OS".into(), crate::sysinfo::os_label().into()),
            (
                "RT_OS_VER".into(),
                std::env::var("RT_OS_VER").unwrap_or_default(),
            ),
            ("RT_LABELS".into(), self.s.host.env_value()),
            ("RT_TEST_NAME".into(), test_name.into()),
            (
                "RT_RESULTS".into(),
                self.s.results_dir.display().to_string(),
            ),
        ]
    }

    /// Runs a helper script (group script or hook), logging its output; true on success.
    fn helper(
        &self,
        path: &Path,
        args: Vec<String>,
        test_name: &str,
        test_log: Option<&TestLog>,
    ) -> bool {
        let cwd = path.parent().unwrap_or(Path::new("."));
        let script = Script {
            path,
            args,
            cwd,
            env: self.env(test_name),
            trace: self.s.trace,
            timeout: None,
        };
        self.log.log(
            Level::Info,
            &format!(
                "Running command: [/bin/sh {} {}]",
                path.display(),
                script.args.join(" ")
            ),
            test_log,
        );
        let outcome = exec::run(&script, &mut |stream, line| {
            let level = if stream == Stream::Stdout {
                Level::Stdout
            } else {
                Level::Stderr
            };
            self.log.log(level, line, test_log);
        });
        outcome == Outcome::Exited(0)
    }

    fn run_test(&self, t: &Test) -> Vec<TestResult> {
        let iterations = t.tags.repeat.max(1);
        let mut results = Vec::new();
        for i in 1..=iterations {
            let name = if t.tags.repeat > 0 {
                format!("{}.{i}", t.name)
            } else {
                t.name.clone()
            };
            let test_log = TestLog::create(&self.s.results_dir.join(format!("{name}.log"))).ok();
            let tl = test_log.as_ref();
            let start = SystemTime::now();
            let clock = Instant::now();
            let mut benchmark = String::new();
            let mut reason = String::new();
            let mut skip_reason = String::new();
            let status = if let Some(pre) = &self.project.pre_test
                && !self.helper(pre, vec![name.clone()], &name, tl)
            {
                reason = "pre-test hook failed".into();
                Status::Fail
            } else {
                self.log.log(
                    Level::Info,
                    &format!("Running Test {name} in {}", t.dir.display()),
                    tl,
                );
                let script = Script {
                    path: &t.script,
                    args: Vec::new(),
                    cwd: &t.dir,
                    env: self.env(&name),
                    trace: self.s.trace,
                    timeout: t.tags.timeout.map(Duration::from_secs).or(self.s.timeout),
                };
                let outcome = exec::run(&script, &mut |stream, line| {
                    if stream == Stream::Stdout
                        && let Some(b) = line.strip_prefix("RT_BENCHMARK_RESULT:")
                    {
                        benchmark = b.trim().to_owned();
                    }
                    if stream == Stream::Stdout
                        && let Some(r) = line.strip_prefix("RT_SKIP_REASON:")
                    {
                        skip_reason = r.trim().to_owned();
                    }
                    let level = if stream == Stream::Stdout {
                        Level::Stdout
                    } else {
                        Level::Stderr
                    };
                    self.log.log(level, line, tl);
                });
                match outcome {
                    Outcome::Exited(0) => Status::Pass,
                    Outcome::Exited(CANCEL_STATUS) => Status::Cancel,
                    Outcome::Exited(SKIP_STATUS) => {
                        reason = if skip_reason.is_empty() {
                            "skipped by the test".to_owned()
                        } else {
                            skip_reason
                        };
                        Status::Skip
                    }
                    Outcome::Exited(c) => {
                        reason = format!("exit status {c}");
                        Status::Fail
                    }
                    Outcome::Signaled(sig) => {
                        reason = format!("killed by signal {sig}");
                        Status::Fail
                    }
                    Outcome::TimedOut(d) => {
                        reason = format!("timed out after {}s", d.as_secs());
                        Status::Fail
                    }
                    Outcome::NotStarted(e) => {
                        reason = e;
                        Status::Fail
                    }
                }
            };
            let duration = clock.elapsed();
            let mut line = format!("{name} {:.2}s", duration.as_secs_f64());
            match status {
                Status::Pass if !benchmark.is_empty() => {
                    line.push_str(&format!(" [Benchmark: {benchmark}]"))
                }
                Status::Skip => line.push_str(&format!(" ({reason})")),
                Status::Fail => {
                    if !reason.is_empty() {
                        line.push_str(&format!(" ({reason})"));
                    }
                    if let Some(issue) = &t.tags.issue {
                        line.push_str(&format!(" [maybe: {issue}]"));
                    }
                }
                _ => {}
            }
            let level = match status {
                Status::Pass => Level::Pass,
                Status::Fail => Level::Fail,
                Status::Cancel => Level::Cancel,
                Status::Skip => Level::Skip,
            };
            self.log.log(level, &line, tl);
            if let Some(post) = &self.project.post_test
                && !self.helper(
                    post,
                    vec![name.clone(), status.code().to_string()],
                    &name,
                    tl,
                )
            {
                self.log.log(
                    Level::Error,
                    &format!("post-test hook failed for {name}"),
                    tl,
                );
            }
            results.push(TestResult {
                name,
                status,
                benchmark,
                start: Some(start),
                end: Some(SystemTime::now()),
                duration,
                summary: t.tags.summary.clone().unwrap_or_default(),
                issues: t.tags.issue.clone().unwrap_or_default(),
                reason,
            });
        }
        results
    }

    fn not_run(&self, t: &Test, status: Status, reason: &str) -> TestResult {
        let level = if status == Status::Skip {
            Level::Skip
        } else {
            Level::Fail
        };
        self.log
            .log(level, &format!("{} 0.00s ({reason})", t.name), None);
        TestResult {
            name: t.name.clone(),
            status,
            benchmark: String::new(),
            start: None,
            end: None,
            duration: Duration::ZERO,
            summary: t.tags.summary.clone().unwrap_or_default(),
            issues: t.tags.issue.clone().unwrap_or_default(),
            reason: reason.to_owned(),
        }
    }

    /// Runs consecutive tests, concurrently when `-p` is given.
    fn run_batch(&self, batch: &[&Test]) -> Vec<TestResult> {
        if !self.s.parallel || batch.len() < 2 {
            return batch.iter().flat_map(|t| self.run_test(t)).collect();
        }
        let workers = std::thread::available_parallelism()
            .map_or(2, std::num::NonZero::get)
            .min(batch.len());
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Vec<TestResult>>> =
            batch.iter().map(|_| Mutex::new(Vec::new())).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(t) = batch.get(i) else { break };
                        let r = self.run_test(t);
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = r;
                        }
                    }
                });
            }
        });
        slots
            .into_iter()
            .flat_map(|m| m.into_inner().unwrap_or_default())
            .collect()
    }
}

/// Runs `items` in order; group scripts are barriers between batches of tests.
pub fn execute(
    project: &Project,
    s: &RunSettings,
    log: &Logger,
    items: &[Item<'_>],
) -> Vec<TestResult> {
    let r = Runner { project, s, log };
    let mut results = Vec::new();
    let mut batch: Vec<&Test> = Vec::new();
    let mut failed_group: Option<&str> = None;
    for item in items {
        if let Some(g) = failed_group {
            match item {
                Item::Run(t) => {
                    results.push(r.not_run(t, Status::Fail, &format!("group {g} init failed")))
                }
                Item::Skip(t) => results.push(r.not_run(t, Status::Skip, "labels")),
                Item::Deinit(d) if d.name == g => failed_group = None,
                _ => {}
            }
            continue;
        }
        if !matches!(item, Item::Run(_)) && !batch.is_empty() {
            results.extend(r.run_batch(&batch));
            batch.clear();
        }
        match item {
            Item::Run(t) => batch.push(t),
            Item::Skip(t) => results.push(r.not_run(t, Status::Skip, "labels")),
            Item::Init(g) | Item::Deinit(g) => {
                let (verb, script) = match item {
                    Item::Init(_) => ("init", &g.script),
                    _ => ("deinit", &g.script),
                };
                let Some(script) = script else { continue };
                log.log(Level::Info, &format!("{}::{verb}()", g.name), None);
                if !r.helper(script, vec![verb.to_owned()], "UNKNOWN", None) {
                    log.log(
                        Level::Error,
                        &format!("error running {}:{verb}", script.display()),
                        None,
                    );
                    if verb == "init" {
                        failed_group = Some(&g.name);
                    } else {
                        results.push(TestResult {
                            name: format!("{}::deinit", g.name),
                            status: Status::Fail,
                            benchmark: String::new(),
                            start: Some(SystemTime::now()),
                            end: Some(SystemTime::now()),
                            duration: Duration::ZERO,
                            summary: String::new(),
                            issues: String::new(),
                            reason: "group deinit failed".into(),
                        });
                    }
                }
            }
        }
    }
    if !batch.is_empty() {
        results.extend(r.run_batch(&batch));
    }
    results
}
