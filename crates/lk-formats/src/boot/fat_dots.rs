//! A pass over a FAT volume written by fatfs 0.3.6 that makes its directories what the FAT
//! specification (and `fsck.vfat`) expects: fatfs writes a long-name entry in front of the
//! `.` and `..` entries of every directory it creates, and points a FAT32 directory's `..`
//! at the root's cluster rather than 0. Here the first two slots become `.` and `..`, the
//! two freed slots are marked deleted, and `..` of a child of the root names cluster 0.

use std::io::{self, Read, Seek, SeekFrom, Write};

const ENTRY: usize = 32;
const ATTR_DIR: u8 = 0x10;
const ATTR_LFN: u8 = 0x0f;

struct Geometry {
    cluster_bytes: u64,
    fat_start: u64,
    data_start: u64,
    /// FAT12/16: where the fixed root directory is and how long; FAT32: None.
    fixed_root: Option<(u64, u64)>,
    root_cluster: u32,
    bits: u32,
}

fn le16(b: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[o], b[o + 1]]))
}

fn le32(b: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
}

fn geometry(bpb: &[u8; 512]) -> io::Result<Geometry> {
    let sector = le16(bpb, 11);
    let per_cluster = u64::from(bpb[13]);
    if sector == 0 || per_cluster == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "FAT: bad BPB"));
    }
    let reserved = le16(bpb, 14);
    let fats = u64::from(bpb[16]);
    let root_entries = le16(bpb, 17);
    let total = match le16(bpb, 19) {
        0 => le32(bpb, 32),
        n => n,
    };
    let fat_size = match le16(bpb, 22) {
        0 => le32(bpb, 36),
        n => n,
    };
    let root_sectors = (root_entries * ENTRY as u64).div_ceil(sector);
    let data_sector = reserved + fats * fat_size + root_sectors;
    let clusters = (total - data_sector) / per_cluster;
    let bits = if clusters < 4085 {
        12
    } else if clusters < 65525 {
        16
    } else {
        32
    };
    Ok(Geometry {
        cluster_bytes: sector * per_cluster,
        fat_start: reserved * sector,
        data_start: data_sector * sector,
        fixed_root: (bits != 32)
            .then(|| ((reserved + fats * fat_size) * sector, root_sectors * sector)),
        root_cluster: if bits == 32 { le32(bpb, 44) as u32 } else { 0 },
        bits,
    })
}

impl Geometry {
    fn next<F: Read + Seek>(&self, f: &mut F, base: u64, c: u32) -> io::Result<Option<u32>> {
        let (off, len) = match self.bits {
            12 => (u64::from(c) * 3 / 2, 2),
            16 => (u64::from(c) * 2, 2),
            _ => (u64::from(c) * 4, 4),
        };
        let mut b = [0u8; 4];
        f.seek(SeekFrom::Start(base + self.fat_start + off))?;
        f.read_exact(&mut b[..len])?;
        let v = u32::from_le_bytes(b);
        let (v, end) = match self.bits {
            12 => (if c % 2 == 1 { v >> 4 } else { v & 0xfff }, 0xff8),
            16 => (v, 0xfff8),
            _ => (v & 0x0fff_ffff, 0x0fff_fff8),
        };
        Ok((v >= 2 && v < end).then_some(v))
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.data_start + u64::from(c - 2) * self.cluster_bytes
    }

    /// The byte ranges (relative to the volume) of a directory's clusters.
    fn extents<F: Read + Seek>(
        &self,
        f: &mut F,
        base: u64,
        first: u32,
    ) -> io::Result<Vec<(u64, u64)>> {
        if first == 0 {
            return Ok(self.fixed_root.into_iter().collect());
        }
        let mut out = Vec::new();
        let mut c = Some(first);
        while let Some(x) = c {
            if out.len() > 1 << 20 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "FAT: cluster loop",
                ));
            }
            out.push((self.cluster_offset(x), self.cluster_bytes));
            c = self.next(f, base, x)?;
        }
        Ok(out)
    }
}

/// Fixes every directory of the volume at `base` of `f` (see the module docs).
pub fn fix<F: Read + Write + Seek>(f: &mut F, base: u64) -> io::Result<()> {
    let mut bpb = [0u8; 512];
    f.seek(SeekFrom::Start(base))?;
    f.read_exact(&mut bpb)?;
    let g = geometry(&bpb)?;
    let root = if g.bits == 32 { g.root_cluster } else { 0 };
    let mut todo = vec![(root, true)];
    while let Some((dir, parent_is_root)) = todo.pop() {
        let mut bytes = Vec::new();
        let extents = g.extents(f, base, dir)?;
        for (off, len) in &extents {
            let mut b = vec![0u8; *len as usize];
            f.seek(SeekFrom::Start(base + off))?;
            f.read_exact(&mut b)?;
            bytes.extend_from_slice(&b);
        }
        let is_root = dir == root;
        if !is_root {
            fix_dots(&mut bytes, parent_is_root);
        }
        for e in bytes.chunks(ENTRY) {
            if e[0] == 0 {
                break;
            }
            let attr = e[11];
            if e[0] == 0xe5 || attr == ATTR_LFN || attr & ATTR_DIR == 0 || e[0] == b'.' {
                continue;
            }
            let c = (le16(e, 20) << 16 | le16(e, 26)) as u32;
            if c >= 2 {
                todo.push((c, is_root));
            }
        }
        let mut at = 0usize;
        for (off, len) in &extents {
            f.seek(SeekFrom::Start(base + off))?;
            f.write_all(&bytes[at..at + *len as usize])?;
            at += *len as usize;
        }
    }
    f.flush()
}

/// `[LFN, ".", LFN, "..", ...]` -> `[".", "..", deleted, deleted, ...]`.
fn fix_dots(b: &mut [u8], parent_is_root: bool) {
    if b.len() < 4 * ENTRY {
        return;
    }
    let name = |b: &[u8], i: usize| b[i * ENTRY..i * ENTRY + 11].to_vec();
    let mut dot = [b' '; 11];
    dot[0] = b'.';
    let mut dotdot = [b' '; 11];
    dotdot[..2].copy_from_slice(b"..");
    if b[11] == ATTR_LFN
        && name(b, 1) == dot
        && b[2 * ENTRY + 11] == ATTR_LFN
        && name(b, 3) == dotdot
    {
        let d: Vec<u8> = b[ENTRY..2 * ENTRY].to_vec();
        let dd: Vec<u8> = b[3 * ENTRY..4 * ENTRY].to_vec();
        b[..ENTRY].copy_from_slice(&d);
        b[ENTRY..2 * ENTRY].copy_from_slice(&dd);
        for i in 2..4 {
            b[i * ENTRY..(i + 1) * ENTRY].fill(0);
            b[i * ENTRY] = 0xe5;
        }
    }
    if parent_is_root && name(b, 1) == dotdot {
        b[ENTRY + 20..ENTRY + 22].fill(0);
        b[ENTRY + 26..ENTRY + 28].fill(0);
    }
}
