//! The network providers against a local server speaking each provider's paths and
//! headers (the VM case `040_vm/011_metadata` does the same from inside a VM).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use lk_metadata::config::ConfigDir;
use lk_metadata::http::Http;
use lk_metadata::provider::Provider;

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Req) -> (u16, String) + Send + Sync;

/// Serves `handler` on 127.0.0.1; returns `host:port` and the request log.
fn serve(handler: Arc<Handler>) -> (String, Arc<Mutex<Vec<Req>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = Arc::clone(&log);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut w = line.split_whitespace();
            let (method, path) = (
                w.next().unwrap_or("").to_owned(),
                w.next().unwrap_or("").to_owned(),
            );
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim().split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let req = Req {
                method,
                path,
                headers,
            };
            log2.lock().unwrap().push(req.clone());
            let (status, body) = handler(&req);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, log)
}

fn table(pairs: &'static [(&'static str, &'static str)]) -> Arc<Handler> {
    Arc::new(move |r: &Req| {
        pairs
            .iter()
            .find(|(p, _)| *p == r.path)
            .map_or((404, String::new()), |(_, b)| (200, (*b).to_owned()))
    })
}

fn extract(p: &dyn Provider) -> (tempfile::TempDir, ConfigDir, Option<Vec<u8>>) {
    let t = tempfile::tempdir().unwrap();
    let cfg = ConfigDir::create(&t.path().join("config")).unwrap();
    let http = Http::new(std::time::Duration::from_secs(2));
    assert!(p.probe(&http), "{} probe", p.name());
    let u = p.extract(&http, &cfg).unwrap();
    (t, cfg, u)
}

fn file(cfg: &ConfigDir, rel: &str) -> String {
    String::from_utf8(cfg.read(rel).unwrap_or_else(|| panic!("{rel} missing"))).unwrap()
}

#[test]
fn aws_uses_an_imdsv2_token_when_the_service_requires_one() {
    let handler: Arc<Handler> = Arc::new(|r: &Req| {
        if r.method == "PUT" && r.path == "/latest/api/token" {
            assert_eq!(
                r.header("X-aws-ec2-metadata-token-ttl-seconds"),
                Some("21600")
            );
            return (200, "TOKEN123".to_owned());
        }
        if r.header("X-aws-ec2-metadata-token") != Some("TOKEN123") {
            return (401, String::new());
        }
        let body = match r.path.as_str() {
            "/latest/meta-data/hostname" => "ip-10-0-0-5.ec2.internal",
            "/latest/meta-data/public-ipv4" => "203.0.113.5",
            "/latest/meta-data/local-ipv4" => "10.0.0.5",
            "/latest/meta-data/placement/availability-zone" => "eu-west-1a",
            "/latest/meta-data/instance-type" => "t3.micro",
            "/latest/meta-data/instance-id" => "i-0abc",
            "/latest/meta-data/local-hostname" => "ip-10-0-0-5",
            "/latest/meta-data/public-keys/0/openssh-key" => "ssh-ed25519 AAAA aws\n",
            "/latest/user-data" => r#"{"app":{"entries":{"conf":{"content":"x=1"}}}}"#,
            _ => return (404, String::new()),
        };
        (200, body.to_owned())
    });
    let (host, log) = serve(handler);
    let (_t, cfg, u) = extract(&lk_metadata::net::aws(&host));
    assert_eq!(file(&cfg, "hostname"), "ip-10-0-0-5.ec2.internal");
    assert_eq!(file(&cfg, "availability_zone"), "eu-west-1a");
    assert_eq!(file(&cfg, "local_hostname"), "ip-10-0-0-5");
    assert_eq!(file(&cfg, "ssh/authorized_keys"), "ssh-ed25519 AAAA aws\n");
    assert!(u.unwrap().starts_with(b"{\"app\""));
    // One token for the whole run.
    let puts = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 1);
}

#[test]
fn aws_falls_back_to_imdsv1() {
    let (host, _) = serve(table(&[
        ("/latest/meta-data/hostname", "h1"),
        ("/latest/user-data", "#!/bin/sh"),
    ]));
    let (_t, cfg, u) = extract(&lk_metadata::net::aws(&host));
    assert_eq!(file(&cfg, "hostname"), "h1");
    assert_eq!(u.unwrap(), b"#!/bin/sh");
    assert!(cfg.read("ssh/authorized_keys").is_none());
}

#[test]
fn gcp_needs_its_header_and_strips_user_names_from_keys() {
    let handler: Arc<Handler> = Arc::new(|r: &Req| {
        if r.header("Metadata-Flavor") != Some("Google") {
            return (403, String::new());
        }
        match r.path.as_str() {
            "/computeMetadata/v1/instance/hostname" => (200, "gce-1.c.proj.internal".into()),
            "/computeMetadata/v1/project/attributes/ssh-keys" => (
                200,
                "alice:ssh-ed25519 AAAA alice\nbob:ssh-rsa BBBB bob\nnocolon\n".into(),
            ),
            "/computeMetadata/v1/instance/attributes/user-data" => (200, "gcp-ud".into()),
            _ => (404, String::new()),
        }
    });
    let (host, _) = serve(handler);
    let (_t, cfg, u) = extract(&lk_metadata::net::gcp(&host));
    assert_eq!(file(&cfg, "hostname"), "gce-1.c.proj.internal");
    assert_eq!(
        file(&cfg, "ssh/authorized_keys"),
        "ssh-ed25519 AAAA alice\nssh-rsa BBBB bob\n"
    );
    assert_eq!(u.unwrap(), b"gcp-ud");
}

