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

mod convert;
pub mod disk;
mod esp;
mod ext4;
pub mod fat;
mod fat_dots;
mod iso;
pub mod uki;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::format::Format;

/// The files of the `bootloaders` package, by path (no leading `/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootLoaders {
    /// The image it came from (for errors).
    pub image: String,
    /// Path -> contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The arch of the image's files (the build's: its entry of the bootloaders index).
    pub arch: lk_util::Arch,
}

impl BootLoaders {
    /// The removable-media boot path UEFI looks for on this arch (`BOOTX64.EFI`,
    /// `BOOTAA64.EFI`).
    pub fn efi_boot_path(&self) -> &'static str {
        match self.arch {
            lk_util::Arch::Arm64 => "EFI/BOOT/BOOTAA64.EFI",
            _ => "EFI/BOOT/BOOTX64.EFI",
        }
    }

    /// GRUB's EFI image for this arch.
    pub fn grub_efi(&self) -> io::Result<&[u8]> {
        self.get(match self.arch {
            lk_util::Arch::Arm64 => "grub/arm64-efi/BOOTAA64.EFI",
            _ => "grub/x86_64-efi/BOOTX64.EFI",
        })
    }

    /// systemd-boot for this arch.
    pub fn systemd_boot(&self) -> io::Result<&[u8]> {
        self.get(match self.arch {
            lk_util::Arch::Arm64 => "systemd-boot/systemd-bootaa64.efi",
            _ => "systemd-boot/systemd-bootx64.efi",
        })
    }

    /// systemd's EFI stub for this arch (the front of a unified kernel image).
    pub fn uki_stub(&self) -> io::Result<&[u8]> {
        self.get(match self.arch {
            lk_util::Arch::Arm64 => "systemd-boot/linuxaa64.efi.stub",
            _ => "systemd-boot/linuxx64.efi.stub",
        })
    }

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
        let n = io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// What the bootable formats need besides what they boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// The boot loaders (set by the caller once it has pulled the package; a bootable
    /// format without them fails naming the format).
    pub loaders: Option<BootLoaders>,
    /// `--size` of the ext4 disks.
    pub size: DiskSize,
}

/// A private directory next to the destination for a format's intermediate files, removed
/// when dropped; the finished file is written as `<work>/<name>` and renamed into place.
#[derive(Debug)]
pub(crate) struct Work {
    dir: PathBuf,
    dest: PathBuf,
}

