//! The metadata ISO of `linuxkit metadata create` and `run --data`: a plain ISO 9660 volume
//! (level 1, no Rock Ridge) labelled `CIDATA` with one file, `CONFIG.;1`, in the root. Linux
//! mounts it showing `config`, where the in-VM metadata tool looks. Written directly: the
//! layout is six fixed sectors before the data, and no crate writes this small a volume.
//!
//! Sectors (2048 bytes): 0-15 system area, 16 primary volume descriptor, 17 terminator,
//! 18/19 path tables (little/big endian), 20 root directory, 21.. the file.

use std::io::{self, Write};

const SECTOR: usize = 2048;
const PVD: usize = 16;
const PATH_L: u32 = 18;
const PATH_M: u32 = 19;
const ROOT: u32 = 20;
const DATA: u32 = 21;

fn both16(v: u16) -> [u8; 4] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], b[0], b[1]]
}

fn both32(v: u32) -> [u8; 8] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

/// Civil date (UTC) of a Unix time: (year, month, day, hour, minute, second).
fn civil(t: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = t / 86400;
    let secs = t % 86400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// The 7-byte directory record date.
fn record_date(t: u64) -> [u8; 7] {
    let (y, mo, d, h, mi, s) = civil(t);
    let y = y.saturating_sub(1900).min(255);
    [y as u8, mo as u8, d as u8, h as u8, mi as u8, s as u8, 0]
}

/// The 17-byte volume descriptor date.
fn volume_date(t: u64) -> [u8; 17] {
    let (y, mo, d, h, mi, s) = civil(t);
    let text = format!("{:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00", y.min(9999));
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    out
}

fn dir_record(name: &[u8], extent: u32, size: u32, dir: bool, t: u64) -> Vec<u8> {
    let mut r = vec![0u8; 33];
    r[2..10].copy_from_slice(&both32(extent));
    r[10..18].copy_from_slice(&both32(size));
    r[18..25].copy_from_slice(&record_date(t));
    r[25] = if dir { 2 } else { 0 };
    r[28..32].copy_from_slice(&both16(1));
    r[32] = name.len() as u8;
    r.extend_from_slice(name);
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    r
}

fn padded(field: &mut [u8], text: &str) {
    field.fill(b' ');
    field[..text.len()].copy_from_slice(text.as_bytes());
}

/// Writes the ISO holding `data` as its `config` file; `mtime` dates everything.
pub fn write_config_iso(out: &mut dyn Write, data: &[u8], mtime: u64) -> io::Result<()> {
    let size = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "metadata larger than 4 GiB"))?;
    let data_sectors = data.len().div_ceil(SECTOR) as u32;
    let total = DATA + data_sectors;
    let mut head = vec![0u8; SECTOR * DATA as usize];

    let pvd = &mut head[PVD * SECTOR..(PVD + 1) * SECTOR];
    pvd[0] = 1;
    pvd[1..6].copy_from_slice(b"CD001");
    pvd[6] = 1;
    padded(&mut pvd[8..40], "LINUX");
    padded(&mut pvd[40..72], "CIDATA");
    pvd[80..88].copy_from_slice(&both32(total));
    pvd[120..124].copy_from_slice(&both16(1));
    pvd[124..128].copy_from_slice(&both16(1));
    pvd[128..132].copy_from_slice(&both16(SECTOR as u16));
    pvd[132..140].copy_from_slice(&both32(10));
    pvd[140..144].copy_from_slice(&PATH_L.to_le_bytes());
    pvd[148..152].copy_from_slice(&PATH_M.to_be_bytes());
    pvd[156..190].copy_from_slice(&dir_record(&[0], ROOT, SECTOR as u32, true, mtime));
    for (a, b) in [(190, 318), (318, 446), (446, 574), (574, 702)] {
        padded(&mut pvd[a..b], "");
    }
    padded(&mut pvd[574..702], "LINUXKIT");
    padded(&mut pvd[702..813], "");
    let date = volume_date(mtime);
    pvd[813..830].copy_from_slice(&date);
    pvd[830..847].copy_from_slice(&date);
    pvd[847..863].copy_from_slice(b"0000000000000000");
    pvd[864..880].copy_from_slice(b"0000000000000000");
    pvd[881] = 1;

    let term = &mut head[(PVD + 1) * SECTOR..(PVD + 2) * SECTOR];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    term[6] = 1;

    // Path tables: the root only (name length 1, name 0, parent 1).
    let l = PATH_L as usize * SECTOR;
    head[l] = 1;
    head[l + 2..l + 6].copy_from_slice(&ROOT.to_le_bytes());
    head[l + 6..l + 8].copy_from_slice(&1u16.to_le_bytes());
    let m = PATH_M as usize * SECTOR;
    head[m] = 1;
    head[m + 2..m + 6].copy_from_slice(&ROOT.to_be_bytes());
    head[m + 6..m + 8].copy_from_slice(&1u16.to_be_bytes());

    let mut root = Vec::new();
    root.extend(dir_record(&[0], ROOT, SECTOR as u32, true, mtime));
    root.extend(dir_record(&[1], ROOT, SECTOR as u32, true, mtime));
    root.extend(dir_record(b"CONFIG.;1", DATA, size, false, mtime));
    let r = ROOT as usize * SECTOR;
    head[r..r + root.len()].copy_from_slice(&root);

    out.write_all(&head)?;
    out.write_all(data)?;
    let pad = data_sectors as usize * SECTOR - data.len();
    out.write_all(&vec![0u8; pad])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_795_915_419).0, 2026);
        assert_eq!(&volume_date(86_399)[..16], b"1970010123595900");
        assert_eq!(record_date(0), [70, 1, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn layout() {
        let mut v = Vec::new();
        write_config_iso(&mut v, b"{\"a\":1}", 0).unwrap();
        assert_eq!(v.len(), 22 * SECTOR);
        assert_eq!(&v[PVD * SECTOR + 1..PVD * SECTOR + 6], b"CD001");
        assert_eq!(&v[PVD * SECTOR + 40..PVD * SECTOR + 46], b"CIDATA");
        assert_eq!(&v[21 * SECTOR..21 * SECTOR + 7], b"{\"a\":1}");
        let root = &v[20 * SECTOR..21 * SECTOR];
        assert!(root.windows(9).any(|w| w == b"CONFIG.;1"));
        let mut empty = Vec::new();
        write_config_iso(&mut empty, b"", 0).unwrap();
        assert_eq!(empty.len(), 21 * SECTOR);
    }
}
