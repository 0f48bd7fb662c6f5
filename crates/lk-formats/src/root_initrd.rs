//! The boot initrd of the root-image formats (`kernel+squashfs`, `kernel+erofs`,
//! `kernel+iso`), `<name>-boot-initrd.img`: the image's own `/init`, the `/.lk-mount-root`
//! marker that makes it the first stage (it mounts `root=` and executes the root's `/init`,
//! see `lk-init`'s `mountroot`), and the kernel modules a root device needs (storage
//! drivers and file systems, with their dependencies and their lines of `modules.dep` and
//! `modules.alias`). It lets a modular kernel (our Debian kernel package) boot a root image;
//! a kernel with the drivers built in boots the image without it, as LinuxKit's do.
//!
//! Written only when the tree's `/init` is ours (it carries [`SIGNATURE`]); with another
//! init the formats are exactly LinuxKit's three files.

use std::collections::BTreeSet;
use std::io;

use crate::compress::{Compression as InitrdCompression, Compressor};
use crate::cpio::CpioSink;
use crate::entry::{Entry, Kind, Sink};
use crate::modules::{Deps, Index, filter_index};
use crate::tree::TreeSink;

/// The marker file of the first stage (the file `lk-init` tests for).
pub const MARKER: &str = ".lk-mount-root";

/// What an init that can be the first stage carries (`lk-init`'s `mountroot::SIGNATURE`).
pub const SIGNATURE: &[u8] = b"linuxkit-init:mount-root:v1";

/// What a root device may need: the storage drivers QEMU and clouds attach and the file
/// systems of the root images.
pub const MODULES: [&str; 18] = [
    "crc32c_generic",
    "crc32c_intel",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "ahci",
    "ata_piix",
    "nvme",
    "xen_blkfront",
    "hv_storvsc",
    "squashfs",
    "erofs",
    "isofs",
    "ext4",
    "overlay",
    "loop",
];

/// Mount points init needs on a read-only root (in an initramfs it creates them at boot).
const MOUNT_POINTS: [&str; 7] = ["dev", "proc", "sys", "run", "tmp", "var", "mnt"];

/// Adds the mount points a read-only root lacks, as directories dated `mtime`.
pub fn add_mount_points(tree: &mut TreeSink, mtime: u64) {
    for d in MOUNT_POINTS {
        tree.entries
            .entry(d.to_owned())
            .or_insert_with(|| (Entry::dir(d, 0o755, mtime), Vec::new()));
    }
}

/// The modules directory of the tree (`usr/lib/modules/<release>` or `lib/modules/...`).
fn modules_dir(tree: &TreeSink) -> Option<String> {
    tree.entries.keys().find_map(|p| {
        let d = p.strip_suffix("/modules.dep")?;
        let parent = d.rsplit_once('/')?.0;
        (parent == "usr/lib/modules" || parent == "lib/modules").then(|| d.to_owned())
    })
}

fn text(tree: &TreeSink, path: &str) -> String {
    tree.entries
        .get(path)
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default()
}

