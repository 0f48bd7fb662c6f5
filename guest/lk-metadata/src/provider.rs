//! Providers, how they are chosen from the command line, and the probe.
//!
//! LinuxKit probes the network providers one after another, each with a 2 s timeout, so
//! an image whose list names nine absent providers waits about 18 s. Here the network
//! probes run at once and the first provider in list order that answers wins (a later
//! one that answers first waits for those before it), so the cost of the absent ones is
//! one timeout. Local providers (VMware, CD-ROMs) and files follow, in list order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::config::ConfigDir;
use crate::http::Http;

/// LinuxKit's default list, in its order.
pub const DEFAULT: [&str; 11] = [
    "aws",
    "gcp",
    "hetzner",
    "openstack",
    "scaleway",
    "vultr",
    "digitalocean",
    "equinixmetal",
    "metaldata",
    "vmware",
    "cdrom",
];

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns debug lines on (`-v`).
pub fn set_verbose(v: bool) {
    VERBOSE.store(v, Ordering::Relaxed);
}

/// A log line on stderr (the console and the service log).
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A line shown with `-v` only.
pub fn debug(msg: &str) {
    if VERBOSE.load(Ordering::Relaxed) {
        say(msg);
    }
}

/// A source of metadata and userdata.
pub trait Provider: Send + Sync {
    /// The name written to `/run/config/provider` (LinuxKit's `String()`).
    fn name(&self) -> String;
    /// Whether the provider is there.
    fn probe(&self, http: &Http) -> bool;
    /// Writes the provider's files under `cfg` and returns the userdata, if any.
    fn extract(&self, http: &Http, cfg: &ConfigDir) -> Result<Option<Vec<u8>>, String>;
}

/// The providers a command line asks for, by kind.
#[derive(Default)]
pub struct Selection {
    /// Probed over the network, at once.
    pub network: Vec<Arc<dyn Provider>>,
    /// Probed in order: `vmware` and `cdrom` (expanded to the devices found).
    pub local: Vec<Local>,
    /// `file=PATH`, in order.
    pub files: Vec<Arc<dyn Provider>>,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[Arc<dyn Provider>]| v.iter().map(|p| p.name()).collect::<Vec<_>>();
        f.debug_struct("Selection")
            .field("network", &names(&self.network))
            .field("local", &self.local)
            .field("files", &names(&self.files))
            .finish()
    }
}

/// A local provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// VMware guestinfo.
    Vmware,
    /// Every `cidata` volume, then every `/dev/sr*`.
    Cdrom,
}

/// Parses the provider names (LinuxKit's, plus `file=PATH`); an unknown one is an error.
pub fn select(names: &[String]) -> Result<Selection, String> {
    let mut s = Selection::default();
    for n in names {
        let net: Arc<dyn Provider> = match n.as_str() {
            "aws" => Arc::new(crate::net::aws(crate::net::LINK_LOCAL)),
            "gcp" => Arc::new(crate::net::gcp(crate::net::GCP_HOST)),
            "hetzner" => Arc::new(crate::net::hetzner(crate::net::LINK_LOCAL)),
            "openstack" => Arc::new(crate::net::openstack(crate::net::LINK_LOCAL)),
            "vultr" => Arc::new(crate::net::vultr(crate::net::LINK_LOCAL)),
            "digitalocean" => Arc::new(crate::net::digitalocean(crate::net::LINK_LOCAL)),
            "metaldata" => Arc::new(crate::net::metaldata(crate::net::METALDATA_HOST)),
            "scaleway" => Arc::new(crate::scaleway::Scaleway::new(crate::scaleway::HOST)),
            "equinixmetal" => Arc::new(crate::equinix::EquinixMetal::new(crate::equinix::BASE)),
            "vmware" => {
                s.local.push(Local::Vmware);
                continue;
            }
            "cdrom" => {
                s.local.push(Local::Cdrom);
                continue;
            }
            _ => match n.strip_prefix("file=") {
                Some(path) if !path.is_empty() => {
                    s.files.push(Arc::new(FileProvider(path.to_owned())));
                    continue;
                }
                _ => {
                    return Err(format!(
                        "Unrecognised metadata provider: {n} (known: {}, file=PATH)",
                        DEFAULT.join(", ")
                    ));
                }
            },
        };
        s.network.push(net);
    }
    Ok(s)
}

/// Which result decides the probe: the first provider in order that answered, once all
/// before it have failed. `Some(None)`: all failed; `None`: still waiting.
fn decided(results: &[Option<bool>]) -> Option<Option<usize>> {
    for (i, r) in results.iter().enumerate() {
        match r {
            Some(true) => return Some(Some(i)),
            Some(false) => {}
            None => return None,
        }
    }
    Some(None)
}

