//! Small in-VM programs of the package set, each a binary in `src/bin` over a module here
//! (so the logic is tested on the host):
//!
//! - [`fdd`]: MirageSDK's file-descriptor daemon. `fdd init` listens on a control socket;
//!   `fdd share PATH` asks it for a fresh socketpair offered at PATH, whose two ends go to
//!   the first two clients that connect there (over `SCM_RIGHTS`), so two containers without
//!   a network get a private channel.
//! - [`trim`]: `trim-after-delete`, which follows Docker's event stream and runs a command
//!   (`fstrim /var/lib/docker`) once per batch of deletions.
//! - [`vsudd`]: virtsock's Unix socket <-> vsock daemon.
//! - [`timesync`]: `host-timesync-daemon`, the clock set from the RTC when the host asks.
//! - [`forwarder`]: `port-forwarder`, host ports that follow the guest's containers.
//!
//! [`flags`] parses Go-style flags as LinuxKit's tools take them.

pub mod docker;
pub mod fdd;
pub mod flags;
pub mod forwarder;
pub mod kmsg;
pub mod timesync;
pub mod trim;
pub mod vsudd;

/// A log line on stderr, prefixed with the program's name.
pub fn say(program: &str, msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{program}: {msg}");
}

/// The usage text, on stdout (asked for with -h).
pub fn usage(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Ends the program on SIGTERM/SIGINT: a container's PID 1 has no default handlers, so
/// without this `service stop` has to SIGKILL it.
pub fn exit_on_term() {
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                std::process::exit(0);
            }
        });
    }
}
