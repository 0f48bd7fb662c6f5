//! `rtf`: run, list, inspect and compare regression tests.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{ArgAction, Parser, Subcommand};

use rtf::labels::HostLabels;
use rtf::logger::{Level, Logger};
use rtf::results::{self, Counts, RunRecord, Summary};
use rtf::runner::{self, Item, RunSettings};
use rtf::sysinfo::SystemInfo;
use rtf::tree::{Child, Group, Project};

/// Regression test framework: runs `test.sh` scripts found under a case directory.
///
/// Tests are directories with a `test.sh`; groups are directories with a `group.sh`
/// (called with `init` / `deinit` around their tests) or sub-directories. Numeric
/// prefixes (`010_name`) order tests and groups together. `# LABELS:` select tests by
/// host labels (`-l`), `# REPEAT:` repeats, `# TIMEOUT:` (seconds) bounds a test.
#[derive(Debug, Parser)]
#[command(name = "rtf", version, max_term_width = 100)]
struct Cli {
    /// Case directory.
    #[arg(short, long, global = true, default_value = "cases")]
    casedir: PathBuf,
    /// Labels to set, comma separated; `!x` excludes tests labelled x.
    #[arg(short, long, global = true, default_value = "")]
    labels: String,
    /// More output on the console: -v stderr of tests, -vv everything, -vvv debug.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run tests (all, or those whose name starts with PATTERN).
    Run {
        /// Test name prefix.
        pattern: Option<String>,
        /// Results directory.
        #[arg(short, long, default_value = "_results")]
        resultdir: PathBuf,
        /// Run id (default: a random UUID, with a `latest` symlink).
        #[arg(long)]
        id: Option<String>,
        /// Trace scripts (sh -x).
        #[arg(short = 'x', long)]
        extra: bool,
        /// Run the tests of a group concurrently (group scripts still bracket them).
        #[arg(short, long)]
        parallel: bool,
        /// Run shard N of M (1-based).
        #[arg(short, long, value_name = "N/M")]
        shard: Option<String>,
        /// Default per-test timeout in seconds (a test's `# TIMEOUT:` wins).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// List tests and whether they would run.
    List {
        /// Test name prefix.
        pattern: Option<String>,
        /// Only shard N of M.
        #[arg(short, long, value_name = "N/M")]
        shard: Option<String>,
    },
    /// Show every test with its description.
    Info {
        /// CSV output.
        #[arg(long)]
        csv: bool,
    },
    /// Compare SUMMARY.json files side by side.
    Compare {
        /// SUMMARY.json files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// CSV output.
        #[arg(long)]
        csv: bool,
    },
    /// Print the version.
    Version,
}

/// `-v=2` (pflag style) becomes `-vv`.
fn normalize_args() -> Vec<String> {
    std::env::args()
        .flat_map(|a| {
            let n = a
                .strip_prefix("-v=")
                .or_else(|| a.strip_prefix("--verbose="))
                .and_then(|n| n.parse::<usize>().ok());
            match n {
                Some(0) => vec![],
                Some(n) => vec![format!("-{}", "v".repeat(n))],
                None => vec![a],
            }
        })
        .collect()
}

fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args());
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("error: {e}\n");
            for c in e.chain().skip(1) {
                msg.push_str(&format!("caused by: {c}\n"));
            }
            let _ = std::io::stderr().write_all(msg.as_bytes());
            ExitCode::from(1)
        }
    }
}

