//! The run: probe the providers in order, write what the first found gives, set the host name.
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ConfigDir;
use crate::http::Http;
use crate::provider::{Local, Provider, say};
use crate::{cdrom, provider, userdata, vmware};

/// Each network request's time limit (LinuxKit's).
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// What a run found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The provider's name (as written to `/run/config/provider`).
    Provider(String),
    /// No provider answered.
    Nothing,
}

/// Probes the providers of `names` and writes what the first found gives under `root`.
/// The host name is set through `sethostname` when given.
pub fn run(
    names: &[String],
    root: &Path,
    sethostname: &mut dyn FnMut(&str) -> Result<(), String>,
) -> Result<Found, String> {
    let selection = provider::select(names)?;
    let cfg =
        ConfigDir::create(root).map_err(|e| format!("Could not create {}: {e}", root.display()))?;
    let http = Http::new(TIMEOUT);
    let start = Instant::now();
    let mut found: Option<Arc<dyn Provider>> = provider::probe_network(&selection.network, &http);
    if found.is_none() {
        'local: for l in &selection.local {
            let candidates: Vec<Arc<dyn Provider>> = match l {
                Local::Vmware => vec![Arc::new(vmware::Vmware)],
                Local::Cdrom => cdrom::devices()
                    .into_iter()
                    .map(|d| Arc::new(cdrom::Cdrom::new(d)) as Arc<dyn Provider>)
                    .collect(),
            };
            for p in candidates {
                say(&format!("Trying {}", p.name()));
                if p.probe(&http) {
                    found = Some(p);
                    break 'local;
                }
            }
        }
    }
    if found.is_none() {
        for p in &selection.files {
            say(&format!("Trying file {}", p.name()));
            if p.probe(&http) {
                found = Some(Arc::clone(p));
                break;
            }
        }
    }
    let Some(p) = found else {
        say(&format!(
            "No metadata/userdata found after {:.1} s. Bye",
            start.elapsed().as_secs_f64()
        ));
        return Ok(Found::Nothing);
    };
    say(&format!(
        "{}: Probe succeeded ({:.1} s)",
        p.name(),
        start.elapsed().as_secs_f64()
    ));
    let userdata = match p.extract(&http, &cfg) {
        Ok(u) => u,
        Err(e) => {
            say(&format!("Error during metadata probe: {e}"));
            None
        }
    };
    if let Err(e) = cfg.write("provider", p.name().as_bytes(), 0o644) {
        say(&format!("Error writing metadata provider: {e}"));
    }
    if let Some(u) = userdata {
        let o = userdata::process(&cfg, &u, userdata::Limits::default(), &mut |l| say(&l));
        if o.json {
            say(&format!(
                "Userdata: {} file(s), {} directory(ies) written, {} entry(ies) skipped",
                o.files, o.dirs, o.skipped
            ));
        }
    }
    if let Some(h) = cfg.read("hostname") {
        let h = String::from_utf8_lossy(&h).trim().to_owned();
        if h.is_empty() || h.len() > 64 || h.contains('\0') {
            say(&format!(
                "Not setting hostname {h:?}: empty, NUL or over 64 bytes"
            ));
        } else {
            match sethostname(&h) {
                Ok(()) => say(&format!("Set hostname to: {h}")),
                Err(e) => say(&format!("Failed to set hostname: {e}")),
            }
        }
    }
    Ok(Found::Provider(p.name()))
}
