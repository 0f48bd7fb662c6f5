//! The user-space partition tables and FAT volumes of the bootable formats, checked by the
//! independent tools: `sgdisk -v` and `sfdisk` read the tables back, `fsck.vfat -n` checks
//! the volume (gdisk, fdisk and dosfstools come from scripts/setup.sh).

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Command;

use lk_formats::boot::disk::{self, ESP_TYPE};
use lk_formats::boot::fat::{self, FatFile, Kind, Volume};

fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (install it: scripts/setup.sh)");
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lk-boot-tools-{}", std::process::id()));
    fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A new empty file open for reading and writing.
fn create(path: &std::path::Path) -> File {
    File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// Writes a 48 MiB disk with `gpt` or an MBR and a FAT32 partition holding two files in its
/// directories (one with a long name); returns the disk and the partition's bytes.
fn make(gpt: bool) -> (std::path::PathBuf, Vec<u8>) {
    let size = 48u64 << 20;
    let path = temp(if gpt { "gpt.img" } else { "mbr.img" });
    let mut f = create(&path);
    f.set_len(size).unwrap();
    let p = disk::layout(size, gpt);
    if gpt {
        let g = disk::guid_from(&[7; 32]);
        let pg = disk::guid_from(&[9; 32]);
        disk::write_gpt(&mut f, size, &g, p, &ESP_TYPE, &pg, "ESP").unwrap();
    } else {
        disk::write_mbr(&mut f, &[0x90; 440], 0x1234_5678, p, 0x0c, true).unwrap();
    }
    let big = vec![0xa5u8; 5 << 20];
    let mut a = &big[..];
    let mut b = &b"timeout 0\n"[..];
    let mut files = [
        FatFile {
            path: "EFI/BOOT/BOOTX64.EFI",
            data: &mut a,
        },
        FatFile {
            path: "loader/loader.conf",
            data: &mut b,
        },
    ];
    let vol = Volume {
        start: p.offset(),
        len: p.bytes(),
        kind: Kind::Fat32,
        volume_id: 0xdead_beef,
        label: "LINUXKIT".into(),
        mtime: 1_700_000_000,
    };
    fat::write(&mut f, &vol, &mut files).unwrap();
    f.flush().unwrap();
    let mut part = vec![0u8; p.bytes() as usize];
    f.seek(SeekFrom::Start(p.offset())).unwrap();
    f.read_exact(&mut part).unwrap();
    (path, part)
}

#[test]
fn gpt_and_esp_pass_sgdisk_and_fsck_vfat() {
    let (path, part) = make(true);
    let v = tool(Command::new("sgdisk").arg("-v").arg(&path));
    assert!(v.contains("No problems found"), "{v}");
    let p = tool(Command::new("sgdisk").arg("-i").arg("1").arg(&path));
    assert!(p.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"), "{p}");
    assert!(p.contains("First sector: 2048"), "{p}");
    let fsimg = temp("esp.img");
    fs::write(&fsimg, &part).unwrap();
    let f = tool(Command::new("fsck.vfat").arg("-n").arg(&fsimg));
    // Two files, three directories and the volume label entry.
    assert!(f.contains(": 6 files,"), "{f}");
    let (again, _) = make(true);
    assert_eq!(fs::read(&path).unwrap(), fs::read(again).unwrap());
}

#[test]
fn mbr_reads_back_with_sfdisk() {
    let (path, part) = make(false);
    let d = tool(Command::new("sfdisk").arg("--dump").arg(&path));
    assert!(d.contains("label: dos"), "{d}");
    assert!(d.contains("label-id: 0x12345678"), "{d}");
    assert!(
        d.contains("start=        2048") && d.contains("type=c, bootable"),
        "{d}"
    );
    let fsimg = temp("mbr-part.img");
    fs::write(&fsimg, &part).unwrap();
    tool(Command::new("fsck.vfat").arg("-n").arg(&fsimg));
}

#[test]
fn a_small_fat_image_with_directories_passes_fsck_vfat() {
    // The El Torito EFI image of the ISOs: FAT12/16 with the loader under EFI/BOOT.
    let path = temp("small.img");
    let mut f = create(&path);
    f.set_len(4 << 20).unwrap();
    let data = vec![0x5au8; 700 << 10];
    let mut a = &data[..];
    let mut files = [FatFile {
        path: "EFI/BOOT/BOOTX64.EFI",
        data: &mut a,
    }];
    let vol = Volume {
        start: 0,
        len: 4 << 20,
        kind: Kind::Small,
        volume_id: 1,
        label: "EFIBOOT".into(),
        mtime: 1_700_000_000,
    };
    fat::write(&mut f, &vol, &mut files).unwrap();
    drop(f);
    let out = tool(Command::new("fsck.vfat").arg("-n").arg(&path));
    assert!(out.contains(": 4 files,"), "{out}");
}
