//! Small in-VM programs of the package set, each a binary in `src/bin` over a module here
//! (so the logic is tested on the host):
//!
//! - [`fdd`]: MirageSDK's file-descriptor daemon. `fdd init` listens on a control socket;
//!   `fdd share PATH` asks it for a fresh socketpair offered at PATH, whose two ends go to
//!   the first two clients that connect there (over `SCM_RIGHTS`), so two containers without
//!   a network get a private channel.
//! - [`trim`]: `trim-after-delete`, which follows Docker's event stream and runs a command
//!   (`fstrim /var/lib/docker`) once per batch of deletions.

pub mod docker;
pub mod fdd;
pub mod kmsg;
pub mod trim;

/// A log line on stderr, prefixed with the program's name.
pub fn say(program: &str, msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{program}: {msg}");
}
