//! The layout store.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lk_oci::{
    ANNOTATION_REF_NAME, Descriptor, Digest, Document, Hasher, ImageConfig, Index, Manifest,
    Platform,
};

use crate::verify::VerifyingReader;

/// What went wrong, naming the path, image or digest.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A filesystem operation failed.
    #[error("{action} {path}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `index.json` or a manifest is not valid JSON of the expected shape.
    #[error("{path} is not a valid OCI document")]
    BadDocument {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Downloaded or imported content does not match its digest.
    #[error("content for {expected} hashes to {actual}{}", image.as_ref().map(|i| format!(" (image {i})")).unwrap_or_default())]
    DigestMismatch {
        /// The expected digest.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
        /// The image being written, when known.
        image: Option<String>,
    },
    /// The size does not match the descriptor.
    #[error("blob {digest} has {actual} bytes, the descriptor says {expected}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Descriptor size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// No image of that name is cached.
    #[error("image {name} is not in the cache")]
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// A blob the image needs is missing.
    #[error("image {name} is incomplete in the cache: blob {digest} is missing")]
    MissingBlob {
        /// The image.
        name: String,
        /// The blob.
        digest: Digest,
    },
    /// The image has no manifest for the platform.
    #[error("image {name} has no manifest for {platform}; it has {available}")]
    NoPlatform {
        /// The image.
        name: String,
        /// The platform asked for.
        platform: String,
        /// The platforms it has, comma-separated (`none` for none).
        available: String,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How long an abandoned `.partial-*` download is kept for a later pull to resume.
const PARTIAL_KEPT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// An open cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

/// POSIX record locks belong to the process, not the file descriptor, so threads of one
/// process exclude each other with this mutex first (as LinuxKit does).
static PROCESS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held while `index.json` is read-modified-written: an `fcntl` write lock on
/// `<cache>/.lock`, the same lock LinuxKit takes, so both tools can share a cache.
#[derive(Debug)]
pub struct LockGuard {
    // Field order matters: the file (and its lock) is released before the mutex.
    _file: File,
    _guard: std::sync::MutexGuard<'static, ()>,
}

/// Creates the temp file `path` (`.tmp-*`) already locked (`flock`), so
/// [`Cache::sweep_temp`] can tell a live writer from a killed one: the file is made and
/// locked as `.new-*`, then renamed (the lock stays with the open file), so a `.tmp-*` file
/// whose lock can be taken has no writer.
fn create_locked(path: &Path) -> io::Result<(File, nix::fcntl::Flock<File>)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().replacen(".tmp-", ".new-", 1))
        .unwrap_or_default();
    let new = path.with_file_name(name);
    let file = File::create(&new)?;
    let locked = nix::fcntl::Flock::lock(file.try_clone()?, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io::Error::from(e))
        .and_then(|lock| fs::rename(&new, path).map(|()| lock));
    match locked {
        Ok(lock) => Ok((file, lock)),
        Err(e) => {
            let _ = fs::remove_file(&new);
            Err(e)
        }
    }
}

/// A file being written whose bytes are hashed and counted as they pass.
#[derive(Debug)]
struct Tee<W> {
    file: Option<W>,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl<W> Tee<W> {
    fn new(file: W, hasher: Hasher, written: u64) -> Tee<W> {
        Tee {
            file: Some(file),
            hasher,
            written,
        }
    }

    /// The file (once) and the digest of what was written.
    fn finish(&mut self) -> (Option<W>, Digest) {
        let digest = std::mem::replace(&mut self.hasher, Hasher::new()).finish();
        (self.file.take(), digest)
    }
}

/// A blob being written: bytes are hashed as they arrive; [`BlobWriter::commit`] verifies
/// and publishes; dropping without commit removes the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    temp: PathBuf,
    dest: PathBuf,
    out: Tee<File>,
    /// Held while the temp file is written: a sweeper that can take it knows the writer is
    /// gone (killed).
    _lock: Option<nix::fcntl::Flock<File>>,
    expected: Digest,
    image: Option<String>,
    /// A `.partial-<hex>` file: kept when the writer goes away without committing, so a
    /// later pull resumes it.
    partial: bool,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far (for a resumed blob, including those found on disk).
    pub fn written(&self) -> u64 {
        self.out.written
    }

