//! The bootable formats: ISOs (`iso-bios`, `iso-efi`, `iso-efi-initrd`) and disks (`raw-*`,
//! `qcow2-*`, `vhd`, `dynamic-vhd`, `vmdk`, `gcp`, `aws`), each booting the build's kernel
//! and initrd (the root file system is the initrd, so any kernel with the initramfs unpacker
//! boots them; no driver for the boot medium is needed after the loader).
//!
//! Everything is written in user space, without root, loop devices or mounts: the partition
//! tables ([`disk`]), FAT ([`fat`]), the unified kernel image ([`uki`]); ext4 comes from
//! `mkfs.ext4 -d` into the disk at the partition's offset, ISOs from `xorriso`, the
//! hypervisor formats from `qemu-img convert`. Boot loader files come from the
//! `bootloaders` package ([`BootLoaders`]). Identifiers (volume ids, GUIDs, the MBR
//! signature, ext4 UUID and hash seed) are derived from a hash of the kernel, initrd,
//! command line and format, and every date is the build's `SOURCE_DATE_EPOCH`: two builds of
//! the same input give the same bytes.

pub mod disk;
pub mod fat;
mod fat_dots;

pub mod uki;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::format::Format;

/// The files of the `bootloaders` package, by path (no leading `/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootLoaders {
    /// The image it came from (for errors).
    pub image: String,
    /// Path -> contents.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl BootLoaders {
    /// A file of the package; the error names the image and path.
    pub fn get(&self, path: &str) -> io::Result<&[u8]> {
        self.files.get(path).map(Vec::as_slice).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the bootloaders image {} has no /{path} (hint: rebuild it with `linuxkit pkg build pkg/bootloaders`, or pass --bootloaders)",
                    self.image
                ),
            )
        })
    }
}

/// What a bootable image boots.
#[derive(Debug)]
pub struct BootSource<'a> {
    /// The kernel (bzImage).
    pub kernel: &'a [u8],
    /// The kernel command line.
    pub cmdline: &'a str,
    /// The initrd file (microcode in front, if any), as `kernel+initrd` writes it.
    pub initrd: &'a Path,
}

/// How big a disk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSize {
    /// `--size` in MiB (the ext4 disks: `aws`, `qcow2-bios`, `gcp`, `vhd`, `dynamic-vhd`,
    /// `vmdk`); the FAT disks are sized to their content.
    pub mib: u64,
}

impl Default for DiskSize {
    fn default() -> DiskSize {
        DiskSize { mib: 1024 }
    }
}

impl std::str::FromStr for DiskSize {
    type Err = String;

    /// LinuxKit's `--size`: `M` is MiB; `G` or no suffix is GiB.
    fn from_str(s: &str) -> Result<DiskSize, String> {
        let t = s.trim();
        let (num, mult) = match t.as_bytes().last() {
            Some(b'M' | b'm') => (&t[..t.len() - 1], 1),
            Some(b'G' | b'g') => (&t[..t.len() - 1], 1024),
            _ => (t, 1024),
        };
        match num.parse::<u64>() {
            Ok(n) if n > 0 => Ok(DiskSize { mib: n * mult }),
            _ => Err(format!(
                "--size {s}: expected a number of MiB (`512M`) or GiB (`2G`, `2`)"
            )),
        }
    }
}

/// The programs the bootable formats run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootTools {
    /// `LINUXKIT_XORRISO`.
    pub xorriso: String,
    /// `LINUXKIT_MKFS_EXT4`.
    pub mkfs_ext4: String,
    /// `LINUXKIT_QEMU_IMG`.
    pub qemu_img: String,
}

impl Default for BootTools {
    fn default() -> BootTools {
        BootTools {
            xorriso: "xorriso".into(),
            mkfs_ext4: "mkfs.ext4".into(),
            qemu_img: "qemu-img".into(),
        }
    }
}

/// The hash identifiers are derived from: format, kernel, command line, initrd.
pub fn content_hash(format: Format, src: &BootSource<'_>) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(format.name().as_bytes());
    h.update([0]);
    h.update(Sha256::digest(src.kernel));
    h.update(src.cmdline.as_bytes());
    h.update([0]);
    let mut f = std::fs::File::open(src.initrd)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// GRUB's words for the kernel command line: every character GRUB's parser treats
/// specially is escaped; spaces separate words, which GRUB joins again with one space.
fn grub_words(cmdline: &str) -> String {
    let mut s = String::new();
    for c in cmdline.chars() {
        if "\\\"'$;|&<>{}#".contains(c) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// The `grub.cfg` of every GRUB-booted format: boot at once, the kernel and initrd on the
/// file system GRUB's `$root` names.
pub fn grub_cfg(cmdline: &str) -> String {
    format!(
        "set default=0\nset timeout=0\nmenuentry 'LinuxKit' {{\n  linux /kernel {}\n  initrd /initrd.img\n}}\n",
        grub_words(cmdline)
    )
}

/// isolinux's configuration for `iso-bios`.
pub fn isolinux_cfg(cmdline: &str) -> String {
    format!(
        "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL /kernel\n  INITRD /initrd.img\n  APPEND {cmdline}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_linuxkit_does() {
        assert_eq!("1024M".parse::<DiskSize>().unwrap().mib, 1024);
        assert_eq!("2G".parse::<DiskSize>().unwrap().mib, 2048);
        assert_eq!("3".parse::<DiskSize>().unwrap().mib, 3072);
        assert!("x".parse::<DiskSize>().is_err());
        assert!("0M".parse::<DiskSize>().is_err());
    }

    #[test]
    fn grub_cfg_escapes_what_grub_would_interpret() {
        let c = grub_cfg("console=ttyS0 a=\"b c\" x=$y");
        assert!(
            c.contains("linux /kernel console=ttyS0 a=\\\"b c\\\" x=\\$y\n"),
            "{c}"
        );
    }

    #[test]
    fn missing_loader_files_name_the_image_and_path() {
        let b = BootLoaders {
            image: "linuxkit/bootloaders:abc".into(),
            files: BTreeMap::new(),
        };
        let e = b.get("grub/i386-pc/core.img").unwrap_err().to_string();
        assert!(
            e.contains("linuxkit/bootloaders:abc") && e.contains("/grub/i386-pc/core.img"),
            "{e}"
        );
    }
}
