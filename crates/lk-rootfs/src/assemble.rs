//! The build order: kernel -> init -> volumes -> onboot -> onshutdown -> services -> files
//! -> (docker `Dockerfile`) -> SBOM, each entry carrying `LINUXKIT.source` and
//! `LINUXKIT.location` PAX records (spec/host.md §2).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use flate2::read::GzDecoder;
use lk_cache::{Cache, ResolvedImage, VerifyingReader};
use lk_formats::{Entry, Kind, Sink};
use lk_spec::{Config, ImageInfo, Section, config_to_oci, gojson, oci::bundle_dir};

use crate::flatten::{Emit, FlattenError, Layer, flatten};
use crate::path::{join, normalize};

/// LinuxKit's fixed timestamp for generated entries: 2017-04-18T16:30:00Z.
pub const DEFAULT_MTIME: u64 = 1_492_533_000;

const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";
const NO_RESOLV: &str = "\n# no resolv.conf configured\n";
const DOCKERFILE: &str = "\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT [\"/bin/rc.init\"]\n";

/// A pinned image and the cache that holds it.
#[derive(Debug, Clone)]
pub struct ImageContent<'a> {
    /// Canonical reference.
    pub canonical: String,
    /// Manifest, config and layer digests.
    pub resolved: &'a ResolvedImage,
    /// Where the blobs are.
    pub cache: &'a Cache,
}

/// Everything a build reads.
pub struct BuildInputs<'a> {
    /// The merged configuration.
    pub config: &'a Config,
    /// Every image of the configuration, by canonical reference.
    pub images: HashMap<String, ImageContent<'a>>,
    /// SOURCE_DATE_EPOCH: every timestamp, when set.
    pub source_date_epoch: Option<u64>,
    /// `--decompress-kernel`.
    pub decompress_kernel: bool,
    /// Path of the SBOM in the image; `None` for `--no-sbom`.
    pub sbom_path: Option<String>,
    /// Add the `Dockerfile` of the `docker` format.
    pub dockerfile: bool,
    /// `$HOME` for `~/` in `files[].source`.
    pub home: Option<PathBuf>,
    /// `--input-tar`: a previous build's tar output and the configuration it was built from;
    /// sections whose images and settings are unchanged are copied from it.
    pub input: Option<(PathBuf, Config)>,
}

impl std::fmt::Debug for BuildInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuildInputs({} images)", self.images.len())
    }
}

