//! `kernel+initrd` and `tar-kernel-initrd`: `boot/kernel`, `boot/cmdline` and
//! `boot/ucode.cpio` are taken out of the stream; other `boot/*` entries are dropped; the
//! rest becomes compressed newc cpio archives, one per segment of the stream (gzip by
//! default; with the microcode cpio, if any, uncompressed in front, as LinuxKit writes it).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::compress::{Compression as InitrdCompression, Compressor};
use crate::cpio::CpioSink;
use crate::entry::{Entry, Sink};
use crate::segment::{RecordWriter, SegmentId, SegmentStore};
use crate::tar::TarSink;

/// The parts split off the stream.
#[derive(Debug, Default)]
pub struct BootParts {
    /// `boot/kernel`.
    pub kernel: Vec<u8>,
    /// `boot/cmdline`.
    pub cmdline: String,
    /// `boot/ucode.cpio`.
    pub ucode: Vec<u8>,
}

/// Settings that change a segment's archive bytes (part of its record key).
const ARCHIVE_VERSION: &[u8] = b"newc-1";

/// Record kind of an initrd segment in the [`SegmentStore`].
const RECORD: &str = "initrd";

/// How many of the initrd's segments came from the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Segments whose archive was written by this build.
    pub built: usize,
    /// Segments whose archive was copied from the store.
    pub reused: usize,
    /// Bytes copied from the store.
    pub reused_bytes: u64,
}

/// An output that can take a file's bytes fast (`copy_file_range` for files).
pub trait AppendFile: Write {
    /// Appends `len` bytes of `src` from its current position.
    fn append_file(&mut self, src: &mut File, len: u64) -> io::Result<u64> {
        io::copy(&mut Read::by_ref(src).take(len), self)
    }
}

impl AppendFile for Vec<u8> {}

impl AppendFile for crate::staged::Staged {
    fn append_file(&mut self, src: &mut File, len: u64) -> io::Result<u64> {
        self.copy_from_file(src, len)
    }
}

/// Where a segment's compressed archive goes: the output (or, before the first archive has
/// been written, a buffer: microcode must come first and is only known once the kernel's
/// segment is complete), and a copy for the store.
struct SegOut<W> {
    out: Result<W, Vec<u8>>,
    copy: Option<RecordWriter>,
}

impl<W: Write> Write for SegOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Ok(w) => w.write_all(buf)?,
            Err(v) => v.extend_from_slice(buf),
        }
        // The copy is a cache: if it cannot be written, the segment is just not kept.
        if let Some(c) = &mut self.copy
            && c.write_all(buf).is_err()
        {
            self.copy = None;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Ok(w) => w.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// The segment being received.
enum Open<W: Write> {
    /// No segment is open.
    None,
    /// Entries are written into this segment's archive (started at its first entry).
    Writing {
        cpio: Option<Box<CpioSink<Compressor<SegOut<W>>>>>,
        /// The store's copy, until the archive starts.
        copy: Option<RecordWriter>,
        /// Boot files set during the segment: kernel, ucode, cmdline.
        set: [bool; 3],
    },
    /// The segment's output came from the store; its entries are ignored.
    Reused,
}

/// Splits `boot/*` off and writes the rest as compressed newc cpio archives into `initrd`,
/// one per segment of the stream (the kernel unpacks concatenated archives in order), each
/// kept in the [`SegmentStore`] under its segment's id and reused by later builds.
pub struct InitrdSink<W: Write> {
    out: Option<W>,
    open: Open<W>,
    links: HashSet<String>,
    compression: InitrdCompression,
    store: Option<SegmentStore>,
    /// Whether the first archive has been written (microcode goes before it).
    started: bool,
    /// What was split off.
    pub boot: BootParts,
    /// Segments built and reused.
    pub stats: SegmentStats,
}

impl<W: Write> std::fmt::Debug for InitrdSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InitrdSink({:?})", self.stats)
    }
}

impl<W: AppendFile> InitrdSink<W> {
    /// An initrd written into `initrd`; segments are kept in `store` when given.
    pub fn new(
        initrd: W,
        compression: InitrdCompression,
        store: Option<SegmentStore>,
    ) -> InitrdSink<W> {
        InitrdSink {
            out: Some(initrd),
            open: Open::None,
            links: HashSet::new(),
            compression,
            store,
            started: false,
            boot: BootParts::default(),
            stats: SegmentStats::default(),
        }
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the initrd is being written elsewhere"))
    }

