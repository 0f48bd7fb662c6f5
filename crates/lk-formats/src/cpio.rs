//! newc ("070701") cpio output, as the kernel's initramfs unpacker reads it.
//!
//! Hard links share an inode number; the data is written with the last entry of the group
//! (the unpacker links earlier names to it), so hard links stay hard links (LinuxKit turns
//! them into symlinks).

use std::collections::HashMap;
use std::io::{self, Read, Write};

use crate::entry::{Entry, Kind, Sink};

const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFIFO: u32 = 0o010_000;

/// Writes entries as a newc cpio archive.
pub struct CpioSink<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
    /// path -> (inode, mode, uid, gid, mtime, data) of regular files that are link targets.
    files: HashMap<String, u32>,
    /// Hard links waiting for their target's data: target path -> extra names.
    pending_links: Vec<(Entry, u32)>,
    link_counts: HashMap<u32, u32>,
    link_data: HashMap<u32, (Entry, Vec<u8>)>,
    hardlink_targets: std::collections::HashSet<String>,
    finished: bool,
}

impl<W: Write> std::fmt::Debug for CpioSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpioSink({} bytes)", self.written)
    }
}

impl<W: Write> CpioSink<W> {
    /// A cpio writer on `out`. `hardlink_targets` are the paths some hard link points at
    /// (their data is held until the group is complete); pass an empty set if unknown and
    /// hard links are then written with a copy of the data.
    pub fn new(out: W, hardlink_targets: std::collections::HashSet<String>) -> CpioSink<W> {
        CpioSink {
            out,
            written: 0,
            next_ino: 1,
            files: HashMap::new(),
            pending_links: Vec::new(),
            link_counts: HashMap::new(),
            link_data: HashMap::new(),
            hardlink_targets,
            finished: false,
        }
    }

    /// Finishes and returns the writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.finish()?;
        Ok(self.out)
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - (self.written % 4)) % 4;
        self.out.write_all(&[0u8; 3][..pad as usize])?;
        self.written += pad;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn header(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        uid: u64,
        gid: u64,
        nlink: u32,
        mtime: u64,
        size: u64,
        rdev: (u32, u32),
    ) -> io::Result<()> {
        let namesize = name.len() + 1;
        let h = format!(
            "070701{ino:08X}{mode:08X}{uid:08X}{gid:08X}{nlink:08X}{mtime:08X}{size:08X}{:08X}{:08X}{:08X}{:08X}{namesize:08X}{:08X}",
            0,
            0,
            rdev.0,
            rdev.1,
            0,
            uid = uid as u32,
            gid = gid as u32,
            mtime = mtime as u32,
            size = size as u32,
        );
        self.out.write_all(h.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.written += 110 + namesize as u64;
        self.pad()
    }

    fn data(&mut self, data: &mut dyn Read, size: u64) -> io::Result<()> {
        let n = io::copy(&mut data.take(size), &mut self.out)?;
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("entry data ended after {n} of {size} bytes"),
            ));
        }
        self.written += size;
        self.pad()
    }

    fn flush_links(&mut self) -> io::Result<()> {
        let groups: Vec<u32> = self.link_data.keys().copied().collect();
        for ino in groups {
            let Some((target, data)) = self.link_data.remove(&ino) else {
                continue;
            };
            let nlink = self.link_counts.get(&ino).copied().unwrap_or(1);
            let links: Vec<Entry> = self
                .pending_links
                .iter()
                .filter(|(_, i)| *i == ino)
                .map(|(e, _)| e.clone())
                .collect();
            // All names of the group but the last carry no data; the last carries it.
            let mut names: Vec<&Entry> = vec![&target];
            names.extend(links.iter());
            let last = names.len() - 1;
            for (i, e) in names.iter().enumerate() {
                let size = if i == last { data.len() as u64 } else { 0 };
                self.header(
                    &e.path,
                    ino,
                    S_IFREG | (target.mode & 0o7777),
                    target.uid,
                    target.gid,
                    nlink,
                    target.mtime,
                    size,
                    (0, 0),
                )?;
                if i == last {
                    self.data(&mut &data[..], size)?;
                }
            }
        }
        self.pending_links.clear();
        Ok(())
    }
}

impl<W: Write> Sink for CpioSink<W> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let perm = e.mode & 0o7777;
        match &e.kind {
            Kind::File(size) => {
                if self.hardlink_targets.contains(&e.path) {
                    let mut buf = Vec::with_capacity(*size as usize);
                    data.take(*size).read_to_end(&mut buf)?;
                    self.files.insert(e.path.clone(), ino);
                    self.link_counts.insert(ino, 1);
                    self.link_data.insert(ino, (e.clone(), buf));
                    return Ok(());
                }
                self.files.insert(e.path.clone(), ino);
                self.header(
                    &e.path,
                    ino,
                    S_IFREG | perm,
                    e.uid,
                    e.gid,
                    1,
                    e.mtime,
                    *size,
                    (0, 0),
                )?;
                self.data(data, *size)
            }
            Kind::Hardlink(target) => match self.files.get(target).copied() {
                Some(t) if self.link_data.contains_key(&t) => {
                    *self.link_counts.entry(t).or_insert(1) += 1;
                    self.pending_links.push((e.clone(), t));
                    Ok(())
                }
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "hard link {} -> {target}: the target was not announced as a link target or is not an earlier regular file",
                        e.path
                    ),
                )),
            },
            Kind::Dir => self.header(
                &e.path,
                ino,
                S_IFDIR | perm,
                e.uid,
                e.gid,
                2,
                e.mtime,
                0,
                (0, 0),
            ),
            Kind::Symlink(t) => {
                self.header(
                    &e.path,
                    ino,
                    S_IFLNK | 0o777,
                    e.uid,
                    e.gid,
                    1,
                    e.mtime,
                    t.len() as u64,
                    (0, 0),
                )?;
                self.data(&mut t.as_bytes(), t.len() as u64)
            }
            Kind::Char(ma, mi) => self.header(
                &e.path,
                ino,
                S_IFCHR | perm,
                e.uid,
                e.gid,
                1,
                e.mtime,
                0,
                (*ma, *mi),
            ),
            Kind::Block(ma, mi) => self.header(
                &e.path,
                ino,
                S_IFBLK | perm,
                e.uid,
                e.gid,
                1,
                e.mtime,
                0,
                (*ma, *mi),
            ),
            Kind::Fifo => self.header(
                &e.path,
                ino,
                S_IFIFO | perm,
                e.uid,
                e.gid,
                1,
                e.mtime,
                0,
                (0, 0),
            ),
        }
    }

    fn link_targets(&mut self, paths: &[String]) {
        self.hardlink_targets.extend(paths.iter().cloned());
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.flush_links()?;
        self.header("TRAILER!!!", 0, 0, 0, 0, 1, 0, 0, (0, 0))?;
        self.out.flush()
    }
}