/// A build step failed; names the section and image.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// An image's layers could not be flattened.
    #[error("{location} ({image})")]
    Image {
        /// `onboot[0]`, `kernel`, ...
        location: String,
        /// Canonical reference.
        image: String,
        /// The cause.
        #[source]
        source: FlattenError,
    },
    /// The kernel image lacks what the configuration names.
    #[error("kernel ({image}): {problem}")]
    Kernel {
        /// Canonical reference.
        image: String,
        /// What is missing.
        problem: String,
    },
    /// OCI config generation failed.
    #[error(transparent)]
    Oci(#[from] lk_spec::OciError),
    /// An image of the configuration was not resolved.
    #[error("{location}: image {image} was not pulled")]
    Missing {
        /// Where it is used.
        location: String,
        /// Canonical reference.
        image: String,
    },
    /// A `files` entry could not be read.
    #[error("files[{index}] ({path}): cannot read {source_path}")]
    FileSource {
        /// Index in `files`.
        index: usize,
        /// Path in the image.
        path: String,
        /// Host path.
        source_path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A layer uses a compression we cannot read.
    #[error("{image}: layer media type {media_type} is not supported")]
    LayerType {
        /// Image.
        image: String,
        /// Media type.
        media_type: String,
    },
    /// Writing the output failed.
    #[error("writing the output")]
    Write(#[source] io::Error),
    /// `--input-tar` could not be read.
    #[error("reading the input tar {path}")]
    InputTar {
        /// The tar.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

struct CacheLayer {
    inner: Box<dyn Read>,
}

impl Read for CacheLayer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Layer for CacheLayer {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        io::copy(&mut self.inner, &mut io::sink()).map(|_| ())
    }
}

/// Reads to the end of the gzip member and then of the blob, so the digest is checked.
struct GzThenRest {
    gz: Option<GzDecoder<BufReader<VerifyingReader<BufReader<std::fs::File>>>>>,
}

impl Read for GzThenRest {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(gz) = self.gz.as_mut() else {
            return Ok(0);
        };
        let n = gz.read(buf)?;
        if n == 0
            && !buf.is_empty()
            && let Some(gz) = self.gz.take()
        {
            let mut rest = gz.into_inner();
            io::copy(&mut rest, &mut io::sink())?;
        }
        Ok(n)
    }
}

fn open_layer(image: &ImageContent<'_>, i: usize) -> io::Result<Box<dyn Layer>> {
    let l = &image.resolved.manifest.layers[i];
    let blob = image.cache.open_blob(&l.digest).map_err(io::Error::other)?;
    let inner: Box<dyn Read> = if l.media_type.contains("gzip") {
        Box::new(GzThenRest {
            gz: Some(GzDecoder::new(BufReader::with_capacity(256 * 1024, blob))),
        })
    } else {
        Box::new(blob)
    };
    Ok(Box::new(CacheLayer { inner }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FsKind {
    Init,
    Container,
}

/// Writes the root filesystem stream.
pub struct Assembler<'a, 's> {
    inputs: &'a BuildInputs<'a>,
    sink: Parents<'s>,
    extracted: HashMap<String, String>,
}

/// Makes sure every entry's parent directories come before it in the stream (the kernel's
/// initramfs unpacker does not create missing parents: a modules tarball that starts at
/// `usr/lib/modules/` would otherwise be lost). Missing parents are emitted as 0755
/// directories with the entry's origin and time.
struct Parents<'s> {
    inner: &'s mut dyn Sink,
    dirs: HashSet<String>,
}

impl Sink for Parents<'_> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        for a in crate::path::ancestors(&e.path) {
            if !self.dirs.contains(a) {
                let mut d = Entry::dir(a, 0o755, e.mtime);
                d.pax = e.pax.clone();
                self.inner.add(&d, &mut io::empty())?;
                self.dirs.insert(a.to_owned());
            }
        }
        if matches!(e.kind, Kind::Dir) {
            self.dirs.insert(e.path.clone());
        } else {
            self.dirs.remove(&e.path);
        }
        self.inner.add(e, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }

    fn link_targets(&mut self, paths: &[String]) {
        self.inner.link_targets(paths);
    }
}

impl std::fmt::Debug for Assembler<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Assembler")
    }
}

struct ImageEmit<'x, 's> {
    sink: &'x mut (dyn Sink + 's),
    prefix: String,
    source: String,
    location: String,
    kind: FsKind,
    seen: HashSet<String>,
    mtime_override: Option<u64>,
}

impl ImageEmit<'_, '_> {
    fn emit(&mut self, mut e: Entry, data: &mut dyn Read) -> io::Result<()> {
        if let Some(t) = self.mtime_override {
            e.mtime = t;
        }
        e.pax = vec![
            ("LINUXKIT.source".into(), self.source.clone()),
            ("LINUXKIT.location".into(), self.location.clone()),
        ];
        e.path = join(&self.prefix, &e.path);
        if let Kind::Hardlink(t) = &e.kind {
            e.kind = Kind::Hardlink(join(&self.prefix, t));
        }
        self.sink.add(&e, data)
    }

    fn generated(&self, path: &str, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.to_owned(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: self.mtime_override.unwrap_or(DEFAULT_MTIME),
            xattrs: Vec::new(),
            pax: Vec::new(),
        }
    }

    fn resolv(&mut self) -> io::Result<()> {
        match self.kind {
            FsKind::Init => self.emit(
                self.generated(
                    "etc/resolv.conf",
                    Kind::Symlink("/run/resolvconf/resolv.conf".into()),
                    0o777,
                ),
                &mut io::empty(),
            ),
            FsKind::Container => self.emit(
                self.generated("etc/resolv.conf", Kind::File(NO_RESOLV.len() as u64), 0o644),
                &mut NO_RESOLV.as_bytes(),
            ),
        }
    }

