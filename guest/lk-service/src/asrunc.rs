//! What runc gives a container that the embedded libcontainer, left to itself, does not:
//! each difference found by `tests/cases/040_vm/017_runtime_conformance` (one VM per
//! runtime, a probe in every container of a settings table), fixed here for libcontainer
//! before it creates the container, or around the create:
//!
//! - `HOME`: runc sets it when the process has none, from the user's entry in the image's
//!   `/etc/passwd`, else `/`.
//! - open files: runc is a Go program, and Go raises its soft `RLIMIT_NOFILE` to the hard
//!   limit, which its containers inherit (4096/4096 where the kernel starts with 1024/4096).
//! - locked memory: libcontainer raises `RLIMIT_MEMLOCK` to 128 MiB in our process to load
//!   its device-cgroup eBPF program, and containers created later inherited it; runc's keep
//!   the default (8 MiB).
//! - `oomScoreAdj`: libcontainer writes it to our own `/proc/self/oom_score_adj` (children
//!   inherit it), so the supervisor and every container created after one with a score
//!   kept that score. ([`Preserved`] puts ours back after each create.)
//! - `cpu.shares` on cgroup v2: runc converts it to `cpu.weight` as
//!   `1 + (shares - 2) * 9999 / 262142` (512 -> 20); libcontainer's own conversion gave
//!   59. The spec gets runc's value as `unified["cpu.weight"]` instead.
//!
//! Only libcontainer's copy of the spec is changed, and only where it says nothing: a
//! container with its own `rlimits`, `HOME` or `resources.unified` keeps them.

use std::path::Path;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType, Spec};

/// runc's cgroup v1 `cpu.shares` to v2 `cpu.weight` conversion.
pub fn cpu_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// The home directory of `uid` in a passwd file's text, as runc finds it (`/` when there
/// is no entry).
pub fn home_of(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7 && f[2].parse() == Ok(uid)).then(|| f[5].to_owned())
        })
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_owned())
}

/// Our limits when a container is created: (soft, hard) of open files and locked memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_NOFILE`.
    pub nofile: (u64, u64),
    /// `RLIMIT_MEMLOCK`.
    pub memlock: (u64, u64),
}

impl Limits {
    /// This process's.
    pub fn current() -> Limits {
        let get = |r| getrlimit(r).unwrap_or((u64::MAX, u64::MAX));
        Limits {
            nofile: get(Resource::RLIMIT_NOFILE),
            memlock: get(Resource::RLIMIT_MEMLOCK),
        }
    }
}

/// Makes `spec` (its root an absolute path) give what runc would; `cgroup_v2` says whether
/// `cpu.shares` needs runc's conversion.
pub fn adjust(spec: &mut Spec, limits: Limits, cgroup_v2: bool) {
    let rootfs = spec.root().as_ref().map(|r| r.path().clone());
    if let Some(mut process) = spec.process().clone() {
        let mut env = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            let passwd = rootfs
                .and_then(|r| std::fs::read_to_string(r.join("etc/passwd")).ok())
                .unwrap_or_default();
            env.push(format!("HOME={}", home_of(&passwd, process.user().uid())));
            process.set_env(Some(env));
        }
        let mut rlimits = process.rlimits().clone().unwrap_or_default();
        let wanted = [
            (
                PosixRlimitType::RlimitNofile,
                (limits.nofile.1, limits.nofile.1),
            ),
            (PosixRlimitType::RlimitMemlock, limits.memlock),
        ];
        for (typ, (soft, hard)) in wanted {
            if !rlimits.iter().any(|r| r.typ() == typ)
                && let Ok(r) = PosixRlimitBuilder::default()
                    .typ(typ)
                    .soft(soft)
                    .hard(hard)
                    .build()
            {
                rlimits.push(r);
            }
        }
        process.set_rlimits(Some(rlimits));
        spec.set_process(Some(process));
    }
    if cgroup_v2 {
        convert_shares(spec);
    }
}