/// Probes `providers` at once; the first in order that answered.
pub fn probe_network(providers: &[Arc<dyn Provider>], http: &Http) -> Option<Arc<dyn Provider>> {
    if providers.is_empty() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    for (i, p) in providers.iter().enumerate() {
        let (p, http, tx) = (Arc::clone(p), http.clone(), tx.clone());
        // Losers still waiting when a winner is known are left to time out: the process
        // does not wait for them.
        std::thread::spawn(move || {
            let ok = p.probe(&http);
            debug(&format!(
                "{}: probe {}",
                p.name(),
                if ok { "answered" } else { "failed" }
            ));
            let _ = tx.send((i, ok));
        });
    }
    drop(tx);
    let mut results = vec![None; providers.len()];
    for (i, ok) in rx {
        results[i] = Some(ok);
        if let Some(d) = decided(&results) {
            return d.map(|i| Arc::clone(&providers[i]));
        }
    }
    None
}

/// `file=PATH`: the file is the userdata.
#[derive(Debug)]
pub struct FileProvider(pub String);

impl Provider for FileProvider {
    fn name(&self) -> String {
        self.0.clone()
    }
    fn probe(&self, _: &Http) -> bool {
        std::fs::metadata(&self.0).is_ok()
    }
    fn extract(&self, _: &Http, _: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
        std::fs::read(&self.0)
            .map(Some)
            .map_err(|e| format!("reading {}: {e}", self.0))
    }
}

/// Writes `keys` to `ssh/authorized_keys` (0600) in `ssh/` (0755).
pub fn write_ssh_keys(cfg: &ConfigDir, keys: &[u8]) -> Result<(), String> {
    cfg.mkdir("ssh", 0o755)
        .and_then(|_| cfg.write("ssh/authorized_keys", keys, 0o600))
        .map(|_| ())
        .map_err(|e| format!("writing ssh/authorized_keys: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_provider_in_order_wins_once_those_before_it_failed() {
        assert_eq!(decided(&[None, Some(true)]), None);
        assert_eq!(decided(&[Some(false), Some(true), None]), Some(Some(1)));
        assert_eq!(decided(&[Some(true), None]), Some(Some(0)));
        assert_eq!(decided(&[Some(false), Some(false)]), Some(None));
    }

    #[test]
    fn names_select_providers_and_unknown_ones_are_errors() {
        let all: Vec<String> = DEFAULT.iter().map(|s| (*s).to_owned()).collect();
        let s = select(&all).unwrap();
        let names: Vec<String> = s.network.iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "AWS",
                "GCP",
                "Hetzner",
                "openstack",
                "Scaleway",
                "Vultr",
                "DigitalOcean",
                "EquinixMetal",
                "metaldata"
            ]
        );
        assert_eq!(s.local, [Local::Vmware, Local::Cdrom]);
        let s = select(&["file=/x".to_owned(), "cdrom".to_owned()]).unwrap();
        assert_eq!(s.files[0].name(), "/x");
        let e = select(&["azure".to_owned()]).unwrap_err();
        assert!(e.contains("Unrecognised metadata provider: azure"), "{e}");
        assert!(select(&["file=".to_owned()]).is_err());
    }

    struct Slow(&'static str, u64, bool);
    impl Provider for Slow {
        fn name(&self) -> String {
            self.0.to_owned()
        }
        fn probe(&self, _: &Http) -> bool {
            std::thread::sleep(std::time::Duration::from_millis(self.1));
            self.2
        }
        fn extract(&self, _: &Http, _: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
            Ok(None)
        }
    }

    #[test]
    fn probes_run_at_once_and_keep_the_list_order() {
        let http = Http::new(std::time::Duration::from_secs(1));
        let ps: Vec<Arc<dyn Provider>> = vec![
            Arc::new(Slow("a", 300, false)),
            Arc::new(Slow("b", 300, true)),
            Arc::new(Slow("c", 10, true)),
            Arc::new(Slow("d", 2000, false)),
        ];
        let t = std::time::Instant::now();
        let w = probe_network(&ps, &http).unwrap();
        assert_eq!(w.name(), "b");
        // Concurrent: a and b ran side by side; d (2 s) was not waited for.
        assert!(
            t.elapsed() < std::time::Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
        let none: Vec<Arc<dyn Provider>> = vec![Arc::new(Slow("x", 50, false))];
        assert!(probe_network(&none, &http).is_none());
    }
}