    /// LinuxKit's "touch" set: entries every image gets when it does not have them.
    fn touch(&mut self) -> io::Result<()> {
        for name in [
            "dev",
            "dev/pts",
            "dev/shm",
            "etc",
            "etc/hosts",
            "etc/mtab",
            "etc/resolv.conf",
            "proc",
            "sys",
        ] {
            if self.seen.contains(name) {
                continue;
            }
            match name {
                "etc/hosts" => self.emit(
                    self.generated(name, Kind::File(HOSTS.len() as u64), 0o644),
                    &mut HOSTS.as_bytes(),
                )?,
                "etc/mtab" => self.emit(
                    self.generated(name, Kind::Symlink("/proc/mounts".into()), 0o777),
                    &mut io::empty(),
                )?,
                "etc/resolv.conf" => self.resolv()?,
                _ => self.emit(self.generated(name, Kind::Dir, 0o755), &mut io::empty())?,
            }
        }
        Ok(())
    }
}

impl Emit for ImageEmit<'_, '_> {
    fn link_targets(&mut self, paths: &[String]) {
        let prefixed: Vec<String> = paths.iter().map(|p| join(&self.prefix, p)).collect();
        self.sink.link_targets(&prefixed);
    }

    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        match e.path.as_str() {
            ".dockerenv" | "Dockerfile" | "dev/console" | "dev/pts" | "dev/shm"
            | "etc/hostname" => {
                return io::copy(data, &mut io::sink()).map(|_| ());
            }
            "etc/hosts" => {
                io::copy(data, &mut io::sink())?;
                self.seen.insert(e.path.clone());
                let replaced = Entry {
                    kind: Kind::File(HOSTS.len() as u64),
                    mtime: self.mtime_override.unwrap_or(DEFAULT_MTIME),
                    ..e
                };
                return self.emit(replaced, &mut HOSTS.as_bytes());
            }
            "etc/resolv.conf" => {
                io::copy(data, &mut io::sink())?;
                self.seen.insert(e.path);
                return self.resolv();
            }
            _ => {}
        }
        self.seen.insert(e.path.clone());
        self.emit(e, data)
    }
}

struct KernelEmit<'x, 's> {
    sink: &'x mut (dyn Sink + 's),
    source: String,
    binary: String,
    tar: Option<String>,
    ucode: Option<String>,
    cmdline: String,
    decompress: bool,
    found_kernel: bool,
    found_tar: bool,
    boot_dir: bool,
    mtime: u64,
    mtime_override: Option<u64>,
    problem: Option<String>,
}

impl KernelEmit<'_, '_> {
    fn put(&mut self, mut e: Entry, data: &mut dyn Read) -> io::Result<()> {
        e.pax = vec![
            ("LINUXKIT.source".into(), self.source.clone()),
            ("LINUXKIT.location".into(), "kernel".into()),
        ];
        if let Some(t) = self.mtime_override {
            e.mtime = t;
        }
        self.sink.add(&e, data)
    }

    fn boot(&mut self) -> io::Result<()> {
        if !self.boot_dir {
            self.boot_dir = true;
            self.put(Entry::dir("boot", 0o755, self.mtime), &mut io::empty())?;
        }
        Ok(())
    }
}

impl Emit for KernelEmit<'_, '_> {
    fn link_targets(&mut self, _paths: &[String]) {}

    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        if e.path == self.binary {
            if self.found_kernel {
                self.problem = Some("found more than one possible kernel image".into());
                return io::copy(data, &mut io::sink()).map(|_| ());
            }
            self.found_kernel = true;
            self.boot()?;
            let cmdline = self.cmdline.clone();
            self.put(
                Entry::file("boot/cmdline", cmdline.len() as u64, 0o644, self.mtime),
                &mut cmdline.as_bytes(),
            )?;
            if self.decompress {
                let mut raw = Vec::new();
                data.read_to_end(&mut raw)?;
                let k = decompress_kernel(&raw)
                    .map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))?;
                return self.put(
                    Entry::file("boot/kernel", k.len() as u64, e.mode, self.mtime),
                    &mut &k[..],
                );
            }
            return self.put(
                Entry::file("boot/kernel", e.size(), e.mode, self.mtime),
                data,
            );
        }
        if self.tar.as_deref() == Some(e.path.as_str()) {
            self.found_tar = true;
            let mut inner = tar::Archive::new(data);
            for entry in inner.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.to_string_lossy().into_owned();
                let Some(path) = normalize(&name) else {
                    continue;
                };
                let h = entry.header().clone();
                let kind = match h.entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        Kind::File(entry.size())
                    }
                    tar::EntryType::Directory => Kind::Dir,
                    tar::EntryType::Symlink => Kind::Symlink(
                        entry
                            .link_name()?
                            .map(|l| l.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                    tar::EntryType::Link => Kind::Hardlink(
                        entry
                            .link_name()?
                            .and_then(|l| normalize(&l.to_string_lossy()))
                            .unwrap_or_default(),
                    ),
                    _ => continue,
                };
                if let Kind::Hardlink(t) = &kind {
                    self.sink.link_targets(std::slice::from_ref(t));
                }
                let ent = Entry {
                    path,
                    kind,
                    mode: h.mode().unwrap_or(0o644) & 0o7777,
                    uid: h.uid().unwrap_or(0),
                    gid: h.gid().unwrap_or(0),
                    mtime: h.mtime().unwrap_or(0),
                    xattrs: Vec::new(),
                    pax: Vec::new(),
                };
                self.put(ent, &mut entry)?;
            }
            return io::copy(&mut inner.into_inner(), &mut io::sink()).map(|_| ());
        }
        if self.ucode.as_deref() == Some(e.path.as_str()) {
            self.boot()?;
            return self.put(
                Entry::file("boot/ucode.cpio", e.size(), e.mode, self.mtime),
                data,
            );
        }
        io::copy(data, &mut io::sink()).map(|_| ())
    }
}

