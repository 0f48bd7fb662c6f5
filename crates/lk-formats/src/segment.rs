//! Segments of the root filesystem stream and the store that keeps their outputs between
//! builds.
//!
//! The stream is cut into segments (the kernel, each init image, each volume, each
//! container's filesystem and its bundle files, the `files` section). A segment whose
//! entries are a pure function of a few inputs gets a [`SegmentId`], a hash of those inputs.
//! A sink that has already written that segment once can then reuse its output instead of
//! the entries ([`crate::Sink::begin_segment`]); the initrd keeps each segment as its own
//! compressed cpio archive, so a warm build compresses only what changed.
//!
//! # Layout
//! `<cache>/segments/` holds one file per record: `<key>.<kind>`, where `key` is 64 hex
//! digits and `kind` says who wrote it (`initrd` for a compressed cpio archive with the boot
//! files it took out of the stream, `rootfs` for what the rootfs stage needs to skip the
//! segment). Files are written as `.tmp-*` (locked with `flock` while written) and renamed
//! into place, so a killed build leaves no torn record; [`SegmentStore::sweep`] removes the
//! temp files of killed builds. Every read checks the record's length and CRC-32 and treats
//! a bad record as absent (and deletes it). A record is touched when used; after a build
//! [`SegmentStore::trim`] deletes the least recently used records beyond the size bound.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Bumped whenever the bytes a segment produces change for the same inputs.
const FORMAT_VERSION: u32 = 1;

/// The default bound of the store: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

/// What determines a segment's entries, hashed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentId(pub [u8; 32]);

impl std::fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegmentId({})", &self.hex()[..12])
    }
}

impl SegmentId {
    /// Starts an id of a segment of kind `kind` (`kernel`, `init`, ...).
    pub fn builder(kind: &str) -> SegmentIdBuilder {
        let mut b = SegmentIdBuilder(Sha256::new());
        b = b.field("format", &FORMAT_VERSION.to_le_bytes());
        b = b.field("program", program_identity().as_bytes());
        b.field("kind", kind.as_bytes())
    }

    /// 64 hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// An id derived from this one for a consumer with its own settings (the initrd's
    /// compression, say).
    pub fn derive(&self, what: &str, settings: &[u8]) -> SegmentId {
        SegmentIdBuilder(Sha256::new())
            .field("base", &self.0)
            .field(what, settings)
            .build()
    }
}

/// Collects the fields of a [`SegmentId`]; each is length-prefixed, so no two field lists
/// hash alike.
pub struct SegmentIdBuilder(Sha256);

impl std::fmt::Debug for SegmentIdBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SegmentIdBuilder")
    }
}

impl SegmentIdBuilder {
    /// Adds a named field.
    #[must_use]
    pub fn field(mut self, name: &str, value: &[u8]) -> SegmentIdBuilder {
        for part in [name.as_bytes(), value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
        self
    }

    /// The id.
    pub fn build(self) -> SegmentId {
        SegmentId(self.0.finalize().into())
    }
}

/// The running program (size and modification time of its executable): a rebuilt binary
/// never reuses what an older one stored, even if it forgot to bump [`FORMAT_VERSION`].
fn program_identity() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let meta = std::env::current_exe().and_then(fs::metadata);
        match meta {
            Ok(m) => {
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .unwrap_or_default();
                format!("{} {} {}", env!("CARGO_PKG_VERSION"), m.len(), t.as_nanos())
            }
            Err(_) => format!("{} unknown", env!("CARGO_PKG_VERSION")),
        }
    })
}

/// Where segment records are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStore {
    dir: PathBuf,
    max_bytes: u64,
}

/// The trailer at the end of every record: magic, payload length, CRC-32 of the payload.
const MAGIC: &[u8; 8] = b"lkseg\0\0\x01";
const TRAILER: usize = 8 + 8 + 4;

/// What [`SegmentStore::trim`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrimReport {
    /// Records kept.
    pub kept: usize,
    /// Their bytes.
    pub kept_bytes: u64,
    /// Records deleted.
    pub removed: usize,
}