    /// Writes the microcode in front, once, before the first archive.
    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            let ucode = std::mem::take(&mut self.boot.ucode);
            let r = self.out()?.write_all(&ucode);
            self.boot.ucode = ucode;
            r?;
        }
        Ok(())
    }

    /// The archive of the open segment, started if need be.
    fn cpio(&mut self) -> io::Result<&mut CpioSink<Compressor<SegOut<W>>>> {
        if matches!(self.open, Open::None) {
            // Entries outside any segment: they form one of their own.
            self.open = Open::Writing {
                cpio: None,
                copy: None,
                set: [false; 3],
            };
        }
        if let Open::Writing {
            cpio: None, copy, ..
        } = &mut self.open
        {
            let copy = copy.take();
            let out = match self.out.take() {
                Some(w) if self.started => Ok(w),
                Some(w) => {
                    self.out = Some(w);
                    Err(Vec::new())
                }
                None => return Err(io::Error::other("the initrd is being written elsewhere")),
            };
            let c = Box::new(CpioSink::new(
                Compressor::new(SegOut { out, copy }, self.compression)?,
                std::mem::take(&mut self.links),
            ));
            if let Open::Writing { cpio, .. } = &mut self.open {
                *cpio = Some(c);
            }
        }
        match &mut self.open {
            Open::Writing { cpio: Some(c), .. } => Ok(c),
            _ => Err(io::Error::other("no archive is open")),
        }
    }

    /// Closes the open segment: finishes its archive and keeps it in the store.
    fn close(&mut self) -> io::Result<()> {
        let Open::Writing { cpio, copy, set } = std::mem::replace(&mut self.open, Open::None)
        else {
            return Ok(());
        };
        self.links.clear();
        let copy = match cpio {
            Some(c) => {
                let seg = c.into_inner()?.finish()?;
                match seg.out {
                    Ok(w) => self.out = Some(w),
                    Err(buffered) => {
                        self.start()?;
                        self.out()?.write_all(&buffered)?;
                    }
                }
                self.stats.built += 1;
                seg.copy
            }
            None => copy,
        };
        if let Some(mut copy) = copy {
            let archive = copy.len();
            let parts = [
                (set[0], &self.boot.kernel[..]),
                (set[1], &self.boot.ucode[..]),
                (set[2], self.boot.cmdline.as_bytes()),
            ];
            let mut lens = vec![archive];
            let mut written = Ok(());
            for (is_set, data) in parts {
                lens.push(if is_set { data.len() as u64 + 1 } else { 0 });
                if is_set && written.is_ok() {
                    written = copy.write_all(data);
                }
            }
            for l in lens {
                if written.is_ok() {
                    written = copy.write_all(&l.to_le_bytes());
                }
            }
            if written.is_ok() {
                let _ = copy.commit();
            }
        }
        Ok(())
    }

    /// Copies a stored segment: its boot files, then its archive.
    fn reuse(&mut self, mut f: File, len: u64) -> io::Result<bool> {
        if len < 32 {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(len - 32))?;
        let mut l = [0u8; 32];
        f.read_exact(&mut l)?;
        let lens: Vec<u64> = l
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let parts: u64 = lens[1..].iter().map(|n| n.saturating_sub(1)).sum();
        if lens[0].checked_add(parts).and_then(|n| n.checked_add(32)) != Some(len) {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(lens[0]))?;
        let mut read = |n: u64| -> io::Result<Option<Vec<u8>>> {
            if n == 0 {
                return Ok(None);
            }
            let mut v = vec![0u8; usize::try_from(n - 1).map_err(io::Error::other)?];
            f.read_exact(&mut v)?;
            Ok(Some(v))
        };
        let (kernel, ucode, cmdline) = (read(lens[1])?, read(lens[2])?, read(lens[3])?);
        if let Some(k) = kernel {
            self.boot.kernel = k;
        }
        if let Some(u) = ucode {
            self.boot.ucode = u;
        }
        if let Some(c) = cmdline {
            self.boot.cmdline = String::from_utf8_lossy(&c).into_owned();
        }
        if lens[0] > 0 {
            self.start()?;
            f.seek(SeekFrom::Start(0))?;
            let n = self.out()?.append_file(&mut f, lens[0])?;
            if n != lens[0] {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a stored initrd segment ended early",
                ));
            }
            self.stats.reused_bytes += n;
        }
        self.stats.reused += 1;
        Ok(true)
    }

    /// Finishes the archives and returns the initrd writer, boot parts and segment counts.
    pub fn into_parts(mut self) -> io::Result<(W, BootParts, SegmentStats)> {
        self.finish()?;
        let w = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("the initrd is being written elsewhere"))?;
        Ok((w, self.boot, self.stats))
    }
}

