//! `kernel+squashfs`: `boot/*` split off, the rest as a squashfs image (gzip), written with
//! backhand. Squashfs is written at the end (its tables follow the data), so entries are
//! collected first; a later entry of a name replaces an earlier one, as unpacking would.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};

use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};

use crate::entry::{Entry, Kind, Sink};
use crate::initrd::BootParts;

/// Collects the non-boot entries and writes a squashfs image on [`SquashfsSink::write_to`].
#[derive(Debug, Default)]
pub struct SquashfsSink {
    entries: BTreeMap<String, (Entry, Vec<u8>)>,
    /// What was split off.
    pub boot: BootParts,
    mtime: u32,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("squashfs: {e}"))
}

impl SquashfsSink {
    /// A sink whose root directory gets `mtime`.
    pub fn new(mtime: u64) -> SquashfsSink {
        SquashfsSink {
            mtime: u32::try_from(mtime).unwrap_or(u32::MAX),
            ..SquashfsSink::default()
        }
    }

    /// Writes the image.
    pub fn write_to<W: Write + Seek>(self, out: W) -> io::Result<()> {
        let mut fs = FilesystemWriter::default();
        fs.set_time(self.mtime);
        fs.set_root_mode(0o755);
        fs.set_root_uid(0);
        fs.set_root_gid(0);
        fs.set_compressor(FilesystemCompressor::new(Compressor::Gzip, None).map_err(other)?);
        let mut present: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (path, (e, data)) in &self.entries {
            // Parents the stream never named explicitly.
            let mut acc = String::new();
            for c in path
                .split('/')
                .collect::<Vec<_>>()
                .split_last()
                .map(|(_, p)| p.to_vec())
                .unwrap_or_default()
            {
                acc = if acc.is_empty() {
                    c.to_owned()
                } else {
                    format!("{acc}/{c}")
                };
                if present.insert(acc.clone()) {
                    fs.push_dir(&acc, NodeHeader::new(0o755, 0, 0, self.mtime))
                        .map_err(other)?;
                }
            }
            present.insert(path.clone());
            let h = NodeHeader::new(
                (e.mode & 0o7777) as u16,
                e.uid as u32,
                e.gid as u32,
                e.mtime as u32,
            );
            match &e.kind {
                Kind::File(_) | Kind::Hardlink(_) => fs
                    .push_file(io::Cursor::new(data.clone()), path, h)
                    .map_err(other)?,
                Kind::Dir => fs.push_dir(path, h).map_err(other)?,
                Kind::Symlink(t) => fs.push_symlink(t, path, h).map_err(other)?,
                Kind::Char(ma, mi) => fs.push_char_device(dev(*ma, *mi), path, h).map_err(other)?,
                Kind::Block(ma, mi) => fs
                    .push_block_device(dev(*ma, *mi), path, h)
                    .map_err(other)?,
                Kind::Fifo => fs.push_fifo(path, h).map_err(other)?,
            }
        }
        fs.write(out).map_err(other)?;
        Ok(())
    }
}

/// Linux `new_encode_dev`.
fn dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

impl Sink for SquashfsSink {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let mut buf = Vec::new();
        data.take(e.size()).read_to_end(&mut buf)?;
        match e.path.as_str() {
            "boot/kernel" => self.boot.kernel = buf,
            "boot/cmdline" => self.boot.cmdline = String::from_utf8_lossy(&buf).into_owned(),
            "boot/ucode.cpio" => self.boot.ucode = buf,
            p if p.starts_with("boot/") => {}
            _ => {
                let mut entry = e.clone();
                if let Kind::Hardlink(t) = &e.kind {
                    // Squashfs hard links are not supported by the writer: copy the data.
                    let target = self.entries.get(t).map(|(te, d)| (te.mode, d.clone()));
                    let (mode, d) = target.ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("hard link {} -> {t}: no such earlier file", e.path),
                        )
                    })?;
                    entry.kind = Kind::File(d.len() as u64);
                    entry.mode = mode;
                    buf = d;
                }
                self.entries.insert(e.path.clone(), (entry, buf));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
