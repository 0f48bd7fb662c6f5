//! `port-forwarder`: the guest half of ports that follow the containers (what vpnkit's
//! `vpnkit-expose-port` and `vpnkit-forwarder` do for Docker Desktop). It keeps a set of
//! wanted host ports, from its command line, from `port-forwarder expose` calls on its
//! Unix socket, and from the Docker engine's running containers (`docker run -p 8080:80`
//! inside the VM gives host port 8080); it tells `linuxkit run` over vsock (see
//! lk_virtsock::forward), which listens there and sends each connection back over vsock
//! to the guest address.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lk_virtsock::addr::{CID_ANY, CID_HOST, VsockAddr};
use lk_virtsock::forward::{CONTROL_PORT, DATA_PORT, Request, ask, serve_data_connection};
use lk_virtsock::{Endpoint, Listener, Stream};

use crate::docker;

/// Where a wanted port came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The command line or `port-forwarder expose`.
    Static,
    /// A Docker container (its name).
    Docker(String),
}

/// The wanted ports: host address -> (guest address, source).
pub type Wanted = BTreeMap<SocketAddr, (SocketAddr, Source)>;

/// Shared state: the wanted set and a wake-up for the control link.
#[derive(Clone, Debug)]
pub struct State {
    wanted: Arc<Mutex<Wanted>>,
    changed: Sender<()>,
    log: fn(&str),
}

