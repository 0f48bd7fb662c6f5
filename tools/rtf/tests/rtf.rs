//! rtf's own integration tests: a fixture tree per test, the real binary, its outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str, files: &[(&str, &str)]) -> Fixture {
        let dir = std::env::temp_dir().join(format!("rtf-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join("cases").join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
        }
        std::fs::create_dir_all(dir.join("cases")).expect("mkdir cases");
        Fixture { dir }
    }

    fn rtf(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rtf"))
            .arg("-c")
            .arg(self.dir.join("cases"))
            .args(args)
            .current_dir(&self.dir)
            .env("RT_ROOT", Path::new(env!("CARGO_MANIFEST_DIR")))
            .output()
            .expect("run rtf")
    }

    fn run(&self, extra: &[&str]) -> (Output, serde_json::Value) {
        let mut args = vec!["run", "--id", "r"];
        args.extend_from_slice(extra);
        let out = self.rtf(&args);
        let summary = std::fs::read_to_string(self.dir.join("_results/r/SUMMARY.json"))
            .map(|t| serde_json::from_str(&t).expect("json"))
            .unwrap_or(serde_json::Value::Null);
        (out, summary)
    }

    fn file(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).unwrap_or_else(|_| panic!("missing {rel}"))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (name, result code) pairs from SUMMARY.json.
fn results(summary: &serde_json::Value) -> Vec<(String, u64)> {
    summary["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["result"].as_u64().expect("result"),
            )
        })
        .collect()
}

const PASS: &str = "exit 0\n";
const ROOT: (&str, &str) = ("group.sh", "# NAME: test\nexit 0\n");

fn listed(out: &Output) -> Vec<(String, String)> {
    stdout(out)
        .lines()
        .skip(1)
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap_or("").to_owned(),
                w.next().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn tests_and_groups_are_ordered_together_by_prefix() {
    let f = Fixture::new(
        "order",
        &[
            ROOT,
            ("001_osx/test.sh", "# LABELS: osx\nexit 0\n"),
            ("002_win/test.sh", "# LABELS: win\nexit 0\n"),
            ("010_apps/001_test/test.sh", PASS),
            ("010_apps/010_basic/001_test/test.sh", PASS),
            ("010_apps/020_advanced/001_test/test.sh", PASS),
            ("9_nine/test.sh", PASS),
            ("_lib/ignored/test.sh", PASS),
        ],
    );
    let out = f.rtf(&["-l", "osx,win", "list"]);
    let names: Vec<String> = listed(&out).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        [
            "test.osx",
            "test.win",
            "test.nine",
            "test.apps.test",
            "test.apps.basic.test",
            "test.apps.advanced.test"
        ],
        "{}",
        stdout(&out)
    );
}

#[test]
fn labels_select_with_or_and_negation() {
    let f = Fixture::new(
        "labels",
        &[
            ROOT,
            ("001_plain/test.sh", PASS),
            ("002_foo/test.sh", "# LABELS: foo\nexit 0\n"),
            ("003_notlinux/test.sh", "# LABELS: !linux\nexit 0\n"),
            ("004_either/test.sh", "# LABELS: foo, linux\nexit 0\n"),
            ("005_slow/test.sh", "# LABELS: slow, linux\nexit 0\n"),
            ("010_gated/group.sh", "# LABELS: gate\nexit 0\n"),
            ("010_gated/001_inner/test.sh", PASS),
        ],
    );
    let states = |args: &[&str]| {
        listed(&f.rtf(args))
            .into_iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states(&["list"]),
        [
            "Pass test.plain",
            "Skip test.foo",
            "Skip test.notlinux",
            "Pass test.either",
            "Pass test.slow",
            "Skip test.gated.inner"
        ]
    );
    assert_eq!(
        states(&["-l", "foo,gate,!slow", "list"]),
        [
            "Pass test.plain",
            "Pass test.foo",
            "Skip test.notlinux",
            "Pass test.either",
            "Skip test.slow",
            "Pass test.gated.inner"
        ]
    );
}

