//! memlogd, logwrite and logread as processes, on sockets in a temporary directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stops what the test started, also when an assertion fails: a follower or memlogd left
/// running would keep the test runner's output pipe open (and `scripts/test.sh`, which tees
/// it, waiting).
struct Cleanup {
    follower: Option<Child>,
    query: String,
    dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = &mut self.follower {
            let _ = f.kill();
            let _ = f.wait();
        }
        // The background memlogd is the process holding the query socket.
        let _ = Command::new("pkill").args(["-f", &self.query]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    let mut cleanup = Cleanup {
        follower: None,
        query: query.clone(),
        dir: dir.clone(),
    };
    assert!(st.success(), "daemonize returns once the sockets accept");

    // A follower (-F: buffer, then new entries, so no race with its registration).
    let follower = cleanup.follower.insert(
        Command::new(env!("CARGO_BIN_EXE_logread"))
            .args(["-socket", &query, "-F"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let follower_out = follower.stdout.take().unwrap();

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
        // stdout and stderr reach memlogd on connections of their own: either may be last.
        let both = text.contains(";e2e;err-line") && text.contains(";e2e.out;out-line");
        if both || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(dump.contains(";memlogd;memlogd started"), "{dump}");
    assert!(dump.contains(";e2e.out;out-line"), "{dump}");
    assert!(dump.contains(";e2e;err-line"), "{dump}");

    let mut lines = BufReader::new(follower_out).lines();
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains(";e2e")).count() < 2 {
        seen.push(lines.next().unwrap().unwrap());
    }
    assert!(seen[0].contains(";memlogd;memlogd started"), "{seen:?}");
}