/// `--decompress-kernel`: gzip at offset 0, or a bzImage with a gzip payload.
pub fn decompress_kernel(k: &[u8]) -> Result<Vec<u8>, String> {
    let gunzip = |d: &[u8]| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        GzDecoder::new(d)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot gunzip the kernel: {e}"))?;
        Ok(out)
    };
    if k.starts_with(&[0x1f, 0x8b]) {
        return gunzip(k);
    }
    if k.len() > 0x250 && k[0x1fe..0x200] == [0x55, 0xaa] && &k[0x202..0x206] == b"HdrS" {
        let version = u16::from_le_bytes([k[0x206], k[0x207]]);
        if version < 0x208 {
            return Err(format!(
                "bzImage boot protocol {version:#x} is older than 2.08"
            ));
        }
        let setup_sects = usize::from(if k[0x1f1] == 0 { 4 } else { k[0x1f1] });
        let offset = u32::from_le_bytes([k[0x248], k[0x249], k[0x24a], k[0x24b]]) as usize
            + (setup_sects + 1) * 512;
        let len = u32::from_le_bytes([k[0x24c], k[0x24d], k[0x24e], k[0x24f]]) as usize;
        let payload = k
            .get(offset..offset + len)
            .ok_or("bzImage payload is out of bounds")?;
        if payload.starts_with(&[0x1f, 0x8b]) {
            return gunzip(payload);
        }
        return Err("the bzImage payload is not gzip-compressed".into());
    }
    Err("the kernel is neither gzip-compressed nor a bzImage".into())
}

impl<'a, 's> Assembler<'a, 's> {
    /// An assembler writing into `sink`.
    pub fn new(inputs: &'a BuildInputs<'a>, sink: &'s mut dyn Sink) -> Assembler<'a, 's> {
        Assembler {
            inputs,
            sink: Parents {
                inner: sink,
                dirs: HashSet::new(),
            },
            extracted: HashMap::new(),
        }
    }

    fn mtime(&self) -> u64 {
        self.inputs.source_date_epoch.unwrap_or(DEFAULT_MTIME)
    }

    fn put(&mut self, mut e: Entry, data: &mut dyn Read) -> Result<(), AssembleError> {
        if let Some(t) = self.inputs.source_date_epoch {
            e.mtime = t;
        }
        self.sink.add(&e, data).map_err(AssembleError::Write)
    }

    /// Each component of `prefix` as a 0755 directory (LinuxKit's `tarPrefix`).
    fn prefix_dirs(
        &mut self,
        prefix: &str,
        source: &str,
        location: &str,
    ) -> Result<(), AssembleError> {
        let mut acc = String::new();
        for c in prefix.split('/').filter(|c| !c.is_empty()) {
            acc = join(&acc, c);
            let e = Entry::dir(&acc, 0o755, self.mtime()).with_origin(source, location);
            self.put(e, &mut io::empty())?;
        }
        Ok(())
    }

    fn image(
        &self,
        canonical: &str,
        location: &str,
    ) -> Result<&'a ImageContent<'a>, AssembleError> {
        self.inputs
            .images
            .get(canonical)
            .ok_or_else(|| AssembleError::Missing {
                location: location.to_owned(),
                image: canonical.to_owned(),
            })
    }