impl SegmentStore {
    /// A store in `dir` (created when first written) bounded to `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> SegmentStore {
        SegmentStore { dir, max_bytes }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &SegmentId, kind: &str) -> PathBuf {
        self.dir.join(format!("{}.{kind}", id.hex()))
    }

    /// The payload of record `id.kind`, checked (length and CRC-32), positioned at its
    /// start, with its length; `None` if absent or bad (a bad record is deleted).
    pub fn open(&self, id: &SegmentId, kind: &str) -> Option<(File, u64)> {
        let path = self.path(id, kind);
        let mut f = File::open(&path).ok()?;
        match check(&mut f) {
            Ok(Some(len)) => {
                let _ = f.set_modified(SystemTime::now());
                f.seek(SeekFrom::Start(0)).ok()?;
                Some((f, len))
            }
            Ok(None) => {
                let _ = fs::remove_file(&path);
                None
            }
            Err(_) => None,
        }
    }

    /// The whole payload of a small record.
    pub fn read(&self, id: &SegmentId, kind: &str) -> Option<Vec<u8>> {
        let (f, len) = self.open(id, kind)?;
        let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        f.take(len).read_to_end(&mut v).ok()?;
        Some(v)
    }

    /// Whether record `id.kind` exists (not checked).
    pub fn contains(&self, id: &SegmentId, kind: &str) -> bool {
        self.path(id, kind).is_file()
    }

    /// Starts writing record `id.kind`.
    pub fn writer(&self, id: &SegmentId, kind: &str) -> io::Result<RecordWriter> {
        static N: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(format!(
            ".tmp-{}-{}-{}.{kind}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            &id.hex()[..16]
        ));
        let file = File::create(&temp)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
        Ok(RecordWriter {
            temp,
            dest: self.path(id, kind),
            file: Some(io::BufWriter::with_capacity(1 << 20, file)),
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    /// Writes a small record at once.
    pub fn write(&self, id: &SegmentId, kind: &str, data: &[u8]) -> io::Result<()> {
        let mut w = self.writer(id, kind)?;
        w.write_all(data)?;
        w.commit()
    }

    /// Removes the temp files of killed builds (unlocked and older than `min_age`).
    pub fn sweep(&self, min_age: Duration) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut n = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() >= min_age);
            if !name.starts_with(".tmp-") || !old {
                continue;
            }
            let Ok(f) = File::open(e.path()) else {
                continue;
            };
            let free =
                rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok();
            if free && fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Deletes the least recently used records until the rest fit in the bound.
    pub fn trim(&self) -> io::Result<TrimReport> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TrimReport::default()),
            Err(e) => return Err(e),
        };
        let mut records: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        // Newest first; keep while they fit.
        records.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        let mut report = TrimReport::default();
        for (_, len, path) in records {
            if report.kept_bytes + len <= self.max_bytes {
                report.kept += 1;
                report.kept_bytes += len;
            } else if fs::remove_file(&path).is_ok() {
                report.removed += 1;
            }
        }
        Ok(report)
    }

    /// Deletes every record.
    pub fn clear(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The payload length if the trailer is right and the CRC matches.
fn check(f: &mut File) -> io::Result<Option<u64>> {
    let size = f.metadata()?.len();
    if size < TRAILER as u64 {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(size - TRAILER as u64))?;
    let mut t = [0u8; TRAILER];
    f.read_exact(&mut t)?;
    let len = u64::from_le_bytes(t[8..16].try_into().unwrap_or_default());
    let crc = u32::from_le_bytes(t[16..20].try_into().unwrap_or_default());
    if &t[..8] != MAGIC || len != size - TRAILER as u64 {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(0))?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = f.read(&mut buf[..usize::try_from(left.min(1 << 20)).unwrap_or(1 << 20)])?;
        if n == 0 {
            return Ok(None);
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok((h.finalize() == crc).then_some(len))
}

/// A record being written; [`RecordWriter::commit`] publishes it, dropping it removes it.
#[derive(Debug)]
pub struct RecordWriter {
    temp: PathBuf,
    dest: PathBuf,
    file: Option<io::BufWriter<File>>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Write for RecordWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("record already committed"))?;
        let n = f.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl RecordWriter {
    /// Bytes of payload so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the trailer and renames the record into place.
    pub fn commit(mut self) -> io::Result<()> {
        let mut f = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("record already committed"))?;
        let crc = std::mem::take(&mut self.crc).finalize();
        f.write_all(MAGIC)?;
        f.write_all(&self.len.to_le_bytes())?;
        f.write_all(&crc.to_le_bytes())?;
        let f = f.into_inner().map_err(io::IntoInnerError::into_error)?;
        // Not synced: a record lost in a crash is only a cache miss, and a torn one fails
        // its check.
        drop(f);
        let r = fs::rename(&self.temp, &self.dest);
        if r.is_err() {
            let _ = fs::remove_file(&self.temp);
        }
        r
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str, max: u64) -> SegmentStore {
        let d = std::env::temp_dir().join(format!("lk-seg-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        SegmentStore::new(d, max)
    }

    fn id(n: u8) -> SegmentId {
        SegmentId::builder("test").field("n", &[n]).build()
    }

    #[test]
    fn ids_depend_on_every_field_and_their_boundaries() {
        let a = SegmentId::builder("k").field("a", b"bc").build();
        let b = SegmentId::builder("k").field("ab", b"c").build();
        assert_ne!(a, b);
        assert_eq!(a, SegmentId::builder("k").field("a", b"bc").build());
        assert_ne!(a.derive("x", b"1"), a.derive("x", b"2"));
        assert_eq!(a.hex().len(), 64);
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_misses() {
        let s = store("rt", 1 << 20);
        assert!(s.read(&id(1), "t").is_none());
        s.write(&id(1), "t", b"hello").unwrap();
        assert_eq!(s.read(&id(1), "t").unwrap(), b"hello");
        // One flipped byte: the CRC fails, the record is deleted.
        let p = s.dir().join(format!("{}.t", id(1).hex()));
        let mut bytes = fs::read(&p).unwrap();
        bytes[1] ^= 1;
        fs::write(&p, &bytes).unwrap();
        assert!(s.read(&id(1), "t").is_none());
        assert!(!p.exists());
        // Truncated: a miss.
        s.write(&id(2), "t", b"hello").unwrap();
        let p = s.dir().join(format!("{}.t", id(2).hex()));
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(s.read(&id(2), "t").is_none());
        s.clear().unwrap();
        assert!(!s.dir().exists());
    }

    #[test]
    fn an_uncommitted_record_leaves_nothing_and_a_killed_one_is_swept() {
        let s = store("tmp", 1 << 20);
        let mut w = s.writer(&id(1), "t").unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(s.dir()).unwrap().count(), 0);
        // A temp file nobody holds (as a killed build leaves it).
        fs::write(s.dir().join(".tmp-1-2-abc.t"), b"x").unwrap();
        let live = s.writer(&id(3), "t").unwrap();
        assert_eq!(s.sweep(Duration::ZERO), 1, "only the unlocked one");
        drop(live);
        assert_eq!(fs::read_dir(s.dir()).unwrap().count(), 0);
        s.clear().unwrap();
    }

    #[test]
    fn trim_keeps_the_most_recently_used_within_the_bound() {
        let s = store("trim", 3 * (100 + TRAILER as u64));
        for n in 0..5u8 {
            s.write(&id(n), "t", &[n; 100]).unwrap();
            let p = s.dir().join(format!("{}.t", id(n).hex()));
            let f = File::options().write(true).open(&p).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + u64::from(n)))
                .unwrap();
        }
        // Using record 0 makes it the newest.
        assert!(s.read(&id(0), "t").is_some());
        let r = s.trim().unwrap();
        assert_eq!((r.kept, r.removed), (3, 2));
        for (n, kept) in [(0, true), (1, false), (2, false), (3, true), (4, true)] {
            assert_eq!(s.contains(&id(n), "t"), kept, "{n}");
        }
        s.clear().unwrap();
    }
}
