//! Every output format LinuxKit has, as data: name, output files, how it is produced
//! (from the stream, the initrd or the collected tree), whether it needs a kernel and
//! whether it boots. A format is one row here and one writer module.

use std::fmt;
use std::str::FromStr;

use lk_util::Arch;

use crate::error::FormatError;

/// An output format of `linuxkit build --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `aws`
    Aws,
    /// `docker`: the root filesystem tar plus a `Dockerfile`.
    Docker,
    /// `dynamic-vhd`
    DynamicVhd,
    /// `gcp`
    Gcp,
    /// `iso-bios`
    IsoBios,
    /// `iso-efi`
    IsoEfi,
    /// `iso-efi-initrd`
    IsoEfiInitrd,
    /// `kernel+erofs`
    KernelErofs,
    /// `kernel+initrd` (the default)
    KernelInitrd,
    /// `kernel+iso`
    KernelIso,
    /// `kernel+squashfs`
    KernelSquashfs,
    /// `qcow2-bios`
    Qcow2Bios,
    /// `qcow2-efi`
    Qcow2Efi,
    /// `raw-bios`
    RawBios,
    /// `raw-efi`
    RawEfi,
    /// `rpi3`
    Rpi3,
    /// `tar`: the root filesystem stream as a tar.
    Tar,
    /// `tar-kernel-initrd`
    TarKernelInitrd,
    /// `vhd`
    Vhd,
    /// `vmdk`
    Vmdk,
}

/// What a format is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The entry stream as it is produced (can go to `--o`).
    Stream,
    /// The initrd cpio and the `boot/` parts split off the stream (the bootable formats
    /// are made from these once the stream ends).
    Initrd,
    /// The stream minus `boot/`, collected as a tree, then written.
    Tree,
    /// Not implemented here yet.
    Later,
}

struct Row {
    format: Format,
    name: &'static str,
    /// Suffixes appended to `<dir>/<name>`, in the order they are reported.
    files: &'static [&'static str],
    source: Source,
    needs_kernel: bool,
    bootable: bool,
}

const fn row(
    format: Format,
    name: &'static str,
    files: &'static [&'static str],
    source: Source,
    needs_kernel: bool,
    bootable: bool,
) -> Row {
    Row {
        format,
        name,
        files,
        source,
        needs_kernel,
        bootable,
    }
}

use Format as F;
use Source as S;

/// Sorted by name, as LinuxKit lists them.
#[rustfmt::skip]
const ROWS: [Row; 20] = [
    row(F::Aws, "aws", &[".raw"], S::Initrd, true, true),
    row(F::Docker, "docker", &[".docker"], S::Stream, false, false),
    row(F::DynamicVhd, "dynamic-vhd", &[".vhd"], S::Initrd, true, true),
    row(F::Gcp, "gcp", &[".img.tar.gz"], S::Initrd, true, true),
    row(F::IsoBios, "iso-bios", &[".iso"], S::Initrd, true, true),
    row(F::IsoEfi, "iso-efi", &["-efi.iso"], S::Initrd, true, true),
    row(F::IsoEfiInitrd, "iso-efi-initrd", &["-efi-initrd.iso"], S::Initrd, true, true),
    row(F::KernelErofs, "kernel+erofs", &["-kernel", "-cmdline", "-erofs.img"], S::Tree, true, false),
    row(F::KernelInitrd, "kernel+initrd", &["-kernel", "-cmdline", "-initrd.img"], S::Initrd, true, false),
    row(F::KernelIso, "kernel+iso", &["-kernel", "-cmdline", ".iso"], S::Tree, true, false),
    row(F::KernelSquashfs, "kernel+squashfs", &["-kernel", "-cmdline", "-squashfs.img"], S::Tree, true, false),
    row(F::Qcow2Bios, "qcow2-bios", &[".qcow2"], S::Initrd, true, true),
    row(F::Qcow2Efi, "qcow2-efi", &["-efi.qcow2"], S::Initrd, true, true),
    row(F::RawBios, "raw-bios", &["-bios.img"], S::Initrd, true, true),
    row(F::RawEfi, "raw-efi", &["-efi.img"], S::Initrd, true, true),
    row(F::Rpi3, "rpi3", &[".tar"], S::Later, true, true),
    row(F::Tar, "tar", &[".tar"], S::Stream, false, false),
    row(F::TarKernelInitrd, "tar-kernel-initrd", &["-initrd.tar"], S::Initrd, true, false),
    row(F::Vhd, "vhd", &[".vhd"], S::Initrd, true, true),
    row(F::Vmdk, "vmdk", &[".vmdk"], S::Initrd, true, true),
];

