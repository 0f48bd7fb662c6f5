//! The ext4 disks (`aws`, `qcow2-bios`, `vhd`, `dynamic-vhd`, `vmdk`, `gcp`, before any
//! conversion): an MBR with GRUB's BIOS images and one active Linux partition from 1 MiB to
//! the end of a `--size` disk, holding `/kernel`, `/initrd.img`, `/cmdline` and
//! `boot/grub/grub.cfg`.
//!
//! The file system is made without mounts or root: `mkfs.ext4` formats a file with a
//! configuration of our own (so the host's `mke2fs.conf` does not change the result), with
//! the UUID and directory hash seed derived from the content and `E2FSPROGS_FAKE_TIME` as
//! its clock; `debugfs` then writes the files in a fixed order and sets every inode's owner,
//! mode and times, so two builds give the same bytes. The file system is copied into the
//! disk keeping its holes.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

use super::disk::{self, FIRST_LBA, SECTOR};
use super::esp::{grub_bios, write_core};
use super::{BootLoaders, BootSource, DiskSize, Ids, Work, grub_cfg, invalid};
use crate::format::Format;

/// `mke2fs.conf` for our disks: LinuxKit's `mkimage` feature list, 4 KiB blocks, 256-byte
/// inodes; every size class defined so none falls back to the host's settings.
const MKE2FS_CONF: &str = "[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384
[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,uninit_bg,64bit,dir_nlink,extra_isize
\t}
\tsmall = {
\t\tinode_ratio = 4096
\t}
\tfloppy = {
\t\tinode_ratio = 8192
\t}
\tbig = {
\t\tinode_ratio = 32768
\t}
\thuge = {
\t\tinode_ratio = 65536
\t}
";

/// The paths on the file system, in the order they are created (directories first).
const DIRS: [&str; 2] = ["boot", "boot/grub"];
const FILES: [(&str, &str); 4] = [
    ("kernel", "kernel"),
    ("initrd.img", "initrd.img"),
    ("cmdline", "cmdline"),
    ("grub.cfg", "boot/grub/grub.cfg"),
];

/// Bytes the file system needs beyond its files: the journal (up to 64 MiB for the sizes we
/// make), inode tables (256 bytes per 16 KiB), group descriptors, bitmaps and slack.
fn overhead(fs_bytes: u64) -> u64 {
    let journal = match fs_bytes >> 12 {
        b if b < 32_768 => 4 << 20,
        b if b < 256 * 1024 => 16 << 20,
        b if b < 512 * 1024 => 32 << 20,
        _ => 64 << 20,
    };
    journal + fs_bytes / 64 + (4 << 20)
}

/// The debugfs script: create, write, then fix owner, mode and times of every inode.
fn script(mtime: u64) -> String {
    let mut s = String::new();
    for d in DIRS {
        let _ = writeln!(s, "mkdir {d}");
    }
    for (local, path) in FILES {
        let _ = writeln!(s, "write {local} {path}");
    }
    let all = ["/", "lost+found"]
        .into_iter()
        .chain(DIRS)
        .chain(FILES.iter().map(|(_, p)| *p));
    for p in all {
        let dir = p == "/" || p == "lost+found" || DIRS.contains(&p);
        let mode = if p == "lost+found" {
            0o40700
        } else if dir {
            0o40755
        } else {
            0o100644
        };
        let _ = writeln!(s, "sif {p} mode 0{mode:o}");
        for f in ["uid", "gid"] {
            let _ = writeln!(s, "sif {p} {f} 0");
        }
        for f in ["atime", "mtime", "ctime", "crtime"] {
            let _ = writeln!(s, "sif {p} {f} @{mtime}");
            let _ = writeln!(s, "sif {p} {f}_extra 0");
        }
    }
    s
}

/// Runs an e2fsprogs tool in the work directory; anything it reports on stderr beyond its
/// version banner is a failure (debugfs exits 0 when a command fails).
fn e2fs(cmd: &mut Command, what: &str) -> io::Result<()> {
    let out = cmd.output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{what}: {e} (hint: install e2fsprogs, Debian: apt-get install e2fsprogs)"),
        )
    })?;
    let err = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| {
            !l.trim().is_empty() && !l.starts_with("debugfs 1.") && !l.starts_with("mke2fs 1.")
        })
        .collect();
    if !out.status.success() || !problems.is_empty() {
        return Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            out.status,
            problems.join("; ")
        )));
    }
    Ok(())
}