/// The boot initrd of `tree` (gzip cpio), or `None` when its `/init` is not ours.
pub fn build(tree: &TreeSink, mtime: u64) -> io::Result<Option<Vec<u8>>> {
    let Some((init_entry, init)) = tree.entries.get("init") else {
        return Ok(None);
    };
    if !matches!(init_entry.kind, Kind::File(_))
        || !init.windows(SIGNATURE.len()).any(|w| w == SIGNATURE)
    {
        return Ok(None);
    }
    let mut entries: Vec<(Entry, Vec<u8>)> = Vec::new();
    for d in ["dev", "proc", "sys", "newroot"] {
        entries.push((Entry::dir(d, 0o755, mtime), Vec::new()));
    }
    let mut console = Entry::file("dev/console", 0, 0o600, mtime);
    console.kind = Kind::Char(5, 1);
    entries.push((console, Vec::new()));
    entries.push((Entry::file(MARKER, 0, 0o644, mtime), Vec::new()));
    entries.push((
        Entry::file("init", init.len() as u64, 0o755, mtime),
        init.clone(),
    ));
    if let Some(dir) = modules_dir(tree) {
        let dep = text(tree, &format!("{dir}/modules.dep"));
        let deps = Deps::parse(&dep).with_soft(
            &text(tree, &format!("{dir}/modules.softdep")),
            &text(tree, &format!("{dir}/modules.alias")),
        );
        let (keep, _) = deps.select(&MODULES);
        let mut made: BTreeSet<String> = BTreeSet::new();
        let mut add_dirs = |path: &str, entries: &mut Vec<(Entry, Vec<u8>)>| {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                if made.insert(path[..end].to_owned()) {
                    entries.push((Entry::dir(&path[..end], 0o755, mtime), Vec::new()));
                }
                end += 1;
            }
        };
        for m in &keep {
            let Some(rel) = deps.path(m) else { continue };
            let path = format!("{dir}/{rel}");
            if let Some((_, data)) = tree.entries.get(&path) {
                add_dirs(&path, &mut entries);
                entries.push((
                    Entry::file(&path, data.len() as u64, 0o644, mtime),
                    data.clone(),
                ));
            }
        }
        let index =
            |name: &str| match filter_index(name, &text(tree, &format!("{dir}/{name}")), &keep) {
                Index::Rewrite(t) => t,
                Index::Keep => String::new(),
            };
        let (dep_out, alias) = (index("modules.dep"), index("modules.alias"));
        for (name, body) in [("modules.dep", dep_out), ("modules.alias", alias)] {
            let path = format!("{dir}/{name}");
            add_dirs(&path, &mut entries);
            entries.push((
                Entry::file(&path, body.len() as u64, 0o644, mtime),
                body.into_bytes(),
            ));
        }
    }
    let mut cpio = CpioSink::new(
        Compressor::new(Vec::new(), InitrdCompression::Gzip)?,
        Default::default(),
    );
    for (e, data) in &entries {
        cpio.add(e, &mut data.as_slice())?;
    }
    cpio.finish()?;
    Ok(Some(cpio.into_inner()?.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(init: &[u8]) -> TreeSink {
        let mut t = TreeSink::default();
        let mut add = |path: &str, data: &[u8]| {
            t.add(
                &Entry::file(path, data.len() as u64, 0o644, 0),
                &mut &data[..],
            )
            .unwrap();
        };
        add("init", init);
        let d = "usr/lib/modules/6.1.0";
        add(
            &format!("{d}/modules.dep"),
            b"kernel/fs/squashfs/squashfs.ko:\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\nkernel/sound/snd.ko:\n",
        );
        add(
            &format!("{d}/modules.alias"),
            b"alias virtio:d00000002v* virtio_blk\nalias fs-squashfs squashfs\nalias pci:v* snd\n",
        );
        for m in [
            "fs/squashfs/squashfs",
            "drivers/block/virtio_blk",
            "drivers/virtio/virtio",
            "sound/snd",
        ] {
            add(&format!("{d}/kernel/{m}.ko"), m.as_bytes());
        }
        t
    }

    fn names(gz: &[u8]) -> Vec<String> {
        let mut raw = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut raw).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        while at + 110 <= raw.len() {
            let h = std::str::from_utf8(&raw[at..at + 110]).unwrap();
            let size = usize::from_str_radix(&h[54..62], 16).unwrap();
            let nlen = usize::from_str_radix(&h[94..102], 16).unwrap();
            let name = String::from_utf8_lossy(&raw[at + 110..at + 110 + nlen - 1]).into_owned();
            if name == "TRAILER!!!" {
                break;
            }
            out.push(name);
            at = (at + 110 + nlen).div_ceil(4) * 4;
            at = (at + size).div_ceil(4) * 4;
        }
        out
    }

    #[test]
    fn only_our_init_gets_a_boot_initrd() {
        assert!(build(&tree(b"some other init"), 0).unwrap().is_none());
        assert!(build(&TreeSink::default(), 0).unwrap().is_none());
    }

    #[test]
    fn it_carries_the_init_the_marker_and_the_storage_modules_with_their_dependencies() {
        let gz = build(&tree(b"\x7fELF...linuxkit-init:mount-root:v1..."), 7)
            .unwrap()
            .unwrap();
        let n = names(&gz);
        for want in [
            "init",
            ".lk-mount-root",
            "dev/console",
            "usr/lib/modules/6.1.0/kernel/fs/squashfs/squashfs.ko",
            "usr/lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko",
            "usr/lib/modules/6.1.0/kernel/drivers/virtio/virtio.ko",
            "usr/lib/modules/6.1.0/modules.dep",
        ] {
            assert!(n.iter().any(|x| x == want), "{want} missing: {n:?}");
        }
        assert!(!n.iter().any(|x| x.ends_with("snd.ko")), "{n:?}");
        assert_eq!(
            gz,
            build(&tree(b"\x7fELF...linuxkit-init:mount-root:v1..."), 7)
                .unwrap()
                .unwrap()
        );
    }
}
