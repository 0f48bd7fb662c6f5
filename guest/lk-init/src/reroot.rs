//! Making the root something containers can `pivot_root` away from. The kernel's initial
//! rootfs (the unpacked initramfs) is the root of the mount tree, and pivot_root refuses to
//! move a root mount that has no parent, so every runtime fails there. When `/` is ramfs or
//! tmpfs the init bind-mounts `/` onto `/mnt`, moves that mount over `/` and chroots into
//! it: the root is now a mount with a parent, and nothing is copied.
//!
//! LinuxKit copies every file onto a fresh tmpfs instead; for our 120 MiB minimal root that
//! took 1.1 s under TCG, against a few milliseconds for the bind. A real root filesystem
//! (ISO, disk, squashfs) is left alone.

use std::ffi::OsStr;
use std::io;

/// ramfs and tmpfs magic numbers (`statfs.f_type`).
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// tmpfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether a root filesystem of this type must be moved.
pub fn needed(fs_type: i64) -> bool {
    fs_type == RAMFS_MAGIC || fs_type == TMPFS_MAGIC
}

/// Re-roots if `/` is the initramfs; returns whether it did.
pub fn run() -> io::Result<bool> {
    use nix::mount::{MsFlags, mount};
    let st = nix::sys::statfs::statfs("/")?;
    #[allow(clippy::unnecessary_cast)] // the type of f_type differs between libcs
    if !needed(st.filesystem_type().0 as i64) {
        return Ok(false);
    }
    std::fs::create_dir_all("/mnt")?;
    mount(
        Some("/"),
        "/mnt",
        None::<&OsStr>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&OsStr>,
    )?;
    std::env::set_current_dir("/mnt")?;
    mount(
        Some("."),
        "/",
        None::<&OsStr>,
        MsFlags::MS_MOVE,
        None::<&OsStr>,
    )?;
    nix::unistd::chroot(".")?;
    std::env::set_current_dir("/")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ram_roots_move() {
        assert!(needed(RAMFS_MAGIC));
        assert!(needed(TMPFS_MAGIC));
        assert!(!needed(0xEF53)); // ext4
        assert!(!needed(0x9660)); // iso9660
    }
}
