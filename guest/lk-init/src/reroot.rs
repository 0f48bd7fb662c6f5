//! Moving the initramfs root onto a fresh tmpfs. The kernel's initial rootfs cannot be
//! pivoted away from, and container runtimes `pivot_root` into each container, so when `/`
//! is ramfs or tmpfs the init mounts a tmpfs on `/mnt`, moves everything over (each file is
//! copied then unlinked, keeping memory use flat), and makes the tmpfs the root. A real root
//! filesystem (ISO, disk, squashfs) is left alone.

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// ramfs and tmpfs magic numbers (`statfs.f_type`).
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// tmpfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether a root filesystem of this type must be moved.
pub fn needed(fs_type: i64) -> bool {
    fs_type == RAMFS_MAGIC || fs_type == TMPFS_MAGIC
}

/// What was moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Directories created.
    pub dirs: u64,
    /// Files, links and nodes moved.
    pub entries: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}

fn attrs(path: &Path, meta: &std::fs::Metadata, symlink: bool) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()))?;
    if !symlink {
        // After chown, which clears set-id bits.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    let at = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mt = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &at,
        &mt,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

/// Moves the tree under `from` to `to` (an existing directory), not descending into other
/// filesystems (`dev` is the device of `from`) nor into `to` itself. Directories are
/// recreated and left (empty) behind; everything else is moved. Sockets are skipped.
pub fn move_tree(from: &Path, to: &Path, dev: u64, moved: &mut Moved) -> io::Result<()> {
    let to_meta = std::fs::symlink_metadata(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let src = e.path();
        let dst = to.join(e.file_name());
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if meta.dev() != dev || (meta.ino() == to_meta.ino() && meta.dev() == to_meta.dev()) {
            continue;
        }
        if ft.is_dir() {
            std::fs::create_dir(&dst).or_else(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            moved.dirs += 1;
            move_tree(&src, &dst, dev, moved)?;
            attrs(&dst, &meta, false)?;
            continue;
        }
        if ft.is_file() {
            moved.bytes += std::fs::copy(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            nix::sys::stat::mknod(
                &dst,
                kind,
                Mode::from_bits_truncate(meta.mode() & 0o7777),
                meta.rdev(),
            )?;
        } else if ft.is_fifo() {
            nix::unistd::mkfifo(&dst, Mode::from_bits_truncate(meta.mode() & 0o7777))?;
        } else {
            continue; // a socket: nothing to carry over
        }
        attrs(&dst, &meta, ft.is_symlink())?;
        std::fs::remove_file(&src)?;
        moved.entries += 1;
    }
    Ok(())
}

/// Makes a tmpfs the root if `/` is the initramfs: returns what was moved, or None when the
/// root is a real filesystem.
pub fn run() -> io::Result<Option<Moved>> {
    use nix::mount::{MsFlags, mount};
    let st = nix::sys::statfs::statfs("/")?;
    #[allow(clippy::unnecessary_cast)] // the type of f_type differs between libcs
    if !needed(st.filesystem_type().0 as i64) {
        return Ok(None);
    }
    let dev = std::fs::symlink_metadata("/")?.dev();
    std::fs::create_dir_all("/mnt")?;
    mount(
        Some("rootfs"),
        "/mnt",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&OsStr>,
    )?;
    let mut moved = Moved::default();
    move_tree(Path::new("/"), Path::new("/mnt"), dev, &mut moved)?;
    let root_meta = std::fs::symlink_metadata("/")?;
    attrs(Path::new("/mnt"), &root_meta, false)?;
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
    Ok(Some(moved))
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

    #[test]
    fn moves_files_links_and_modes_and_leaves_empty_dirs() {
        let base = std::env::temp_dir().join(format!("lk-init-reroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (from, to) = (base.join("old"), base.join("old/mnt"));
        std::fs::create_dir_all(from.join("usr/bin")).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(from.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            from.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        std::os::unix::fs::symlink("usr/bin", from.join("bin")).unwrap();
        nix::unistd::mkfifo(&from.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let dev = std::fs::symlink_metadata(&from).unwrap().dev();
        let mut moved = Moved::default();
        move_tree(&from, &to, dev, &mut moved).unwrap();
        assert_eq!(
            moved,
            Moved {
                dirs: 2,
                entries: 3,
                bytes: 10
            }
        );
        let tool = std::fs::metadata(to.join("usr/bin/tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o4755);
        assert_eq!(
            std::fs::read_link(to.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert!(
            std::fs::symlink_metadata(to.join("fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert!(
            !from.join("usr/bin/tool").exists(),
            "the source is unlinked"
        );
        assert!(from.join("usr/bin").is_dir(), "directories stay behind");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
