//! Reads an initrd as the kernel does: optional uncompressed archives, then compressed
//! parts (gzip members or zstd frames), each holding newc cpio archives, concatenated.

use std::io::Read;

/// One cpio entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpioEntry {
    /// Name as stored.
    pub name: String,
    /// `st_mode`.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Data (symlink target for symlinks).
    pub data: Vec<u8>,
}

/// How many archives and compressed parts an initrd has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Initrd {
    /// Every entry of every archive, in order (trailers left out).
    pub entries: Vec<CpioEntry>,
    /// Archives (each ends with `TRAILER!!!`).
    pub archives: usize,
    /// Compressed parts (gzip members, zstd frames counted as one part per run).
    pub compressed_parts: usize,
}

impl Initrd {
    /// The entry named `name` last (later archives override earlier ones).
    pub fn get(&self, name: &str) -> Option<&CpioEntry> {
        self.entries.iter().rev().find(|e| e.name == name)
    }

    /// Every name.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

/// Why an initrd could not be read.
pub type CpioError = String;

fn hex(b: &[u8]) -> Result<u32, CpioError> {
    let text = std::str::from_utf8(b).map_err(|_| "cpio header field is not ASCII".to_owned())?;
    u32::from_str_radix(text, 16).map_err(|_| format!("cpio header field `{text}` is not hex"))
}

/// `data[from..to]`, or an error naming what was cut short.
fn slice<'a>(data: &'a [u8], from: usize, to: usize, what: &str) -> Result<&'a [u8], CpioError> {
    data.get(from..to).ok_or_else(|| {
        format!(
            "{what} runs past the end of the archive ({to} > {})",
            data.len()
        )
    })
}

/// One newc header at the start of `data`: (mode, nlink, size, namesize).
fn header(data: &[u8]) -> Result<(u32, u32, usize, usize), CpioError> {
    if !data.starts_with(b"070701") {
        return Err("not a newc cpio header".into());
    }
    let h = slice(data, 0, 110, "cpio header")?;
    Ok((
        hex(&h[14..22])?,
        hex(&h[38..46])?,
        hex(&h[54..62])? as usize,
        hex(&h[94..102])? as usize,
    ))
}

/// Parses archives from `data` until it ends.
fn archives(mut data: &[u8], out: &mut Initrd) -> Result<(), CpioError> {
    loop {
        while let [0, rest @ ..] = data {
            data = rest;
        }
        if data.is_empty() {
            return Ok(());
        }
        let (mode, nlink, size, namesize) = header(data)?;
        if namesize == 0 {
            return Err("cpio entry with an empty name".into());
        }
        let name = String::from_utf8_lossy(slice(data, 110, 110 + namesize - 1, "cpio name")?)
            .into_owned();
        let start = (110 + namesize).div_ceil(4) * 4;
        let body = slice(data, start, start.saturating_add(size), "cpio data")?.to_vec();
        let end = (start + size).div_ceil(4) * 4;
        data = &data[end.min(data.len())..];
        if name == "TRAILER!!!" {
            out.archives += 1;
            continue;
        }
        out.entries.push(CpioEntry {
            name,
            mode,
            nlink,
            data: body,
        });
    }
}

/// Reads every archive of an initrd; panics on a malformed one (tests read our own output).
pub fn read_initrd(data: &[u8]) -> Initrd {
    try_read_initrd(data).unwrap_or_else(|e| panic!("reading the initrd: {e}"))
}

/// Reads every archive of an initrd (gzip members, zstd frames and plain archives in any
/// order, as the kernel does), or says what is wrong with it.
pub fn try_read_initrd(mut data: &[u8]) -> Result<Initrd, CpioError> {
    let mut out = Initrd::default();
    while !data.is_empty() {
        match data {
            [0, rest @ ..] => data = rest,
            [0x1f, 0x8b, ..] => {
                let mut raw = Vec::new();
                let mut d = flate2::bufread::GzDecoder::new(&mut data);
                d.read_to_end(&mut raw)
                    .map_err(|e| format!("gunzip: {e}"))?;
                out.compressed_parts += 1;
                archives(&raw, &mut out)?;
            }
            [0x28, 0xb5, 0x2f, 0xfd, ..] => {
                let raw = zstd::stream::decode_all(data).map_err(|e| format!("unzstd: {e}"))?;
                out.compressed_parts += 1;
                archives(&raw, &mut out)?;
                data = &[];
            }
            _ => {
                // Uncompressed archives up to the next compressed part: find where the last
                // trailer of this run ends by parsing.
                let mut probe = Initrd::default();
                let used = raw_archives_len(data)?;
                if used == 0 {
                    return Err("neither a cpio archive nor a gzip or zstd part".into());
                }
                archives(&data[..used], &mut probe)?;
                out.entries.extend(probe.entries);
                out.archives += probe.archives;
                data = &data[used..];
            }
        }
    }
    Ok(out)
}

/// The length of the uncompressed archives at the start of `data`.
fn raw_archives_len(data: &[u8]) -> Result<usize, CpioError> {
    let mut pos = 0;
    loop {
        while data.get(pos) == Some(&0) {
            pos += 1;
        }
        if !data[pos..].starts_with(b"070701") {
            return Ok(pos);
        }
        let (_, _, size, namesize) = header(&data[pos..])?;
        let start = pos + (110 + namesize).div_ceil(4) * 4;
        pos = start.saturating_add(size).div_ceil(4).saturating_mul(4);
        if pos >= data.len() {
            return Ok(data.len());
        }
    }
}
