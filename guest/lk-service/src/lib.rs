//! `service`: LinuxKit's container supervisor inside the VM.
//!
//! | module | job |
//! |---|---|
//! | [`runtime_json`] | the `runtime.json` contract with the host build |
//! | [`prepare`] | its filesystem phase (before create) and process phase (before start) |
//! | [`netif`] | its interfaces, over rtnetlink |
//! | [`runtime`] | the OCI runtime trait: libcontainer (embedded) and runc |
//! | [`bundle`] | the spec a bundle runs with (absolute root, a cgroup path) |
//! | [`asrunc`] | what runc gives a container that libcontainer alone does not |
//! | [`devbind`] | the host's `/dev` in a libcontainer container |
//! | [`boundnodes`] | device nodes a bind at the same path provides (runc leaves them to the bind) |
//! | [`mountpoints`] | a writable layer for the mount points a read-only root lacks |
//! | [`logs`] | where container output goes: memlogd, else files under /run/log and /var/log |
//! | [`sequence`] | onboot/onshutdown: each bundle in name order, to completion |
//! | [`supervisor`] | the services daemon: start, restart with backoff, stop, the control socket |
//! | [`control`] | the control protocol and its client side |
//! | [`reap`] | waiting for children (we are a subreaper) |

pub mod asrunc;
pub mod boundnodes;
pub mod bundle;
pub mod control;
pub mod devbind;
pub mod logs;
pub mod mountpoints;
pub mod netif;
pub mod prepare;
pub mod reap;
pub mod runtime;
pub mod runtime_json;
pub mod sequence;
pub mod supervisor;
#[cfg(test)]
pub(crate) mod testdata;

use std::path::PathBuf;

/// Everything that can go wrong, naming the path, container or interface involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file that does not parse.
    #[error("{}: {source}", path.display())]
    Json {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A `config.json` the OCI library rejects.
    #[error("{}: {message}", path.display())]
    Spec {
        /// The path.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A runtime.json mount.
    #[error("Failed to mount {source_name} on {}: {errno}", target.display())]
    Mount {
        /// The mount source.
        source_name: String,
        /// The target.
        target: PathBuf,
        /// The cause.
        errno: nix::Error,
    },
    /// A runtime.json interface.
    #[error("interface {name:?}: {message}")]
    Interface {
        /// The interface name.
        name: String,
        /// The cause.
        message: String,
    },
    /// The OCI runtime.
    #[error("container {id}: {message}")]
    Runtime {
        /// The container id.
        id: String,
        /// The cause.
        message: String,
    },
    /// The control socket.
    #[error("{0}")]
    Control(String),
    /// Bad command-line use.
    #[error("{0}")]
    Usage(String),
}

/// The kernel command line (empty when unreadable).
pub fn cmdline() -> String {
    std::fs::read_to_string("/proc/cmdline").unwrap_or_default()
}

/// The runtime the kernel command line asks for (`linuxkit.runtime=runc`), else libcontainer.
pub fn runtime_from_cmdline(cmdline: &str) -> &str {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("linuxkit.runtime="))
        .unwrap_or("libcontainer")
}

pub use lk_guest_sys::uptime;

/// One line on our stderr (the console), stamped with the uptime.
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "[{:>9.3}] service: {msg}", uptime());
}
