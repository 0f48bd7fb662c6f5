//! The FAT disks, sized to their content:
//!
//! | format | table | partition | boot loader |
//! |---|---|---|---|
//! | `raw-bios` | MBR | FAT32 (0x0c, active) | GRUB: `boot.img` in the MBR, `core.img` in the gap before 1 MiB, `boot/grub/grub.cfg` |
//! | `raw-efi` | GPT | ESP, FAT32 | systemd-boot + a UKI (`EFI/Linux/linuxkit.efi`, `loader/loader.conf`) |
//! | `qcow2-efi` (before conversion) | GPT | ESP, FAT32 | GRUB (`EFI/BOOT/BOOTX64.EFI` or `BOOTAA64.EFI`, `EFI/BOOT/grub.cfg`) |
//!
//! The GRUB-booted disks hold `/kernel`, `/initrd.img` and `/cmdline`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::disk::{self, ESP_TYPE, FIRST_LBA, SECTOR};
use super::fat::{self, FAT32_MIN_BYTES, FatFile, Kind, Volume};
use super::{BootLoaders, BootSource, Ids, grub_cfg};

/// A file for the volume: its path and where its bytes come from.
enum Data<'a> {
    Bytes(&'a [u8]),
    Owned(Vec<u8>),
    File(&'a Path),
}

impl Data<'_> {
    fn len(&self) -> io::Result<u64> {
        Ok(match self {
            Data::Bytes(b) => b.len() as u64,
            Data::Owned(b) => b.len() as u64,
            Data::File(p) => std::fs::metadata(p)?.len(),
        })
    }
}

/// The volume for `files`: every file rounded up to 4 KiB, 5% for FAT and directories,
/// 2 MiB of slack, at least the FAT32 minimum, whole MiB.
fn volume_bytes(files: &[(&str, Data<'_>)]) -> io::Result<u64> {
    let mut sum = 0u64;
    for (_, d) in files {
        sum += d.len()?.div_ceil(4096) * 4096;
    }
    let want = sum + sum / 20 + (2 << 20);
    Ok(want.max(FAT32_MIN_BYTES).div_ceil(1 << 20) << 20)
}

/// Creates `out` with one FAT32 partition holding `files`, behind an MBR (`gpt` false, with
/// GRUB's BIOS images) or a GPT.
fn fat_disk(
    out: &Path,
    files: Vec<(&str, Data<'_>)>,
    gpt: bool,
    bios: Option<(&[u8], &[u8])>,
    id: &Ids,
) -> io::Result<()> {
    let vol_bytes = volume_bytes(&files)?;
    // 1 MiB in front; a GPT disk also keeps its backup table behind the partition.
    let disk_bytes = (FIRST_LBA * SECTOR) + vol_bytes + if gpt { 1 << 20 } else { 0 };
    let part = disk::layout(disk_bytes, gpt);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(out)?;
    f.set_len(disk_bytes)?;
    if gpt {
        disk::write_gpt(
            &mut f,
            disk_bytes,
            &id.guid(0),
            part,
            &ESP_TYPE,
            &id.guid(1),
            "EFI System Partition",
        )?;
    } else {
        let (boot, core) = bios.unwrap_or((&[], &[]));
        disk::write_mbr(
            &mut f,
            &boot[..boot.len().min(440)],
            id.u32(0),
            part,
            0x0c,
            true,
        )?;
        write_core(&mut f, core)?;
    }
    let vol = Volume {
        start: part.offset(),
        len: part.bytes(),
        kind: Kind::Fat32,
        volume_id: id.u32(4),
        label: if gpt { "EFI" } else { "LINUXKIT" }.into(),
        mtime: id.mtime,
    };
    let mut opened: Vec<(&str, Box<dyn Read>)> = Vec::new();
    for (path, d) in files {
        let r: Box<dyn Read> = match d {
            Data::Bytes(b) => Box::new(b),
            Data::Owned(b) => Box::new(io::Cursor::new(b)),
            Data::File(p) => Box::new(io::BufReader::with_capacity(1 << 20, File::open(p)?)),
        };
        opened.push((path, r));
    }
    let mut fat_files: Vec<FatFile<'_>> = opened
        .iter_mut()
        .map(|(path, r)| FatFile {
            path,
            data: r.as_mut(),
        })
        .collect();
    fat::write(&mut f, &vol, &mut fat_files)?;
    f.sync_all()
}

/// GRUB's `core.img` goes in the sectors between the MBR and the first partition; its own
/// block list (sector 1, length as built) points there already.
pub(crate) fn write_core(f: &mut (impl Write + Seek), core: &[u8]) -> io::Result<()> {
    let room = (FIRST_LBA - 1) * SECTOR;
    if core.len() as u64 > room {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "GRUB core.img is {} bytes; {room} fit before the first partition",
                core.len()
            ),
        ));
    }
    f.seek(SeekFrom::Start(SECTOR))?;
    f.write_all(core)
}

