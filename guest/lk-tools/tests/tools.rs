//! fdd's daemon, shares and clients, and trim-after-delete against a stand-in Docker engine,
//! all over real Unix sockets in a temporary directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use lk_tools::{docker, fdd};

#[test]
fn fdd_hands_each_end_of_a_fresh_socketpair_to_one_client() {
    let t = tempfile::tempdir().unwrap();
    let socket = t.path().join("fdd.sock");
    let (tx, rx) = mpsc::channel();
    let s2 = socket.clone();
    let pre = t.path().join("pre");
    let pre2 = pre.clone();
    std::thread::spawn(move || {
        fdd::serve(&s2, &[pre2], &mut || tx.send(()).unwrap()).unwrap();
    });
    rx.recv().unwrap();
    assert!(fdd::pid_file(&socket).exists());
    // A second daemon on the same socket refuses to start.
    let e = fdd::serve(&socket, &[], &mut || {}).unwrap_err();
    assert!(e.to_string().contains("fdd.pid"), "{e}");

    // A share asked for over the control socket; `test` takes both ends.
    let share = t.path().join("chan");
    fdd::share(&socket, &share).unwrap();
    let mut i = 0;
    while !share.exists() && i < 50 {
        std::thread::sleep(Duration::from_millis(20));
        i += 1;
    }
    fdd::test(&share).unwrap();
    // The path is gone once both ends are out.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!share.exists());

    // Two clients of the share given at start talk both ways.
    let a = std::thread::spawn({
        let pre = pre.clone();
        move || {
            let mut s = fdd::receive(&pre, Duration::from_secs(5)).unwrap();
            writeln!(s, "ping").unwrap();
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).unwrap();
            line
        }
    });
    let mut b = fdd::receive(&pre, Duration::from_secs(5)).unwrap();
    let mut line = String::new();
    BufReader::new(b.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ping\n");
    writeln!(b, "pong").unwrap();
    assert_eq!(a.join().unwrap(), "pong\n");

    // Something that is not a share is refused.
    let fake = t.path().join("fake");
    let l = UnixListener::bind(&fake).unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"nope").unwrap();
    });
    assert!(fdd::receive(&fake, Duration::ZERO).is_err());
}

/// A stand-in engine: answers `GET /v1.24/events` with `events` in chunks, then holds.
fn engine(events: Vec<&'static str>, server: &'static str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("docker.sock");
    let l = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /v1.24/events HTTP/1.1"));
        write!(
            c,
            "HTTP/1.1 200 OK\r\nServer: {server}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .unwrap();
        for e in events {
            let line = format!("{e}\n");
            write!(c, "{:x}\r\n{line}\r\n", line.len()).unwrap();
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    (t, path)
}

#[test]
fn the_event_stream_is_read_from_docker_only() {
    let (_t, sock) = engine(
        vec![
            r#"{"status":"untag","Type":"image","Action":"untag","Actor":{"ID":"sha256:1"}}"#,
            r#"{"Type":"image","Action":"delete","Actor":{"ID":"sha256:1"},"time":1}"#,
        ],
        "Docker/20.10.24 (linux)",
    );
    let mut ev = docker::events(&sock, "/v1.24/events", "test").unwrap();
    let first = ev.next().unwrap().unwrap();
    assert_eq!(
        (first.kind.as_str(), first.action.as_str()),
        ("image", "untag")
    );
    let second = ev.next().unwrap().unwrap();
    assert!(lk_tools::trim::frees_space(&second));

    let (_t, sock) = engine(vec![], "nginx");
    let e = docker::events(&sock, "/v1.24/events", "test")
        .err()
        .unwrap();
    assert!(e.to_string().contains("not Docker"), "{e}");
}
