//! `kernel+squashfs`: `boot/*` split off, the rest as a squashfs image (gzip), written with
//! backhand from the collected [`TreeSink`] (squashfs tables follow the data).

use std::io::{self, Seek, Write};

use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};

use crate::entry::Kind;
use crate::tree::TreeSink;

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("squashfs: {e}"))
}

/// Writes `tree` as a gzip squashfs image; the root directory and implied parents get `mtime`.
pub fn write_to<W: Write + Seek>(tree: &TreeSink, mtime: u64, out: W) -> io::Result<()> {
    let mtime = u32::try_from(mtime).unwrap_or(u32::MAX);
    let mut fs = FilesystemWriter::default();
    fs.set_time(mtime);
    fs.set_root_mode(0o755);
    fs.set_root_uid(0);
    fs.set_root_gid(0);
    fs.set_compressor(FilesystemCompressor::new(Compressor::Gzip, None).map_err(other)?);
    let implied = tree.implied_dirs();
    let mut implied = implied.iter().peekable();
    for (path, (e, data)) in &tree.entries {
        // Parents the stream never named sort before their children.
        while let Some(d) = implied.next_if(|d| d.as_str() < path.as_str()) {
            fs.push_dir(d, NodeHeader::new(0o755, 0, 0, mtime))
                .map_err(other)?;
        }
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

/// Linux `new_encode_dev`.
fn dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}