fn convert_shares(spec: &mut Spec) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let Some(mut resources) = linux.resources().clone() else {
        return;
    };
    let Some(mut cpu) = resources.cpu().clone() else {
        return;
    };
    let Some(shares) = cpu.shares() else {
        return;
    };
    let mut unified = resources.unified().clone().unwrap_or_default();
    unified
        .entry("cpu.weight".to_owned())
        .or_insert_with(|| cpu_weight(shares).to_string());
    cpu.set_shares(None);
    resources.set_cpu(Some(cpu));
    resources.set_unified(Some(unified));
    linux.set_resources(Some(resources));
}

/// Our `oom_score_adj` and `RLIMIT_MEMLOCK`, put back when dropped (libcontainer changes
/// both in our process while it creates a container).
#[derive(Debug)]
pub struct Preserved {
    oom: Option<String>,
    memlock: Option<(u64, u64)>,
}

impl Preserved {
    /// Remembers them now.
    pub fn now() -> Preserved {
        Preserved {
            oom: std::fs::read_to_string("/proc/self/oom_score_adj").ok(),
            memlock: getrlimit(Resource::RLIMIT_MEMLOCK).ok(),
        }
    }
}

impl Drop for Preserved {
    fn drop(&mut self) {
        if let Some(oom) = &self.oom {
            let _ = std::fs::write("/proc/self/oom_score_adj", oom.trim());
        }
        if let Some((soft, hard)) = self.memlock {
            let _ = setrlimit(Resource::RLIMIT_MEMLOCK, soft, hard);
        }
    }
}

/// Whether this machine's cgroups are v2 (unified).
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_as_runc_converts_them() {
        assert_eq!(cpu_weight(0), 0);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(512), 20);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262144), 10000);
    }

    #[test]
    fn home_comes_from_the_users_passwd_entry_else_root() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nnohome:x:7:7:::\n";
        assert_eq!(home_of(passwd, 0), "/root");
        assert_eq!(home_of(passwd, 33), "/var/www");
        assert_eq!(home_of(passwd, 7), "/");
        assert_eq!(home_of(passwd, 1000), "/");
        assert_eq!(home_of("", 0), "/");
    }

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn limits_home_and_weight_are_added_where_the_spec_has_none() {
        let mut s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"/nonexistent"},
                "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/","env":["PATH=/bin"],
                           "rlimits":[{"type":"RLIMIT_NOFILE","hard":10,"soft":5}]},
                "linux":{"resources":{"cpu":{"shares":512}}}}"#,
        );
        let limits = Limits {
            nofile: (1024, 4096),
            memlock: (8 << 20, 8 << 20),
        };
        adjust(&mut s, limits, true);
        let p = s.process().as_ref().unwrap();
        assert!(p.env().as_ref().unwrap().contains(&"HOME=/".to_owned()));
        let r: Vec<(PosixRlimitType, u64, u64)> = p
            .rlimits()
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| (r.typ(), r.soft(), r.hard()))
            .collect();
        assert_eq!(
            r,
            [
                (PosixRlimitType::RlimitNofile, 5, 10),
                (PosixRlimitType::RlimitMemlock, 8 << 20, 8 << 20)
            ]
        );
        let res = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(res.cpu().as_ref().unwrap().shares(), None);
        assert_eq!(res.unified().as_ref().unwrap()["cpu.weight"], "20");
    }

    #[test]
    fn a_home_or_a_weight_of_the_spec_is_kept() {
        let mut s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"/nonexistent"},
                "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/","env":["HOME=/data"]},
                "linux":{"resources":{"cpu":{"shares":512},"unified":{"cpu.weight":"77"}}}}"#,
        );
        let limits = Limits {
            nofile: (1024, 4096),
            memlock: (1, 2),
        };
        adjust(&mut s, limits, true);
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.env().as_ref().unwrap(), &["HOME=/data".to_owned()]);
        assert_eq!(p.rlimits().as_ref().unwrap()[0].soft(), 4096);
        let res = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(res.unified().as_ref().unwrap()["cpu.weight"], "77");
    }
}
