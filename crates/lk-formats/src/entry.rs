//! One filesystem entry of the root filesystem stream.

use std::io::{self, Read};

use crate::segment::SegmentId;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of this many bytes.
    File(u64),
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(String),
    /// A hard link to this earlier path of the same stream.
    Hardlink(String),
    /// A character device.
    Char(u32, u32),
    /// A block device.
    Block(u32, u32),
    /// A FIFO.
    Fifo,
}

/// A filesystem entry: relative path (no leading `/`), metadata, PAX records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative path, `/`-separated, normalized.
    pub path: String,
    /// Type.
    pub kind: Kind,
    /// Permission bits (incl. setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
    /// Extended attributes.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Extra PAX records (`LINUXKIT.source`, `LINUXKIT.location`).
    pub pax: Vec<(String, String)>,
}

impl Entry {
    /// A directory entry.
    pub fn dir(path: &str, mode: u32, mtime: u64) -> Entry {
        Entry {
            path: path.to_owned(),
            kind: Kind::Dir,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
            pax: Vec::new(),
        }
    }

    /// A regular file entry of `size` bytes.
    pub fn file(path: &str, size: u64, mode: u32, mtime: u64) -> Entry {
        Entry {
            kind: Kind::File(size),
            ..Entry::dir(path, mode, mtime)
        }
    }

    /// A symlink entry.
    pub fn symlink(path: &str, target: &str, mtime: u64) -> Entry {
        Entry {
            kind: Kind::Symlink(target.to_owned()),
            ..Entry::dir(path, 0o777, mtime)
        }
    }

    /// With PAX records `LINUXKIT.source` and `LINUXKIT.location`.
    #[must_use]
    pub fn with_origin(mut self, source: &str, location: &str) -> Entry {
        self.pax = vec![
            ("LINUXKIT.source".to_owned(), source.to_owned()),
            ("LINUXKIT.location".to_owned(), location.to_owned()),
        ];
        self
    }

    /// The data size (0 for everything but files).
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File(n) => n,
            _ => 0,
        }
    }
}

/// Where the entry stream goes.
pub trait Sink {
    /// Writes one entry; `data` yields exactly `entry.size()` bytes.
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()>;
    /// Completes the output.
    fn finish(&mut self) -> io::Result<()>;
    /// Paths that hard links later in the stream will point at (announced before the
    /// targets are written, so a cpio writer can keep a link group together).
    fn link_targets(&mut self, _paths: &[String]) {}
    /// A segment of the stream begins (see [`crate::segment`]); `id` is set when its entries
    /// are a pure function of that id. Returns `true` when this sink already has its output
    /// for the segment (from an earlier build): it then ignores the segment's entries, and
    /// the producer may skip them if every sink says so.
    fn begin_segment(&mut self, _id: Option<&SegmentId>) -> io::Result<bool> {
        Ok(false)
    }
    /// The segment begun last ends.
    fn end_segment(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends every entry to several sinks (one pass over the images for several formats).
pub struct Tee<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Tee<'_> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()> {
        if self.0.len() == 1 {
            return self.0[0].add(entry, data);
        }
        let mut buf = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        data.read_to_end(&mut buf)?;
        for s in &mut self.0 {
            s.add(entry, &mut &buf[..])?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        for s in &mut self.0 {
            s.finish()?;
        }
        Ok(())
    }

    fn link_targets(&mut self, paths: &[String]) {
        for s in &mut self.0 {
            s.link_targets(paths);
        }
    }

    /// `true` only if every sink has the segment.
    fn begin_segment(&mut self, id: Option<&SegmentId>) -> io::Result<bool> {
        let mut all = !self.0.is_empty();
        for s in &mut self.0 {
            all &= s.begin_segment(id)?;
        }
        Ok(all)
    }

    fn end_segment(&mut self) -> io::Result<()> {
        for s in &mut self.0 {
            s.end_segment()?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Tee<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tee({} sinks)", self.0.len())
    }
}
