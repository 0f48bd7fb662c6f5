//! `linuxkit serve` on a loopback port: files, HEAD, listings, redirects, 404, and no way out
//! of the directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, request: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&all[..split]).into_owned(),
        all[split + 4..].to_vec(),
    )
}

fn req(method: &str, path: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

#[test]
fn serves_files_listings_and_nothing_outside() {
    let dir = lk_testutil::TempDir::new("serve");
    let root = dir.path().join("www");
    std::fs::create_dir_all(root.join("sub dir")).unwrap();
    std::fs::write(root.join("boot-kernel"), b"KERNEL").unwrap();
    std::fs::write(root.join("boot.ipxe"), b"#!ipxe\n").unwrap();
    std::fs::write(dir.path().join("secret"), b"no").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["serve", "--port", "127.0.0.1:0", "--directory"])
        .arg(&root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let _guard = Serve(child);
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    assert!(first.starts_with("serving "), "{first}");

    let (head, body) = get(&addr, &req("GET", "/boot-kernel"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"KERNEL");
    let (head, body) = get(&addr, &req("HEAD", "/boot.ipxe"));
    assert!(head.contains("Content-Length: 7"), "{head}");
    assert!(head.contains("text/plain"), "{head}");
    assert!(body.is_empty());
    let (head, body) = get(&addr, &req("GET", "/"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("<a href=\"boot-kernel\">boot-kernel</a>"),
        "{body}"
    );
    assert!(
        body.contains("<a href=\"sub%20dir/\">sub dir/</a>"),
        "{body}"
    );
    let (head, _) = get(&addr, &req("GET", "/sub%20dir"));
    assert!(head.starts_with("HTTP/1.1 301"), "{head}");
    assert!(head.contains("Location: /sub%20dir/"), "{head}");
    let (head, _) = get(&addr, &req("GET", "/nope"));
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    for evil in ["/../secret", "/%2e%2e/secret", "/sub%20dir/../../secret"] {
        let (head, body) = get(&addr, &req("GET", evil));
        assert!(!head.starts_with("HTTP/1.1 200"), "{evil}: {head}");
        assert_ne!(body, b"no", "{evil}");
    }
    // Each request is logged as METHOD URL.
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "GET /boot-kernel");
}