    fn image_fs(
        &mut self,
        image: &ImageContent<'_>,
        prefix: &str,
        location: &str,
        kind: FsKind,
    ) -> Result<(), AssembleError> {
        for l in &image.resolved.manifest.layers {
            if l.media_type.contains("zstd") {
                return Err(AssembleError::LayerType {
                    image: image.canonical.clone(),
                    media_type: l.media_type.clone(),
                });
            }
        }
        self.prefix_dirs(prefix, &image.canonical, location)?;
        let mut emit = ImageEmit {
            sink: &mut self.sink,
            prefix: prefix.to_owned(),
            source: image.canonical.clone(),
            location: location.to_owned(),
            kind,
            seen: HashSet::new(),
            mtime_override: self.inputs.source_date_epoch,
        };
        let open = |i: usize| open_layer(image, i);
        let wrap = |source| AssembleError::Image {
            location: location.to_owned(),
            image: image.canonical.clone(),
            source,
        };
        flatten(image.resolved.manifest.layers.len(), &open, &mut emit).map_err(wrap)?;
        emit.touch().map_err(AssembleError::Write)
    }

    /// Writes the whole root filesystem.
    pub fn run(mut self) -> Result<(), AssembleError> {
        let config = self.inputs.config;
        let old = self.inputs.input.as_ref().map(|(_, c)| c);
        let new_kernel = config
            .kernel
            .image
            .as_ref()
            .map(|r| r.value.canonical().to_owned());
        match (
            &new_kernel,
            old.and_then(|o| o.kernel.image.as_ref())
                .map(|r| r.value.canonical().to_owned()),
        ) {
            (Some(n), Some(o))
                if *n == o
                    && old.is_some_and(|o| {
                        serde_json::to_value(&o.kernel).ok()
                            == serde_json::to_value(&config.kernel).ok()
                    }) =>
            {
                self.copy_input(n, "kernel")?;
            }
            _ => self.kernel()?,
        }
        for (i, r) in config.init.iter().flatten().enumerate() {
            let location = format!("init[{i}]");
            let same = old
                .and_then(|o| o.init.as_ref())
                .and_then(|l| l.get(i))
                .is_some_and(|o| o.value.canonical() == r.value.canonical());
            if same {
                self.copy_input(r.value.canonical(), &location)?;
                continue;
            }
            let image = self.image(r.value.canonical(), &location)?;
            self.image_fs(image, "", &location, FsKind::Init)?;
        }
        self.volumes()?;
        for section in Section::ALL {
            for (i, entry) in config.section(section).iter().enumerate() {
                let unchanged = old
                    .and_then(|o| o.section(section).get(i))
                    .is_some_and(|o| {
                        serde_json::to_value(o).ok() == serde_json::to_value(entry).ok()
                    });
                if unchanged {
                    let location = format!("{}[{i}]", section.name());
                    let canonical = entry.image.value.canonical().to_owned();
                    let root = self.copy_input(&canonical, &location)?;
                    if let Some(root) = root {
                        self.extracted.entry(canonical).or_insert(root);
                    }
                    continue;
                }
                self.container(section, i, entry)?;
            }
        }
        self.files()?;
        if self.inputs.dockerfile {
            self.put(
                Entry::file("Dockerfile", DOCKERFILE.len() as u64, 0o644, self.mtime()),
                &mut DOCKERFILE.as_bytes(),
            )?;
        }
        if let Some(path) = self.inputs.sbom_path.clone() {
            let doc = crate::sbom::document(self.inputs, self.mtime());
            let path = normalize(&path).unwrap_or_else(|| "sbom.spdx.json".into());
            self.put(
                Entry::file(&path, doc.len() as u64, 0o644, self.mtime()),
                &mut doc.as_bytes(),
            )?;
        }
        self.sink.finish().map_err(AssembleError::Write)
    }

