//! Scaleway: `KEY=value` lines at `http://169.254.42.42/conf`; the userdata is only given
//! to a connection from a privileged source port (1-1023), so it is fetched with a raw
//! HTTP/1.0 request from such a port (the package has `CAP_NET_BIND_SERVICE`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
};

use crate::config::ConfigDir;
use crate::http::Http;
use crate::net::{USERDATA_LIMIT, VALUE_LIMIT};
use crate::provider::{Provider, say, write_ssh_keys};

/// Scaleway's metadata address.
pub const HOST: &str = "169.254.42.42";

/// The provider.
#[derive(Debug)]
pub struct Scaleway {
    host: String,
}

impl Scaleway {
    /// The provider for the service at `host` (`address[:port]`).
    pub fn new(host: &str) -> Scaleway {
        Scaleway {
            host: host.to_owned(),
        }
    }

    fn conf(&self, http: &Http) -> Result<Vec<u8>, String> {
        http.get(&format!("http://{}/conf", self.host), &[], VALUE_LIMIT)
            .map_err(|e| e.to_string())
    }

    fn userdata(&self) -> Result<Option<Vec<u8>>, String> {
        let addr = with_port(&self.host)
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.host))?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| format!("{}: no IPv4 address", self.host))?;
        let mut conn = privileged_connect(addr)?;
        conn.write_all(b"GET /user_data/cloud-init HTTP/1.0\r\n\r\n")
            .map_err(|e| format!("{addr}: {e}"))?;
        let mut resp = Vec::new();
        conn.take(USERDATA_LIMIT + 4096)
            .read_to_end(&mut resp)
            .map_err(|e| format!("{addr}: {e}"))?;
        parse_http10(&resp)
    }
}

fn with_port(host: &str) -> String {
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    }
}

/// Connects to `addr` from the first free port in 1..1024, 2 s per attempt.
fn privileged_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let SocketAddr::V4(v4) = addr else {
        return Err(format!("{addr}: not IPv4"));
    };
    let timeout = nix::sys::time::TimeVal::new(2, 0);
    for port in 1..1024u16 {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| format!("socket: {e}"))?;
        if bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrIn::from(std::net::SocketAddrV4::new(
                std::net::Ipv4Addr::UNSPECIFIED,
                port,
            )),
        )
        .is_err()
        {
            continue;
        }
        // Linux bounds a blocking connect by the send timeout.
        setsockopt(&fd, sockopt::SendTimeout, &timeout).map_err(|e| format!("setsockopt: {e}"))?;
        connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(v4))
            .map_err(|e| format!("{addr} from port {port}: {e}"))?;
        let s = TcpStream::from(fd);
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(2))))
            .map_err(|e| format!("{addr}: {e}"))?;
        return Ok(s);
    }
    Err("no free source port below 1024 (needs CAP_NET_BIND_SERVICE)".to_owned())
}

/// The body of an HTTP/1.0 answer; `None` for 404 (no userdata), an error otherwise.
fn parse_http10(resp: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("answer without a header end")?;
    let head = String::from_utf8_lossy(&resp[..end]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", head.lines().next().unwrap_or("")))?;
    match status {
        200 => Ok(Some(resp[end + 4..].to_vec())),
        404 => Ok(None),
        s => Err(format!("status {s}")),
    }
}

/// The value of `KEY=` in Scaleway's conf (the key upper-cased).
fn conf_value<'a>(conf: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let query = format!("{}=", key.to_uppercase());
    conf.split(|b| *b == b'\n')
        .find_map(|l| l.strip_prefix(query.as_bytes()))
}

impl Provider for Scaleway {
    fn name(&self) -> String {
        "Scaleway".to_owned()
    }

    fn probe(&self, http: &Http) -> bool {
        self.conf(http)
            .map_err(|e| crate::provider::debug(&format!("Scaleway: {e}")))
            .is_ok()
    }

    fn extract(&self, http: &Http, cfg: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
        let conf = self
            .conf(http)
            .map_err(|e| format!("Scaleway: Failed to get conf: {e}"))?;
        let required = [
            ("hostname", "hostname"),
            ("id", "instance_id"),
            ("location_zone_id", "instance_location"),
            ("private_ip", "private_ip"),
        ];
        for (key, file) in required {
            let v = conf_value(&conf, key)
                .ok_or_else(|| format!("Scaleway: Failed to get {key}: No {key} found"))?;
            cfg.write(file, v, 0o644)
                .map_err(|e| format!("Scaleway: Failed to write {file}: {e}"))?;
        }
        match conf_value(&conf, "public_ip_address") {
            Some(v) => {
                cfg.write("public_ip", v, 0o644)
                    .map_err(|e| format!("Scaleway: Failed to write public_ip: {e}"))?;
            }
            None => say("Scaleway: Failed to get publicIP: No public_ip_address found"),
        }
        let keys = conf_value(&conf, "ssh_public_keys")
            .and_then(|n| std::str::from_utf8(n).ok()?.trim().parse::<usize>().ok())
            .map(|n| {
                (0..n)
                    .filter_map(|i| conf_value(&conf, &format!("ssh_public_keys_{i}_key")))
                    .map(|k| {
                        let k = String::from_utf8_lossy(k);
                        format!("{}\n", k.trim_matches('\''))
                    })
                    .collect::<String>()
            });
        match keys {
            Some(k) => {
                if let Err(e) = write_ssh_keys(cfg, k.as_bytes()) {
                    say(&format!("Scaleway: Failed to get ssh data: {e}"));
                }
            }
            None => say("Scaleway: Failed to get ssh data: no SSH_PUBLIC_KEYS"),
        }
        match self.userdata() {
            Ok(u) => Ok(u),
            Err(e) => {
                say(&format!("Scaleway: Failed to get user-data: {e}"));
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_lines_and_http10_answers_are_parsed() {
        let conf =
            b"HOSTNAME=box\nID=abc\nSSH_PUBLIC_KEYS=2\nSSH_PUBLIC_KEYS_0_KEY='ssh-ed25519 A'\n";
        assert_eq!(conf_value(conf, "hostname"), Some(&b"box"[..]));
        assert_eq!(conf_value(conf, "ssh_public_keys"), Some(&b"2"[..]));
        assert_eq!(conf_value(conf, "private_ip"), None);
        assert_eq!(
            parse_http10(b"HTTP/1.0 200 OK\r\nX: y\r\n\r\nbody").unwrap(),
            Some(b"body".to_vec())
        );
        assert_eq!(
            parse_http10(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap(),
            None
        );
        assert!(parse_http10(b"HTTP/1.0 500 x\r\n\r\n").is_err());
        assert!(parse_http10(b"garbage").is_err());
    }
}
