//! The boot initrd of the root-image formats (`kernel+squashfs`, `kernel+erofs`,
//! `kernel+iso`): when `/` is the initramfs and it holds [`MARKER`], init is only the first
//! stage. It loads the modules the initrd carries for the devices present (storage drivers,
//! file systems), waits for the `root=` device, mounts it read-only (`rootfstype=`, else
//! squashfs, erofs, iso9660, ext4 in turn), makes it `/` and executes the image's own
//! `/init` there, which boots as from any read-only root. With a kernel that has the drivers
//! built in, no modules are needed and the same steps apply.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

use lk_guest_sys::Sys;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::modules::{self, ModuleIndex};

/// The file that makes init the first stage (only the boot initrd has it).
pub const MARKER: &str = "/.lk-mount-root";

/// Kept whole in the binary (`#[used]`): the build looks for it to know that an image's
/// `/init` can be the first stage (a short literal like [`MARKER`] may be compiled into
/// immediate operands and not appear as bytes).
#[used]
pub static SIGNATURE: [u8; 27] = *b"linuxkit-init:mount-root:v1";

/// Where the root is mounted before it becomes `/`.
const NEWROOT: &str = "/newroot";

/// File systems tried in order when `rootfstype=` is not given.
pub const FS_TYPES: [&str; 4] = ["squashfs", "erofs", "iso9660", "ext4"];

/// Modules loaded by name, whatever the devices (file systems have no modalias). crc32c
/// first: libcrc32c (erofs, ext4) asks the crypto API for it at load time, and there is no
/// modprobe for the kernel to call.
const FS_MODULES: [&str; 7] = [
    "crc32c_generic",
    "crc32c_intel",
    "squashfs",
    "erofs",
    "isofs",
    "ext4",
    "sr_mod",
];

/// `root=` and `rootfstype=` of a kernel command line.
pub fn root_args(cmdline: &str) -> (Option<String>, Option<String>) {
    let mut root = None;
    let mut fstype = None;
    for w in cmdline.split_whitespace() {
        if let Some(v) = w.strip_prefix("root=") {
            root = Some(v.to_owned());
        } else if let Some(v) = w.strip_prefix("rootfstype=") {
            fstype = Some(v.to_owned());
        }
    }
    (root, fstype)
}

/// Whether this init is the first stage.
pub fn is_first_stage() -> bool {
    Path::new(MARKER).exists()
}

fn fail(log: &mut dyn FnMut(String), msg: String) -> std::io::Error {
    log(msg.clone());
    std::io::Error::other(msg)
}

/// Mounts the root and executes its `/init`; returns only on failure.
pub fn run(sys: &dyn Sys, log: &mut dyn FnMut(String)) -> std::io::Error {
    let none: Option<&str> = None;
    for (fs, target) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev")] {
        let _ = std::fs::create_dir_all(target);
        if let Err(e) = mount(Some(fs), target, Some(fs), MsFlags::empty(), none) {
            log(format!("mount-root: mount {fs} on {target}: {e}"));
        }
    }
    let cmdline = sys.read("/proc/cmdline").unwrap_or_default();
    let (root, fstype) = root_args(&cmdline);
    let Some(root) = root else {
        return fail(
            log,
            "mount-root: no root= on the kernel command line".into(),
        );
    };
    let index = crate::boot::modules_dir(sys).and_then(|d| ModuleIndex::load(sys, &d).ok());
    let mut loaded: BTreeSet<String> = modules::loaded_modules(sys);
    if let Some(index) = &index {
        for m in FS_MODULES {
            index.load_module(sys, m, &mut loaded, log);
        }
    }
    // Storage drivers bring up buses whose devices appear later: coldplug again until the
    // root device is there.
    let start = Instant::now();
    while !Path::new(&root).exists() {
        if start.elapsed() > Duration::from_secs(30) {
            return fail(
                log,
                format!("mount-root: {root} did not appear within 30 s"),
            );
        }
        if let Some(index) = &index {
            let _ = modules::coldplug(sys, index, &mut |_| {});
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::create_dir_all(NEWROOT);
    let types: Vec<&str> = match &fstype {
        Some(t) => vec![t.as_str()],
        None => FS_TYPES.to_vec(),
    };
    let mounted = types.iter().find(|t| {
        mount(
            Some(root.as_str()),
            NEWROOT,
            Some(**t),
            MsFlags::MS_RDONLY,
            none,
        )
        .is_ok()
    });
    let Some(t) = mounted else {
        return fail(
            log,
            format!("mount-root: cannot mount {root} as {}", types.join(", ")),
        );
    };
    log(format!(
        "mount-root: {root} ({t}) mounted in {} ms; starting its /init",
        start.elapsed().as_millis()
    ));
    // The image's init mounts these itself.
    for target in ["/proc", "/sys", "/dev"] {
        let _ = umount2(target, MntFlags::MNT_DETACH);
    }
    if let Err(e) = std::env::set_current_dir(NEWROOT).and_then(|()| {
        mount(Some("."), "/", none, MsFlags::MS_MOVE, none)?;
        nix::unistd::chroot(".")?;
        std::env::set_current_dir("/")
    }) {
        return fail(log, format!("mount-root: switching to {root}: {e}"));
    }
    let mut last = std::io::Error::other("no init");
    for init in ["/init", "/sbin/init"] {
        let path = CString::new(init).unwrap_or_default();
        let Err(e) = nix::unistd::execv(&path, std::slice::from_ref(&path));
        last = std::io::Error::from(e);
    }
    fail(
        log,
        format!("mount-root: executing the root's /init: {last}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_arguments_come_from_the_command_line() {
        assert_eq!(
            root_args("console=ttyS0 root=/dev/sda rootfstype=squashfs quiet"),
            (Some("/dev/sda".into()), Some("squashfs".into()))
        );
        assert_eq!(root_args("console=ttyS0"), (None, None));
    }
}
