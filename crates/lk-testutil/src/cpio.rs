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

fn hex(b: &[u8]) -> u32 {
    u32::from_str_radix(std::str::from_utf8(b).expect("cpio header"), 16).expect("cpio hex")
}

/// Parses archives from `data` until it ends; returns (entries, archives).
fn archives(mut data: &[u8], out: &mut Initrd) {
    loop {
        while let [0, rest @ ..] = data {
            data = rest;
        }
        if data.is_empty() {
            return;
        }
        assert!(data.starts_with(b"070701"), "not a newc cpio header");
        let h = &data[..110];
        let (mode, nlink, size, namesize) = (
            hex(&h[14..22]),
            hex(&h[38..46]),
            hex(&h[54..62]) as usize,
            hex(&h[94..102]) as usize,
        );
        let name = String::from_utf8_lossy(&data[110..110 + namesize - 1]).into_owned();
        let start = (110 + namesize).div_ceil(4) * 4;
        let end = (start + size).div_ceil(4) * 4;
        let body = data[start..start + size].to_vec();
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

/// Reads every archive of an initrd.
pub fn read_initrd(mut data: &[u8]) -> Initrd {
    let mut out = Initrd::default();
    while !data.is_empty() {
        match data {
            [0, rest @ ..] => data = rest,
            [0x1f, 0x8b, ..] => {
                let mut raw = Vec::new();
                let mut d = flate2::bufread::GzDecoder::new(&mut data);
                d.read_to_end(&mut raw).expect("gunzip");
                out.compressed_parts += 1;
                archives(&raw, &mut out);
            }
            [0x28, 0xb5, 0x2f, 0xfd, ..] => {
                let raw = zstd::stream::decode_all(data).expect("unzstd");
                out.compressed_parts += 1;
                archives(&raw, &mut out);
                data = &[];
            }
            _ => {
                // Uncompressed archives up to the next compressed part: find where the last
                // trailer of this run ends by parsing.
                let mut probe = Initrd::default();
                let used = raw_archives_len(data);
                archives(&data[..used], &mut probe);
                out.entries.extend(probe.entries);
                out.archives += probe.archives;
                data = &data[used..];
            }
        }
    }
    out
}

/// The length of the uncompressed archives at the start of `data`.
fn raw_archives_len(data: &[u8]) -> usize {
    let mut pos = 0;
    loop {
        while data.get(pos) == Some(&0) {
            pos += 1;
        }
        if !data[pos..].starts_with(b"070701") {
            return pos;
        }
        let h = &data[pos..pos + 110];
        let (size, namesize) = (hex(&h[54..62]) as usize, hex(&h[94..102]) as usize);
        let start = pos + (110 + namesize).div_ceil(4) * 4;
        pos = (start + size).div_ceil(4) * 4;
        if pos >= data.len() {
            return data.len();
        }
    }
}