fn rt_root() -> PathBuf {
    if let Some(r) = std::env::var_os("RT_ROOT") {
        return PathBuf::from(r);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    if source.join("lib/lib.sh").is_file() {
        return source.to_path_buf();
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

fn settings(
    cli: &Cli,
    system: &SystemInfo,
    pattern: Option<String>,
    shard: Option<&str>,
) -> anyhow::Result<RunSettings> {
    let shard = shard
        .map(runner::parse_shard)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    Ok(RunSettings {
        host: HostLabels::new(&cli.labels, &system.labels()),
        pattern,
        shard,
        trace: false,
        parallel: false,
        timeout: None,
        results_dir: PathBuf::new(),
        rt_root: rt_root(),
    })
}

fn discover(casedir: &Path) -> anyhow::Result<Project> {
    let dir = std::path::absolute(casedir)
        .with_context(|| format!("case directory {}", casedir.display()))?;
    Ok(Project::discover(&dir)?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let system = SystemInfo::collect();
    match &cli.command {
        Command::Version => {
            out(&format!("rtf version {}\n", env!("CARGO_PKG_VERSION")));
            Ok(ExitCode::SUCCESS)
        }
        Command::List { pattern, shard } => {
            let project = discover(&cli.casedir)?;
            let s = settings(&cli, &system, pattern.clone(), shard.as_deref())?;
            let selected: HashSet<&str> = runner::selected(&project, &s)
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            let mut rows = vec![("STATE".to_owned(), "TEST".to_owned(), "LABELS".to_owned())];
            let report_skips = s.shard.is_none_or(|(n, _)| n == 1);
            for item in runner::gather(&project.root, &s, None, report_skips) {
                match item {
                    Item::Run(t) if selected.contains(t.name.as_str()) => {
                        rows.push(("Pass".into(), t.name.clone(), t.labels.display()))
                    }
                    Item::Skip(t) => rows.push(("Skip".into(), t.name.clone(), t.labels.display())),
                    _ => {}
                }
            }
            out(&table(&rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { csv } => {
            let project = discover(&cli.casedir)?;
            let mut tests = Vec::new();
            collect(&project.root, &mut tests);
            if *csv {
                let mut s = String::from("Name,Description,Known issues\n");
                for (n, d, i) in tests {
                    s.push_str(&format!(
                        "{},{},{}\n",
                        csv_field(&n),
                        csv_field(&d),
                        csv_field(&i)
                    ));
                }
                out(&s);
            } else {
                let mut rows = vec![("NAME".to_owned(), "DESCRIPTION".to_owned(), String::new())];
                rows.extend(tests);
                out(&table(&rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { files, csv } => compare(files, *csv),
        Command::Run {
            pattern,
            resultdir,
            id,
            extra,
            parallel,
            shard,
            timeout,
        } => {
            let project = discover(&cli.casedir)?;
            let mut s = settings(&cli, &system, pattern.clone(), shard.as_deref())?;
            s.trace = *extra;
            s.parallel = *parallel;
            s.timeout = timeout.map(Duration::from_secs);
            let run_id = id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let resultdir = std::path::absolute(resultdir)?;
            s.results_dir = resultdir.join(&run_id);
            std::fs::create_dir_all(&s.results_dir)
                .with_context(|| format!("creating {}", s.results_dir.display()))?;
            if id.is_none() {
                let latest = resultdir.join("latest");
                let _ = std::fs::remove_file(&latest);
                std::os::unix::fs::symlink(&run_id, &latest)
                    .with_context(|| format!("linking {}", latest.display()))?;
            }
            let labels: Vec<String> = s.host.set.iter().cloned().collect();
            out(&format!("LABELS: {}\nID: {run_id}\n", labels.join(", ")));
            let all_log = std::fs::File::create(s.results_dir.join("TESTS.log"))
                .context("creating TESTS.log")?;
            let log = Logger::new(Level::for_verbosity(cli.verbose), Some(all_log));
            let only: HashSet<String> = runner::selected(&project, &s)
                .iter()
                .map(|t| t.name.clone())
                .collect();
            let report_skips = s.shard.is_none_or(|(n, _)| n == 1);
            let items = runner::gather(&project.root, &s, Some(&only), report_skips);
            if items.is_empty()
                && let Some(p) = pattern
            {
                log.log(
                    Level::Warning,
                    &format!(
                        "no test name starts with `{p}` (names look like `{}.group.test`)",
                        project.root.name
                    ),
                    None,
                );
            }
            let start = SystemTime::now();
            let results = runner::execute(&project, &s, &log, &items);
            let end = SystemTime::now();
            results::write(
                &s.results_dir,
                &RunRecord {
                    id: &run_id,
                    start,
                    end,
                    system: &system,
                    labels,
                    results: &results,
                },
            )
            .context("writing results")?;
            let c = Counts::of(&results);
            for line in [
                format!("LogDir: {run_id}"),
                format!("Version: {}", system.version),
                format!("Passed: {}", c.passed),
                format!("Failed: {}", c.failed),
                format!("Cancelled: {}", c.cancelled),
                format!("Skipped: {}", c.skipped),
                format!(
                    "Duration: {:.2}s",
                    end.duration_since(start).unwrap_or_default().as_secs_f64()
                ),
            ] {
                log.log(Level::Summary, &line, None);
            }
            for line in results::failure_recap(&s.results_dir, &results, RECAP_LINES) {
                log.log(Level::Fail, &line, None);
            }
            out(&format!(
                "{} passed, {} failed, {} skipped\n",
                c.passed, c.failed, c.skipped
            ));
            if c.failed > 0 {
                bail!("some tests failed");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How many log lines of each failed test the recap after the summary repeats.
const RECAP_LINES: usize = 40;

fn collect(g: &Group, out: &mut Vec<(String, String, String)>) {
    for c in &g.children {
        match c {
            Child::Test(t) => out.push((
                t.name.clone(),
                t.tags.summary.clone().unwrap_or_default(),
                t.tags.issue.clone().unwrap_or_default(),
            )),
            Child::Group(sub) => collect(sub, out),
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn table(rows: &[(String, String, String)]) -> String {
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(a, b, c)| format!("{a:<w0$}  {b:<w1$}  {c}").trim_end().to_owned() + "\n")
        .collect()
}

fn compare(files: &[PathBuf], as_csv: bool) -> anyhow::Result<ExitCode> {
    let mut summaries = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let s: Summary =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
        summaries.push(s);
    }
    let first = &summaries[0];
    for (f, s) in files.iter().zip(&summaries).skip(1) {
        let names = |s: &Summary| s.results.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        if names(s) != names(first) {
            bail!(
                "{} has different tests from {}",
                f.display(),
                files[0].display()
            );
        }
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    if as_csv {
        let mut id = vec!["ID".to_owned()];
        let mut st = vec!["Start Time".to_owned()];
        let mut en = vec!["End Time".to_owned()];
        for s in &summaries {
            id.push(s.id.clone());
            st.push(s.start.clone());
            en.push(s.end.clone());
        }
        lines.extend([id, st, en]);
    }
    for (i, r) in first.results.iter().enumerate() {
        let mut row = vec![r.name.clone()];
        for s in &summaries {
            let x = &s.results[i];
            let status = ["Pass", "Fail", "Skip", "Cancel"]
                .get(usize::from(x.result))
                .copied()
                .unwrap_or("?");
            row.push(if x.result == 0 && !x.benchmark.is_empty() {
                x.benchmark.clone()
            } else {
                format!(
                    "{status} ({:.2}s)",
                    Duration::from_nanos(x.duration).as_secs_f64()
                )
            });
        }
        lines.push(row);
    }
    let text: String = if as_csv {
        lines
            .iter()
            .map(|l| l.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + "\n")
            .collect()
    } else {
        let cols = lines.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l.get(c).map_or(0, String::len))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        lines
            .iter()
            .map(|l| {
                l.iter()
                    .enumerate()
                    .map(|(i, f)| format!("{f:<w$}", w = widths[i]))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
                    + "\n"
            })
            .collect()
    };
    out(&text);
    Ok(ExitCode::SUCCESS)
}
