//! Partition tables written in user space: an MBR with one partition (BIOS disks) and a GPT
//! with one partition and its protective MBR (EFI disks). Identifiers (the MBR disk
//! signature, the GPT disk and partition GUIDs) are given by the caller, derived from the
//! content, so two builds of the same input give the same bytes.

use std::io::{self, Seek, SeekFrom, Write};

/// Bytes per sector of every disk we write.
pub const SECTOR: u64 = 512;
/// Where the one partition starts: 1 MiB, the alignment every partitioning tool uses.
pub const FIRST_LBA: u64 = 2048;
/// Sectors at the end of a GPT disk for the backup table and header.
const GPT_TAIL: u64 = 33;
/// Entries in a GPT partition array (the minimum the UEFI specification allows: 16 KiB).
const GPT_ENTRIES: u32 = 128;
const GPT_ENTRY_SIZE: u32 = 128;

/// The EFI System Partition type GUID, C12A7328-F81F-11D2-BA4B-00A0C93EC93B.
pub const ESP_TYPE: [u8; 16] = guid_bytes(
    0xC12A_7328,
    0xF81F,
    0x11D2,
    [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B],
);

/// A GUID in its on-disk (mixed-endian) byte order.
const fn guid_bytes(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// A random-looking (version 4 layout) GUID from 16 bytes of a content hash.
pub fn guid_from(hash: &[u8]) -> [u8; 16] {
    let mut g = [0u8; 16];
    g.copy_from_slice(&hash[..16]);
    g[7] = (g[7] & 0x0f) | 0x40; // version field: the high nibble of the third group (LE)
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

/// One partition: where it is and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// First sector.
    pub first_lba: u64,
    /// Sectors.
    pub sectors: u64,
}

impl Partition {
    /// Byte offset of the partition in the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR
    }
    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.sectors * SECTOR
    }
}

fn mbr_entry(active: bool, kind: u8, first: u64, sectors: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if active { 0x80 } else { 0 };
    // CHS fields: "beyond CHS range" (LBA is authoritative), as every modern tool writes.
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[4] = kind;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    let first = u32::try_from(first).unwrap_or(u32::MAX);
    let sectors = u32::try_from(sectors).unwrap_or(u32::MAX);
    e[8..12].copy_from_slice(&first.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    e
}

/// The one partition of a disk of `disk_bytes` bytes (a multiple of 1 MiB) from 1 MiB to
/// the end, or to the start of the backup GPT.
pub fn layout(disk_bytes: u64, gpt: bool) -> Partition {
    let total = disk_bytes / SECTOR;
    let end = if gpt { total - GPT_TAIL - 1 } else { total };
    Partition {
        first_lba: FIRST_LBA,
        sectors: end - FIRST_LBA,
    }
}

/// Writes an MBR with boot code `code` (up to 440 bytes, may be empty), disk signature
/// `signature` and one partition of type `kind` (active when `active`).
pub fn write_mbr(
    disk: &mut (impl Write + Seek),
    code: &[u8],
    signature: u32,
    part: Partition,
    kind: u8,
    active: bool,
) -> io::Result<()> {
    if code.len() > 440 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("MBR boot code is {} bytes; at most 440 fit", code.len()),
        ));
    }
    let mut s = [0u8; 512];
    s[..code.len()].copy_from_slice(code);
    s[440..444].copy_from_slice(&signature.to_le_bytes());
    s[446..462].copy_from_slice(&mbr_entry(active, kind, part.first_lba, part.sectors));
    s[510] = 0x55;
    s[511] = 0xaa;
    disk.seek(SeekFrom::Start(0))?;
    disk.write_all(&s)
}

fn utf16_name(name: &str) -> [u8; 72] {
    let mut out = [0u8; 72];
    for (i, u) in name.encode_utf16().take(36).enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
    }
    out
}

fn gpt_header(
    current: u64,
    backup: u64,
    entries_lba: u64,
    total: u64,
    disk_guid: &[u8; 16],
    entries_crc: u32,
) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&current.to_le_bytes());
    h[32..40].copy_from_slice(&backup.to_le_bytes());
    h[40..48].copy_from_slice(&34u64.to_le_bytes());
    h[48..56].copy_from_slice(&(total - GPT_TAIL - 1).to_le_bytes());
    h[56..72].copy_from_slice(disk_guid);
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[80..84].copy_from_slice(&GPT_ENTRIES.to_le_bytes());
    h[84..88].copy_from_slice(&GPT_ENTRY_SIZE.to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes a protective MBR and the primary and backup GPT of a `disk_bytes` disk with one
/// partition `part` of type `kind`, named `name`.
pub fn write_gpt(
    disk: &mut (impl Write + Seek),
    disk_bytes: u64,
    disk_guid: &[u8; 16],
    part: Partition,
    kind: &[u8; 16],
    part_guid: &[u8; 16],
    name: &str,
) -> io::Result<()> {
    let total = disk_bytes / SECTOR;
    let protective = Partition {
        first_lba: 1,
        sectors: (total - 1).min(u64::from(u32::MAX)),
    };
    write_mbr(disk, &[], 0, protective, 0xee, false)?;
    let mut entries = vec![0u8; (GPT_ENTRIES * GPT_ENTRY_SIZE) as usize];
    entries[0..16].copy_from_slice(kind);
    entries[16..32].copy_from_slice(part_guid);
    entries[32..40].copy_from_slice(&part.first_lba.to_le_bytes());
    entries[40..48].copy_from_slice(&(part.first_lba + part.sectors - 1).to_le_bytes());
    entries[56..128].copy_from_slice(&utf16_name(name));
    let crc = crc32fast::hash(&entries);
    let last = total - 1;
    let backup_entries = total - GPT_TAIL;
    disk.seek(SeekFrom::Start(SECTOR))?;
    disk.write_all(&gpt_header(1, last, 2, total, disk_guid, crc))?;
    disk.write_all(&entries)?;
    disk.seek(SeekFrom::Start(backup_entries * SECTOR))?;
    disk.write_all(&entries)?;
    disk.write_all(&gpt_header(last, 1, backup_entries, total, disk_guid, crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_guid_has_the_specified_byte_order() {
        assert_eq!(
            ESP_TYPE[..8],
            [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11]
        );
    }

    #[test]
    fn gpt_layout_leaves_room_for_the_backup() {
        let p = layout(64 << 20, true);
        assert_eq!(p.first_lba, 2048);
        assert_eq!(p.first_lba + p.sectors, (64 << 20) / 512 - 34);
        let p = layout(64 << 20, false);
        assert_eq!(p.first_lba + p.sectors, (64 << 20) / 512);
    }

    #[test]
    fn headers_carry_valid_crcs() {
        let mut disk = io::Cursor::new(vec![0u8; 4 << 20]);
        let p = layout(4 << 20, true);
        write_gpt(&mut disk, 4 << 20, &[1; 16], p, &ESP_TYPE, &[2; 16], "ESP").unwrap();
        let b = disk.into_inner();
        let h = &b[512..1024];
        let mut z = h[..92].to_vec();
        z[16..20].fill(0);
        assert_eq!(crc32fast::hash(&z).to_le_bytes(), h[16..20]);
        let backup = &b[b.len() - 512..];
        assert_eq!(&backup[..8], b"EFI PART");
        assert_eq!(b[450], 0xee);
        assert_eq!(&b[510..512], &[0x55, 0xaa]);
    }
}
