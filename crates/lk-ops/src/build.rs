//! `linuxkit build`: configuration -> pinned images -> one root filesystem stream -> every
//! requested format at once (written while produced, under temporary names, renamed when
//! complete). Each arrow is a stage with its own type; this module only wires them.

use std::io::Write;
use std::path::{Path, PathBuf};

pub use lk_formats::boot::DiskSize;
pub use lk_formats::{Artifact, Artifacts, Format, FormatError, InitrdCompression};
use lk_formats::{Destination, OutputOptions, OutputPlan};
use lk_image::Resolved;
use lk_rootfs::{AssembleError, Assembler, DEFAULT_MTIME, InputTar, RootfsOptions};
use lk_spec::Config;

pub use lk_util::Arch;

use crate::cache::{ImageError, ImageSettings, pull_from_docker};
use crate::validate::{Input, ValidateError, validate};
use crate::{Env, Reporter};

/// Settings of a build.
#[derive(Clone, Debug, Default)]
pub struct BuildSettings {
    /// Registry and cache (their platforms are the build's: [`BuildSettings::arch`]).
    pub images: ImageSettings,
    /// `--arch`: the architecture built for (default: this host's). Every image's entry for
    /// it is taken; formats that cannot boot on it fail before any work.
    pub arch: Option<Arch>,
    /// YAML inputs, merged in order.
    pub inputs: Vec<Input>,
    /// `--name`.
    pub name: Option<String>,
    /// `--dir`.
    pub dir: Option<PathBuf>,
    /// `--o` (`-` for the writer given to [`build`]).
    pub output: Option<String>,
    /// `--format` values (each may be a comma-separated list).
    pub formats: Vec<String>,
    /// `--pull`.
    pub pull: bool,
    /// `--docker`.
    pub docker: bool,
    /// `--decompress-kernel`.
    pub decompress_kernel: bool,
    /// `--no-sbom`.
    pub no_sbom: bool,
    /// `--sbom-output`.
    pub sbom_output: String,
    /// `--input-tar`.
    pub input_tar: Option<PathBuf>,
    /// `--initrd-compression`; `None` is auto (see [`initrd_compression`]).
    pub initrd_compression: Option<InitrdCompression>,
    /// `--size` of the ext4 disks.
    pub size: DiskSize,
    /// `--bootloaders`: the boot loader image (default: [`crate::bootloaders::pinned`]).
    pub bootloaders: Option<String>,
}

/// A build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading or validating the configuration failed.
    #[error(transparent)]
    Config(#[from] ValidateError),
    /// Two flags that exclude each other.
    #[error("{0} cannot be combined with {1}")]
    Conflict(&'static str, &'static str),
    /// `--input-tar` and `--o` name one file.
    #[error("--input-tar and --o must be different files")]
    SameInputAndOutput,
    /// The formats or their outputs.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Pulling images failed.
    #[error(transparent)]
    Images(#[from] ImageError),
    /// Assembling the root filesystem failed.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// The boot loaders of the bootable formats could not be read.
    #[error("{}: reading the boot loaders from {image}", formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))]
    BootLoaders {
        /// The formats that need them.
        formats: Vec<Format>,
        /// The image (`--bootloaders` or the pinned package).
        image: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BuildError {
    /// What the user can do about it, if we know.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            BuildError::Format(e) => e.hint(),
            BuildError::BootLoaders { .. } => Some(
                "build the package with `linuxkit pkg build pkg/bootloaders` (from a LinuxKit-rs checkout), or name another image with --bootloaders",
            ),
            _ => None,
        }
    }
}

/// The format names of `--format` values (comma-separated lists allowed).
pub fn parse_formats(values: &[String]) -> Result<Vec<Format>, FormatError> {
    values
        .iter()
        .flat_map(|f| f.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::parse)
        .collect()
}

/// Checks the flags and formats and says where each output goes.
fn plan<'w>(
    s: &BuildSettings,
    env: &Env,
    stdout: &'w mut dyn Write,
) -> Result<OutputPlan<'w>, BuildError> {
    if s.input_tar.is_some() && s.pull {
        return Err(BuildError::Conflict("--input-tar", "--pull"));
    }
    if let (Some(i), Some(o)) = (&s.input_tar, &s.output)
        && i.as_os_str() == o.as_str()
    {
        return Err(BuildError::SameInputAndOutput);
    }
    let destination = match s.output.as_deref() {
        Some(_) if s.name.is_some() || s.dir.is_some() => {
            return Err(BuildError::Conflict("--o", "--name or --dir"));
        }
        Some("-") => Destination::Writer(stdout),
        Some(o) => Destination::File(PathBuf::from(o)),
        None => Destination::Dir {
            dir: s.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
            name: base_name(s),
        },
    };
    let options = OutputOptions {
        mtime: env.source_date_epoch.unwrap_or(DEFAULT_MTIME),
        tools: env.tools.clone(),
        initrd_compression: s.initrd_compression.unwrap_or_default(),
        segments: env.segment_store(&s.images.cache_dir),
        boot: lk_formats::boot::BootOptions {
            loaders: None,
            size: s.size,
        },
    };
    let formats = parse_formats(&s.formats)?;
    let plan = OutputPlan::new(formats.clone(), destination, options)?;
    // After the plan's own checks: a format not written yet says so first.
    lk_formats::check_arch(&formats, s.arch())?;
    Ok(plan)
}

