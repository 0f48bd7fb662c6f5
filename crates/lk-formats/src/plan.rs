//! The output plan: which sinks a set of formats needs, where each file goes, and what is
//! written after the stream ends. [`OutputPlan::new`] checks the combination,
//! [`OutputPlan::open`] creates the files (under temporary names), the returned
//! [`Outputs`] is the one sink the root filesystem is streamed into, and
//! [`Outputs::commit`] writes the rest and renames every file into place, returning the
//! [`Artifacts`]. Dropped before commit, nothing is left behind.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::entry::{Entry, Sink};
use crate::error::FormatError;
use crate::format::{Format, Source};
use crate::initrd::{BootParts, InitrdSink, kernel_initrd_tar};
use crate::staged::Staged;
use crate::tar::TarSink;
use crate::tree::TreeSink;

/// Where the outputs go.
pub enum Destination<'w> {
    /// `--o -`: the one streamable format into a writer.
    Writer(&'w mut dyn Write),
    /// `--o FILE`: the one streamable format into a file.
    File(PathBuf),
    /// `<dir>/<name><suffix>` for each file of each format.
    Dir {
        /// `--dir`.
        dir: PathBuf,
        /// `--name`.
        name: String,
    },
}

impl std::fmt::Debug for Destination<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Writer(_) => f.write_str("Writer"),
            Destination::File(p) => write!(f, "File({})", p.display()),
            Destination::Dir { dir, name } => write!(f, "Dir({}, {name})", dir.display()),
        }
    }
}

/// What a file of the output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The whole stream (`tar`, `docker`).
    Stream,
    /// The kernel.
    Kernel,
    /// The kernel command line.
    Cmdline,
    /// The initrd.
    Initrd,
    /// A tar of kernel, initrd and command line.
    InitrdTar,
    /// A filesystem or disk image.
    Image,
}

/// One file written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The format it belongs to.
    pub format: Format,
    /// What it is.
    pub role: Role,
    /// Where (`-` for a writer).
    pub path: PathBuf,
    /// Bytes (0 for a writer).
    pub size: u64,
}

/// Every file a build wrote, in the order LinuxKit reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifacts {
    /// The files.
    pub files: Vec<Artifact>,
    /// The initrd's segments built and reused, when an initrd was written.
    pub initrd_segments: Option<crate::initrd::SegmentStats>,
}

/// The external image makers the tree and bootable formats run (the binary reads each from
/// `LINUXKIT_<NAME>`, e.g. `LINUXKIT_MKFS_EXT4`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    /// `kernel+iso` and the bootable ISOs (`LINUXKIT_XORRISO`).
    pub xorriso: String,
    /// `kernel+erofs` (`LINUXKIT_MKFS_EROFS`).
    pub mkfs_erofs: String,
    /// The ext4 disks (`LINUXKIT_MKFS_EXT4`).
    pub mkfs_ext4: String,
    /// Fills the ext4 disks (`LINUXKIT_DEBUGFS`).
    pub debugfs: String,
    /// `qcow2-*`, `vhd`, `dynamic-vhd`, `vmdk` (`LINUXKIT_QEMU_IMG`).
    pub qemu_img: String,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools {
            xorriso: "xorriso".into(),
            mkfs_erofs: "mkfs.erofs".into(),
            mkfs_ext4: "mkfs.ext4".into(),
            debugfs: "debugfs".into(),
            qemu_img: "qemu-img".into(),
        }
    }
}

/// How the outputs are written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// Dates what the plan itself writes (`Dockerfile`, the initrd tar, tree roots).
    pub mtime: u64,
    /// The external image makers.
    pub tools: Tools,
    /// The initrd's compression.
    pub initrd_compression: crate::InitrdCompression,
    /// Where initrd segments are kept between builds (none: every segment is compressed).
    pub segments: Option<crate::SegmentStore>,
    /// The boot loaders and `--size` of the bootable formats.
    pub boot: crate::boot::BootOptions,
}