impl State {
    /// A new state and the receiver the control link waits on.
    pub fn new(log: fn(&str)) -> (State, Receiver<()>) {
        let (tx, rx) = channel();
        (
            State {
                wanted: Arc::new(Mutex::new(BTreeMap::new())),
                changed: tx,
                log,
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a port.
    pub fn expose(&self, host: SocketAddr, guest: SocketAddr, src: Source) {
        self.lock().insert(host, (guest, src));
        let _ = self.changed.send(());
    }

    /// Removes a port.
    pub fn unexpose(&self, host: SocketAddr) -> bool {
        let had = self.lock().remove(&host).is_some();
        let _ = self.changed.send(());
        had
    }

    /// Makes the Docker-sourced ports exactly `ports`.
    pub fn set_docker(&self, ports: Wanted) {
        let mut w = self.lock();
        w.retain(|_, (_, s)| *s == Source::Static);
        for (h, v) in ports {
            w.entry(h).or_insert(v);
        }
        drop(w);
        let _ = self.changed.send(());
    }

    /// A copy of the wanted set.
    pub fn snapshot(&self) -> Wanted {
        self.lock().clone()
    }
}

/// The control link: keeps `linuxkit run`'s open ports equal to the wanted set, over a
/// vsock connection to the host; reconnects (every 2 s) when there is none.
pub fn control_link(state: &State, changed: &Receiver<()>) {
    let to = Endpoint::Vsock(VsockAddr::new(CID_HOST, CONTROL_PORT));
    let mut said_down = false;
    loop {
        let mut s = match Stream::connect(&to, Duration::from_secs(5)) {
            Ok(s) => s,
            Err(e) => {
                if !said_down {
                    (state.log)(&format!(
                        "{e}; retrying every 2 s (is the VM run with --vsock?)"
                    ));
                    said_down = true;
                }
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
        };
        (state.log)("connected to the host's forwarder");
        said_down = false;
        let mut open: Wanted = BTreeMap::new();
        'sync: loop {
            let want = state.snapshot();
            let mut reqs = Vec::new();
            for (h, (g, _)) in &open {
                if want.get(h).map(|x| &x.0) != Some(g) {
                    reqs.push(Request::Unexpose { host: *h });
                }
            }
            for (h, (g, src)) in &want {
                if open.get(h).map(|x| &x.0) != Some(g) {
                    reqs.push(Request::Expose {
                        host: *h,
                        guest: *g,
                    });
                    let _ = src;
                }
            }
            for r in reqs {
                match ask(&mut s, &r) {
                    Ok(Ok(())) => {
                        (state.log)(&r.line());
                        match r {
                            Request::Expose { host, .. } => {
                                if let Some(v) = want.get(&host) {
                                    open.insert(host, v.clone());
                                }
                            }
                            Request::Unexpose { host } => {
                                open.remove(&host);
                            }
                        }
                    }
                    Ok(Err(reason)) => {
                        (state.log)(&format!("{}: the host says: {reason}", r.line()));
                        if let Request::Unexpose { host } = r {
                            open.remove(&host);
                        } else if let Request::Expose { host, .. } = r {
                            // Not retried until the wanted set changes.
                            if let Some(v) = want.get(&host) {
                                open.insert(host, v.clone());
                            }
                        }
                    }
                    Err(e) => {
                        (state.log)(&format!("the host's forwarder went away: {e}"));
                        break 'sync;
                    }
                }
            }
            // Wait for a change (the timeout also notices a host that went away).
            match changed.recv_timeout(Duration::from_secs(5)) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while changed.try_recv().is_ok() {}
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Serves the data port: the host's connections to guest addresses.
pub fn data_server(log: fn(&str)) -> Result<(), String> {
    let l = Listener::bind(&Endpoint::Vsock(VsockAddr::new(CID_ANY, DATA_PORT)))
        .map_err(|e| e.to_string())?;
    log(&format!(
        "serving the host's connections on {}",
        l.describe()
    ));
    loop {
        match l.accept() {
            Ok((s, _)) => {
                std::thread::spawn(move || {
                    if let Err(e) = serve_data_connection(s) {
                        log(&format!("a forwarded connection: {e}"));
                    }
                });
            }
            Err(e) => {
                log(&format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A port spec: `HOSTPORT` (guest 127.0.0.1:HOSTPORT) or `HOSTPORT:GUESTIP:GUESTPORT`,
/// the host side on `host_ip`.
pub fn parse_spec(s: &str, host_ip: IpAddr) -> Result<(SocketAddr, SocketAddr), String> {
    let bad = || format!("{s:?}: want HOSTPORT or HOSTPORT:GUESTIP:GUESTPORT");
    let (hp, guest) = match s.split_once(':') {
        Some((h, g)) => (h, g.parse::<SocketAddr>().map_err(|_| bad())?),
        None => (s, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
    };
    let hp: u16 = hp.parse().map_err(|_| bad())?;
    let guest = if guest.port() == 0 {
        SocketAddr::new(guest.ip(), hp)
    } else {
        guest
    };
    Ok((SocketAddr::new(host_ip, hp), guest))
}

/// Serves `port-forwarder expose|unexpose` on the Unix socket `path`: one request line
/// (`EXPOSE tcp HOST GUEST` / `UNEXPOSE tcp HOST`), answered `OK` or `ERR reason`.
pub fn local_control(path: &Path, state: State) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for c in l.incoming().flatten() {
        let mut line = String::new();
        let mut r = BufReader::new(&c);
        if r.read_line(&mut line).is_err() {
            continue;
        }
        let answer = match Request::parse(line.trim()) {
            Ok(Request::Expose { host, guest }) => {
                state.expose(host, guest, Source::Static);
                "OK".to_owned()
            }
            Ok(Request::Unexpose { host }) => {
                if state.unexpose(host) {
                    "OK".to_owned()
                } else {
                    format!("ERR {host} is not forwarded")
                }
            }
            Err(e) => format!("ERR {e}"),
        };
        let _ = (&c).write_all(format!("{answer}\n").as_bytes());
    }
    Ok(())
}

/// The client of [`local_control`]: sends `req`, returns the answer.
pub fn local_request(path: &Path, req: &Request) -> Result<(), String> {
    let mut c = UnixStream::connect(path).map_err(|e| {
        format!(
            "{}: {e} (is the port-forwarder service running?)",
            path.display()
        )
    })?;
    c.write_all(format!("{}\n", req.line()).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut a = String::new();
    BufReader::new(&c)
        .read_line(&mut a)
        .map_err(|e| e.to_string())?;
    match a.trim() {
        "OK" => Ok(()),
        other => Err(other.strip_prefix("ERR ").unwrap_or(other).to_owned()),
    }
}

/// The ports Docker's running containers publish, as wanted entries: host `host_ip`:the
/// published port, guest 127.0.0.1:the published port (Docker's own proxy in the VM).
pub fn docker_ports(containers: &serde_json::Value, host_ip: IpAddr) -> Wanted {
    let mut out = BTreeMap::new();
    for c in containers.as_array().into_iter().flatten() {
        let name = c["Names"][0]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_owned();
        for p in c["Ports"].as_array().into_iter().flatten() {
            let (Some(public), Some("tcp")) = (p["PublicPort"].as_u64(), p["Type"].as_str()) else {
                continue;
            };
            let Ok(port) = u16::try_from(public) else {
                continue;
            };
            out.insert(
                SocketAddr::new(host_ip, port),
                (
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                    Source::Docker(name.clone()),
                ),
            );
        }
    }
    out
}

/// Follows the Docker engine at `socket`: on start, and on each container start or stop,
/// the published ports of the running containers become the Docker-sourced wanted ports.
/// Waits for the engine, and reconnects when it goes away.
pub fn follow_docker(socket: PathBuf, host_ip: IpAddr, state: State) {
    let mut said = false;
    loop {
        let events = docker::events(
            &socket,
            "/v1.24/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D",
            "port-forwarder",
        );
        let events = match events {
            Ok(e) => e,
            Err(e) => {
                if !said {
                    (state.log)(&format!("waiting for Docker at {}: {e}", socket.display()));
                    said = true;
                }
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        (state.log)(&format!("following Docker at {}", socket.display()));
        said = false;
        let refresh = |state: &State| match docker::get_json(&socket, "/v1.24/containers/json") {
            Ok(v) => state.set_docker(docker_ports(&v, host_ip)),
            Err(e) => (state.log)(&format!("listing containers: {e}")),
        };
        refresh(&state);
        for ev in events {
            match ev {
                Ok(ev)
                    if matches!(
                        ev.action.as_str(),
                        "start" | "die" | "stop" | "kill" | "pause" | "unpause"
                    ) =>
                {
                    refresh(&state)
                }
                Ok(_) => {}
                Err(e) => {
                    (state.log)(&format!("Docker's event stream ended: {e}"));
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let h = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(
            parse_spec("8080", h),
            Ok((
                "127.0.0.1:8080".parse().unwrap(),
                "127.0.0.1:8080".parse().unwrap()
            ))
        );
        assert_eq!(
            parse_spec("8080:10.1.0.2:80", h),
            Ok((
                "127.0.0.1:8080".parse().unwrap(),
                "10.1.0.2:80".parse().unwrap()
            ))
        );
        assert!(parse_spec("x", h).is_err());
        assert!(parse_spec("80:nohost", h).is_err());
    }

    #[test]
    fn docker_published_ports_become_wanted_ports() {
        let v: serde_json::Value = serde_json::from_str(
            r#"[{"Names":["/web"],"Ports":[
                {"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8081,"Type":"tcp"},
                {"IP":"::","PrivatePort":80,"PublicPort":8081,"Type":"tcp"},
                {"PrivatePort":443,"Type":"tcp"},
                {"IP":"0.0.0.0","PrivatePort":53,"PublicPort":5353,"Type":"udp"}]}]"#,
        )
        .unwrap();
        let w = docker_ports(&v, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(w.len(), 1);
        let (g, src) = &w[&"127.0.0.1:8081".parse().unwrap()];
        assert_eq!(g, &"127.0.0.1:8081".parse::<SocketAddr>().unwrap());
        assert_eq!(src, &Source::Docker("web".into()));
    }

    #[test]
    fn docker_ports_replace_only_docker_ports() {
        let (s, _rx) = State::new(|_| {});
        let a = |x: &str| x.parse::<SocketAddr>().unwrap();
        s.expose(a("127.0.0.1:1"), a("127.0.0.1:1"), Source::Static);
        let mut d = BTreeMap::new();
        d.insert(
            a("127.0.0.1:2"),
            (a("127.0.0.1:2"), Source::Docker("x".into())),
        );
        s.set_docker(d);
        assert_eq!(s.snapshot().len(), 2);
        s.set_docker(BTreeMap::new());
        assert_eq!(
            s.snapshot().keys().copied().collect::<Vec<_>>(),
            [a("127.0.0.1:1")]
        );
    }
}
