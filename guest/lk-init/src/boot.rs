//! The boot sequence before the console/services: mounts, modules, loopback, hostname, resolv.conf,
//! and the list of /etc/init.d scripts to run.

use std::path::PathBuf;

use lk_guest_sys::Sys;

use crate::{modules, mounts};

/// The running kernel's module directory (`/lib/modules/<release>` or `/usr/lib/modules/...`).
pub fn modules_dir(sys: &dyn Sys) -> Option<PathBuf> {
    let release = sys.read("/proc/sys/kernel/osrelease").ok()?;
    let release = release.trim();
    ["/lib/modules", "/usr/lib/modules"]
        .iter()
        .map(|base| PathBuf::from(format!("{base}/{release}")))
        .find(|d| {
            sys.read(&d.join("modules.dep").display().to_string())
                .is_ok()
        })
}

/// `/etc/hostname`, else `linuxkit-<eth0 MAC without colons>`, else `linuxkit`.
pub fn hostname(sys: &dyn Sys) -> String {
    let configured = sys.read("/etc/hostname").unwrap_or_default();
    let configured = configured.trim();
    if !configured.is_empty() && configured != "(none)" {
        return configured.to_owned();
    }
    match sys.read("/sys/class/net/eth0/address") {
        Ok(mac) if !mac.trim().is_empty() => format!("linuxkit-{}", mac.trim().replace(':', "")),
        _ => "linuxkit".to_owned(),
    }
}

/// Runs the steps; every problem is logged and the boot goes on. Returns the init.d
/// scripts to run, in name order.
pub fn run(sys: &dyn Sys, log: &mut dyn FnMut(String)) -> Vec<String> {
    for p in mounts::apply(sys) {
        log(p);
    }
    match modules_dir(sys) {
        Some(dir) => match modules::ModuleIndex::load(sys, &dir) {
            Ok(index) => {
                let n = modules::coldplug(sys, &index, log);
                log(format!(
                    "coldplug: {n} modules loaded from {}",
                    dir.display()
                ));
            }
            Err(e) => log(format!("reading {}: {e}", dir.display())),
        },
        None => log("no modules for this kernel in /lib/modules or /usr/lib/modules".into()),
    }
    // Loopback up: the kernel adds 127.0.0.1/8 and ::1 to it.
    if let Err(e) = sys.link_up("lo") {
        log(format!("loopback: {e}"));
    }
    let name = hostname(sys);
    if let Err(e) = sys.set_hostname(&name) {
        log(format!("hostname {name}: {e}"));
    }
    let _ = sys.mkdir("/run/resolvconf", 0o755);
    let _ = sys.write("/run/resolvconf/resolv.conf", "");
    sys.list("/etc/init.d")
        .unwrap_or_default()
        .into_iter()
        .map(|n| format!("/etc/init.d/{n}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lk_guest_sys::{Call, Fake};

    #[test]
    fn boot_mounts_names_the_host_and_lists_init_scripts_in_order() {
        let sys = Fake::default();
        sys.file("/sys/class/net/eth0/address", "52:54:00:12:34:56\n");
        sys.file("/etc/init.d/010-b", "");
        sys.file("/etc/init.d/000-a", "");
        let mut log = Vec::new();
        let scripts = run(&sys, &mut |l| log.push(l));
        assert_eq!(scripts, ["/etc/init.d/000-a", "/etc/init.d/010-b"]);
        assert!(
            sys.calls
                .borrow()
                .contains(&Call::Hostname("linuxkit-525400123456".into()))
        );
        assert!(log.iter().any(|l| l.starts_with("no modules")), "{log:?}");
        assert!(sys.calls.borrow().contains(&Call::LinkUp("lo".into())));
    }

    #[test]
    fn hostname_prefers_etc_hostname() {
        let sys = Fake::default();
        sys.file("/etc/hostname", "myhost\n");
        assert_eq!(hostname(&sys), "myhost");
        assert_eq!(hostname(&Fake::default()), "linuxkit");
    }

    #[test]
    fn finds_modules_under_usr_lib() {
        let sys = Fake::default();
        sys.file("/proc/sys/kernel/osrelease", "6.1.0-48-amd64\n");
        sys.file("/usr/lib/modules/6.1.0-48-amd64/modules.dep", "");
        assert_eq!(
            modules_dir(&sys),
            Some(PathBuf::from("/usr/lib/modules/6.1.0-48-amd64"))
        );
    }
}