/// The checked set of formats and where they go.
#[derive(Debug)]
pub struct OutputPlan<'w> {
    formats: Vec<Format>,
    destination: Destination<'w>,
    options: OutputOptions,
}

impl<'w> OutputPlan<'w> {
    /// Checks the formats (known, implemented, a stream alone) for `destination`.
    pub fn new(
        mut formats: Vec<Format>,
        destination: Destination<'w>,
        options: OutputOptions,
    ) -> Result<OutputPlan<'w>, FormatError> {
        if formats.is_empty() {
            formats.push(match destination {
                Destination::Dir { .. } => Format::KernelInitrd,
                _ => Format::Tar,
            });
        }
        formats.dedup();
        if let Some(f) = formats.iter().find(|f| !f.implemented()) {
            return Err(FormatError::NotImplemented(*f));
        }
        for (i, a) in formats.iter().enumerate() {
            if let Some(b) = formats[i + 1..]
                .iter()
                .find(|b| b.files().iter().any(|s| a.files().contains(s)) && !shares_ok(*a, **b))
            {
                return Err(FormatError::SameFile(*a, *b));
            }
        }
        let streams = formats.iter().any(|f| f.streamable());
        match destination {
            Destination::Dir { .. } if streams && formats.len() > 1 => {
                return Err(FormatError::StreamNotAlone(formats));
            }
            Destination::Writer(_) | Destination::File(_)
                if formats.len() != 1 || !formats[0].streamable() =>
            {
                return Err(FormatError::NotOneStream(formats));
            }
            _ => {}
        }
        Ok(OutputPlan {
            formats,
            destination,
            options,
        })
    }

    /// The formats, in the order given.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// The bootable formats (which need the boot loaders package).
    pub fn bootable(&self) -> Vec<Format> {
        self.formats
            .iter()
            .copied()
            .filter(|f| f.bootable())
            .collect()
    }

    /// Sets the initrd compression (once the kernel image is known: `auto`).
    pub fn set_initrd_compression(&mut self, c: crate::InitrdCompression) {
        self.options.initrd_compression = c;
    }

    /// Gives the bootable formats their boot loaders.
    pub fn set_boot_loaders(&mut self, loaders: crate::boot::BootLoaders) {
        self.options.boot.loaders = Some(loaders);
    }

    /// Fails, before anything is pulled or streamed, when a format needs a kernel and
    /// `has_kernel` is false.
    pub fn check_kernel(&self, has_kernel: bool) -> Result<(), FormatError> {
        let need: Vec<Format> = self
            .formats
            .iter()
            .copied()
            .filter(|f| f.needs_kernel())
            .collect();
        if has_kernel || need.is_empty() {
            return Ok(());
        }
        Err(FormatError::NeedsKernel(need))
    }

    /// The paths announced before the build (`--o`), if known.
    pub fn stream_path(&self) -> Option<PathBuf> {
        match &self.destination {
            Destination::Writer(_) => Some(PathBuf::from("-")),
            Destination::File(p) => Some(p.clone()),
            Destination::Dir { .. } => None,
        }
    }

    /// Creates the output files under temporary names and returns the sink to stream into.
    pub fn open(self) -> Result<Outputs<'w>, FormatError> {
        let OutputPlan {
            formats,
            destination,
            options,
        } = self;
        let OutputOptions {
            mtime,
            tools,
            initrd_compression,
            segments,
            boot,
        } = options;
        let stream_format = formats.iter().copied().find(|f| f.streamable());
        let (target, base) = match destination {
            Destination::Writer(w) => (Some(Target::Writer(w)), None),
            Destination::File(p) => {
                let f = stream_format.unwrap_or(Format::Tar);
                (Some(Target::File(staged(f, &p)?)), None)
            }
            Destination::Dir { dir, name } => {
                std::fs::create_dir_all(&dir).map_err(|source| FormatError::Write {
                    format: formats[0],
                    path: dir.clone(),
                    source,
                })?;
                (None, Some(dir.join(&name)))
            }
        };
        let base = base.unwrap_or_default();
        let file = |suffix: &str| PathBuf::from(format!("{}{suffix}", base.display()));
        let stream = match (stream_format, target) {
            (Some(f), Some(t)) => Some((f, t)),
            (Some(f), None) => Some((f, Target::File(staged(f, &file(f.files()[0]))?))),
            (None, _) => None,
        }
        .map(|(format, t)| StreamOut {
            format,
            tar: TarSink::new(t),
            mtime,
        });
        let initrd = if formats.iter().any(|f| f.source() == Source::Initrd) {
            let path = file("-initrd.img");
            let out = staged(initrd_owner(&formats), &path)?;
            Some(InitrdSink::new(out, initrd_compression, segments))
        } else {
            None
        };
        let tree = formats
            .iter()
            .any(|f| f.source() == Source::Tree)
            .then(TreeSink::default);
        Ok(Outputs {
            formats,
            base,
            mtime,
            tools,
            boot,
            stream,
            initrd,
            tree,
        })
    }
}

