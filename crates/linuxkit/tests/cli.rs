//! CLI snapshot tests: stdout, stderr and exit status of the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn linuxkit(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn linuxkit");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lk-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

#[test]
fn help_lists_the_whole_command_tree() {
    let out = linuxkit(&["--help"], None);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in [
        "build", "validate", "run", "pkg", "cache", "push", "serve", "metadata", "version",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "`{cmd}` missing from --help:\n{help}"
        );
    }
    let cache = text(&linuxkit(&["cache", "--help"], None).stdout);
    for sub in ["ls", "rm", "clean", "export", "import", "pull", "push"] {
        assert!(
            cache.contains(&format!("\n  {sub} ")),
            "cache {sub} missing:\n{cache}"
        );
    }
    let pkg = text(&linuxkit(&["pkg", "--help"], None).stdout);
    for sub in [
        "build",
        "push",
        "show-tag",
        "manifest",
        "remote-tag",
        "builder",
    ] {
        assert!(
            pkg.contains(&format!("\n  {sub} ")),
            "pkg {sub} missing:\n{pkg}"
        );
    }
    let build = text(&linuxkit(&["build", "--help"], None).stdout);
    for flag in [
        "--name",
        "--dir",
        "--o",
        "--format",
        "--pull",
        "--docker",
        "--decompress-kernel",
        "--arch",
        "--input-tar",
        "--no-sbom",
    ] {
        assert!(build.contains(flag), "build {flag} missing:\n{build}");
    }
}

#[test]
fn unimplemented_commands_fail_with_status_2() {
    for args in [
        &["build", "--format", "rpi3", "x.yml"][..],
        &["run", "hyperkit", "x"],
        &["pkg", "builder", "du"],
        &["push", "aws", "x"],
    ] {
        let out = linuxkit(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: `linuxkit ") && err.contains("is not implemented yet"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

#[test]
fn validate_accepts_a_good_file() {
    let path = temp_file(
        "good.yml",
        "init: [linuxkit/init:1]\nonboot:\n  - name: x\n    image: alpine\n",
    );
    let out = linuxkit(&["validate", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(text(&out.stderr), format!("{}: valid\n", path.display()));
}

#[test]
fn validate_rejects_a_bad_file_with_positions() {
    let path = temp_file(
        "bad.yml",
        "onboot:\n  - name: x\n    image: alpine\n    capabilites: [CAP_SYS_ADMIN]\n",
    );
    let out = linuxkit(&["validate", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {}:4:5: unknown key `capabilites` in `onboot[0]`\n  hint: did you mean `capabilities`?\n1 problem found\n",
            path.display()
        )
    );
}

#[test]
fn validate_reads_stdin_and_prints_json_and_yaml() {
    let cfg = "init: [linuxkit/init:1]\n";
    let out = linuxkit(&["validate", "--format", "json", "-"], Some(cfg));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("\"docker.io/linuxkit/init:1\""),
        "{}",
        text(&out.stdout)
    );
    let out = linuxkit(&["validate", "--format", "yaml", "-"], Some(cfg));
    assert_eq!(
        text(&out.stdout),
        "kernel:\n  image: \"\"\ninit:\n  - docker.io/linuxkit/init:1\n"
    );
}

#[test]
fn validate_reports_a_missing_file() {
    let out = linuxkit(&["validate", "/nonexistent/x.yml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: cannot read /nonexistent/x.yml\ncaused by: No such file or directory (os error 2)\n"
    );
}

#[test]
fn version_prints_name_and_version() {
    let out = linuxkit(&["version", "--short"], None);
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = linuxkit(&["version"], None);
    assert!(
        text(&out.stdout).starts_with(&format!("linuxkit version {}\n", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn quiet_and_verbose_conflict() {
    let out = linuxkit(&["-q", "-v", "2", "version"], None);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn metadata_create_writes_the_config_iso() {
    let dir = lk_testutil::TempDir::new("metadata-create");
    let iso = dir.path().join("meta.iso");
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["metadata", "create"])
        .arg(&iso)
        .arg("{\"hostname\":\"vm1\"}")
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&iso).unwrap();
    assert_eq!(bytes.len(), 22 * 2048);
    assert_eq!(&bytes[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
    assert_eq!(&bytes[16 * 2048 + 40..16 * 2048 + 46], b"CIDATA");
    assert_eq!(&bytes[21 * 2048..21 * 2048 + 18], b"{\"hostname\":\"vm1\"}");
    if std::path::Path::new("/usr/bin/xorriso").exists() {
        let ls = Command::new("xorriso")
            .args(["-no_rc", "-indev"])
            .arg(&iso)
            .args(["-ls", "/", "--"])
            .output()
            .unwrap();
        assert!(
            text(&ls.stdout).contains("'CONFIG'"),
            "{}",
            text(&ls.stdout)
        );
    }
}