impl BuildSettings {
    /// The architecture built for: `--arch`, else this host's.
    pub fn arch(&self) -> Arch {
        self.arch.or_else(Arch::host).unwrap_or(Arch::Amd64)
    }

    /// The registry and cache settings, for this build's architecture only.
    fn images_for_arch(&self) -> ImageSettings {
        ImageSettings {
            platforms: vec![lk_oci::Platform::linux(self.arch().name())],
            ..self.images.clone()
        }
    }
}

fn base_name(s: &BuildSettings) -> String {
    match (&s.name, s.inputs.last()) {
        (Some(n), _) => n.clone(),
        (None, Some(Input::File(p))) => p
            .file_stem()
            .map_or_else(|| "moby".to_owned(), |n| n.to_string_lossy().into_owned()),
        _ => "moby".to_owned(),
    }
}

fn rootfs_options(
    s: &BuildSettings,
    env: &Env,
    config: &Config,
) -> Result<RootfsOptions, BuildError> {
    Ok(RootfsOptions {
        source_date_epoch: env.source_date_epoch,
        decompress_kernel: s.decompress_kernel,
        sbom_path: (!s.no_sbom).then(|| s.sbom_output.clone()),
        home: env.home.clone(),
        segments: env.segment_store(&s.images.cache_dir),
        input: match &s.input_tar {
            Some(p) => Some(InputTar::open(p, config)?),
            None => None,
        },
    })
}

/// `--docker`: images the local engine has (for the target architecture) are copied from
/// it first; the rest come from the cache or registry.
fn from_docker(
    s: &BuildSettings,
    images: &ImageSettings,
    config: &Config,
    reporter: &dyn Reporter,
) {
    if s.docker {
        let arch = images.target_arch();
        for r in config.images() {
            if let Ok(pulled) = pull_from_docker(images, &[r.original().to_owned()], &arch) {
                for p in pulled {
                    reporter.info(&format!("using {} from the local Docker engine", p.name));
                }
            }
        }
    }
}

/// After a build: the segment store trimmed, what was reused, warnings, the files written
/// (when they were not announced before).
fn finish(
    reporter: &dyn Reporter,
    options: &RootfsOptions,
    artifacts: &Artifacts,
    report: &lk_rootfs::RootfsReport,
    list_files: bool,
) {
    if let Some(store) = &options.segments {
        store.sweep(std::time::Duration::from_secs(600));
        if let Err(e) = store.trim() {
            reporter.warning(&lk_spec::Diagnostic::global(format!(
                "cannot trim the initrd segment store {}: {e}",
                store.dir().display()
            )));
        }
    }
    if let Some(st) = artifacts.initrd_segments {
        reporter.info(&format!(
            "initrd: {} of {} segments reused, {} built",
            st.reused,
            st.reused + st.built,
            st.built
        ));
    }
    if let Some(m) = &report.kernel_modules {
        let mib = |b: u64| b as f64 / 1048576.0;
        reporter.info(&format!(
            "kernel modules: {} of {} ({:.1} of {:.1} MiB; the kernel package's modules.linuxkit and kernel.modules)",
            m.kept,
            m.total,
            mib(m.kept_bytes),
            mib(m.total_bytes)
        ));
        for u in &m.unknown {
            reporter.warning(&lk_spec::Diagnostic::global(format!(
                "kernel.modules: `{u}` matches no module of the kernel image (module names, `kernel/...` directories ending in `/`, or `*`)"
            )));
        }
    }
    for p in &report.implied_parents {
        reporter.warning(&lk_spec::Diagnostic::global(format!(
            "{} ({}): `{}` has no entry for its parent directory `{}`; it was added (0755), but LinuxKit does not add it and its initrd would lose the entry",
            p.location, p.image, p.entry, p.parent
        )));
    }
    if list_files {
        for a in &artifacts.files {
            reporter.info(&format!("  {}", a.path.display()));
        }
    }
}

