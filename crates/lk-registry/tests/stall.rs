//! A registry that stops sending in the middle of a blob: the pull fails within the
//! timeout and names the repository, instead of hanging.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use lk_oci::Digest;
use lk_registry::{Client, ClientOptions, Repository};

#[test]
fn a_registry_that_stops_sending_mid_blob_fails_the_pull() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = s.read(&mut req);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\nContent-Type: application/octet-stream\r\n\r\n",
        );
        let _ = s.write_all(&vec![7u8; 1 << 20]);
        // Then nothing, for longer than the client waits.
        std::thread::sleep(Duration::from_secs(8));
    });
    let client = Client::new(ClientOptions {
        timeout: Some(Duration::from_secs(1)),
        ..ClientOptions::default()
    });
    let repo = Repository {
        registry: addr.to_string(),
        path: "t/stall".into(),
    };
    let digest = Digest::of(b"the blob");
    let start = Instant::now();
    let mut got = Vec::new();
    let err = client
        .get_blob(&repo, &digest, &mut got, &mut |_| {})
        .unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(6), "waited {took:?}");
    assert!(got.len() >= 1 << 20, "{}", got.len());
    let shown = format!("{err}");
    assert!(shown.contains("t/stall"), "{shown}");
    drop(server);
}