#[test]
fn pattern_selects_by_prefix() {
    let f = Fixture::new(
        "pattern",
        &[
            ROOT,
            ("001_a/test.sh", PASS),
            ("002_ab/test.sh", PASS),
            ("003_b/001_c/test.sh", PASS),
        ],
    );
    let (out, summary) = f.run(&["test.a"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        results(&summary),
        [("test.a".to_owned(), 0), ("test.ab".to_owned(), 0)]
    );
}

#[test]
fn shards_partition_the_runnable_tests() {
    let mut files = vec![ROOT];
    let names: Vec<String> = (1..=7).map(|i| format!("{i:03}_t{i}/test.sh")).collect();
    for n in &names {
        files.push((n.as_str(), PASS));
    }
    files.push(("100_skipped/test.sh", "# LABELS: never\nexit 0\n"));
    let f = Fixture::new("shard", &files);
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    for n in 1..=3 {
        let shard = format!("{n}/3");
        let run: Vec<String> = listed(&f.rtf(&["list", "-s", &shard]))
            .into_iter()
            .filter(|(s, _)| s == "Pass")
            .map(|(_, n)| n)
            .collect();
        sizes.push(run.len());
        seen.extend(run);
    }
    assert_eq!(sizes, [3, 2, 2], "earlier shards take the remainder");
    assert_eq!(
        seen,
        (1..=7).map(|i| format!("test.t{i}")).collect::<Vec<_>>()
    );
    let (out, summary) = f.run(&["-s", "2/3"]);
    assert!(out.status.success());
    assert_eq!(
        results(&summary),
        [("test.t4".to_owned(), 0), ("test.t5".to_owned(), 0)]
    );
    assert!(!f.rtf(&["list", "-s", "4/3"]).status.success());
}

#[test]
fn repeat_iterations_have_their_own_logs() {
    let f = Fixture::new(
        "repeat",
        &[
            ROOT,
            (
                "001_r/test.sh",
                "# REPEAT: 3\necho \"iteration of $RT_TEST_NAME\"\nexit 0\n",
            ),
        ],
    );
    let (out, summary) = f.run(&[]);
    assert!(out.status.success());
    assert_eq!(
        results(&summary)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        ["test.r.1", "test.r.2", "test.r.3"]
    );
    for i in 1..=3 {
        let log = f.file(&format!("_results/r/test.r.{i}.log"));
        assert!(log.contains(&format!("iteration of test.r.{i}")), "{log}");
        assert_eq!(
            log.matches("iteration of").count(),
            1,
            "log {i} holds other iterations:\n{log}"
        );
    }
}

#[test]
fn a_hung_test_times_out() {
    let f = Fixture::new(
        "timeout",
        &[
            ROOT,
            ("001_hang/test.sh", "# TIMEOUT: 1\nsleep 60 &\nsleep 60\n"),
            ("002_next/test.sh", PASS),
        ],
    );
    let start = Instant::now();
    let (out, summary) = f.run(&[]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        results(&summary),
        [("test.hang".to_owned(), 1), ("test.next".to_owned(), 0)]
    );
    assert!(
        f.file("_results/r/TESTS.log")
            .contains("timed out after 1s")
    );
    // The command-line default applies to tests without a TIMEOUT tag.
    let g = Fixture::new("timeout-cli", &[ROOT, ("001_hang/test.sh", "sleep 60\n")]);
    let start = Instant::now();
    let (out, _) = g.run(&["--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn statuses_and_exit_codes() {
    let f = Fixture::new(
        "status",
        &[
            ROOT,
            ("001_pass/test.sh", "echo RT_BENCHMARK_RESULT: 42\nexit 0\n"),
            ("002_cancel/test.sh", "exit 253\n"),
            (
                "003_skip/test.sh",
                ". \"$RT_LIB\"\nrt_require_cmd definitely-not-installed-xyz\nexit 1\n",
            ),
            ("004_labelskip/test.sh", "# LABELS: never\nexit 1\n"),
        ],
    );
    let (out, summary) = f.run(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "cancel and skip are not failures"
    );
    assert_eq!(
        results(&summary),
        [
            ("test.pass".to_owned(), 0),
            ("test.cancel".to_owned(), 3),
            ("test.skip".to_owned(), 2),
            ("test.labelskip".to_owned(), 2)
        ]
    );
    assert_eq!(summary["results"][0]["benchmark"], "42");
    assert!(
        stdout(&out).ends_with("1 passed, 0 failed, 2 skipped\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        f.file("_results/r/TESTS.log")
            .contains("definitely-not-installed-xyz is not installed")
    );
    let g = Fixture::new(
        "fail",
        &[
            ROOT,
            (
                "001_fail/test.sh",
                "echo early-line\necho why-it-failed\nexit 3\n",
            ),
        ],
    );
    let (out, summary) = g.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(results(&summary), [("test.fail".to_owned(), 1)]);
    assert!(stdout(&out).ends_with("0 passed, 1 failed, 0 skipped\n"));
    // After the summary, a recap repeats the failed test's reason and the end of its log.
    let err = String::from_utf8_lossy(&out.stderr);
    let summary_at = err.find("Duration:").expect("summary printed");
    let recap = &err[summary_at..];
    assert!(
        recap.contains("failed: test.fail (exit status 3)"),
        "{recap}"
    );
    assert!(
        recap.contains("| [STDOUT  ]") && recap.contains("why-it-failed"),
        "{recap}"
    );
}

#[test]
fn parallel_runs_with_groups_finish_and_respect_init() {
    let mut files = vec![
        ROOT,
        (
            "010_g/group.sh",
            "case $1 in init) touch \"$RT_RESULTS/ready\";; deinit) rm \"$RT_RESULTS/ready\";; esac\n",
        ),
    ];
    let names: Vec<String> = (1..=12)
        .map(|i| format!("010_g/{i:03}_t/test.sh"))
        .collect();
    let body = "test -f \"$RT_RESULTS/ready\" || exit 1\nsleep 0.2\n";
    for n in &names {
        files.push((n.as_str(), body));
    }
    files.push(("020_h/group.sh", "exit 0\n"));
    files.push(("020_h/001_x/test.sh", PASS));
    let f = Fixture::new("parallel", &files);
    let start = Instant::now();
    let (out, summary) = f.run(&["-p"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        f.file("_results/r/TESTS.log")
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    let r = results(&summary);
    assert_eq!(r.len(), 13, "group scripts are not results: {r:?}");
    assert!(r.iter().all(|(_, s)| *s == 0));
    assert!(stdout(&out).ends_with("13 passed, 0 failed, 0 skipped\n"));
    let csv = f.file("_results/r/TESTS.csv");
    assert_eq!(csv.lines().count(), 14, "{csv}");
    assert!(!csv.contains("UNKNOWN"));
}

#[test]
fn a_failed_group_init_fails_its_tests_and_still_writes_results() {
    let f = Fixture::new(
        "badinit",
        &[
            ROOT,
            ("010_g/group.sh", "[ \"$1\" = init ] && exit 1\nexit 0\n"),
            ("010_g/001_t/test.sh", PASS),
            ("020_ok/test.sh", PASS),
        ],
    );
    let (out, summary) = f.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        results(&summary),
        [("test.g.t".to_owned(), 1), ("test.ok".to_owned(), 0)]
    );
    assert!(f.file("_results/r/TESTS.csv").lines().count() == 3);
    assert!(f.file("_results/r/SUMMARY.csv").contains(",1,1,0,"));
}

#[test]
fn environment_and_library_are_available() {
    let f = Fixture::new(
        "env",
        &[
            ROOT,
            (
                "001_env/test.sh",
                ". \"$RT_LIB\"\nassert_equals test.env \"$RT_TEST_NAME\"\nassert_equals \"$RT_PROJECT_ROOT/001_env\" \"$(pwd)\"\nassert_true test -d \"$RT_RESULTS\"\nrt_label_set linux\n! rt_label_set nope\necho hello | assert_contains hel\nassert_status 3 sh -c 'exit 3'\n",
            ),
            (
                "002_assertfail/test.sh",
                ". \"$RT_LIB\"\nassert_equals a b\n",
            ),
        ],
    );
    let (out, summary) = f.run(&[]);
    assert_eq!(
        results(&summary),
        [
            ("test.env".to_owned(), 0),
            ("test.assertfail".to_owned(), 1)
        ],
        "{}",
        f.file("_results/r/TESTS.log")
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        f.file("_results/r/test.assertfail.log")
            .contains("assertion failed: expected 'a', got 'b'")
    );
}

#[test]
fn result_files_and_latest_symlink() {
    let f = Fixture::new(
        "files",
        &[
            ROOT,
            ("001_a/test.sh", "# SUMMARY: does a\n# ISSUE: #7\nexit 0\n"),
        ],
    );
    let out = f.rtf(&["run"]);
    assert!(out.status.success());
    let id = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("ID: "))
        .expect("ID line")
        .to_owned();
    let latest = std::fs::read_link(f.dir.join("_results/latest")).expect("latest symlink");
    assert_eq!(latest, PathBuf::from(&id));
    let csv = f.file("_results/latest/TESTS.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("ID,Timestamp,Duration,Name,Result,Benchmark,Description,Issues")
    );
    let row: Vec<&str> = lines.next().expect("row").split(',').collect();
    assert_eq!(
        (row[0], row[3], row[4], row[6], row[7]),
        (id.as_str(), "test.a", "Pass", "does a", "#7")
    );
    let s: serde_json::Value =
        serde_json::from_str(&f.file("_results/latest/SUMMARY.json")).expect("json");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["system"]["os"], "linux");
    assert!(s["results"][0]["duration"].as_u64().is_some());
    assert!(
        f.file("_results/latest/SUMMARY.csv").starts_with(
            "ID,Version,Start Time,End Time,Duration,Passed,Failed,Skipped,Labels,OS,"
        )
    );
}

#[test]
fn info_and_compare() {
    let f = Fixture::new(
        "info",
        &[
            ROOT,
            ("001_a/test.sh", "# SUMMARY: alpha, first\nexit 0\n"),
            ("002_b/test.sh", "# SUMMARY: beta\nexit 0\n"),
        ],
    );
    let csv = stdout(&f.rtf(&["info", "--csv"]));
    assert_eq!(
        csv,
        "Name,Description,Known issues\ntest.a,\"alpha, first\",\ntest.b,beta,\n"
    );
    f.run(&[]);
    let s = f.dir.join("_results/r/SUMMARY.json");
    let out = f.rtf(&["compare", s.to_str().unwrap(), s.to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.lines().next().unwrap().starts_with("test.a  Pass ("),
        "{text}"
    );
}

#[test]
fn duplicate_tags_abort_discovery() {
    let f = Fixture::new(
        "dup",
        &[ROOT, ("001_a/test.sh", "# SUMMARY: a\n# SUMMARY: b\n")],
    );
    let out = f.rtf(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tag SUMMARY given more than once"));
}