impl Format {
    /// Every format, sorted by name.
    pub const ALL: [Format; 20] = {
        let mut all = [Format::Tar; 20];
        let mut i = 0;
        while i < ROWS.len() {
            all[i] = ROWS[i].format;
            i += 1;
        }
        all
    };

    fn row(self) -> &'static Row {
        // ROWS lists the variants in declaration order (checked by a test), so the index
        // is always in bounds.
        &ROWS[self as usize]
    }

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The suffixes of the files it writes after `<dir>/<name>` (`-kernel`, `.iso`, ...).
    pub fn files(self) -> &'static [&'static str] {
        self.row().files
    }

    /// What it is made from.
    pub fn source(self) -> Source {
        self.row().source
    }

    /// Whether it can be the one format of `--o` (written as the stream is produced).
    pub fn streamable(self) -> bool {
        self.source() == Source::Stream
    }

    /// Whether it needs a `kernel` section with an image.
    pub fn needs_kernel(self) -> bool {
        self.row().needs_kernel
    }

    /// Whether it boots on its own (a disk or ISO with a boot loader).
    pub fn bootable(self) -> bool {
        self.row().bootable
    }

    /// Whether this build can write it yet.
    pub fn implemented(self) -> bool {
        self.source() != Source::Later
    }

    /// Whether it can be built for `arch`: the BIOS formats (and the cloud disks LinuxKit
    /// makes as BIOS disks: `aws`, `gcp`, `vhd`, `dynamic-vhd`, `vmdk`) boot only on x86,
    /// `rpi3` only on arm64; the rest (EFI, kernel and root file system, tar) on any.
    pub fn builds_for(self, arch: Arch) -> bool {
        match self {
            F::IsoBios
            | F::RawBios
            | F::Qcow2Bios
            | F::Aws
            | F::Gcp
            | F::Vhd
            | F::DynamicVhd
            | F::Vmdk => arch == Arch::Amd64,
            F::Rpi3 => arch == Arch::Arm64,
            _ => true,
        }
    }
}

/// Fails naming the formats of `formats` that cannot be built for `arch`.
pub fn check_arch(formats: &[Format], arch: Arch) -> Result<(), FormatError> {
    let wrong: Vec<Format> = formats
        .iter()
        .copied()
        .filter(|f| !f.builds_for(arch))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(FormatError::Arch {
            formats: wrong,
            arch,
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Format, FormatError> {
        ROWS.iter()
            .find(|r| r.name == s)
            .map(|r| r.format)
            .ok_or_else(|| FormatError::Unknown { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_unique_and_round_trip() {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
            assert!(!f.files().is_empty(), "{f}");
        }
        assert!("raw".parse::<Format>().is_err());
        for (i, r) in ROWS.iter().enumerate() {
            assert_eq!(r.format as usize, i, "{}", r.name);
        }
    }

    #[test]
    fn bios_formats_are_for_x86_only() {
        assert!(Format::RawEfi.builds_for(Arch::Arm64) && Format::Tar.builds_for(Arch::Riscv64));
        assert!(!Format::IsoBios.builds_for(Arch::Arm64) && !Format::Rpi3.builds_for(Arch::Amd64));
        let e = check_arch(&[Format::Tar, Format::IsoBios, Format::Vhd], Arch::Arm64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "iso-bios, vhd cannot be built for arm64 (they boot with a PC BIOS); formats for arm64: docker, iso-efi, iso-efi-initrd, kernel+erofs, kernel+initrd, kernel+iso, kernel+squashfs, qcow2-efi, raw-efi, rpi3, tar, tar-kernel-initrd"
        );
        assert!(check_arch(&Format::ALL[..1], Arch::Amd64).is_ok());
    }

    #[test]
    fn capabilities() {
        assert!(Format::Tar.streamable() && Format::Docker.streamable());
        assert!(!Format::KernelInitrd.streamable());
        assert!(Format::KernelSquashfs.needs_kernel() && !Format::Tar.needs_kernel());
        assert!(Format::IsoBios.bootable() && Format::IsoBios.implemented());
        assert!(!Format::Rpi3.implemented());
        assert_eq!(Format::KernelIso.files().last(), Some(&".iso"));
    }
}
