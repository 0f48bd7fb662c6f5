//! A vsock device for the guest (`run qemu --vsock`, `--vsock-ports`): QEMU's
//! `vhost-user-vsock-pci` served by `vhost-device-vsock` (rust-vmm), which works without
//! `/dev/vhost-vsock` and under TCG. The guest memory must be shared with the backend, so
//! it becomes a memfd backend on a NUMA node.
//!
//! Host side, all in the state directory:
//! - `vsock.sock`: the hybrid vsock socket (`CONNECT <port>` reaches a guest port; guest
//!   connections to host port P arrive on `vsock.sock_P`);
//! - `guest.<port as 8 hex digits>` for each `--vsock-ports` port: a plain Unix socket
//!   forwarded to that guest port (LinuxKit's HyperKit naming, e.g. `guest.00000946` for
//!   2374), so `ctr -a`, `docker -H unix://` and `service --socket` work unchanged;
//! - the port forwarder's control socket (`vsock.sock_62374`): the guest's
//!   `port-forwarder` asks for host ports there (lk_virtsock::forward);
//! - `vsock.log`: what the forwarders did; `vhost-device-vsock.log`: the backend's output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use lk_virtsock::{Endpoint, Listener, Stream};

use crate::RunError;

/// The backend program and the oldest version known to work.
const BACKEND: &str = "vhost-device-vsock";
const MIN_VERSION: (u32, u32, u32) = (0, 3, 0);

/// The guest's vsock settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vsock {
    /// Guest ports to offer on the host as `<state>/guest.<port hex>`.
    pub ports: Vec<u32>,
}

/// The hybrid vsock socket.
pub fn hybrid_socket(state: &Path) -> PathBuf {
    state.join("vsock.sock")
}

/// The host socket for guest port `port`.
pub fn port_socket(state: &Path, port: u32) -> PathBuf {
    state.join(format!("guest.{port:08x}"))
}

fn vhost_socket(state: &Path) -> PathBuf {
    state.join("vhost-vsock.sock")
}

