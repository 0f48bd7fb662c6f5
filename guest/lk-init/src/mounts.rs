//! What init mounts and creates (spec/vm.md §3a, with cgroup v2).

use lk_guest_sys::{MountFlags, Sys};

/// One mount.
#[derive(Clone, Copy, Debug)]
pub struct MountSpec {
    /// Mount point.
    pub target: &'static str,
    /// Filesystem type.
    pub fstype: &'static str,
    /// Flags.
    pub flags: MountFlags,
    /// Options.
    pub data: &'static str,
    /// Failure is expected on some kernels (optional filesystems).
    pub optional: bool,
}

const fn f(nosuid: bool, nodev: bool, noexec: bool, relatime: bool) -> MountFlags {
    MountFlags {
        nosuid,
        nodev,
        noexec,
        relatime,
        remount_ro: false,
        rec_shared: false,
    }
}

/// The mount table, in order.
pub const MOUNTS: [MountSpec; 16] = [
    MountSpec {
        target: "/proc",
        fstype: "proc",
        flags: f(true, true, true, true),
        data: "",
        optional: false,
    },
    MountSpec {
        target: "/run",
        fstype: "tmpfs",
        flags: f(true, true, true, true),
        data: "size=10%,mode=755",
        optional: false,
    },
    MountSpec {
        target: "/tmp",
        fstype: "tmpfs",
        flags: f(true, true, true, true),
        data: "size=10%,mode=1777",
        optional: false,
    },
    MountSpec {
        target: "/var",
        fstype: "tmpfs",
        flags: f(true, true, true, true),
        data: "size=50%,mode=755",
        optional: false,
    },
    MountSpec {
        target: "/dev",
        fstype: "devtmpfs",
        flags: f(true, false, true, true),
        data: "size=10m,mode=755",
        optional: false,
    },
    MountSpec {
        target: "/dev/mqueue",
        fstype: "mqueue",
        flags: f(true, true, true, false),
        data: "",
        optional: true,
    },
    MountSpec {
        target: "/dev/shm",
        fstype: "tmpfs",
        flags: f(true, true, true, false),
        data: "mode=1777",
        optional: false,
    },
    MountSpec {
        target: "/dev/pts",
        fstype: "devpts",
        flags: f(true, false, true, false),
        data: "gid=5,mode=0620,ptmxmode=0666",
        optional: false,
    },
    MountSpec {
        target: "/sys",
        fstype: "sysfs",
        flags: f(true, true, true, false),
        data: "",
        optional: false,
    },
    MountSpec {
        target: "/sys/fs/cgroup",
        fstype: "cgroup2",
        flags: f(true, true, true, true),
        data: "",
        optional: false,
    },
    MountSpec {
        target: "/sys/kernel/security",
        fstype: "securityfs",
        flags: f(true, true, true, false),
        data: "",
        optional: true,
    },
    MountSpec {
        target: "/sys/kernel/debug",
        fstype: "debugfs",
        flags: f(true, true, true, false),
        data: "",
        optional: true,
    },
    MountSpec {
        target: "/sys/fs/bpf",
        fstype: "bpf",
        flags: f(false, true, false, false),
        data: "",
        optional: true,
    },
    // Kept mounted by init as in LinuxKit: binfmt_misc has one instance, whose handlers go
    // away with its last mount, so the binfmt package's (in a container that exits) would.
    MountSpec {
        target: "/proc/sys/fs/binfmt_misc",
        fstype: "binfmt_misc",
        flags: f(true, true, true, false),
        data: "",
        optional: true,
    },
    // The root filesystem becomes read-only last, once every mount point
    // exists (silently: an ISO root already is); all writable
    // state lives in the tmpfs mounts above, container overlays and disks.
    MountSpec {
        target: "/",
        fstype: "",
        flags: MountFlags {
            remount_ro: true,
            ..f(false, false, false, false)
        },
        data: "",
        optional: true,
    },
    // Everything shared, as LinuxKit does: a container that binds a directory with
    // `rshared` (the mount package on /var) makes mounts visible to the host and to others.
    MountSpec {
        target: "/",
        fstype: "",
        flags: MountFlags {
            rec_shared: true,
            ..f(false, false, false, false)
        },
        data: "",
        optional: true,
    },
];

/// Device nodes created after /dev: (path, major, minor, mode).
pub const NODES: [(&str, u32, u32, u32); 5] = [
    ("/dev/console", 5, 1, 0o600),
    ("/dev/tty1", 4, 1, 0o620),
    ("/dev/tty", 5, 0, 0o666),
    ("/dev/null", 1, 3, 0o666),
    ("/dev/kmsg", 1, 11, 0o660),
];

/// Symlinks created after /dev and /var.
pub const LINKS: [(&str, &str); 6] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("/proc/kcore", "/dev/kcore"),
    ("/run", "/var/run"),
];

/// Applies the table; returns the problems (the boot goes on regardless).
pub fn apply(sys: &dyn Sys) -> Vec<String> {
    let mut problems = Vec::new();
    for m in MOUNTS {
        if let Err(e) = sys.mkdir(m.target, 0o755) {
            problems.push(format!("mkdir {}: {e}", m.target));
        }
        if let Err(e) = sys.mount(m.fstype, m.target, m.fstype, m.flags, m.data)
            && !m.optional
        {
            problems.push(format!("mount {} on {}: {e}", m.fstype, m.target));
        }
        if m.target == "/var" {
            for (d, mode) in [
                ("/var/cache", 0o755),
                ("/var/empty", 0o555),
                ("/var/lib", 0o755),
                ("/var/log", 0o755),
                ("/var/spool", 0o755),
                ("/var/tmp", 0o1777),
            ] {
                let _ = sys.mkdir(d, mode);
            }
        }
        if m.target == "/dev" {
            for (path, major, minor, mode) in NODES {
                if let Err(e) = sys.mknod(path, true, major, minor, mode) {
                    problems.push(format!("mknod {path}: {e}"));
                }
            }
        }
    }
    for (target, path) in LINKS {
        let _ = sys.symlink(target, path);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use lk_guest_sys::{Call, Fake};

    #[test]
    fn mounts_in_order_and_creates_nodes_after_dev() {
        let sys = Fake::default();
        assert!(apply(&sys).is_empty());
        let calls = sys.calls.borrow();
        let order: Vec<String> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Mount { target, .. } => Some(target.clone()),
                Call::Mknod { path, .. } if path == "/dev/console" => Some("console".into()),
                _ => None,
            })
            .collect();
        assert_eq!(
            &order[..7],
            [
                "/proc",
                "/run",
                "/tmp",
                "/var",
                "/dev",
                "console",
                "/dev/mqueue"
            ]
        );
        assert_eq!(order[order.len() - 2..], ["/", "/"]);
        assert!(calls.contains(&Call::Mknod {
            path: "/dev/console".into(),
            char_dev: true,
            major: 5,
            minor: 1,
            mode: 0o600
        }));
        assert!(calls.contains(&Call::Symlink {
            target: "/run".into(),
            path: "/var/run".into()
        }));
    }

    #[test]
    fn a_failing_optional_mount_is_not_a_problem_but_a_required_one_is() {
        let sys = Fake {
            failing_mounts: vec!["/sys/fs/bpf".into(), "/sys/fs/cgroup".into()],
            ..Fake::default()
        };
        let p = apply(&sys);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("mount cgroup2 on /sys/fs/cgroup"));
    }
}
