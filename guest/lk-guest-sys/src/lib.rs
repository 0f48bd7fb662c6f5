//! Privileged operations of the in-VM programs behind [`Sys`], so their logic is tested
//! unprivileged against [`Fake`], which records every call. [`Real`] uses nix's safe
//! wrappers; this crate is the only guest crate allowed `unsafe`, used for taking ownership
//! of descriptors received with `SCM_RIGHTS` ([`fdpass`]), the mount API syscalls nix does
//! not wrap ([`mountapi`]), the RTC ioctl ([`clock`]) and VMware's backdoor I/O port ([`vmware`]).

#![allow(unsafe_code)]

pub mod clock;
pub mod fdpass;
pub mod mountapi;
pub mod netlink;
pub mod vmware;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Mount flags the init uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub relatime: bool,
    pub remount_ro: bool,
    /// `MS_REC | MS_SHARED`: make the tree shared (mount propagation between namespaces).
    pub rec_shared: bool,
}

/// One recorded call (for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Mount {
        target: String,
        fstype: String,
        flags: MountFlags,
        data: String,
    },
    Mkdir {
        path: String,
        mode: u32,
    },
    Mknod {
        path: String,
        char_dev: bool,
        major: u32,
        minor: u32,
        mode: u32,
    },
    Symlink {
        target: String,
        path: String,
    },
    Write {
        path: String,
        data: String,
    },
    LoadModule {
        path: String,
        params: String,
    },
    Hostname(String),
    LinkUp(String),
    Sync,
    Reboot(PowerAction),
}

/// What the machine does at the end of a shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// `reboot(RB_POWER_OFF)` (`poweroff`, SIGUSR2 to PID 1).
    PowerOff,
    /// `reboot(RB_AUTOBOOT)` (`reboot`, SIGTERM; ctrl-alt-del, SIGINT).
    Restart,
    /// `reboot(RB_HALT_SYSTEM)` (`halt`, SIGUSR1).
    Halt,
}

/// What the init needs from the kernel.
pub trait Sys {
    /// `mount(source, target, fstype, flags, data)`.
    fn mount(
        &self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()>;
    /// `mkdir -p` with `mode` for the last component.
    fn mkdir(&self, path: &str, mode: u32) -> io::Result<()>;
    /// `mknod` a character (or block) device.
    fn mknod(
        &self,
        path: &str,
        char_dev: bool,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> io::Result<()>;
    /// `symlink(target, path)`.
    fn symlink(&self, target: &str, path: &str) -> io::Result<()>;
    /// Writes a file (e.g. under /proc or /sys).
    fn write(&self, path: &str, data: &str) -> io::Result<()>;
    /// Reads a file.
    fn read(&self, path: &str) -> io::Result<String>;
    /// Lists a directory (names, sorted).
    fn list(&self, path: &str) -> io::Result<Vec<String>>;
    /// `finit_module`.
    fn load_module(&self, path: &Path, params: &str) -> io::Result<()>;
    /// `sethostname`.
    fn set_hostname(&self, name: &str) -> io::Result<()>;
    /// Sets a network link up (rtnetlink).
    fn link_up(&self, name: &str) -> io::Result<()>;
    /// `sync`.
    fn sync(&self);
    /// `reboot(2)` with the mode for `action`.
    fn reboot(&self, action: PowerAction) -> io::Result<()>;
}

/// Seconds since boot (CLOCK_BOOTTIME): the stamp of init's and service's console lines, so
/// they compare with the kernel's.
pub fn uptime() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from(e)
}

/// The real kernel.
#[derive(Debug, Default)]
pub struct Real;

impl Sys for Real {
    fn mount(
        &self,
        source: &str,
        target: &str,
        fstype: &str,
        f: MountFlags,
        data: &str,
    ) -> io::Result<()> {
        use nix::mount::MsFlags;
        let mut flags = MsFlags::empty();
        flags.set(MsFlags::MS_NOSUID, f.nosuid);
        flags.set(MsFlags::MS_NODEV, f.nodev);
        flags.set(MsFlags::MS_NOEXEC, f.noexec);
        flags.set(MsFlags::MS_RELATIME, f.relatime);
        if f.remount_ro {
            flags |= MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        }
        if f.rec_shared {
            flags |= MsFlags::MS_REC | MsFlags::MS_SHARED;
        }
        let data = (!data.is_empty()).then_some(data);
        let fstype = (!fstype.is_empty()).then_some(fstype);
        nix::mount::mount(Some(source), target, fstype, flags, data).map_err(errno)
    }

    fn mkdir(&self, path: &str, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
    }

