//! CD-ROM and `cidata` volumes (cloud-init's NoCloud layout, and the ISO `linuxkit run
//! --data` and `linuxkit metadata create` make): block devices whose ISO 9660 or FAT
//! volume label is `cidata`/`CIDATA` (partitions included; loop and ram devices skipped),
//! then every `/dev/sr*`. Each is mounted read-only with the file system its label was
//! found in (LinuxKit always mounts `iso9660`, so FAT `cidata` volumes fail there) and
//! `user-data`, else `config`, is the userdata.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::config::ConfigDir;
use crate::http::Http;
use crate::net::USERDATA_LIMIT;
use crate::provider::{Provider, debug};

/// A file system found on a device, with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// `iso9660` or `vfat`.
    pub fstype: &'static str,
    /// The label, trimmed.
    pub label: String,
}

/// Reads the label of an ISO 9660 or FAT file system from its first 36 KiB.
pub fn probe_volume(dev: &mut (impl Read + Seek)) -> Option<Volume> {
    let mut head = vec![0u8; 512];
    dev.seek(SeekFrom::Start(0)).ok()?;
    dev.read_exact(&mut head).ok()?;
    let mut pvd = vec![0u8; 2048];
    if dev.seek(SeekFrom::Start(16 * 2048)).is_ok()
        && dev.read_exact(&mut pvd).is_ok()
        && pvd[0] == 1
        && &pvd[1..6] == b"CD001"
    {
        let label = String::from_utf8_lossy(&pvd[40..72]).trim().to_owned();
        return Some(Volume {
            fstype: "iso9660",
            label,
        });
    }
    if head[510..512] != [0x55, 0xaa] {
        return None;
    }
    // FAT32 has its extended boot record at 64, FAT12/16 at 36; signature 0x29 then
    // the serial, the 11-byte label and the type.
    for (sig, label, fstype) in [(66, 71, 82), (38, 43, 54)] {
        if head[sig] == 0x29 && head[fstype..fstype + 3] == *b"FAT" {
            let label = String::from_utf8_lossy(&head[label..label + 11])
                .trim()
                .to_owned();
            return Some(Volume {
                fstype: "vfat",
                label,
            });
        }
    }
    None
}

fn volume_of(dev: &Path) -> Option<Volume> {
    let mut f = std::fs::File::open(dev).ok()?;
    probe_volume(&mut f)
}

/// The devices to try, in order: `cidata` volumes, then `/dev/sr*` (without repeats).
pub fn devices() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/block")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in &names {
        if n.starts_with("loop") || n.starts_with("ram") {
            continue;
        }
        let dev = Path::new("/dev").join(n);
        match volume_of(&dev) {
            Some(v) if v.label == "cidata" || v.label == "CIDATA" => out.push(dev),
            v => debug(&format!("{}: {v:?}", dev.display())),
        }
    }
    for n in names.iter().filter(|n| {
        n.strip_prefix("sr")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    }) {
        let dev = Path::new("/dev").join(n);
        if !out.contains(&dev) {
            out.push(dev);
        }
    }
    out
}

/// One device.
#[derive(Debug)]
pub struct Cdrom {
    device: PathBuf,
}

impl Cdrom {
    /// The provider for `device`.
    pub fn new(device: PathBuf) -> Cdrom {
        Cdrom { device }
    }

    /// Mounts the device and reads `user-data` (else `config`).
    fn read(&self) -> Result<Vec<u8>, String> {
        let dev = self.device.display();
        let fstype = volume_of(&self.device).map_or("iso9660", |v| v.fstype);
        let dir = std::env::temp_dir().join(format!(
            "cd-{}",
            self.device
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        mount(
            Some(&self.device),
            &dir,
            Some(fstype),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| format!("mounting {dev} ({fstype}): {e}"))?;
        let mut found = Err(format!("{dev}: no user-data or config file"));
        for f in ["user-data", "config"] {
            let p = dir.join(f);
            if let Ok(file) = std::fs::File::open(&p) {
                let mut data = Vec::new();
                found = file
                    .take(USERDATA_LIMIT)
                    .read_to_end(&mut data)
                    .map(|_| data)
                    .map_err(|e| format!("{}: {e}", p.display()));
                break;
            }
        }
        let _ = umount2(&dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&dir);
        found
    }
}

impl Provider for Cdrom {
    fn name(&self) -> String {
        format!("CDROM {}", self.device.display())
    }

    fn probe(&self, _: &Http) -> bool {
        match self.read() {
            Ok(d) => !d.is_empty(),
            Err(e) => {
                debug(&e);
                false
            }
        }
    }

    fn extract(&self, _: &Http, _: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
        self.read().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn iso9660_and_fat_labels_are_read() {
        let mut iso = vec![0u8; 18 * 2048];
        iso[32768] = 1;
        iso[32769..32774].copy_from_slice(b"CD001");
        iso[32768 + 40..32768 + 72].copy_from_slice(format!("{:<32}", "CIDATA").as_bytes());
        assert_eq!(
            probe_volume(&mut Cursor::new(iso)),
            Some(Volume {
                fstype: "iso9660",
                label: "CIDATA".into()
            })
        );
        // A FAT boot sector: signature 0x29 at `sig`, the label after the serial.
        let fat = |sig: usize, label: &[u8; 11], kind: &[u8; 8]| {
            let mut d = vec![0u8; 40 * 1024];
            d[510] = 0x55;
            d[511] = 0xaa;
            d[sig] = 0x29;
            d[sig + 5..sig + 16].copy_from_slice(label);
            d[sig + 16..sig + 24].copy_from_slice(kind);
            d
        };
        assert_eq!(
            probe_volume(&mut Cursor::new(fat(66, b"cidata     ", b"FAT32   "))),
            Some(Volume {
                fstype: "vfat",
                label: "cidata".into()
            })
        );
        assert_eq!(
            probe_volume(&mut Cursor::new(fat(38, b"CIDATA     ", b"FAT16   ")))
                .unwrap()
                .label,
            "CIDATA"
        );
        assert_eq!(probe_volume(&mut Cursor::new(vec![0u8; 40 * 1024])), None);
        assert_eq!(probe_volume(&mut Cursor::new(vec![0u8; 100])), None);
    }
}