    /// Copies the entries of the input tar with these origin records; returns where an
    /// image filesystem was unpacked among them (`.../lower` or `.../rootfs`), if any.
    fn copy_input(
        &mut self,
        source: &str,
        location: &str,
    ) -> Result<Option<String>, AssembleError> {
        let Some((path, _)) = &self.inputs.input else {
            return Ok(None);
        };
        let read_err = |e: io::Error| AssembleError::InputTar {
            path: path.display().to_string(),
            source: e,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut a = tar::Archive::new(BufReader::new(file));
        let mut root = None;
        for entry in a.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let mut origin = (String::new(), String::new());
            if let Some(exts) = entry.pax_extensions().map_err(read_err)? {
                for x in exts.flatten() {
                    match (x.key(), x.value()) {
                        (Ok("LINUXKIT.source"), Ok(v)) => origin.0 = v.to_owned(),
                        (Ok("LINUXKIT.location"), Ok(v)) => origin.1 = v.to_owned(),
                        _ => {}
                    }
                }
            }
            if origin.0 != source || origin.1 != location {
                continue;
            }
            let Some((_, mut e)) = crate::flatten::convert_entry(&mut entry).map_err(read_err)?
            else {
                continue;
            };
            e.pax = vec![
                ("LINUXKIT.source".into(), origin.0),
                ("LINUXKIT.location".into(), origin.1),
            ];
            if root.is_none()
                && let Some(i) = e.path.find("/lower/").or_else(|| e.path.find("/rootfs/"))
                && e.path.starts_with("containers/")
            {
                let end = e.path[i + 1..]
                    .find('/')
                    .map_or(e.path.len(), |j| i + 1 + j);
                root = Some(e.path[..end].to_owned());
            }
            self.sink
                .add(&e, &mut entry)
                .map_err(AssembleError::Write)?;
        }
        Ok(root)
    }

    fn kernel(&mut self) -> Result<(), AssembleError> {
        let k = &self.inputs.config.kernel;
        let Some(r) = &k.image else { return Ok(()) };
        let image = self.image(r.value.canonical(), "kernel")?;
        let mtime = self.mtime();
        let mut emit = KernelEmit {
            sink: &mut self.sink,
            source: image.canonical.clone(),
            binary: k.binary_name().to_owned(),
            tar: k.tar_name().map(str::to_owned),
            ucode: k.ucode.clone().filter(|u| !u.is_empty()),
            cmdline: k.cmdline.clone(),
            decompress: self.inputs.decompress_kernel,
            found_kernel: false,
            found_tar: false,
            boot_dir: false,
            mtime,
            mtime_override: self.inputs.source_date_epoch,
            problem: None,
        };
        let open = |i: usize| open_layer(image, i);
        flatten(image.resolved.manifest.layers.len(), &open, &mut emit).map_err(|source| {
            AssembleError::Image {
                location: "kernel".into(),
                image: image.canonical.clone(),
                source,
            }
        })?;
        let fail = |problem: String| AssembleError::Kernel {
            image: image.canonical.clone(),
            problem,
        };
        if let Some(p) = emit.problem {
            return Err(fail(p));
        }
        if !emit.found_kernel {
            return Err(fail(format!(
                "did not find kernel in kernel image (looked for `{}`)",
                k.binary_name()
            )));
        }
        if emit.tar.is_some() && !emit.found_tar {
            return Err(fail(format!(
                "did not find kernel tar in kernel image (looked for `{}`; set `tar: none` if it has none)",
                emit.tar.unwrap_or_default()
            )));
        }
        Ok(())
    }

    fn volumes(&mut self) -> Result<(), AssembleError> {
        for (i, v) in self.inputs.config.volumes.iter().flatten().enumerate() {
            let base = format!("containers/volumes/{}", v.name.value);
            let location = format!("volume[{i}]");
            let source = v.image.as_ref().map_or_else(
                || "linuxkit.volumes".to_owned(),
                |r| r.value.canonical().to_owned(),
            );
            match &v.image {
                Some(r) if v.format != "oci" => {
                    let image = self.image(r.value.canonical(), &location)?;
                    self.image_fs(
                        image,
                        &format!("{base}/lower"),
                        &location,
                        FsKind::Container,
                    )?;
                }
                Some(r) => {
                    let image = self.image(r.value.canonical(), &location)?;
                    self.prefix_dirs(&format!("{base}/lower"), &source, &location)?;
                    self.oci_layout(image, &format!("{base}/lower"), &location)?;
                }
                None => self.prefix_dirs(&format!("{base}/lower"), &source, &location)?,
            }
            for d in ["tmp", "merged"] {
                let e = Entry::dir(&format!("{base}/{d}"), 0o755, self.mtime())
                    .with_origin(&source, &location);
                self.put(e, &mut io::empty())?;
            }
        }
        Ok(())
    }