/// The label by which a kernel image says which initrd compressions its kernel unpacks
/// (space-separated names, e.g. `gzip zstd`).
pub const KERNEL_INITRD_LABEL: &str = "org.mobyproject.linuxkit.kernel.initrd-compression";

/// `--initrd-compression auto`: zstd when the kernel image's label lists it, else gzip
/// (what every LinuxKit kernel unpacks).
pub fn initrd_compression(resolved: &Resolved) -> InitrdCompression {
    let label = resolved
        .config()
        .kernel
        .image
        .as_ref()
        .and_then(|r| resolved.image(&r.value).ok())
        .and_then(|p| p.image.config.config.as_ref())
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(KERNEL_INITRD_LABEL).cloned())
        .unwrap_or_default();
    if label.split([' ', ',']).any(|c| c == "zstd") {
        InitrdCompression::Zstd
    } else {
        InitrdCompression::Gzip
    }
}

/// Builds the configuration into the requested formats; `--o -` writes into `stdout`.
pub fn build(
    s: &BuildSettings,
    env: &Env,
    stdout: &mut dyn Write,
    progress: &dyn crate::Progress,
    reporter: &dyn Reporter,
) -> Result<Artifacts, BuildError> {
    let mut plan = plan(s, env, stdout)?;
    let images = s.images_for_arch();
    let config = validate(&s.inputs, &lk_pkg::PkgResolver::default(), reporter)?;
    plan.check_kernel(config.kernel.image.is_some())?;
    let bootable = plan.bootable();
    if !bootable.is_empty() {
        let arg = s
            .bootloaders
            .as_deref()
            .unwrap_or(crate::bootloaders::pinned());
        let err = |image: &str, source: Box<dyn std::error::Error + Send + Sync>| {
            BuildError::BootLoaders {
                formats: bootable.clone(),
                image: image.to_owned(),
                source,
            }
        };
        let image =
            crate::bootloaders::image_arg(arg, Path::new(".")).map_err(|e| err(arg, e.into()))?;
        let loaders = crate::bootloaders::load(&images, &image, progress)
            .map_err(|e| err(&image, e.into()))?;
        plan.set_boot_loaders(loaders);
    }
    let announced = plan.stream_path();
    let options = rootfs_options(s, env, &config)?;
    from_docker(s, &images, &config, reporter);
    // Pulling and assembling overlap: the build starts once every image is pinned.
    let (artifacts, report) = crate::cache::resolve_with(
        &images,
        config,
        s.pull,
        progress,
        |resolved: &Resolved| -> Result<_, BuildError> {
            reporter.info("Create outputs:");
            if let Some(p) = &announced {
                reporter.info(&format!("  {}", p.display()));
            }
            if s.initrd_compression.is_none() {
                let c = initrd_compression(resolved);
                if c != InitrdCompression::default() {
                    reporter.info(&format!(
                        "initrd compression: {c} (the kernel image unpacks it)"
                    ));
                }
                plan.set_initrd_compression(c);
            }
            let mut outputs = plan.open()?;
            let report = Assembler::new(resolved, &options, &mut outputs).run()?;
            Ok((outputs.commit()?, report))
        },
    )?;
    finish(reporter, &options, &artifacts, &report, announced.is_none());
    Ok(artifacts)
}

/// `--dry-run`: the merged configuration as YAML, without touching images.
pub fn dry_run(s: &BuildSettings, reporter: &dyn Reporter) -> Result<String, BuildError> {
    let config = validate(&s.inputs, &lk_pkg::PkgResolver::default(), reporter)?;
    Ok(lk_spec::normalize::to_yaml(&config))
}
