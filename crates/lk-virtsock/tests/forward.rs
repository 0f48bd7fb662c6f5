//! The port forwarder's two ends against a fake hybrid vsock backend: the host side
//! (`serve_host`) opens and closes TCP ports as the guest asks, and each connection reaches
//! the guest address through the backend's `CONNECT` to the data port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lk_virtsock::forward::{self, DATA_PORT, Request};
use lk_virtsock::stream::hybrid_listen_path;
use lk_virtsock::{Endpoint, Stream};

/// The backend: `CONNECT 62373` is answered OK and served as the guest's forwarder would.
fn fake_backend(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let mut c = c.unwrap();
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while c.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
                line.push(b[0]);
            }
            if line != format!("CONNECT {DATA_PORT}").into_bytes() {
                continue;
            }
            c.write_all(b"OK 1024\n").unwrap();
            std::thread::spawn(move || {
                let s = Stream::Unix {
                    stream: c,
                    hybrid: false,
                };
                let _ = forward::serve_data_connection(s);
            });
        }
    });
}

fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let mut c = c.unwrap();
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                c.write_all(format!("echo {line}").as_bytes()).unwrap();
            });
        }
    });
    a
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn closed(a: SocketAddr) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if TcpStream::connect(a).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn ports_open_forward_and_close_as_the_guest_asks() {
    let d = tempfile::tempdir().unwrap();
    let backend = d.path().join("vsock.sock");
    fake_backend(&backend);
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let l2 = lines.clone();
    forward::serve_host(
        &backend,
        Arc::new(move |m: &str| l2.lock().unwrap().push(m.into())),
    )
    .unwrap();
    let guest = echo_server();
    let host = free_port();

    // The guest's control connection (over vsock in a VM; here straight to the listener).
    let ctl = UnixStream::connect(hybrid_listen_path(&backend, forward::CONTROL_PORT)).unwrap();
    let mut ctl = Stream::Unix {
        stream: ctl,
        hybrid: false,
    };
    assert_eq!(
        forward::ask(&mut ctl, &Request::Expose { host, guest }).unwrap(),
        Ok(())
    );
    let again = forward::ask(&mut ctl, &Request::Expose { host, guest }).unwrap();
    assert!(again.unwrap_err().contains("already forwarded"));

    let mut c = TcpStream::connect(host).unwrap();
    c.write_all(b"hello\n").unwrap();
    let mut got = String::new();
    BufReader::new(c).read_line(&mut got).unwrap();
    assert_eq!(got, "echo hello\n");

    assert_eq!(
        forward::ask(&mut ctl, &Request::Unexpose { host }).unwrap(),
        Ok(())
    );
    assert!(closed(host), "the port closed after UNEXPOSE");

    // Ports die with the control connection.
    let host2 = free_port();
    assert_eq!(
        forward::ask(&mut ctl, &Request::Expose { host: host2, guest }).unwrap(),
        Ok(())
    );
    assert!(TcpStream::connect(host2).is_ok());
    drop(ctl);
    assert!(closed(host2), "the port closed with the control connection");
    let log = lines.lock().unwrap().join("\n");
    assert!(log.contains("went away"), "{log}");
}

#[test]
fn a_guest_address_that_refuses_is_reported_to_the_host() {
    let d = tempfile::tempdir().unwrap();
    let backend = d.path().join("vsock.sock");
    fake_backend(&backend);
    let mut g = Stream::connect(
        &Endpoint::Hybrid {
            path: backend,
            port: DATA_PORT,
        },
        Duration::from_secs(5),
    )
    .unwrap();
    g.write_all(format!("CONNECT tcp {}\n", free_port()).as_bytes())
        .unwrap();
    let answer = forward::read_line(&mut g).unwrap().unwrap();
    assert!(answer.starts_with("ERR connect to tcp"), "{answer}");
}