    fn mknod(
        &self,
        path: &str,
        char_dev: bool,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> io::Result<()> {
        use nix::sys::stat::{Mode, SFlag, makedev, mknod};
        let kind = if char_dev {
            SFlag::S_IFCHR
        } else {
            SFlag::S_IFBLK
        };
        match mknod(
            path,
            kind,
            Mode::from_bits_truncate(mode),
            makedev(u64::from(major), u64::from(minor)),
        ) {
            Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
            Err(e) => Err(errno(e)),
        }
    }

    fn symlink(&self, target: &str, path: &str) -> io::Result<()> {
        match std::os::unix::fs::symlink(target, path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            r => r,
        }
    }

    fn write(&self, path: &str, data: &str) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn read(&self, path: &str) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = std::fs::read_dir(path)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    fn load_module(&self, path: &Path, params: &str) -> io::Result<()> {
        let f = std::fs::File::open(path)?;
        let params = std::ffi::CString::new(params).map_err(io::Error::other)?;
        match nix::kmod::finit_module(&f, &params, nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
            Err(e) => Err(errno(e)),
        }
    }

    fn set_hostname(&self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(errno)
    }

    fn link_up(&self, name: &str) -> io::Result<()> {
        netlink::set_up(name)
    }

    fn sync(&self) {
        nix::unistd::sync();
    }

    fn reboot(&self, action: PowerAction) -> io::Result<()> {
        use nix::sys::reboot::RebootMode;
        let mode = match action {
            PowerAction::PowerOff => RebootMode::RB_POWER_OFF,
            PowerAction::Restart => RebootMode::RB_AUTOBOOT,
            PowerAction::Halt => RebootMode::RB_HALT_SYSTEM,
        };
        match nix::sys::reboot::reboot(mode) {
            Ok(never) => match never {},
            Err(e) => Err(errno(e)),
        }
    }
}

/// A recording fake with an in-memory file tree for reads.
#[derive(Debug, Default)]
pub struct Fake {
    /// Calls in order.
    pub calls: RefCell<Vec<Call>>,
    /// Files readable through [`Sys::read`] and listable through [`Sys::list`].
    pub files: RefCell<BTreeMap<PathBuf, String>>,
    /// Paths whose mount fails (to test that errors do not stop the boot).
    pub failing_mounts: Vec<String>,
}

impl Fake {
    /// Adds a readable file.
    pub fn file(&self, path: &str, data: &str) {
        self.files
            .borrow_mut()
            .insert(PathBuf::from(path), data.to_owned());
    }

    fn record(&self, c: Call) {
        self.calls.borrow_mut().push(c);
    }
}

impl Sys for Fake {
    fn mount(
        &self,
        _source: &str,
        target: &str,
        fstype: &str,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()> {
        self.record(Call::Mount {
            target: target.into(),
            fstype: fstype.into(),
            flags,
            data: data.into(),
        });
        if self.failing_mounts.iter().any(|m| m == target) {
            Err(io::Error::from_raw_os_error(19))
        } else {
            Ok(())
        }
    }
    fn mkdir(&self, path: &str, mode: u32) -> io::Result<()> {
        self.record(Call::Mkdir {
            path: path.into(),
            mode,
        });
        Ok(())
    }
    fn mknod(
        &self,
        path: &str,
        char_dev: bool,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> io::Result<()> {
        self.record(Call::Mknod {
            path: path.into(),
            char_dev,
            major,
            minor,
            mode,
        });
        Ok(())
    }
    fn symlink(&self, target: &str, path: &str) -> io::Result<()> {
        self.record(Call::Symlink {
            target: target.into(),
            path: path.into(),
        });
        Ok(())
    }
    fn write(&self, path: &str, data: &str) -> io::Result<()> {
        self.record(Call::Write {
            path: path.into(),
            data: data.into(),
        });
        Ok(())
    }
    fn read(&self, path: &str) -> io::Result<String> {
        self.files
            .borrow()
            .get(Path::new(path))
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let dir = Path::new(path);
        let mut out: Vec<String> = self
            .files
            .borrow()
            .keys()
            .filter_map(|p| {
                p.strip_prefix(dir)
                    .ok()
                    .and_then(|rest| rest.components().next())
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
            })
            .collect();
        out.sort();
        out.dedup();
        if out.is_empty() {
            Err(io::Error::from(io::ErrorKind::NotFound))
        } else {
            Ok(out)
        }
    }
    fn load_module(&self, path: &Path, params: &str) -> io::Result<()> {
        self.record(Call::LoadModule {
            path: path.display().to_string(),
            params: params.into(),
        });
        Ok(())
    }
    fn set_hostname(&self, name: &str) -> io::Result<()> {
        self.record(Call::Hostname(name.into()));
        Ok(())
    }
    fn link_up(&self, name: &str) -> io::Result<()> {
        self.record(Call::LinkUp(name.into()));
        Ok(())
    }
    fn sync(&self) {
        self.record(Call::Sync);
    }
    fn reboot(&self, action: PowerAction) -> io::Result<()> {
        self.record(Call::Reboot(action));
        Ok(())
    }
}
