//! FAT file systems written in user space with the `fatfs` crate: the ESP and boot partition
//! of the disk formats (FAT32) and the El Torito EFI image of the ISOs (FAT12/16). Every
//! date is the build's `SOURCE_DATE_EPOCH` and the volume id is given (derived from the
//! content), so the bytes depend only on the input.
//!
//! fatfs 0.3.6 (the latest release) writes long-name entries in front of the `.` and `..`
//! of the directories it creates; [`crate::boot::fat_dots`] puts them right afterwards.

use std::io::{self, Read, Seek, SeekFrom, Write};

use fatfs::{Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time};

/// A window `[start, start + len)` of a file, as a stream of its own. Its first bytes (the
/// reserved sectors and the FATs, which fatfs reads and writes a few bytes at a time for
/// every cluster) may be held in memory and written back by [`Slice::commit`].
#[derive(Debug)]
pub struct Slice<'a, F> {
    inner: &'a mut F,
    start: u64,
    len: u64,
    pos: u64,
    head: Vec<u8>,
    dirty: bool,
}

impl<'a, F: Read + Write + Seek> Slice<'a, F> {
    /// The window at `start` of `len` bytes.
    pub fn new(inner: &'a mut F, start: u64, len: u64) -> io::Result<Slice<'a, F>> {
        Ok(Slice {
            inner,
            start,
            len,
            pos: 0,
            head: Vec::new(),
            dirty: false,
        })
    }

    /// The window with its first `head` bytes in memory: read from the file when `load`,
    /// else zeros (a volume about to be formatted).
    pub fn cached(
        inner: &'a mut F,
        start: u64,
        len: u64,
        head: u64,
        load: bool,
    ) -> io::Result<Slice<'a, F>> {
        let mut buf = vec![0u8; head.min(len) as usize];
        if load {
            inner.seek(SeekFrom::Start(start))?;
            inner.read_exact(&mut buf)?;
        }
        Ok(Slice {
            inner,
            start,
            len,
            pos: 0,
            head: buf,
            dirty: !load,
        })
    }

    /// Writes the cached head back.
    pub fn commit(self) -> io::Result<()> {
        if self.dirty {
            self.inner.seek(SeekFrom::Start(self.start))?;
            self.inner.write_all(&self.head)?;
        }
        self.inner.flush()
    }

    fn in_head(&self) -> Option<usize> {
        let p = usize::try_from(self.pos).ok()?;
        (p < self.head.len()).then_some(p)
    }
}

impl<F: Read + Seek> Read for Slice<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = (self.len - self.pos).min(buf.len() as u64) as usize;
        let n = match usize::try_from(self.pos)
            .ok()
            .filter(|p| *p < self.head.len())
        {
            Some(p) => {
                let n = max.min(self.head.len() - p);
                buf[..n].copy_from_slice(&self.head[p..p + n]);
                n
            }
            None => {
                self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
                self.inner.read(&mut buf[..max])?
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<F: Read + Write + Seek> Write for Slice<'_, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos >= self.len && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        let max = (self.len - self.pos).min(buf.len() as u64) as usize;
        let n = match self.in_head() {
            Some(p) => {
                let n = max.min(self.head.len() - p);
                self.head[p..p + n].copy_from_slice(&buf[..n]);
                self.dirty = true;
                n
            }
            None => {
                self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
                self.inner.write(&buf[..max])?
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<F: Seek> Seek for Slice<'_, F> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .filter(|p| *p <= self.len)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition"))?;
        self.pos = to;
        Ok(to)
    }
}

/// Bytes at the start of a volume that hold its reserved sectors and both FATs (4 bytes
/// per 512-byte cluster at most, twice), with room for the root directory.
fn head_bytes(len: u64) -> u64 {
    (1 << 20) + len / 64
}

/// A fixed clock for the file system's dates.
#[derive(Debug)]
struct Fixed(DateTime);

impl fatfs::TimeProvider for Fixed {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// `secs` since 1970 as a FAT date (1980-01-01 at the earliest, 2107 at the latest).
fn dos_time(secs: u64) -> DateTime {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u16;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u16;
    let year = (yoe + era * 400 + i64::from(month <= 2)).clamp(1980, 2107) as u16;
    DateTime {
        date: Date { year, month, day },
        time: Time {
            hour: (rem / 3600) as u16,
            min: (rem / 60 % 60) as u16,
            sec: (rem % 60) as u16,
            millis: 0,
        },
    }
}

/// A file to put on the file system.
pub struct FatFile<'a> {
    /// Path with `/` separators, no leading `/` (parents are created).
    pub path: &'a str,
    /// Its contents.
    pub data: &'a mut dyn Read,
}

impl std::fmt::Debug for FatFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FatFile({})", self.path)
    }
}