impl<W: AppendFile> Sink for InitrdSink<W> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        if matches!(self.open, Open::Reused) {
            return io::copy(&mut data.take(e.size()), &mut io::sink()).map(|_| ());
        }
        let slot = match e.path.as_str() {
            "boot/kernel" => 0,
            "boot/ucode.cpio" => 1,
            "boot/cmdline" => 2,
            p if p.starts_with("boot/") => {
                return io::copy(&mut data.take(e.size()), &mut io::sink()).map(|_| ());
            }
            _ => return self.cpio()?.add(e, data),
        };
        let mut v = Vec::new();
        data.take(e.size()).read_to_end(&mut v)?;
        match slot {
            0 => self.boot.kernel = v,
            1 => self.boot.ucode = v,
            _ => self.boot.cmdline = String::from_utf8_lossy(&v).into_owned(),
        }
        if let Open::Writing { set, .. } = &mut self.open {
            set[slot] = true;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.close()?;
        if !self.started {
            // No entry at all: an empty archive still makes a valid initrd.
            self.cpio()?;
            self.close()?;
        }
        Ok(())
    }

    fn link_targets(&mut self, paths: &[String]) {
        match &mut self.open {
            Open::Writing { cpio: Some(c), .. } => c.link_targets(paths),
            Open::Reused => {}
            _ => self.links.extend(paths.iter().cloned()),
        }
    }

    fn begin_segment(&mut self, id: Option<&SegmentId>) -> io::Result<bool> {
        self.close()?;
        let key = id.map(|i| {
            let mut settings = ARCHIVE_VERSION.to_vec();
            settings.extend_from_slice(self.compression.name().as_bytes());
            i.derive(RECORD, &settings)
        });
        if let (Some(store), Some(key)) = (&self.store, &key)
            && let Some((f, len)) = store.open(key, RECORD)
            && self.reuse(f, len)?
        {
            self.open = Open::Reused;
            return Ok(true);
        }
        let copy = match (&self.store, &key) {
            (Some(store), Some(key)) => store.writer(key, RECORD).ok(),
            _ => None,
        };
        self.open = Open::Writing {
            cpio: None,
            copy,
            set: [false; 3],
        };
        Ok(false)
    }

    fn end_segment(&mut self) -> io::Result<()> {
        self.close()
    }
}

/// Writes the `tar-kernel-initrd` tar: `kernel`, `initrd.img`, `cmdline` (and `ucode.cpio`).
pub fn kernel_initrd_tar(
    out: impl Write,
    boot: &BootParts,
    initrd: &mut dyn Read,
    initrd_size: u64,
    mtime: u64,
) -> io::Result<()> {
    let mut t = TarSink::new(out);
    t.add(
        &Entry::file("kernel", boot.kernel.len() as u64, 0o644, mtime),
        &mut &boot.kernel[..],
    )?;
    t.add(
        &Entry::file("initrd.img", initrd_size, 0o644, mtime),
        initrd,
    )?;
    t.add(
        &Entry::file("cmdline", boot.cmdline.len() as u64, 0o644, mtime),
        &mut boot.cmdline.as_bytes(),
    )?;
    if !boot.ucode.is_empty() {
        t.add(
            &Entry::file("ucode.cpio", boot.ucode.len() as u64, 0o644, mtime),
            &mut &boot.ucode[..],
        )?;
    }
    t.finish()?;
    t.into_inner()?.flush()
}