/// The `kernel+*` formats share `-kernel` and `-cmdline`; nothing else shares a file.
fn shares_ok(a: Format, b: Format) -> bool {
    let kernel_files = |f: Format| f.files().first() == Some(&"-kernel");
    kernel_files(a) && kernel_files(b) && a.files()[2] != b.files()[2]
}

fn staged(format: Format, path: &Path) -> Result<Staged, FormatError> {
    Staged::create(path).map_err(|source| FormatError::Write {
        format,
        path: path.to_path_buf(),
        source,
    })
}

fn write_err(format: Format, path: &Path) -> impl FnOnce(io::Error) -> FormatError + use<> {
    let path = path.to_path_buf();
    move |source| FormatError::Write {
        format,
        path,
        source,
    }
}

/// An image file an external maker or writer finished, with its size.
fn image_artifact(format: Format, path: PathBuf) -> Result<Artifact, FormatError> {
    let size = std::fs::metadata(&path)
        .map_err(write_err(format, &path))?
        .len();
    Ok(Artifact {
        format,
        role: Role::Image,
        path,
        size,
    })
}

/// The format an initrd file is written for (named in its errors).
fn initrd_owner(formats: &[Format]) -> Format {
    [Format::KernelInitrd, Format::TarKernelInitrd]
        .into_iter()
        .find(|f| formats.contains(f))
        .or_else(|| formats.iter().copied().find(|f| f.bootable()))
        .unwrap_or(Format::KernelInitrd)
}

/// Removes a file when dropped (an intermediate output, also on error).
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

enum Target<'w> {
    Writer(&'w mut dyn Write),
    File(Staged),
}

impl Write for Target<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Writer(w) => w.write(buf),
            Target::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Writer(w) => w.flush(),
            Target::File(f) => f.flush(),
        }
    }
}

const DOCKERFILE: &str = "\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT [\"/bin/rc.init\"]\n";

/// `tar` or `docker` (which appends its `Dockerfile` when the stream ends).
struct StreamOut<'w> {
    format: Format,
    tar: TarSink<Target<'w>>,
    mtime: u64,
}

impl Sink for StreamOut<'_> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        self.tar.add(e, data)
    }
    fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Docker {
            let e = Entry::file("Dockerfile", DOCKERFILE.len() as u64, 0o644, self.mtime);
            self.tar.add(&e, &mut DOCKERFILE.as_bytes())?;
        }
        self.tar.finish()
    }
    fn link_targets(&mut self, paths: &[String]) {
        self.tar.link_targets(paths);
    }
}

