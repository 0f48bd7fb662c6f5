//! The two `runtime.json` phases as plans of steps, then carried out: the filesystem phase
//! (mounts, mkdir, cgroup directories) in the root mount namespace before the container
//! exists, and the process phase (interfaces, namespace binds) once its init process exists
//! but before it runs user code. Plans are pure, so they are tested without root.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::Error;
use crate::netif;
use crate::runtime_json::RuntimeConfig;

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `mkdir -p` (0755).
    Mkdir(PathBuf),
    /// `mkdir -p`, errors only logged (cgroup directories).
    CgroupDir(PathBuf),
    /// `mount(2)`.
    Mount {
        /// Source.
        source: String,
        /// Target.
        target: PathBuf,
        /// Filesystem type.
        fstype: String,
        /// Flags.
        flags: MsFlags,
        /// Data (unknown words, comma-joined).
        data: String,
    },
    /// Create (or truncate) an empty file for a namespace bind.
    Touch(PathBuf),
    /// Create or move one network interface.
    Interface(netif::Action),
}

/// Translates fstab-style options to `mount(2)` flags plus the data string, with
/// LinuxKit's table; every word not in the table goes to the data.
pub fn mount_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "private" => (MsFlags::MS_PRIVATE, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "shared" => (MsFlags::MS_SHARED, MsFlags::empty()),
            "slave" => (MsFlags::MS_SLAVE, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "unbindable" => (MsFlags::MS_UNBINDABLE, MsFlags::empty()),
            // `defaults` maps to no flag in LinuxKit's table and so lands in the data
            // (kept: filesystems ignore it).
            other => {
                data.push(other.to_owned());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

/// An absolute destination as is; a relative one under the bundle's `rootfs`.
pub fn resolve(bundle: &Path, destination: &str) -> PathBuf {
    if destination.starts_with('/') {
        PathBuf::from(destination)
    } else {
        bundle.join("rootfs").join(destination)
    }
}

/// The cgroup hierarchy of the running system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cgroups {
    /// Unified (`/sys/fs/cgroup/cgroup.controllers` exists).
    V2,
    /// One directory per controller under `/sys/fs/cgroup`.
    V1(Vec<String>),
}

impl Cgroups {
    /// Looks at `/sys/fs/cgroup` the way LinuxKit's `service` does.
    pub fn detect() -> Cgroups {
        let root = Path::new("/sys/fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            return Cgroups::V2;
        }
        let mut dirs: Vec<String> = std::fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        Cgroups::V1(dirs)
    }
}

/// Phase 1: mounts (each preceded by the directories it needs), mkdir, cgroup directories.
pub fn filesystem_plan(bundle: &Path, rt: &RuntimeConfig, cgroups: &Cgroups) -> Vec<Step> {
    let mut steps = Vec::new();
    for m in &rt.mounts {
        let target = resolve(bundle, &m.destination);
        steps.push(Step::Mkdir(target.clone()));
        for o in &m.options {
            if let Some(dir) = o
                .strip_prefix("upperdir=")
                .or_else(|| o.strip_prefix("workdir="))
            {
                steps.push(Step::Mkdir(PathBuf::from(dir)));
            }
        }
        let (flags, data) = mount_options(&m.options);
        steps.push(Step::Mount {
            source: m.source.clone(),
            target,
            fstype: m.kind.clone(),
            flags,
            data,
        });
    }
    for d in &rt.mkdir {
        steps.push(Step::Mkdir(resolve(bundle, d)));
    }
    for c in &rt.cgroups {
        let c = c.trim_start_matches('/');
        match cgroups {
            Cgroups::V2 => steps.push(Step::CgroupDir(Path::new("/sys/fs/cgroup").join(c))),
            Cgroups::V1(controllers) => {
                for ctl in controllers {
                    steps.push(Step::CgroupDir(
                        Path::new("/sys/fs/cgroup").join(ctl).join(c),
                    ));
                }
            }
        }
    }
    steps
}

/// Phase 2 for the container whose init process is `pid`: interfaces, then namespace binds.
pub fn process_plan(rt: &RuntimeConfig, pid: i32) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    for i in &rt.interfaces {
        steps.push(Step::Interface(netif::plan(i, pid)?));
    }
    for (ns, path) in rt.bind_ns.entries() {
        let path = PathBuf::from(path);
        if let Some(parent) = path.parent() {
            steps.push(Step::Mkdir(parent.to_owned()));
        }
        steps.push(Step::Touch(path.clone()));
        steps.push(Step::Mount {
            source: format!("/proc/{pid}/ns/{ns}"),
            target: path,
            fstype: String::new(),
            flags: MsFlags::MS_BIND,
            data: String::new(),
        });
    }
    Ok(steps)
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Carries out the steps in order; the first failure stops (cgroup directories only warn
/// through `log`).
pub fn apply(steps: &[Step], log: &mut dyn FnMut(String)) -> Result<(), Error> {
    for s in steps {
        match s {
            Step::Mkdir(d) => std::fs::create_dir_all(d).map_err(|e| Error::Io {
                path: d.clone(),
                source: e,
            })?,
            Step::CgroupDir(d) => {
                if let Err(e) = std::fs::create_dir_all(d) {
                    log(format!("cgroup {}: {e}", d.display()));
                }
            }
            Step::Touch(p) => {
                std::fs::File::create(p).map_err(|e| Error::Io {
                    path: p.clone(),
                    source: e,
                })?;
            }
            Step::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => nix::mount::mount(
                opt(source),
                target.as_path(),
                opt(fstype),
                *flags,
                opt(data),
            )
            .map_err(|e| Error::Mount {
                source_name: source.clone(),
                target: target.clone(),
                errno: e,
            })?,
            Step::Interface(a) => {
                let msg = netif::apply(a)?;
                log(msg);
            }
        }
    }
    Ok(())
}

/// After onboot/onshutdown container `id` exits: unmount its `rootfs` (errors ignored; the
/// tmpfs under `tmp/` and the runtime mounts stay, as in LinuxKit), and before that the
/// writable layer [`crate::mountpoints`] put over it, if any.
pub fn cleanup(bundle: &Path, id: &str) {
    let rootfs = bundle.join("rootfs");
    if crate::mountpoints::has_layer(id) {
        let _ = nix::mount::umount2(&rootfs, MntFlags::MNT_DETACH);
        crate::mountpoints::release(id);
    }
    let _ = nix::mount::umount2(&rootfs, MntFlags::MNT_DETACH);
}

/// Before service `id` starts again: detach the overlay and tmpfs of its previous run (and
/// any writable layer of [`crate::mountpoints`]), so a restart does not stack new ones over
/// the old ones (LinuxKit stacks them).
pub fn release_rootfs(bundle: &Path, id: &str) {
    for d in ["rootfs", "tmp"] {
        while nix::mount::umount2(&bundle.join(d), MntFlags::MNT_DETACH).is_ok() {}
    }
    crate::mountpoints::release(id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_json::{BindNs, Mount};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn option_table_sets_clears_and_passes_the_rest_as_data() {
        let (f, d) = mount_options(&s(&["ro", "nosuid", "rw", "rbind", "size=10m", "mode=755"]));
        assert_eq!(f, MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(d, "size=10m,mode=755");
        let (f, d) = mount_options(&s(&["remount", "private"]));
        assert_eq!(f, MsFlags::MS_REMOUNT | MsFlags::MS_PRIVATE);
        assert_eq!(d, "");
        let (_, d) = mount_options(&s(&["defaults"]));
        assert_eq!(d, "defaults");
    }

    #[test]
    fn filesystem_plan_makes_overlay_dirs_and_resolves_relative_paths() {
        let bundle = Path::new("/containers/services/web");
        let rt = RuntimeConfig {
            mounts: vec![
                Mount {
                    destination: "/containers/services/web/tmp".into(),
                    kind: "tmpfs".into(),
                    source: "tmpfs".into(),
                    options: vec![],
                    ..Mount::default()
                },
                Mount {
                    destination: "/containers/services/web/rootfs".into(),
                    kind: "overlay".into(),
                    source: "overlay".into(),
                    options: s(&[
                        "lowerdir=/containers/services/web/lower",
                        "upperdir=/containers/services/web/tmp/upper",
                        "workdir=/containers/services/web/tmp/work",
                    ]),
                    ..Mount::default()
                },
                Mount {
                    destination: "etc/extra".into(),
                    kind: "".into(),
                    source: "/etc".into(),
                    options: s(&["rbind", "ro"]),
                    ..Mount::default()
                },
            ],
            mkdir: s(&["/var/lib/web", "data"]),
            cgroups: s(&["web"]),
            ..RuntimeConfig::default()
        };
        let plan = filesystem_plan(bundle, &rt, &Cgroups::V1(s(&["cpu", "memory"])));
        let dirs: Vec<String> = plan
            .iter()
            .filter_map(|s| match s {
                Step::Mkdir(d) | Step::CgroupDir(d) => Some(d.display().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            dirs,
            [
                "/containers/services/web/tmp",
                "/containers/services/web/rootfs",
                "/containers/services/web/tmp/upper",
                "/containers/services/web/tmp/work",
                "/containers/services/web/rootfs/etc/extra",
                "/var/lib/web",
                "/containers/services/web/rootfs/data",
                "/sys/fs/cgroup/cpu/web",
                "/sys/fs/cgroup/memory/web",
            ]
        );
        let mounts: Vec<&Step> = plan
            .iter()
            .filter(|s| matches!(s, Step::Mount { .. }))
            .collect();
        assert_eq!(mounts.len(), 3);
        assert!(matches!(
            mounts[2],
            Step::Mount { flags, source, .. } if *flags == MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY && source == "/etc"
        ));
        assert_eq!(
            filesystem_plan(bundle, &rt, &Cgroups::V2).last(),
            Some(&Step::CgroupDir("/sys/fs/cgroup/web".into()))
        );
    }

    #[test]
    fn process_plan_binds_namespaces_in_order() {
        let rt = RuntimeConfig {
            bind_ns: BindNs {
                uts: "/run/ns/uts".into(),
                net: "/run/netns/wg0".into(),
                ..BindNs::default()
            },
            ..RuntimeConfig::default()
        };
        let plan = process_plan(&rt, 42).unwrap();
        assert_eq!(
            plan,
            vec![
                Step::Mkdir("/run/netns".into()),
                Step::Touch("/run/netns/wg0".into()),
                Step::Mount {
                    source: "/proc/42/ns/net".into(),
                    target: "/run/netns/wg0".into(),
                    fstype: String::new(),
                    flags: MsFlags::MS_BIND,
                    data: String::new()
                },
                Step::Mkdir("/run/ns".into()),
                Step::Touch("/run/ns/uts".into()),
                Step::Mount {
                    source: "/proc/42/ns/uts".into(),
                    target: "/run/ns/uts".into(),
                    fstype: String::new(),
                    flags: MsFlags::MS_BIND,
                    data: String::new()
                },
            ]
        );
    }
}