/// QEMU's arguments: shared guest memory and the vhost-user device.
pub fn args(state: &Path, mem_mb: u32, m: crate::qemu::Machine) -> Vec<String> {
    let device = format!("{},chardev=lkvsock", m.virtio("vhost-user-vsock"));
    [
        "-object",
        &format!("memory-backend-memfd,id=lkmem,size={mem_mb}M,share=on"),
        "-numa",
        "node,memdev=lkmem",
        "-chardev",
        &format!("socket,id=lkvsock,path={}", vhost_socket(state).display()),
        "-device",
        &device,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Parses `vhost-device-vsock 0.3.0`.
fn version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().nth(1)?;
    let mut it = v.split('.').map(|x| x.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// A running backend and the host-side forwarders; [`Backend::stop`] ends them.
#[derive(Debug)]
pub struct Backend {
    child: Child,
    sockets: Vec<PathBuf>,
}

fn program_error(reason: String) -> RunError {
    RunError::Program {
        argv: vec![BACKEND.into()],
        reason,
    }
}

/// Starts the backend, waits for its socket, and opens the host-side sockets.
pub fn start(state: &Path, cfg: &Vsock) -> Result<Backend, RunError> {
    let hint = "install it: scripts/setup.sh runs cargo install vhost-device-vsock --version 0.3.0";
    let out = Command::new(BACKEND)
        .arg("--version")
        .output()
        .map_err(|e| program_error(format!("{e} ({hint})")))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match version(&text) {
        Some(v) if v >= MIN_VERSION => {}
        _ => {
            return Err(program_error(format!(
                "version {text:?}: need {}.{}.{} or later ({hint})",
                MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2
            )));
        }
    }
    let (vhost, hybrid) = (vhost_socket(state), hybrid_socket(state));
    for p in [&vhost, &hybrid] {
        let _ = std::fs::remove_file(p);
    }
    let log_path = state.join("vhost-device-vsock.log");
    let log = std::fs::File::create(&log_path).map_err(|source| RunError::State {
        path: log_path.display().to_string(),
        source,
    })?;
    let mut child = Command::new(BACKEND)
        .arg("--guest-cid")
        .arg(lk_virtsock::addr::CID_GUEST.to_string())
        .arg("--socket")
        .arg(&vhost)
        .arg("--uds-path")
        .arg(&hybrid)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|source| RunError::State {
            path: log_path.display().to_string(),
            source,
        })?)
        .stderr(log)
        .spawn()
        .map_err(|e| program_error(format!("{e} ({hint})")))?;
    let start = Instant::now();
    while !vhost.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(program_error(format!(
                "exited ({st}) before listening; see {}",
                log_path.display()
            )));
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(program_error(format!(
                "no socket {} after 10 s",
                vhost.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let vlog = open_log(state)?;
    let mut sockets = vec![lk_virtsock::stream::hybrid_listen_path(
        &hybrid,
        lk_virtsock::forward::CONTROL_PORT,
    )];
    for &port in &cfg.ports {
        let path = port_socket(state, port);
        let l = Listener::bind(&Endpoint::Unix(path.clone())).map_err(|e| RunError::State {
            path: path.display().to_string(),
            source: e.source,
        })?;
        let (h, lg, lc) = (hybrid.clone(), vlog.clone(), l);
        std::thread::spawn(move || forward_port(&lc, &h, port, &lg));
        sockets.push(path);
    }
    lk_virtsock::forward::serve_host(&hybrid, vlog).map_err(|e| RunError::State {
        path: hybrid.display().to_string(),
        source: e.source,
    })?;
    sockets.push(hybrid);
    sockets.push(vhost);
    Ok(Backend { child, sockets })
}

fn open_log(state: &Path) -> Result<lk_virtsock::forward::Log, RunError> {
    let path = state.join("vsock.log");
    let f = std::fs::File::create(&path).map_err(|source| RunError::State {
        path: path.display().to_string(),
        source,
    })?;
    let f = Mutex::new(f);
    Ok(Arc::new(move |m: &str| {
        if let Ok(mut f) = f.lock() {
            let _ = writeln!(f, "{m}");
        }
    }))
}

/// Serves `<state>/guest.<port>`: each connection goes to guest port `port`.
fn forward_port(l: &Listener, hybrid: &Path, port: u32, log: &lk_virtsock::forward::Log) {
    let ep = Endpoint::Hybrid {
        path: hybrid.to_owned(),
        port,
    };
    while let Ok((c, _)) = l.accept() {
        let (ep, log) = (ep.clone(), log.clone());
        std::thread::spawn(
            move || match Stream::connect(&ep, Duration::from_secs(10)) {
                Ok(g) => {
                    if let Ok(n) = lk_virtsock::splice(c, g) {
                        log(&format!(
                            "guest port {port}: {} bytes in, {} bytes out",
                            n.a_to_b, n.b_to_a
                        ));
                    }
                }
                Err(e) => log(&e.to_string()),
            },
        );
    }
}

impl Backend {
    /// Stops the backend and removes the host-side sockets (the forwarders' threads end
    /// with the process).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in &self.sockets {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_shares_the_guest_memory_with_the_backend() {
        let a = args(Path::new("/s"), 512, crate::qemu::Machine::Q35).join(" ");
        assert_eq!(
            a,
            "-object memory-backend-memfd,id=lkmem,size=512M,share=on -numa node,memdev=lkmem \
             -chardev socket,id=lkvsock,path=/s/vhost-vsock.sock -device vhost-user-vsock-pci,chardev=lkvsock"
        );
        assert_eq!(
            port_socket(Path::new("/s"), 2374),
            Path::new("/s/guest.00000946")
        );
    }

    #[test]
    fn backend_versions_are_compared() {
        assert_eq!(version("vhost-device-vsock 0.3.0"), Some((0, 3, 0)));
        assert!(version("vhost-device-vsock 0.2.9").unwrap() < MIN_VERSION);
        assert_eq!(version("garbage"), None);
    }
}