/// The open outputs: stream the root filesystem into this sink, then [`Outputs::commit`].
pub struct Outputs<'w> {
    formats: Vec<Format>,
    base: PathBuf,
    mtime: u64,
    tools: Tools,
    boot: crate::boot::BootOptions,
    stream: Option<StreamOut<'w>>,
    initrd: Option<InitrdSink<Staged>>,
    tree: Option<TreeSink>,
}

impl std::fmt::Debug for Outputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Outputs({:?})", self.formats)
    }
}

impl<'w> Outputs<'w> {
    /// The open sinks, as one tee.
    fn tee(&mut self) -> crate::Tee<'_> {
        let sinks = [
            self.stream.as_mut().map(|s| s as &mut dyn Sink),
            self.initrd.as_mut().map(|s| s as &mut dyn Sink),
            self.tree.as_mut().map(|s| s as &mut dyn Sink),
        ];
        crate::Tee(sinks.into_iter().flatten().collect())
    }
}

impl Sink for Outputs<'_> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        self.tee().add(e, data)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.tee().finish()
    }
    fn link_targets(&mut self, paths: &[String]) {
        self.tee().link_targets(paths);
    }
    fn begin_segment(&mut self, id: Option<&crate::SegmentId>) -> io::Result<bool> {
        self.tee().begin_segment(id)
    }
    fn end_segment(&mut self) -> io::Result<()> {
        self.tee().end_segment()
    }
}

