//! From a raw disk to the hypervisor and cloud formats:
//!
//! | format | how |
//! |---|---|
//! | `qcow2-bios`, `qcow2-efi` | `qemu-img convert -O qcow2` |
//! | `vhd` | `qemu-img convert -O vpc -o subformat=fixed,force_size=on` (Azure's fixed VHD) |
//! | `dynamic-vhd` | `qemu-img convert -O vpc -o subformat=dynamic,force_size=on` |
//! | `vmdk` | `qemu-img convert -O vmdk -o subformat=streamOptimized` |
//! | `gcp` | `disk.raw` in a GNU tar, gzipped (GCE's image import format) |
//!
//! qemu-img stamps a VHD with the time and a random UUID and a VMDK with a random content
//! id; those fields are set here from the build's date and content hash, so two builds give
//! the same bytes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use super::{Ids, Work, invalid};
use crate::format::Format;

/// Seconds from 1970 to the VHD epoch (2000-01-01 00:00:00 UTC).
const VHD_EPOCH: u64 = 946_684_800;

fn qemu_args(format: Format) -> io::Result<&'static [&'static str]> {
    Ok(match format {
        Format::Qcow2Bios | Format::Qcow2Efi => &["-O", "qcow2"],
        Format::Vhd => &["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
        Format::DynamicVhd => &["-O", "vpc", "-o", "subformat=dynamic,force_size=on"],
        Format::Vmdk => &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        _ => return Err(invalid(format!("{format} is not a qemu-img format"))),
    })
}

/// Converts `raw` into `work.out()`.
pub(crate) fn qemu_img(
    format: Format,
    raw: &Path,
    work: &Work,
    id: &Ids,
    qemu_img: &str,
) -> io::Result<()> {
    let out = work.out();
    let name = out.file_name().unwrap_or_default();
    // Run in the work directory: a VMDK records its own file name.
    crate::stage::run(
        Command::new(qemu_img)
            .current_dir(work.dir())
            .args(["convert", "-q", "-f", "raw"])
            .args(qemu_args(format)?)
            .arg(raw)
            .arg(name),
        "install qemu-utils (Debian: apt-get install qemu-utils)",
    )?;
    match format {
        Format::Vhd => vhd_footers(&out, id, false),
        Format::DynamicVhd => vhd_footers(&out, id, true),
        Format::Vmdk => vmdk_cid(&out, id),
        _ => Ok(()),
    }
}

/// Sets a VHD footer's time stamp and UUID and recomputes its checksum.
fn fix_footer(f: &mut [u8; 512], id: &Ids) -> io::Result<()> {
    if &f[..8] != b"conectix" {
        return Err(invalid(
            "qemu-img wrote no VHD footer where expected".into(),
        ));
    }
    let t = u32::try_from(id.mtime.saturating_sub(VHD_EPOCH)).unwrap_or(u32::MAX);
    f[24..28].copy_from_slice(&t.to_be_bytes());
    f[68..84].copy_from_slice(&id.guid(0));
    f[64..68].fill(0);
    let sum = f.iter().fold(0u32, |a, b| a.wrapping_add(u32::from(*b)));
    f[64..68].copy_from_slice(&(!sum).to_be_bytes());
    Ok(())
}

fn vhd_footers(path: &Path, id: &Ids, dynamic: bool) -> io::Result<()> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let mut at = vec![len - 512];
    if dynamic {
        at.push(0); // the copy in front of a dynamic disk's header
    }
    for off in at {
        let mut footer = [0u8; 512];
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(&mut footer)?;
        fix_footer(&mut footer, id)?;
        f.seek(SeekFrom::Start(off))?;
        f.write_all(&footer)?;
    }
    f.sync_all()
}

/// Replaces the random `CID=...` line of a VMDK's embedded descriptor (the descriptor
/// area is NUL-padded, so the line may change length).
fn vmdk_cid(path: &Path, id: &Ids) -> io::Result<()> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let mut header = [0u8; 512];
    f.read_exact(&mut header)?;
    let sector = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let (offset, sectors) = (sector(28), sector(36));
    if &header[..4] != b"KDMV" || offset == 0 || sectors == 0 || sectors > 1024 {
        return Err(invalid(
            "qemu-img wrote a VMDK without an embedded descriptor".into(),
        ));
    }
    let mut desc = vec![0u8; (sectors * 512) as usize];
    f.seek(SeekFrom::Start(offset * 512))?;
    f.read_exact(&mut desc)?;
    let end = desc.iter().position(|b| *b == 0).unwrap_or(desc.len());
    let text = String::from_utf8_lossy(&desc[..end]).into_owned();
    let cid = format!("CID={:08x}", id.u32(8));
    let mut found = false;
    let new: String = text
        .split_inclusive('\n')
        .map(|l| {
            if l.starts_with("CID=") {
                found = true;
                format!("{cid}\n")
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !found || new.len() > desc.len() {
        return Err(invalid(
            "qemu-img wrote a VMDK descriptor without a CID line".into(),
        ));
    }
    desc.fill(0);
    desc[..new.len()].copy_from_slice(new.as_bytes());
    f.seek(SeekFrom::Start(offset * 512))?;
    f.write_all(&desc)?;
    f.sync_all()
}

/// `gcp`: the raw disk as `disk.raw` in a GNU tar, gzipped.
pub(crate) fn gcp(raw: &Path, out: &Path, mtime: u64) -> io::Result<()> {
    let mut disk = File::open(raw)?;
    let len = disk.metadata()?.len();
    let gz = crate::pgzip::ParGzEncoder::new(
        io::BufWriter::new(File::create(out)?),
        flate2::Compression::new(6),
        crate::pgzip::cores(),
    );
    let mut tar = ::tar::Builder::new(gz);
    let mut h = ::tar::Header::new_gnu();
    h.set_path("disk.raw")?;
    h.set_size(len);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(::tar::EntryType::Regular);
    h.set_cksum();
    tar.append(&h, &mut disk)?;
    let gz = tar.into_inner()?;
    let mut w = gz.finish()?;
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhd_footers_get_our_time_uuid_and_a_valid_checksum() {
        let mut f = [0u8; 512];
        f[..8].copy_from_slice(b"conectix");
        let id = Ids {
            hash: [3; 32],
            mtime: VHD_EPOCH + 10,
        };
        fix_footer(&mut f, &id).unwrap();
        assert_eq!(f[24..28], 10u32.to_be_bytes());
        let stored = u32::from_be_bytes([f[64], f[65], f[66], f[67]]);
        let mut z = f;
        z[64..68].fill(0);
        let sum = z.iter().fold(0u32, |a, b| a.wrapping_add(u32::from(*b)));
        assert_eq!(stored, !sum);
        assert!(fix_footer(&mut [0u8; 512], &id).is_err());
    }
}