#[test]
fn hetzner_keys_are_a_json_array() {
    let (host, _) = serve(table(&[
        ("/latest/meta-data/hostname", "hz"),
        ("/latest/meta-data/instance-id", "42"),
        (
            "/latest/meta-data/public-keys",
            r#"["ssh-ed25519 A","ssh-rsa B"]"#,
        ),
    ]));
    let (_t, cfg, u) = extract(&lk_metadata::net::hetzner(&host));
    assert_eq!(file(&cfg, "instance_id"), "42");
    assert_eq!(
        file(&cfg, "ssh/authorized_keys"),
        "ssh-ed25519 A\nssh-rsa B\n"
    );
    assert!(u.is_none());
}

#[test]
fn vultr_digitalocean_metaldata_openstack_paths() {
    let (host, _) = serve(table(&[
        ("/v1/", "{}"),
        ("/v1/hostname", "vultr-h"),
        ("/v1/interfaces/1/ipv4/netmask", "255.255.0.0"),
        ("/v1/region/regioncode", "AMS"),
        ("/v1/public-keys", "ssh-ed25519 V"),
        ("/metadata/v1/", "id\nhostname\n"),
        ("/metadata/v1/hostname", "do-h"),
        (
            "/metadata/v1/interfaces/public/0/ipv4/address",
            "198.51.100.7",
        ),
        ("/metadata/v1/user-data", "do-ud"),
        ("/get/meta/hostname", "md-h"),
        ("/get/meta/machine-type", "large"),
        ("/get/meta/authorized-keys", "ssh-ed25519 M"),
        ("/get/user", "md-ud"),
        ("/latest/meta-data/hostname", "os-h"),
        ("/latest/meta-data/local-hostname", "os-local"),
    ]));
    let (_t, c, u) = extract(&lk_metadata::net::vultr(&host));
    assert_eq!(
        (file(&c, "hostname"), file(&c, "private_netmask")),
        ("vultr-h".into(), "255.255.0.0".into())
    );
    assert_eq!(file(&c, "region_code"), "AMS");
    assert_eq!(file(&c, "ssh/authorized_keys"), "ssh-ed25519 V");
    assert!(u.is_none(), "Vultr gives no userdata, as in LinuxKit");
    let (_t, c, u) = extract(&lk_metadata::net::digitalocean(&host));
    assert_eq!(
        (file(&c, "hostname"), file(&c, "public_ipv4")),
        ("do-h".into(), "198.51.100.7".into())
    );
    assert_eq!(u.unwrap(), b"do-ud");
    let (_t, c, u) = extract(&lk_metadata::net::metaldata(&host));
    assert_eq!(
        (file(&c, "machine_type"), file(&c, "ssh/authorized_keys")),
        ("large".into(), "ssh-ed25519 M".into())
    );
    assert_eq!(u.unwrap(), b"md-ud");
    let (_t, c, _) = extract(&lk_metadata::net::openstack(&host));
    assert_eq!(file(&c, "local_hostname"), "os-local");
}

#[test]
fn scaleway_conf_and_userdata() {
    let (host, _) = serve(table(&[(
        "/conf",
        "HOSTNAME=scw-1\nID=abc-123\nLOCATION_ZONE_ID=fr-par-1\nPRIVATE_IP=10.1.1.1\nPUBLIC_IP_ADDRESS=51.15.0.1\nSSH_PUBLIC_KEYS=2\nSSH_PUBLIC_KEYS_0_KEY='ssh-ed25519 S0'\nSSH_PUBLIC_KEYS_1_KEY='ssh-rsa S1'\n",
    )]));
    let p = lk_metadata::scaleway::Scaleway::new(&host);
    let (_t, c, u) = extract(&p);
    assert_eq!(file(&c, "hostname"), "scw-1");
    assert_eq!(file(&c, "instance_location"), "fr-par-1");
    assert_eq!(file(&c, "public_ip"), "51.15.0.1");
    assert_eq!(
        file(&c, "ssh/authorized_keys"),
        "ssh-ed25519 S0\nssh-rsa S1\n"
    );
    // The userdata needs a source port below 1024: as root here the request is made and
    // answered 404 (no userdata); unprivileged it fails and is logged. Both give None.
    assert!(u.is_none());
}

#[test]
fn an_absent_service_fails_the_probe_within_the_timeout() {
    // A listener that never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = l.local_addr().unwrap().to_string();
    let http = Http::new(std::time::Duration::from_millis(500));
    let t = std::time::Instant::now();
    assert!(!lk_metadata::net::aws(&host).probe(&http));
    assert!(
        t.elapsed() < std::time::Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    drop(l);
    // Refused.
    assert!(!lk_metadata::net::digitalocean(&host).probe(&http));
}

#[test]
fn a_dropped_connection_is_tried_again_within_the_time_limit() {
    // A server that closes the first connection at once, then answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut n = 0;
        for s in l.incoming() {
            let mut s = s.unwrap();
            n += 1;
            if n == 1 {
                drop(s);
                continue;
            }
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    let http = Http::new(std::time::Duration::from_secs(2));
    assert_eq!(
        http.get(&format!("http://{host}/x"), &[], 100).unwrap(),
        b"ok"
    );
}
