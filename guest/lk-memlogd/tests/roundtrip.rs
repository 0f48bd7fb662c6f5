//! memlogd, logwrite and logread as processes, on sockets in a temporary directory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn logwrite_lines_come_back_through_logread() {
    let dir = std::env::temp_dir().join(format!("lk-memlogd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.sock").display().to_string();
    let query = dir.join("q.sock").display().to_string();
    let st = Command::new(env!("CARGO_BIN_EXE_memlogd"))
        .args([
            "-socket-log",
            &log,
            "-socket-query",
            &query,
            "-max-lines",
            "100",
            "-daemonize",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "daemonize returns once the sockets accept");

    // A follower (-F: buffer, then new entries, so no race with its registration).
    let mut follower = Command::new(env!("CARGO_BIN_EXE_logread"))
        .args(["-socket", &query, "-F"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_logwrite"))
        .args([
            "-socket",
            &log,
            "-n",
            "e2e",
            "sh",
            "-c",
            "echo out-line; echo err-line >&2; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "the command's status");
    assert_eq!(out.stdout, b"out-line\n", "tee'd to our stdout");
    assert_eq!(out.stderr, b"err-line\n");

    let deadline = Instant::now() + Duration::from_secs(10);
    let dump = loop {
        let d = Command::new(env!("CARGO_BIN_EXE_logread"))
            .args(["-socket", &query])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&d.stdout).into_owned();
        if text.contains(";e2e;err-line") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(dump.contains(";memlogd;memlogd started"), "{dump}");
    assert!(dump.contains(";e2e.out;out-line"), "{dump}");
    assert!(dump.contains(";e2e;err-line"), "{dump}");

    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains(";e2e")).count() < 2 {
        seen.push(lines.next().unwrap().unwrap());
    }
    assert!(seen[0].contains(";memlogd;memlogd started"), "{seen:?}");
    let _ = follower.kill();
    let _ = follower.wait();
    // Stop the background memlogd: it is the process holding the query socket.
    let _ = Command::new("pkill").args(["-f", &query]).status();
    let _ = std::fs::remove_dir_all(&dir);
}
