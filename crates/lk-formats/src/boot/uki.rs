//! A unified kernel image (UKI): systemd's EFI stub with the kernel, initrd, command line and
//! os-release added as PE sections (`.osrel`, `.cmdline`, `.linux`, `.initrd`), as `ukify`
//! and `objcopy --add-section` lay it out. Debian 12 has no `ukify`, so the sections are
//! appended here: each gets a section header in the room the stub leaves after its table,
//! file data aligned to `FileAlignment` and a virtual address after the stub's image,
//! aligned to `SectionAlignment`; `SizeOfImage` grows to match and the checksum is zeroed
//! (it is not checked for EFI images).

use std::io;

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("UKI stub: {what}"))
}

fn u16_at(b: &[u8], o: usize) -> io::Result<u16> {
    b.get(o..o + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| bad("truncated header"))
}

fn u32_at(b: &[u8], o: usize) -> io::Result<u32> {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| bad("truncated header"))
}

fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

fn align(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Sections readable data (IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ).
const DATA_READ: u32 = 0x0000_0040 | 0x4000_0000;

/// `stub` with `sections` (name up to 8 bytes, data) appended, in order.
pub fn build(stub: &[u8], sections: &[(&str, &[u8])]) -> io::Result<Vec<u8>> {
    if stub.get(..2) != Some(b"MZ") {
        return Err(bad("not a PE file (no MZ)"));
    }
    let pe = u32_at(stub, 0x3c)? as usize;
    if stub.get(pe..pe + 4) != Some(b"PE\0\0") {
        return Err(bad("no PE signature"));
    }
    let coff = pe + 4;
    let nsec = u16_at(stub, coff + 2)? as usize;
    let opt_size = u16_at(stub, coff + 16)? as usize;
    let opt = coff + 20;
    if u16_at(stub, opt)? != 0x20b {
        return Err(bad("not a PE32+ image"));
    }
    let sect_align = u64::from(u32_at(stub, opt + 32)?);
    let file_align = u64::from(u32_at(stub, opt + 36)?);
    let size_of_headers = u32_at(stub, opt + 60)? as usize;
    let table = opt + opt_size;
    let table_end = table + 40 * nsec;
    if table_end + 40 * sections.len() > size_of_headers {
        return Err(bad(&format!(
            "no room for {} more section headers (headers end at {size_of_headers:#x}, table at {table_end:#x})",
            sections.len()
        )));
    }
    // The end of the stub's image, in memory and in the file.
    let mut vend = 0u64;
    let mut fend = stub.len() as u64;
    for i in 0..nsec {
        let s = table + 40 * i;
        let vsize = u64::from(u32_at(stub, s + 8)?);
        let vaddr = u64::from(u32_at(stub, s + 12)?);
        let rsize = u64::from(u32_at(stub, s + 16)?);
        let raddr = u64::from(u32_at(stub, s + 20)?);
        vend = vend.max(vaddr + vsize.max(rsize));
        fend = fend.max(raddr + rsize);
    }
    let mut out = stub.to_vec();
    out.resize(align(fend, file_align) as usize, 0);
    let mut vaddr = align(vend, sect_align);
    for (i, (name, data)) in sections.iter().enumerate() {
        if name.len() > 8 {
            return Err(bad(&format!("section name {name} is longer than 8 bytes")));
        }
        let raddr = out.len() as u64;
        let rsize = align(data.len() as u64, file_align);
        let too_big = || bad(&format!("section {name} does not fit a 32-bit PE image"));
        let h = table_end + 40 * i;
        let mut hdr = [0u8; 40];
        hdr[..name.len()].copy_from_slice(name.as_bytes());
        put32(
            &mut hdr,
            8,
            u32::try_from(data.len()).map_err(|_| too_big())?,
        );
        put32(&mut hdr, 12, u32::try_from(vaddr).map_err(|_| too_big())?);
        put32(&mut hdr, 16, u32::try_from(rsize).map_err(|_| too_big())?);
        put32(&mut hdr, 20, u32::try_from(raddr).map_err(|_| too_big())?);
        put32(&mut hdr, 36, DATA_READ);
        out[h..h + 40].copy_from_slice(&hdr);
        out.extend_from_slice(data);
        out.resize((raddr + rsize) as usize, 0);
        vaddr = align(vaddr + data.len() as u64, sect_align);
    }
    let n = u16::try_from(nsec + sections.len()).map_err(|_| bad("too many sections"))?;
    out[coff + 2..coff + 4].copy_from_slice(&n.to_le_bytes());
    put32(
        &mut out,
        opt + 56,
        u32::try_from(vaddr).map_err(|_| bad("image larger than 4 GiB"))?,
    );
    put32(&mut out, opt + 64, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ with one section, as a stub stand-in.
    fn stub() -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[..2].copy_from_slice(b"MZ");
        put32(&mut b, 0x3c, 0x80);
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        b[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        b[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = coff + 20;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        put32(&mut b, opt + 32, 0x1000);
        put32(&mut b, opt + 36, 0x200);
        put32(&mut b, opt + 56, 0x2000);
        put32(&mut b, opt + 60, 0x400);
        let s = opt + 240;
        b[s..s + 5].copy_from_slice(b".text");
        put32(&mut b, s + 8, 0x10);
        put32(&mut b, s + 12, 0x1000);
        put32(&mut b, s + 16, 0x200);
        put32(&mut b, s + 20, 0x400);
        b.resize(0x600, 0xcc);
        b
    }

    #[test]
    fn sections_are_appended_aligned_and_counted() {
        let out = build(
            &stub(),
            &[(".cmdline", b"console=ttyS0"), (".linux", &[1; 0x300])],
        )
        .unwrap();
        let opt = 0x84 + 20;
        assert_eq!(u16_at(&out, 0x84 + 2).unwrap(), 3);
        let s1 = opt + 240 + 40;
        assert_eq!(&out[s1..s1 + 8], b".cmdline");
        assert_eq!(u32_at(&out, s1 + 8).unwrap(), 13);
        assert_eq!(u32_at(&out, s1 + 12).unwrap(), 0x2000);
        let raddr = u32_at(&out, s1 + 20).unwrap() as usize;
        assert_eq!(&out[raddr..raddr + 13], b"console=ttyS0");
        let s2 = s1 + 40;
        assert_eq!(u32_at(&out, s2 + 12).unwrap(), 0x3000);
        assert_eq!(u32_at(&out, s2 + 20).unwrap() % 0x200, 0);
        assert_eq!(u32_at(&out, opt + 56).unwrap(), 0x4000);
        assert_eq!(out.len() % 0x200, 0);
    }

    #[test]
    fn a_full_header_is_an_error() {
        let mut s = stub();
        put32(&mut s, 0x84 + 20 + 60, 0x84 + 20 + 240 + 40);
        assert!(build(&s, &[(".linux", b"x")]).is_err());
        assert!(build(b"nope", &[]).is_err());
    }
}