    /// Throws away what was written (a server that ignored a range request sends the whole
    /// blob again).
    pub fn restart(&mut self) -> io::Result<()> {
        let f = self
            .out
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        f.set_len(0)?;
        io::Seek::seek(f, io::SeekFrom::Start(0))?;
        self.out.hasher = Hasher::new();
        self.out.written = 0;
        Ok(())
    }

    /// Checks the digest, syncs and renames into place.
    pub fn commit(mut self) -> Result<(), CacheError> {
        let (file, actual) = self.out.finish();
        if actual != self.expected {
            let _ = fs::remove_file(&self.temp);
            return Err(CacheError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
                image: self.image.clone(),
            });
        }
        if let Some(f) = file {
            f.sync_all().map_err(io_err("syncing", &self.temp))?;
        }
        fs::rename(&self.temp, &self.dest).map_err(io_err("publishing", &self.dest))?;
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.out.file.is_some() && !(self.partial && self.out.written > 0) {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// A blob being written whose digest is computed ([`Cache::new_blob`]); dropping it without
/// commit removes the temp file.
#[derive(Debug)]
pub struct NewBlob {
    cache: Cache,
    temp: PathBuf,
    out: Tee<io::BufWriter<File>>,
    _lock: Option<nix::fcntl::Flock<File>>,
}

impl Write for NewBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl NewBlob {
    /// Syncs and names the blob by its digest; returns (digest, size).
    pub fn commit(mut self) -> Result<(Digest, u64), CacheError> {
        let (file, digest) = self.out.finish();
        let dest = self.cache.blob_path(&digest);
        let result = file
            .map(|f| f.into_inner().map_err(io::IntoInnerError::into_error))
            .transpose()
            .and_then(|f| f.map_or(Ok(()), |f| f.sync_all()))
            .and_then(|()| fs::rename(&self.temp, &dest));
        result.map_err(|e| {
            let _ = fs::remove_file(&self.temp);
            io_err("storing a blob as", &dest)(e)
        })?;
        Ok((digest, self.out.written))
    }
}

impl Drop for NewBlob {
    fn drop(&mut self) {
        if self.out.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// What `remove` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoveReport {
    /// Names removed.
    pub removed: Vec<String>,
    /// Blobs deleted.
    pub deleted_blobs: usize,
    /// Blobs kept because other images use them.
    pub kept_shared: usize,
}

/// A cached image resolved for one platform, without network access.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// The name looked up.
    pub name: String,
    /// The top-level descriptor (index or manifest).
    pub root: Descriptor,
    /// The platform's manifest descriptor.
    pub manifest_descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The image config.
    pub config: ImageConfig,
}

impl Cache {
    /// Opens `root`, creating an empty layout if needed.
    pub fn open(root: &Path) -> Result<Cache, CacheError> {
        let blobs = root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err("creating", &blobs))?;
        let c = Cache {
            root: root.to_path_buf(),
        };
        let layout = root.join("oci-layout");
        if !layout.exists() {
            c.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let _lock = c.lock()?;
            if !index.exists() {
                c.write_index(&Index::default())?;
            }
        }
        Ok(c)
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Takes the exclusive cache lock (blocks until free).
    pub fn lock(&self) -> Result<LockGuard, CacheError> {
        let path = self.root.join(".lock");
        let guard = PROCESS_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        let whole_file = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        loop {
            match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETLKW(&whole_file)) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io_err("locking", &path)(io::Error::from(e))),
            }
        }
        Ok(LockGuard {
            _file: file,
            _guard: guard,
        })
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), CacheError> {
        let temp = self.temp_path(path.parent().unwrap_or(&self.root));
        let write = || -> io::Result<()> {
            let (mut f, _lock) = create_locked(&temp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&temp, path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&temp);
            io_err("writing", path)(e)
        })
    }

    fn temp_path(&self, dir: &Path) -> PathBuf {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        dir.join(format!(".tmp-{}-{n}", std::process::id()))
    }

    /// Whether the blob is present with the given size (no hashing).
    pub fn has_blob(&self, d: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(d)).is_ok_and(|m| m.len() == size)
    }

    /// Starts writing a blob that must hash to `expected`.
    pub fn blob_writer(
        &self,
        expected: &Digest,
        image: Option<&str>,
    ) -> Result<BlobWriter, CacheError> {
        let dest = self.blob_path(expected);
        let temp = self.temp_path(dest.parent().unwrap_or(&self.root));
        let (file, lock) = create_locked(&temp).map_err(io_err("creating", &temp))?;
        Ok(BlobWriter {
            temp,
            dest,
            out: Tee::new(file, Hasher::new(), 0),
            _lock: Some(lock),
            expected: expected.clone(),
            image: image.map(str::to_owned),
            partial: false,
        })
    }

    /// Starts or resumes writing a blob that must hash to `expected`, in
    /// `blobs/sha256/.partial-<hex>`: what an earlier writer that was killed or gave up left
    /// there is hashed again and kept, so the download can continue from
    /// [`BlobWriter::written`] (with an HTTP range request). The file is locked while
    /// written; when another live writer holds it, this one writes a temp file of its own.
    /// Dropped without commit, the file stays for the next attempt.
    pub fn resumable_blob_writer(
        &self,
        expected: &Digest,
        image: Option<&str>,
    ) -> Result<BlobWriter, CacheError> {
        use nix::fcntl::{Flock, FlockArg};
        let dest = self.blob_path(expected);
        let temp = dest.with_file_name(format!(".partial-{}", expected.hex()));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&temp)
            .map_err(io_err("creating", &temp))?;
        let lock = match Flock::lock(
            file.try_clone().map_err(io_err("opening", &temp))?,
            FlockArg::LockExclusiveNonblock,
        ) {
            Ok(lock) => lock,
            Err(_) => return self.blob_writer(expected, image),
        };
        let mut hasher = Hasher::new();
        let mut written = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(io_err("reading", &temp))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            written += n as u64;
        }
        Ok(BlobWriter {
            temp,
            dest,
            out: Tee::new(file, hasher, written),
            _lock: Some(lock),
            expected: expected.clone(),
            image: image.map(str::to_owned),
            partial: true,
        })
    }

    /// Stores a stream whose digest is not known in advance; returns (digest, size).
    pub fn put_stream(&self, data: &mut dyn Read) -> Result<(Digest, u64), CacheError> {
        let mut w = self.new_blob()?;
        let dir = self.root.join("blobs/sha256");
        io::copy(data, &mut w).map_err(io_err("storing a blob in", &dir))?;
        w.commit()
    }

    /// Starts writing a blob whose digest is known only at the end (a layer being
    /// compressed); [`NewBlob::commit`] names it by what was written.
    pub fn new_blob(&self) -> Result<NewBlob, CacheError> {
        let dir = self.root.join("blobs/sha256");
        let temp = self.temp_path(&dir);
        let (file, lock) = create_locked(&temp).map_err(io_err("creating", &temp))?;
        Ok(NewBlob {
            cache: self.clone(),
            temp,
            out: Tee::new(
                io::BufWriter::with_capacity(256 * 1024, file),
                Hasher::new(),
                0,
            ),
            _lock: Some(lock),
        })
    }

    /// Removes the blobs of `candidates` that no named or unnamed image in `index.json`
    /// reaches any more (after an image was rewritten); returns how many went.
    pub fn remove_unreferenced(&self, candidates: &[Digest]) -> Result<usize, CacheError> {
        let _lock = self.lock()?;
        let mut keep = BTreeSet::new();
        for d in &self.index()?.manifests {
            self.reachable(d, &mut keep);
        }
        Ok(candidates
            .iter()
            .filter(|d| !keep.contains(*d) && fs::remove_file(self.blob_path(d)).is_ok())
            .count())
    }

    /// Adds an unnamed top-level descriptor (as LinuxKit does for imported entries without a name).
    pub fn add_unnamed(&self, desc: &Descriptor) -> Result<(), CacheError> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        if !index
            .manifests
            .iter()
            .any(|d| d.digest == desc.digest && !d.annotations.contains_key(ANNOTATION_REF_NAME))
        {
            index.manifests.push(desc.clone());
        }
        self.write_index(&index)
    }

    /// Writes a small blob whose digest is computed (manifests, configs).
    pub fn put_bytes(&self, data: &[u8]) -> Result<Digest, CacheError> {
        let d = Digest::of(data);
        if !self.has_blob(&d, data.len() as u64) {
            let mut w = self.blob_writer(&d, None)?;
            w.write_all(data)
                .map_err(io_err("writing", &self.blob_path(&d)))?;
            w.commit()?;
        }
        Ok(d)
    }

    /// Reads a small blob, verifying its digest.
    pub fn read_bytes(&self, d: &Digest) -> Result<Vec<u8>, CacheError> {
        let path = self.blob_path(d);
        let data = fs::read(&path).map_err(io_err("reading", &path))?;
        let actual = Digest::of(&data);
        if &actual != d {
            let _ = fs::remove_file(&path);
            return Err(CacheError::DigestMismatch {
                expected: d.clone(),
                actual,
                image: None,
            });
        }
        Ok(data)
    }

    /// Streams a blob; the reader fails at the end if the content does not match.
    pub fn open_blob(&self, d: &Digest) -> Result<VerifyingReader<BufReader<File>>, CacheError> {
        let path = self.blob_path(d);
        let f = File::open(&path).map_err(io_err("opening", &path))?;
        Ok(VerifyingReader::new(
            BufReader::with_capacity(256 * 1024, f),
            d.clone(),
            path,
        ))
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index, CacheError> {
        let path = self.root.join("index.json");
        let data = fs::read(&path).map_err(io_err("reading", &path))?;
        serde_json::from_slice(&data).map_err(|e| CacheError::BadDocument {
            path,
            source: Box::new(e),
        })
    }

    fn write_index(&self, index: &Index) -> Result<(), CacheError> {
        let data = serde_json::to_vec(index).map_err(|e| CacheError::BadDocument {
            path: self.root.join("index.json"),
            source: Box::new(e),
        })?;
        self.write_atomic(&self.root.join("index.json"), &data)
    }

    /// Every named image: (name, top-level descriptor), sorted by name.
    pub fn images(&self) -> Result<Vec<(String, Descriptor)>, CacheError> {
        let mut v: Vec<(String, Descriptor)> = self
            .index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                d.annotations
                    .get(ANNOTATION_REF_NAME)
                    .cloned()
                    .map(|n| (n, d))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }

    /// The top-level descriptor named `name`.
    pub fn find(&self, name: &str) -> Result<Option<Descriptor>, CacheError> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(name)))
    }

    /// Names `desc` as `name`, replacing any previous descriptor of that name.
    pub fn set_name(&self, name: &str, desc: &Descriptor) -> Result<(), CacheError> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(name));
        let mut d = desc.clone();
        d.annotations
            .insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
        index.manifests.push(d);
        self.write_index(&index)
    }

    /// Every blob reachable from `desc` (itself, children, configs, layers) that is present.
    fn reachable(&self, desc: &Descriptor, out: &mut BTreeSet<Digest>) {
        if !out.insert(desc.digest.clone()) {
            return;
        }
        if !(lk_oci::is_index(&desc.media_type) || lk_oci::is_manifest(&desc.media_type)) {
            return;
        }
        let Ok(data) = fs::read(self.blob_path(&desc.digest)) else {
            return;
        };
        match Document::parse(&desc.media_type, &data) {
            Ok(Document::Index(i)) => {
                for m in &i.manifests {
                    self.reachable(m, out);
                }
            }
            Ok(Document::Manifest(m)) => {
                out.insert(m.config.digest.clone());
                for l in &m.layers {
                    out.insert(l.digest.clone());
                }
            }
            Err(_) => {}
        }
    }

    /// Removes the named images and the blobs no remaining image uses.
    pub fn remove(&self, names: &[String]) -> Result<RemoveReport, CacheError> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let (gone, kept): (Vec<Descriptor>, Vec<Descriptor>) =
            index.manifests.into_iter().partition(|d| {
                d.annotations
                    .get(ANNOTATION_REF_NAME)
                    .is_some_and(|n| names.contains(n))
            });
        for n in names {
            if !gone
                .iter()
                .any(|d| d.annotations.get(ANNOTATION_REF_NAME) == Some(n))
            {
                return Err(CacheError::NotFound { name: n.clone() });
            }
        }
        let mut keep = BTreeSet::new();
        for d in &kept {
            self.reachable(d, &mut keep);
        }
        let mut drop_set = BTreeSet::new();
        for d in &gone {
            self.reachable(d, &mut drop_set);
        }
        index.manifests = kept;
        self.write_index(&index)?;
        let mut report = RemoveReport {
            removed: gone
                .iter()
                .filter_map(|d| d.annotations.get(ANNOTATION_REF_NAME).cloned())
                .collect(),
            ..RemoveReport::default()
        };
        for d in drop_set {
            if keep.contains(&d) {
                report.kept_shared += 1;
            } else if fs::remove_file(self.blob_path(&d)).is_ok() {
                report.deleted_blobs += 1;
            }
        }
        Ok(report)
    }

    /// Removes every image and blob (keeps an empty, valid layout), and the build's
    /// initrd segments ([`crate::SEGMENTS_DIR`]).
    pub fn clean(&self) -> Result<(), CacheError> {
        let _lock = self.lock()?;
        let segments = self.root.join(crate::SEGMENTS_DIR);
        match fs::remove_dir_all(&segments) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("removing", &segments)(e));
            }
            _ => {}
        }
        self.write_index(&Index::default())?;
        let blobs = self.root.join("blobs/sha256");
        for e in fs::read_dir(&blobs)
            .map_err(io_err("reading", &blobs))?
            .flatten()
        {
            let _ = fs::remove_file(e.path());
        }
        Ok(())
    }

    /// Reads and parses a manifest or index blob.
    pub fn document(&self, desc: &Descriptor) -> Result<Document, CacheError> {
        let data = self.read_bytes(&desc.digest)?;
        Document::parse(&desc.media_type, &data).map_err(|e| CacheError::BadDocument {
            path: self.blob_path(&desc.digest),
            source: Box::new(e),
        })
    }

    /// Resolves `name` for `platform` from the cache alone, checking that the manifest,
    /// config and every layer are present (layers by size; they are hashed when read).
    pub fn resolve(&self, name: &str, platform: &Platform) -> Result<ResolvedImage, CacheError> {
        let root = self.find(name)?.ok_or_else(|| CacheError::NotFound {
            name: name.to_owned(),
        })?;
        self.resolve_descriptor(name, root, platform)
    }

    /// As [`Cache::resolve`], starting from a known top-level descriptor.
    pub fn resolve_descriptor(
        &self,
        name: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<ResolvedImage, CacheError> {
        self.resolve_documents(name, root, platform, true)
    }

    /// As [`Cache::resolve_descriptor`], but only the manifests and the config need to be
    /// present: the layers may still be downloading.
    pub fn resolve_without_layers(
        &self,
        name: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<ResolvedImage, CacheError> {
        self.resolve_documents(name, root, platform, false)
    }

    fn resolve_documents(
        &self,
        name: &str,
        root: Descriptor,
        platform: &Platform,
        layers: bool,
    ) -> Result<ResolvedImage, CacheError> {
        let missing = |d: &Digest| CacheError::MissingBlob {
            name: name.to_owned(),
            digest: d.clone(),
        };
        if !self.has_blob(&root.digest, root.size) {
            return Err(missing(&root.digest));
        }
        let (manifest_descriptor, single) = match self.document(&root)? {
            Document::Index(i) => {
                let found = i.manifests.iter().find(|m| {
                    !m.is_attestation()
                        && m.platform.as_ref().is_some_and(|p| p.satisfies(platform))
                });
                match found {
                    Some(m) => (m.clone(), false),
                    None => {
                        return Err(CacheError::NoPlatform {
                            name: name.to_owned(),
                            platform: platform.to_string(),
                            available: lk_oci::platforms_of(&i),
                        });
                    }
                }
            }
            Document::Manifest(_) => (root.clone(), true),
        };
        if !self.has_blob(&manifest_descriptor.digest, manifest_descriptor.size) {
            return Err(missing(&manifest_descriptor.digest));
        }
        let Document::Manifest(manifest) = self.document(&manifest_descriptor)? else {
            return Err(CacheError::BadDocument {
                path: self.blob_path(&manifest_descriptor.digest),
                source: "an index entry points at another index".into(),
            });
        };
        let checked = if layers { manifest.layers.len() } else { 0 };
        for l in std::iter::once(&manifest.config).chain(&manifest.layers[..checked]) {
            if !self.has_blob(&l.digest, l.size) {
                return Err(missing(&l.digest));
            }
        }
        let config_bytes = self.read_bytes(&manifest.config.digest)?;
        let config =
            serde_json::from_slice(&config_bytes).map_err(|e| CacheError::BadDocument {
                path: self.blob_path(&manifest.config.digest),
                source: Box::new(e),
            })?;
        // A single-platform image says its architecture in its config only: one for
        // another architecture is refused as an index without the entry is.
        let config: lk_oci::ImageConfig = config;
        if single && !config.architecture.is_empty() && config.architecture != platform.architecture
        {
            return Err(CacheError::NoPlatform {
                name: name.to_owned(),
                platform: platform.to_string(),
                available: format!("{}/{}", config.os, config.architecture),
            });
        }
        Ok(ResolvedImage {
            name: name.to_owned(),
            root,
            manifest_descriptor,
            manifest,
            config,
        })
    }

    /// Removes the temp files of writers that are gone (a killed pull or import): a live
    /// writer holds a lock on its `.tmp-*` file, so one whose lock can be taken is a
    /// leftover; a `.new-*` file (killed between creating and locking) older than `min_age`
    /// too. Returns how many were removed.
    pub fn sweep_temp(&self, min_age: std::time::Duration) -> usize {
        use nix::fcntl::{Flock, FlockArg};
        let mut n = 0;
        for dir in [self.root.join("blobs/sha256"), self.root.clone()] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let old = || {
                    e.metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().unwrap_or_default() >= min_age)
                };
                if name.starts_with(".new-") && old() && fs::remove_file(e.path()).is_ok() {
                    n += 1;
                }
                // A partial download is kept for the next pull to resume, for a week.
                let stale_partial = name.starts_with(".partial-")
                    && e.metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().unwrap_or_default() >= PARTIAL_KEPT);
                if !name.starts_with(".tmp-") && !stale_partial {
                    continue;
                }
                let Ok(f) = File::open(e.path()) else {
                    continue;
                };
                // Taken: no writer holds it. The lock is dropped after the removal.
                if let Ok(_held) = Flock::lock(f, FlockArg::LockExclusiveNonblock)
                    && fs::remove_file(e.path()).is_ok()
                {
                    n += 1;
                }
            }
        }
        n
    }

    /// [`Cache::sweep_temp`] as every command runs it (a `.new-*` file is judged after 60 s).
    pub fn sweep_leftovers(&self) -> usize {
        self.sweep_temp(std::time::Duration::from_secs(60))
    }

    /// Names of blobs present (for tests and `cache` diagnostics).
    pub fn blob_digests(&self) -> Result<HashSet<String>, CacheError> {
        let blobs = self.root.join("blobs/sha256");
        Ok(fs::read_dir(&blobs)
            .map_err(io_err("reading", &blobs))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect())
    }

    /// Copies a whole blob out (export), verifying it.
    pub fn copy_blob(&self, d: &Digest, out: &mut dyn Write) -> Result<u64, CacheError> {
        let mut r = self.open_blob(d)?;
        io::copy(&mut r, out).map_err(io_err("reading", &self.blob_path(d)))
    }

    /// Reads a blob fully (small blobs only).
    pub fn read_to_vec(&self, d: &Digest) -> Result<Vec<u8>, CacheError> {
        let mut v = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut v)
            .map_err(io_err("reading", &self.blob_path(d)))?;
        Ok(v)
    }
}