/// The BIOS images of GRUB: the MBR code and the core image.
pub(crate) fn grub_bios(loaders: &BootLoaders) -> io::Result<(&[u8], &[u8])> {
    Ok((
        loaders.get("grub/i386-pc/boot.img")?,
        loaders.get("grub/i386-pc/core.img")?,
    ))
}

/// The files of a GRUB-booted volume: kernel, initrd, command line and `grub.cfg` at `cfg`.
fn grub_files<'a>(src: &BootSource<'a>, cfg: &'static str) -> Vec<(&'static str, Data<'a>)> {
    vec![
        ("kernel", Data::Bytes(src.kernel)),
        ("initrd.img", Data::File(src.initrd)),
        ("cmdline", Data::Bytes(src.cmdline.as_bytes())),
        (cfg, Data::Owned(grub_cfg(src.cmdline).into_bytes())),
    ]
}

/// `raw-bios`.
pub(crate) fn raw_bios(
    src: &BootSource<'_>,
    loaders: &BootLoaders,
    id: &Ids,
    out: &Path,
) -> io::Result<()> {
    let files = grub_files(src, "boot/grub/grub.cfg");
    fat_disk(out, files, false, Some(grub_bios(loaders)?), id)
}

/// `qcow2-efi` before conversion: GRUB on an ESP.
pub(crate) fn grub_efi(
    src: &BootSource<'_>,
    loaders: &BootLoaders,
    id: &Ids,
    out: &Path,
) -> io::Result<()> {
    let mut files = grub_files(src, "EFI/BOOT/grub.cfg");
    // Before grub.cfg, the order it always had on the volume.
    let efi = loaders.grub_efi()?;
    files.insert(3, (loaders.efi_boot_path(), Data::Bytes(efi)));
    fat_disk(out, files, true, None, id)
}

/// The os-release section of the UKI (systemd-boot shows its `PRETTY_NAME`).
const OS_RELEASE: &str = "ID=linuxkit\nNAME=LinuxKit\nPRETTY_NAME=LinuxKit\n";

/// `raw-efi`: systemd-boot, which boots the one UKI at once.
pub(crate) fn raw_efi(
    src: &BootSource<'_>,
    loaders: &BootLoaders,
    id: &Ids,
    out: &Path,
) -> io::Result<()> {
    let initrd = std::fs::read(src.initrd)?;
    let uki = super::uki::build(
        loaders.uki_stub()?,
        &[
            (".osrel", OS_RELEASE.as_bytes()),
            (".cmdline", src.cmdline.as_bytes()),
            (".linux", src.kernel),
            (".initrd", &initrd),
        ],
    )?;
    drop(initrd);
    let files = vec![
        (
            loaders.efi_boot_path(),
            Data::Bytes(loaders.systemd_boot()?),
        ),
        ("loader/loader.conf", Data::Bytes(b"timeout 0\n")),
        ("EFI/Linux/linuxkit.efi", Data::Owned(uki)),
    ];
    fat_disk(out, files, true, None, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_hold_their_files_and_are_at_least_fat32_sized() {
        let small = [("a", Data::Bytes(b"x"))];
        assert_eq!(volume_bytes(&small).unwrap(), FAT32_MIN_BYTES);
        let big = vec![0u8; 100 << 20];
        let v = volume_bytes(&[("a", Data::Bytes(&big))]).unwrap();
        assert!(v >= 105 << 20 && v.is_multiple_of(1 << 20), "{v}");
    }

    #[test]
    fn a_core_image_too_big_for_the_gap_is_refused() {
        let mut c = io::Cursor::new(Vec::new());
        let e = write_core(&mut c, &vec![0; 2048 * 512]).unwrap_err();
        assert!(e.to_string().contains("core.img"), "{e}");
        write_core(&mut c, &[1; 512]).unwrap();
        assert_eq!(c.get_ref()[512], 1);
    }
}