/// Writes the disk of `format` (the ext4 family) to `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn disk(
    format: Format,
    src: &BootSource<'_>,
    loaders: &BootLoaders,
    size: DiskSize,
    id: &Ids,
    tools: &crate::Tools,
    work: &Work,
    out: &Path,
) -> io::Result<()> {
    let disk_bytes = size.mib << 20;
    let min_mib = 8;
    if size.mib < min_mib {
        return Err(invalid(format!(
            "--size {}M is too small for {format}: a disk needs at least {min_mib} MiB",
            size.mib
        )));
    }
    let part = disk::layout(disk_bytes, false);
    let initrd_len = std::fs::metadata(src.initrd)?.len();
    let content = src.kernel.len() as u64 + initrd_len + (64 << 10);
    let need = content + overhead(part.bytes());
    if need > part.bytes() {
        let mib = (need + FIRST_LBA * SECTOR).div_ceil(1 << 20);
        return Err(invalid(format!(
            "--size {}M is too small for {format}: the kernel and initrd ({} MiB) need a disk of at least {mib} MiB (hint: pass --size {}M or more)",
            size.mib,
            content.div_ceil(1 << 20),
            mib.div_ceil(64) * 64
        )));
    }
    let (boot, core) = grub_bios(loaders)?;
    // The files, under plain names in the work directory.
    std::fs::write(work.path("kernel"), src.kernel)?;
    std::fs::write(work.path("cmdline"), src.cmdline)?;
    std::fs::write(work.path("grub.cfg"), grub_cfg(src.cmdline))?;
    if std::fs::hard_link(src.initrd, work.path("initrd.img")).is_err() {
        std::fs::copy(src.initrd, work.path("initrd.img"))?;
    }
    std::fs::write(work.path("mke2fs.conf"), MKE2FS_CONF)?;
    std::fs::write(work.path("debugfs.cmds"), script(id.mtime))?;
    let fs = work.path("fs.ext4");
    File::create(&fs)?.set_len(part.bytes())?;
    let fake = id.mtime.to_string();
    e2fs(
        Command::new(&tools.mkfs_ext4)
            .current_dir(work.dir())
            .env("MKE2FS_CONFIG", "mke2fs.conf")
            .env("E2FSPROGS_FAKE_TIME", &fake)
            .args(["-q", "-F", "-t", "ext4", "-m", "0", "-L", "LINUXKIT"])
            .arg("-U")
            .arg(id.uuid_text(0))
            .arg("-E")
            .arg(format!(
                "root_owner=0:0,hash_seed={},nodiscard",
                id.uuid_text(1)
            ))
            .arg("fs.ext4"),
        &tools.mkfs_ext4,
    )?;
    e2fs(
        Command::new(&tools.debugfs)
            .current_dir(work.dir())
            .env("E2FSPROGS_FAKE_TIME", &fake)
            .args(["-w", "-f", "debugfs.cmds", "fs.ext4"]),
        &tools.debugfs,
    )
    .map_err(|e| {
        invalid(format!(
            "{format}: filling the ext4 file system: {e} (hint: a larger --size)"
        ))
    })?;
    let mut d = File::create(out)?;
    d.set_len(disk_bytes)?;
    disk::write_mbr(
        &mut d,
        &boot[..boot.len().min(440)],
        id.u32(0),
        part,
        0x83,
        true,
    )?;
    write_core(&mut d, core)?;
    copy_sparse(&mut File::open(&fs)?, &mut d, part.offset())?;
    std::fs::remove_file(&fs)?;
    d.sync_all()
}

/// Copies the data extents of `src` into `dst` at `offset`, leaving holes as holes.
pub(crate) fn copy_sparse(src: &mut File, dst: &mut File, offset: u64) -> io::Result<()> {
    use rustix::fs::{SeekFrom as RSeek, seek};
    let len = src.metadata()?.len();
    let mut pos = 0u64;
    while pos < len {
        let data = match seek(&*src, RSeek::Data(pos)) {
            Ok(p) => p,
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = seek(&*src, RSeek::Hole(data)).map_err(io::Error::from)?;
        src.seek(SeekFrom::Start(data))?;
        dst.seek(SeekFrom::Start(offset + data))?;
        io::copy(&mut io::Read::take(&mut *src, hole - data), dst)?;
        pos = hole;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_fixes_every_inode() {
        let s = script(7);
        assert!(
            s.starts_with("mkdir boot\nmkdir boot/grub\nwrite kernel kernel\n"),
            "{s}"
        );
        for p in [
            "/",
            "lost+found",
            "boot/grub",
            "initrd.img",
            "boot/grub/grub.cfg",
        ] {
            assert!(s.contains(&format!("sif {p} ctime @7\n")), "{p}: {s}");
            assert!(s.contains(&format!("sif {p} uid 0\n")), "{p}");
        }
        assert!(s.contains("sif kernel mode 0100644\n"));
        assert!(s.contains("sif boot mode 040755\n"));
    }

    #[test]
    fn sparse_copies_keep_data_and_holes() {
        let dir = std::env::temp_dir().join(format!("lk-ext4-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        let mut f = File::create(&a).unwrap();
        f.set_len(8 << 20).unwrap();
        f.seek(SeekFrom::Start(4 << 20)).unwrap();
        io::Write::write_all(&mut f, b"data").unwrap();
        let mut g = File::create(&b).unwrap();
        g.set_len(9 << 20).unwrap();
        copy_sparse(&mut File::open(&a).unwrap(), &mut g, 1 << 20).unwrap();
        let out = std::fs::read(&b).unwrap();
        assert_eq!(&out[(5 << 20)..(5 << 20) + 4], b"data");
        assert_eq!(out.len(), 9 << 20);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