    /// A volume with `format: oci`: the image as an OCI layout under `prefix`.
    fn oci_layout(
        &mut self,
        image: &ImageContent<'_>,
        prefix: &str,
        location: &str,
    ) -> Result<(), AssembleError> {
        let src = image.canonical.clone();
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let mt = self.mtime();
        self.put(
            Entry::file(
                &format!("{prefix}/oci-layout"),
                layout.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&src, location),
            &mut &layout[..],
        )?;
        self.prefix_dirs(&format!("{prefix}/blobs/sha256"), &src, location)?;
        let r = image.resolved;
        let mut blobs = vec![&r.manifest_descriptor, &r.manifest.config];
        blobs.extend(&r.manifest.layers);
        for b in blobs {
            let mut reader = image
                .cache
                .open_blob(&b.digest)
                .map_err(|e| AssembleError::Write(io::Error::other(e)))?;
            self.put(
                Entry::file(
                    &format!("{prefix}/blobs/sha256/{}", b.digest.hex()),
                    b.size,
                    0o644,
                    mt,
                )
                .with_origin(&src, location),
                &mut reader,
            )?;
        }
        let mut root = r.manifest_descriptor.clone();
        root.annotations
            .insert(lk_oci::ANNOTATION_REF_NAME.into(), src.clone());
        let index = serde_json::to_vec(&lk_oci::Index {
            manifests: vec![root],
            ..lk_oci::Index::default()
        })
        .unwrap_or_default();
        self.put(
            Entry::file(
                &format!("{prefix}/index.json"),
                index.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&src, location),
            &mut &index[..],
        )
    }

    fn container(
        &mut self,
        section: Section,
        index: usize,
        entry: &lk_spec::Image,
    ) -> Result<(), AssembleError> {
        let canonical = entry.image.value.canonical().to_owned();
        let location = format!("{}[{index}]", section.name());
        let image = self.image(&canonical, &location)?;
        let run = image.resolved.config.config.clone().unwrap_or_default();
        let info = ImageInfo {
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            env: run.env.unwrap_or_default(),
            working_dir: run.working_dir,
            labels: run.labels.unwrap_or_default(),
        };
        let (spec, mut runtime) = config_to_oci(entry, &info, self.inputs.config)?;
        let bundle = bundle_dir(section, index, &entry.name.value);
        let readonly = spec.root.readonly;
        let own_root = format!("{bundle}/{}", if readonly { "rootfs" } else { "lower" });
        let root = match self.extracted.get(&canonical).cloned() {
            Some(first) => {
                self.prefix_dirs(&bundle, &canonical, &location)?;
                first
            }
            None => {
                self.image_fs(image, &own_root, &location, FsKind::Container)?;
                self.extracted.insert(canonical.clone(), own_root.clone());
                own_root.clone()
            }
        };
        let config_json = gojson::to_string_indent(&spec);
        let mt = self.mtime();
        self.put(
            Entry::file(
                &format!("{bundle}/config.json"),
                config_json.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&canonical, &location),
            &mut config_json.as_bytes(),
        )?;
        if !readonly {
            self.put(
                Entry::dir(&format!("{bundle}/tmp"), 0o755, mt).with_origin(&canonical, &location),
                &mut io::empty(),
            )?;
            self.put(
                Entry::dir(&format!("{bundle}/rootfs"), 0o755, mt)
                    .with_origin(&canonical, &location),
                &mut io::empty(),
            )?;
        } else if root != own_root {
            self.put(
                Entry::dir(&format!("{bundle}/rootfs"), 0o755, mt)
                    .with_origin(&canonical, &location),
                &mut io::empty(),
            )?;
        }
        runtime.prepend_rootfs(&bundle, &root, readonly);
        let runtime_json = gojson::to_string_indent(&runtime);
        self.put(
            Entry::file(
                &format!("{bundle}/runtime.json"),
                runtime_json.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&canonical, &location),
            &mut runtime_json.as_bytes(),
        )
    }