impl Work {
    pub(crate) fn new(dest: &Path) -> io::Result<Work> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        crate::stage::remove_leftovers(parent, &format!(".{name}.work-"));
        let dir = parent.join(format!(".{name}.work-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        Ok(Work {
            dir,
            dest: dest.to_path_buf(),
        })
    }

    /// An intermediate file.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory (external tools run in it, so their arguments are plain names).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the finished file is written (under the destination's own name, which some
    /// formats record inside the file).
    pub(crate) fn out(&self) -> PathBuf {
        self.dir.join(self.dest.file_name().unwrap_or_default())
    }

    fn commit(self) -> io::Result<()> {
        std::fs::rename(self.out(), &self.dest)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Writes bootable `format` of `src` to `dest` (nothing is left there on failure).
pub fn write(
    format: Format,
    src: &BootSource<'_>,
    opts: &BootOptions,
    tools: &crate::Tools,
    mtime: u64,
    dest: &Path,
) -> io::Result<()> {
    let loaders = opts.loaders.as_ref().ok_or_else(|| {
        invalid(format!(
            "{format} needs the bootloaders package (hint: pass --bootloaders IMAGE)"
        ))
    })?;
    let hash = content_hash(format, src)?;
    let work = Work::new(dest)?;
    let id = Ids::new(&hash, mtime);
    match format {
        Format::IsoBios | Format::IsoEfi | Format::IsoEfiInitrd => {
            iso::write(format, src, loaders, &tools.xorriso, &id, &work)?;
        }
        Format::RawBios => esp::raw_bios(src, loaders, &id, &work.out())?,
        Format::RawEfi => esp::raw_efi(src, loaders, &id, &work.out())?,
        Format::Qcow2Efi => {
            let raw = work.path("disk.raw");
            esp::grub_efi(src, loaders, &id, &raw)?;
            convert::qemu_img(format, &raw, &work, &id, &tools.qemu_img)?;
        }
        Format::Aws => ext4::disk(
            format,
            src,
            loaders,
            opts.size,
            &id,
            tools,
            &work,
            &work.out(),
        )?,
        Format::Qcow2Bios | Format::Vhd | Format::DynamicVhd | Format::Vmdk | Format::Gcp => {
            let raw = work.path("disk.raw");
            ext4::disk(format, src, loaders, opts.size, &id, tools, &work, &raw)?;
            if format == Format::Gcp {
                convert::gcp(&raw, &work.out(), mtime)?;
            } else {
                convert::qemu_img(format, &raw, &work, &id, &tools.qemu_img)?;
            }
        }
        _ => {
            return Err(invalid(format!(
                "{format} is not a bootable format this build writes"
            )));
        }
    }
    work.commit()
}

/// The identifiers and date of one image, derived from its content hash.
#[derive(Clone, Debug)]
pub(crate) struct Ids {
    pub(crate) hash: [u8; 32],
    pub(crate) mtime: u64,
}

impl Ids {
    fn new(hash: &[u8; 32], mtime: u64) -> Ids {
        Ids { hash: *hash, mtime }
    }

    /// 32 bits of the hash at byte `at` (MBR signatures, FAT serials, the vmdk CID).
    pub(crate) fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes([
            self.hash[at],
            self.hash[at + 1],
            self.hash[at + 2],
            self.hash[at + 3],
        ])
    }

    /// A GUID from the hash, `n` selecting which (0 and 1 fit in 32 bytes).
    pub(crate) fn guid(&self, n: usize) -> [u8; 16] {
        disk::guid_from(&self.hash[16 * (n % 2)..])
    }

    /// A GUID in its text form (ext4 UUIDs), big-endian as `mkfs` reads it.
    pub(crate) fn uuid_text(&self, n: usize) -> String {
        let mut g = [0u8; 16];
        g.copy_from_slice(&self.hash[16 * (n % 2)..16 * (n % 2) + 16]);
        g[6] = (g[6] & 0x0f) | 0x40;
        g[8] = (g[8] & 0x3f) | 0x80;
        let h: String = g.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
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
    fn a_bootable_format_without_loaders_names_itself_and_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("lk-boot-noloaders-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let initrd = dir.join("initrd");
        std::fs::write(&initrd, b"x").unwrap();
        let src = BootSource {
            kernel: b"k",
            cmdline: "",
            initrd: &initrd,
        };
        let dest = dir.join("m-bios.img");
        let e = write(
            Format::RawBios,
            &src,
            &BootOptions::default(),
            &crate::Tools::default(),
            0,
            &dest,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("raw-bios needs the bootloaders package"),
            "{e}"
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("initrd")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn identifiers_come_from_the_hash() {
        let id = Ids::new(&[0xab; 32], 5);
        let u = id.uuid_text(0);
        assert_eq!(u, "abababab-abab-4bab-abab-abababababab");
        assert_eq!(id.guid(1)[7] >> 4, 4);
        assert_eq!(id.u32(0), 0xabab_abab);
    }

    #[test]
    fn missing_loader_files_name_the_image_and_path() {
        let b = BootLoaders {
            image: "linuxkit/bootloaders:abc".into(),
            files: BTreeMap::new(),
            arch: lk_util::Arch::Arm64,
        };
        let e = b.systemd_boot().unwrap_err().to_string();
        assert!(e.contains("/systemd-boot/systemd-bootaa64.efi"), "{e}");
        let e = b.get("grub/i386-pc/core.img").unwrap_err().to_string();
        assert!(
            e.contains("linuxkit/bootloaders:abc") && e.contains("/grub/i386-pc/core.img"),
            "{e}"
        );
    }
}