/// Where and what the volume is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Byte offset in the disk.
    pub start: u64,
    /// Bytes.
    pub len: u64,
    /// Which FAT.
    pub kind: Kind,
    /// The volume id (serial number).
    pub volume_id: u32,
    /// The label (up to 11 characters, upper-cased).
    pub label: String,
    /// Every date, in seconds since 1970.
    pub mtime: u64,
}

/// Which FAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// FAT32 (ESPs and boot partitions; needs at least 33 MiB).
    Fat32,
    /// Whatever fits the size (FAT12 or FAT16 for small images).
    Small,
}

/// The smallest FAT32 volume with 512-byte clusters (65,525 clusters plus the metadata).
pub const FAT32_MIN_BYTES: u64 = 34 << 20;

/// Formats `vol` of `disk` as FAT and writes `files` (parents created as needed).
pub fn write<F: Read + Write + Seek>(
    disk: &mut F,
    vol: &Volume,
    files: &mut [FatFile<'_>],
) -> io::Result<()> {
    let Volume {
        start,
        len,
        kind,
        volume_id,
        ref label,
        mtime,
    } = *vol;
    let mut l = [b' '; 11];
    for (d, s) in l.iter_mut().zip(label.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    let sectors = u32::try_from(len / 512)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "FAT volume larger than 2 TiB"))?;
    let mut opts = FormatVolumeOptions::new()
        .volume_id(volume_id)
        .volume_label(l)
        .total_sectors(sectors);
    if kind == Kind::Fat32 {
        let cluster = if len < (256 << 20) { 512 } else { 4096 };
        opts = opts.fat_type(FatType::Fat32).bytes_per_cluster(cluster);
    }
    let head = head_bytes(len);
    let mut fresh = Slice::cached(disk, start, len, head, false)?;
    fatfs::format_volume(&mut fresh, opts)
        .map_err(|e| io::Error::new(e.kind(), format!("formatting FAT: {e}")))?;
    fresh.commit()?;
    let clock: &'static Fixed = Box::leak(Box::new(Fixed(dos_time(mtime))));
    let mut slice = Slice::cached(disk, start, len, head, true)?;
    let fs = FileSystem::new(&mut slice, FsOptions::new().time_provider(clock))?;
    {
        let root = fs.root_dir();
        for f in files.iter_mut() {
            let (dir, name) = match f.path.rsplit_once('/') {
                Some((d, n)) => (Some(d), n),
                None => (None, f.path),
            };
            let mut d = root.clone();
            if let Some(dir) = dir {
                for part in dir.split('/') {
                    d = match d.open_dir(part) {
                        Ok(x) => x,
                        Err(_) => d.create_dir(part)?,
                    };
                }
            }
            let mut out = d.create_file(name)?;
            out.truncate()?;
            io::copy(f.data, &mut out).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("writing {} into the FAT volume: {e}", f.path),
                )
            })?;
            out.flush()?;
        }
    }
    // Counting the free clusters records them in FSInfo (else "unknown", which
    // `fsck.vfat` reports as uninitialized).
    fs.stats()?;
    fs.unmount()?;
    slice.commit()?;
    crate::boot::fat_dots::fix(disk, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert() {
        let t = dos_time(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        assert_eq!(dos_time(0).date.year, 1980);
        let t = dos_time(951_782_400); // 2000-02-29
        assert_eq!((t.date.month, t.date.day), (2, 29));
    }

    #[test]
    fn a_volume_reads_back_and_is_reproducible() {
        let build = || {
            let mut disk = io::Cursor::new(vec![0u8; 40 << 20]);
            let mut data = &b"hello"[..];
            let mut files = [FatFile {
                path: "EFI/BOOT/X.TXT",
                data: &mut data,
            }];
            let vol = Volume {
                start: 1 << 20,
                len: 39 << 20,
                kind: Kind::Fat32,
                volume_id: 7,
                label: "LINUXKIT".into(),
                mtime: 1_700_000_000,
            };
            write(&mut disk, &vol, &mut files).unwrap();
            disk.into_inner()
        };
        let a = build();
        assert_eq!(a, build());
        let mut c = io::Cursor::new(a);
        let fs = FileSystem::new(
            Slice::new(&mut c, 1 << 20, 39 << 20).unwrap(),
            FsOptions::new(),
        )
        .unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
        assert_eq!(fs.volume_id(), 7);
        let mut s = String::new();
        fs.root_dir()
            .open_file("EFI/BOOT/X.TXT")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
    }
}