impl Outputs<'_> {
    fn file(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.base.display()))
    }

    fn want(&self, f: Format) -> bool {
        self.formats.contains(&f)
    }

    /// Writes what follows the stream (kernel, command line, tree images, the initrd tar)
    /// and renames every file into place. Call after the stream's `finish`.
    pub fn commit(mut self) -> Result<Artifacts, FormatError> {
        let mut out = Artifacts::default();
        match self.commit_into(&mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                // A failed build leaves no output: remove what this build already wrote.
                for a in &out.files {
                    if a.path != Path::new("-") {
                        let _ = std::fs::remove_file(&a.path);
                    }
                }
                Err(e)
            }
        }
    }

    fn commit_into(&mut self, out: &mut Artifacts) -> Result<(), FormatError> {
        if let Some(s) = self.stream.take() {
            let format = s.format;
            let target = s.tar.into_inner().map_err(write_err(format, &self.base))?;
            let (path, size) = match target {
                Target::Writer(w) => {
                    w.flush().map_err(write_err(format, Path::new("-")))?;
                    (PathBuf::from("-"), 0)
                }
                Target::File(st) => {
                    let path = st.dest().to_path_buf();
                    let size = st.commit().map_err(write_err(format, &path))?;
                    (path, size)
                }
            };
            out.files.push(Artifact {
                format,
                role: Role::Stream,
                path,
                size,
            });
        }
        if let Some(i) = self.initrd.take() {
            self.commit_initrd(i, out)?;
        }
        if let Some(t) = self.tree.take() {
            self.commit_tree(t, out)?;
        }
        Ok(())
    }

    fn small_file(
        &self,
        format: Format,
        role: Role,
        suffix: &str,
        data: &[u8],
    ) -> Result<Artifact, FormatError> {
        let path = self.file(suffix);
        let mut st = staged(format, &path)?;
        st.write_all(data).map_err(write_err(format, &path))?;
        let size = st.commit().map_err(write_err(format, &path))?;
        Ok(Artifact {
            format,
            role,
            path,
            size,
        })
    }

    fn kernel_and_cmdline(
        &self,
        format: Format,
        boot: &BootParts,
        skip_empty_cmdline: bool,
        out: &mut Artifacts,
    ) -> Result<(), FormatError> {
        if boot.kernel.is_empty() {
            return Err(FormatError::NeedsKernel(vec![format]));
        }
        out.files
            .push(self.small_file(format, Role::Kernel, "-kernel", &boot.kernel)?);
        if !(skip_empty_cmdline && boot.cmdline.is_empty()) {
            let c = boot.cmdline.as_bytes();
            out.files
                .push(self.small_file(format, Role::Cmdline, "-cmdline", c)?);
        }
        Ok(())
    }

    fn commit_initrd(
        &self,
        sink: InitrdSink<Staged>,
        out: &mut Artifacts,
    ) -> Result<(), FormatError> {
        let path = self.file("-initrd.img");
        let first = initrd_owner(&self.formats);
        let (initrd, boot, stats) = sink.into_parts().map_err(write_err(first, &path))?;
        out.initrd_segments = Some(stats);
        let size = initrd.commit().map_err(write_err(first, &path))?;
        // The initrd file stays only when kernel+initrd asked for it.
        let _remove = (!self.want(Format::KernelInitrd)).then(|| Remove(path.clone()));
        if self.want(Format::KernelInitrd) {
            let f = Format::KernelInitrd;
            self.kernel_and_cmdline(f, &boot, true, out)?;
            out.files.push(Artifact {
                format: f,
                role: Role::Initrd,
                path: path.clone(),
                size,
            });
        } else if boot.kernel.is_empty() {
            return Err(FormatError::NeedsKernel(vec![first]));
        }
        if self.want(Format::TarKernelInitrd) {
            let f = Format::TarKernelInitrd;
            let tar = self.file("-initrd.tar");
            let mut st = staged(f, &tar)?;
            let mut initrd = File::open(&path).map_err(write_err(f, &path))?;
            kernel_initrd_tar(&mut st, &boot, &mut initrd, size, self.mtime)
                .map_err(write_err(f, &tar))?;
            let size = st.commit().map_err(write_err(f, &tar))?;
            out.files.push(Artifact {
                format: f,
                role: Role::InitrdTar,
                path: tar,
                size,
            });
        }
        let src = crate::boot::BootSource {
            kernel: &boot.kernel,
            cmdline: &boot.cmdline,
            initrd: &path,
        };
        for f in self.formats.iter().copied().filter(|f| f.bootable()) {
            let img = self.file(f.files()[0]);
            crate::boot::write(f, &src, &self.boot, &self.tools, self.mtime, &img)
                .map_err(write_err(f, &img))?;
            out.files.push(image_artifact(f, img)?);
        }
        Ok(())
    }

    fn commit_tree(&self, mut tree: TreeSink, out: &mut Artifacts) -> Result<(), FormatError> {
        let formats: Vec<Format> = [
            Format::KernelSquashfs,
            Format::KernelIso,
            Format::KernelErofs,
        ]
        .into_iter()
        .filter(|f| self.want(*f))
        .collect();
        let boot = std::mem::take(&mut tree.boot);
        if boot.kernel.is_empty() {
            return Err(FormatError::NeedsKernel(formats));
        }
        crate::root_initrd::add_mount_points(&mut tree, self.mtime);
        if !self.want(Format::KernelInitrd) {
            self.kernel_and_cmdline(formats[0], &boot, false, out)?;
        }
        for f in formats.iter().copied() {
            let img = self.file(f.files()[2]);
            let err = write_err(f, &img);
            let written = match f {
                Format::KernelSquashfs => Staged::create(&img).and_then(|mut st| {
                    crate::squashfs::write_to(&tree, self.mtime, &mut st)?;
                    st.commit().map(|_| ())
                }),
                Format::KernelIso => {
                    crate::iso::write(&tree, self.mtime, &img, &self.tools.xorriso)
                }
                _ => crate::erofs::write(&tree, self.mtime, &img, &self.tools.mkfs_erofs),
            };
            written.map_err(err)?;
            out.files.push(image_artifact(f, img)?);
        }
        // The first stage that lets a modular kernel mount the root image.
        let path = self.file("-boot-initrd.img");
        if let Some(img) =
            crate::root_initrd::build(&tree, self.mtime).map_err(write_err(formats[0], &path))?
        {
            out.files
                .push(self.small_file(formats[0], Role::Initrd, "-boot-initrd.img", &img)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lk-plan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn opts(mtime: u64) -> OutputOptions {
        OutputOptions {
            mtime,
            ..OutputOptions::default()
        }
    }

    fn to_dir(d: &Path) -> Destination<'static> {
        Destination::Dir {
            dir: d.to_path_buf(),
            name: "x".into(),
        }
    }

    #[test]
    fn combinations_are_checked_before_anything_is_written() {
        let d = dir("combos");
        let err = |f: Vec<Format>, dest| OutputPlan::new(f, dest, opts(0)).unwrap_err();
        assert!(matches!(
            err(vec![Format::Tar, Format::KernelInitrd], to_dir(&d)),
            FormatError::StreamNotAlone(_)
        ));
        assert!(matches!(
            err(vec![Format::KernelInitrd], Destination::File(d.join("o"))),
            FormatError::NotOneStream(_)
        ));
        assert!(matches!(
            err(vec![Format::Rpi3], to_dir(&d)),
            FormatError::NotImplemented(Format::Rpi3)
        ));
        assert!(matches!(
            err(vec![Format::Vhd, Format::DynamicVhd], to_dir(&d)),
            FormatError::SameFile(Format::Vhd, Format::DynamicVhd)
        ));
        let p = OutputPlan::new(
            vec![Format::KernelIso, Format::KernelSquashfs],
            to_dir(&d),
            opts(0),
        );
        assert!(p.is_ok());
        let p = OutputPlan::new(vec![], to_dir(&d), opts(0)).unwrap();
        assert_eq!(p.formats(), [Format::KernelInitrd]);
        assert!(matches!(
            p.check_kernel(false),
            Err(FormatError::NeedsKernel(f)) if f == [Format::KernelInitrd]
        ));
        assert!(p.check_kernel(true).is_ok());
        let p = OutputPlan::new(vec![], Destination::File(d.join("o")), opts(0)).unwrap();
        assert_eq!(p.formats(), [Format::Tar]);
        assert!(p.check_kernel(false).is_ok());
        assert!(!d.exists(), "planning wrote something");
    }

    #[test]
    fn docker_appends_its_dockerfile_and_commit_names_the_artifacts() {
        let d = dir("docker");
        let mut out = OutputPlan::new(vec![Format::Docker], to_dir(&d), opts(7))
            .unwrap()
            .open()
            .unwrap();
        out.add(&Entry::file("a", 1, 0o644, 7), &mut &b"x"[..])
            .unwrap();
        out.finish().unwrap();
        let a = out.commit().unwrap();
        assert_eq!(a.files.len(), 1);
        assert_eq!(a.files[0].path, d.join("x.docker"));
        assert_eq!(
            (a.files[0].format, a.files[0].role),
            (Format::Docker, Role::Stream)
        );
        let mut names = Vec::new();
        let mut t = ::tar::Archive::new(std::fs::File::open(d.join("x.docker")).unwrap());
        for e in t.entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert_eq!(names, ["a", "Dockerfile"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn outputs_dropped_before_commit_leave_nothing() {
        let d = dir("drop");
        let out = OutputPlan::new(vec![Format::KernelInitrd], to_dir(&d), opts(0))
            .unwrap()
            .open()
            .unwrap();
        drop(out);
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_stream_into_a_writer_is_the_tar() {
        let mut buf = Vec::new();
        let mut out = OutputPlan::new(vec![Format::Tar], Destination::Writer(&mut buf), opts(0))
            .unwrap()
            .open()
            .unwrap();
        out.add(&Entry::file("a", 1, 0o644, 0), &mut &b"x"[..])
            .unwrap();
        out.finish().unwrap();
        let a = out.commit().unwrap();
        assert_eq!(a.files[0].path, Path::new("-"));
        assert!(buf.len() >= 1024 && buf.len() % 512 == 0, "{}", buf.len());
    }
}
