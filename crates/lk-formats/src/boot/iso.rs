//! The bootable ISOs, made by `xorriso` from a staged directory plus the initrd file:
//!
//! | format | El Torito | boot loader | also boots as |
//! |---|---|---|---|
//! | `iso-bios` | BIOS, no emulation, boot info table | isolinux (`isolinux/isolinux.cfg`) | a disk (isohybrid MBR) |
//! | `iso-efi`, `iso-efi-initrd` | EFI (`boot/efi.img`, a FAT image) | GRUB (`EFI/BOOT/grub.cfg` on the ISO) | |
//!
//! Each holds `/kernel`, `/initrd.img` and `/cmdline`; the root file system is the initrd.
//! Owners, modes and dates are set by xorriso commands (not taken from the staged files) and
//! `SOURCE_DATE_EPOCH` fixes the volume dates, so two builds give the same bytes.

use std::fs;
use std::io;
use std::process::Command;

use super::fat::{self, FatFile, Kind, Volume};
use super::{BootLoaders, BootSource, Ids, Work, grub_cfg, isolinux_cfg};
use crate::format::Format;

/// A FAT image holding GRUB's EFI binary, the El Torito EFI boot image.
fn efi_image(loaders: &BootLoaders, volume_id: u32, mtime: u64) -> io::Result<Vec<u8>> {
    let efi = loaders.grub_efi()?;
    // The file, FAT metadata and slack, rounded up to 1 MiB.
    let len = (efi.len() as u64 + (512 << 10)).div_ceil(1 << 20) << 20;
    let mut img = io::Cursor::new(vec![0u8; len as usize]);
    let vol = Volume {
        start: 0,
        len,
        kind: Kind::Small,
        volume_id,
        label: "EFIBOOT".into(),
        mtime,
    };
    let mut files = [FatFile {
        path: loaders.efi_boot_path(),
        data: &mut &efi[..],
    }];
    fat::write(&mut img, &vol, &mut files)?;
    Ok(img.into_inner())
}

fn put(root: &std::path::Path, path: &str, data: &[u8]) -> io::Result<()> {
    let p = root.join(path);
    if let Some(d) = p.parent() {
        fs::create_dir_all(d)?;
    }
    fs::write(&p, data)
}

/// Writes `format` into `work.out()`.
pub(crate) fn write(
    format: Format,
    src: &BootSource<'_>,
    loaders: &BootLoaders,
    xorriso: &str,
    id: &Ids,
    work: &Work,
) -> io::Result<()> {
    let mtime = id.mtime;
    let root = work.path("iso");
    fs::create_dir(&root)?;
    put(&root, "kernel", src.kernel)?;
    put(&root, "cmdline", src.cmdline.as_bytes())?;
    let mut boot: Vec<String> = Vec::new();
    // `isolinux` (not `any`) makes xorriso patch the hybrid MBR and its partition table.
    let kind = if format == Format::IsoBios {
        "isolinux"
    } else {
        "any"
    };
    let mut opt = |s: &str| boot.extend(["-boot_image".to_owned(), kind.to_owned(), s.to_owned()]);
    let mbr = work.path("isohdpfx.bin");
    if format == Format::IsoBios {
        put(
            &root,
            "isolinux/isolinux.bin",
            loaders.get("isolinux/isolinux.bin")?,
        )?;
        put(
            &root,
            "isolinux/ldlinux.c32",
            loaders.get("isolinux/ldlinux.c32")?,
        )?;
        put(
            &root,
            "isolinux/isolinux.cfg",
            isolinux_cfg(src.cmdline).as_bytes(),
        )?;
        fs::write(&mbr, loaders.get("isolinux/isohdpfx.bin")?)?;
        opt("bin_path=/isolinux/isolinux.bin");
        opt("cat_path=/isolinux/boot.cat");
        opt("emul_type=no_emulation");
        opt("boot_info_table=on");
        opt("load_size=2048");
        opt(&format!("system_area={}", mbr.display()));
    } else {
        put(
            &root,
            "boot/efi.img",
            &efi_image(loaders, id.u32(0), mtime)?,
        )?;
        put(&root, "EFI/BOOT/grub.cfg", grub_cfg(src.cmdline).as_bytes())?;
        opt("cat_path=/boot/boot.cat");
        opt("efi_path=/boot/efi.img");
    }
    let out = work.out();
    let date = format!("={mtime}");
    crate::stage::run(
        Command::new(xorriso)
            .env("SOURCE_DATE_EPOCH", mtime.to_string())
            .args(["-no_rc", "-report_about", "FAILURE", "-abort_on", "FAILURE"])
            .args(["-iso_rr_pattern", "off", "-disk_pattern", "off"])
            .arg("-outdev")
            .arg(&out)
            .args(["-volid", "LINUXKIT", "-rockridge", "on", "-joliet", "off"])
            .args([
                "-hardlinks",
                "off",
                "-acl",
                "off",
                "-xattr",
                "off",
                "-md5",
                "off",
            ])
            .arg("-map")
            .arg(&root)
            .arg("/")
            .arg("-map")
            .arg(src.initrd)
            .arg("/initrd.img")
            .args(["-chown_r", "0", "/", "--", "-chgrp_r", "0", "/", "--"])
            .args(["-chmod_r", "0644", "/", "--"])
            .args(["-find", "/", "-type", "d", "-exec", "chmod", "0755", "--"])
            .args(["-alter_date_r", "b", &date, "/", "--"])
            .args(&boot),
        "install xorriso (Debian: apt-get install xorriso)",
    )
}