    fn files(&mut self) -> Result<(), AssembleError> {
        let config = self.inputs.config;
        let ids = config.id_map();
        let id = |v: &Option<lk_spec::Spanned<lk_spec::image::Id>>| -> u64 {
            match v.as_ref().map(|s| &s.value) {
                Some(lk_spec::image::Id::Num(n)) => u64::from(*n),
                Some(lk_spec::image::Id::Name(n)) => ids.get(n).copied().map_or(0, u64::from),
                None => 0,
            }
        };
        let mut added: HashSet<String> = HashSet::new();
        for (i, f) in config.files.iter().flatten().enumerate() {
            let location = format!("files[{i}]");
            let path = f.path.trim_start_matches('/').to_owned();
            let mode = f.mode_bits();
            let mut dir_mode = mode;
            if dir_mode & 0o700 != 0 {
                dir_mode |= 0o100;
            }
            if dir_mode & 0o070 != 0 {
                dir_mode |= 0o010;
            }
            if dir_mode & 0o007 != 0 {
                dir_mode |= 0o001;
            }
            let (uid, gid) = (id(&f.uid), id(&f.gid));
            let contents: Option<Vec<u8>> = if f.directory || !f.symlink.is_empty() {
                None
            } else if let Some(c) = &f.contents {
                Some(c.clone().into_bytes())
            } else if !f.source.is_empty() {
                let source = match (f.source.strip_prefix("~/"), &self.inputs.home) {
                    (Some(rest), Some(home)) => home.join(rest),
                    _ => PathBuf::from(&f.source),
                };
                match std::fs::read(&source) {
                    Ok(d) => Some(d),
                    Err(_) if f.optional => continue,
                    Err(e) => {
                        return Err(AssembleError::FileSource {
                            index: i,
                            path: f.path.clone(),
                            source_path: source.display().to_string(),
                            source: e,
                        });
                    }
                }
            } else {
                Some(match f.metadata.as_str() {
                    "json" => lk_spec::normalize::to_json(config).into_bytes(),
                    _ => lk_spec::normalize::to_yaml(config).into_bytes(),
                })
            };
            let mt = self.mtime();
            let parent = crate::path::parent(&path).to_owned();
            let mut acc = String::new();
            for c in parent.split('/').filter(|c| !c.is_empty()) {
                acc = join(&acc, c);
                if added.insert(acc.clone()) {
                    let mut e =
                        Entry::dir(&acc, dir_mode, mt).with_origin("linuxkit.files", &location);
                    e.uid = uid;
                    e.gid = gid;
                    self.put(e, &mut io::empty())?;
                }
            }
            added.insert(path.clone());
            let kind = if f.directory {
                Kind::Dir
            } else if !f.symlink.is_empty() {
                Kind::Symlink(f.symlink.clone())
            } else {
                Kind::File(contents.as_ref().map_or(0, |c| c.len() as u64))
            };
            let e = Entry {
                path,
                kind,
                mode,
                uid,
                gid,
                mtime: mt,
                xattrs: Vec::new(),
                pax: Vec::new(),
            }
            .with_origin("linuxkit.files", &location);
            let data = contents.unwrap_or_default();
            self.put(e, &mut &data[..])?;
        }
        Ok(())
    }
}

/// Every image a configuration needs, canonical reference -> where it is used.
pub fn images_of(config: &Config) -> BTreeMap<String, lk_spec::ImageRef> {
    let mut out = BTreeMap::new();
    let mut add = |r: &lk_spec::ImageRef| {
        out.entry(r.canonical().to_owned())
            .or_insert_with(|| r.clone());
    };
    if let Some(k) = &config.kernel.image {
        add(&k.value);
    }
    for r in config.init.iter().flatten() {
        add(&r.value);
    }
    for v in config.volumes.iter().flatten() {
        if let Some(r) = &v.image {
            add(&r.value);
        }
    }
    for s in Section::ALL {
        for e in config.section(s) {
            add(&e.image.value);
        }
    }
    out
}

/// Forwards flattened entries to a sink unchanged (no prefix, no origin records).
struct ToSink<'a>(&'a mut dyn Sink);

impl Emit for ToSink<'_> {
    fn link_targets(&mut self, paths: &[String]) {
        self.0.link_targets(paths);
    }

    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        self.0.add(&e, data)
    }
}

/// `cache export --format filesystem`: the image's layers flattened (whiteouts, opaque
/// directories and hard links resolved as in a build) into `out`, then `out.finish()`.
pub fn export_filesystem(image: &ImageContent<'_>, out: &mut dyn Sink) -> Result<(), FlattenError> {
    let open = |i: usize| open_layer(image, i);
    flatten(
        image.resolved.manifest.layers.len(),
        &open,
        &mut ToSink(&mut *out),
    )?;
    out.finish().map_err(FlattenError::Write)
}
