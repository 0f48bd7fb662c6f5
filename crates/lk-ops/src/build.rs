//! `linuxkit build`: configuration -> pinned images -> one root filesystem stream -> every
//! requested format at once (written while produced, under temporary names, renamed when
//! complete).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lk_formats::initrd::{InitrdSink, Staged, kernel_initrd_tar};
use lk_formats::tar::TarSink;
use lk_formats::{Entry, Sink};
use lk_rootfs::assemble::images_of;
use lk_rootfs::{Assembler, BuildInputs, ImageContent};
use lk_spec::Config;

use crate::Reporter;
use crate::cache::{ImageError, ImageSettings, ensure, pull_from_docker};
use crate::validate::{Input, ValidateError, read_input};

/// Formats LinuxKit has; those marked false come with later issues.
pub const FORMATS: [(&str, bool); 20] = [
    ("aws", false),
    ("docker", true),
    ("dynamic-vhd", false),
    ("gcp", false),
    ("iso-bios", false),
    ("iso-efi", false),
    ("iso-efi-initrd", false),
    ("kernel+erofs", true),
    ("kernel+initrd", true),
    ("kernel+iso", true),
    ("kernel+squashfs", true),
    ("qcow2-bios", false),
    ("qcow2-efi", false),
    ("raw-bios", false),
    ("raw-efi", false),
    ("rpi3", false),
    ("tar", true),
    ("tar-kernel-initrd", true),
    ("vhd", false),
    ("vmdk", false),
];

/// Formats that can go to `--o` (one stream).
const STREAMABLE: [&str; 2] = ["tar", "docker"];

/// Settings of a build.
#[derive(Clone, Debug, Default)]
pub struct BuildSettings {
    /// Registry and cache.
    pub images: ImageSettings,
    /// YAML inputs, merged in order.
    pub inputs: Vec<Input>,
    /// `--name`.
    pub name: Option<String>,
    /// `--dir`.
    pub dir: Option<PathBuf>,
    /// `--o` (`-` for stdout).
    pub output: Option<String>,
    /// `--format` values.
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
    /// SOURCE_DATE_EPOCH.
    pub source_date_epoch: Option<u64>,
    /// `--input-tar`.
    pub input_tar: Option<PathBuf>,
}

/// A build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading or validating the configuration failed.
    #[error(transparent)]
    Config(#[from] ValidateError),
    /// The flags do not fit together.
    #[error("{0}")]
    Usage(String),
    /// A format exists in LinuxKit but not here yet.
    #[error("output format {0} is not implemented yet")]
    FormatNotImplemented(String),
    /// Pulling images failed.
    #[error(transparent)]
    Images(#[from] ImageError),
    /// Assembling the root filesystem failed.
    #[error(transparent)]
    Assemble(#[from] lk_rootfs::AssembleError),
    /// Writing an output failed.
    #[error("writing {path}")]
    Output {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// One output file and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Path (or `-`).
    pub path: String,
    /// Bytes.
    pub size: u64,
}

/// What a build produced.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Files written, in order.
    pub outputs: Vec<Output>,
    /// The merged configuration (for `--dry-run`).
    pub dry_run: Option<String>,
}

fn base_name(s: &BuildSettings) -> String {
    if let Some(n) = &s.name {
        return n.clone();
    }
    match s.inputs.last() {
        Some(Input::File(p)) => p
            .file_stem()
            .map_or_else(|| "moby".to_owned(), |n| n.to_string_lossy().into_owned()),
        _ => "moby".to_owned(),
    }
}

/// Reads, merges and validates the inputs.
pub fn load_config(inputs: &[Input], reporter: &dyn Reporter) -> Result<Config, BuildError> {
    let mut texts = Vec::new();
    for i in inputs {
        texts.push(read_input(i)?);
    }
    let config = lk_spec::parse_and_merge(
        texts.iter().map(|(s, t)| (s, t.as_str())),
        Some(&lk_pkg::PkgResolver::default()),
    )
    .map_err(ValidateError::Invalid)?;
    for w in &config.warnings {
        reporter.warning(w);
    }
    Ok(config)
}

fn check_formats(s: &BuildSettings) -> Result<Vec<String>, BuildError> {
    if s.input_tar.is_some() && s.pull {
        return Err(BuildError::Usage(
            "--input-tar cannot be combined with --pull".into(),
        ));
    }
    if let (Some(i), Some(o)) = (&s.input_tar, &s.output)
        && i.as_os_str() == o.as_str()
    {
        return Err(BuildError::Usage(
            "--input-tar and --o must be different files".into(),
        ));
    }
    let mut formats: Vec<String> = s
        .formats
        .iter()
        .flat_map(|f| f.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if formats.is_empty() {
        formats.push(if s.output.is_some() {
            "tar".into()
        } else {
            "kernel+initrd".into()
        });
    }
    formats.dedup();
    for f in &formats {
        match FORMATS.iter().find(|(n, _)| n == f) {
            None => {
                let known: Vec<&str> = FORMATS.iter().map(|(n, _)| *n).collect();
                return Err(BuildError::Usage(format!(
                    "unknown output format `{f}`; formats: {}",
                    known.join(", ")
                )));
            }
            Some((_, false)) => return Err(BuildError::FormatNotImplemented(f.clone())),
            Some(_) => {}
        }
    }
    if s.output.is_some() {
        if formats.len() != 1 || !STREAMABLE.contains(&formats[0].as_str()) {
            return Err(BuildError::Usage(format!(
                "--o needs exactly one streamable format ({}); got {}",
                STREAMABLE.join(", "),
                formats.join(",")
            )));
        }
        if s.name.is_some() || s.dir.is_some() {
            return Err(BuildError::Usage(
                "--o cannot be combined with --name or --dir".into(),
            ));
        }
    } else if formats.iter().any(|f| STREAMABLE.contains(&f.as_str())) && formats.len() > 1 {
        return Err(BuildError::Usage(format!(
            "a streamable format ({}) must be the only format",
            STREAMABLE.join(", ")
        )));
    }
    Ok(formats)
}

struct DockerfileAppender<S: Sink> {
    inner: S,
    mtime: u64,
}

impl<S: Sink> Sink for DockerfileAppender<S> {
    fn add(&mut self, e: &Entry, data: &mut dyn io::Read) -> io::Result<()> {
        self.inner.add(e, data)
    }
    fn finish(&mut self) -> io::Result<()> {
        const DOCKERFILE: &str = "\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT [\"/bin/rc.init\"]\n";
        self.inner.add(
            &Entry::file("Dockerfile", DOCKERFILE.len() as u64, 0o644, self.mtime),
            &mut DOCKERFILE.as_bytes(),
        )?;
        self.inner.finish()
    }
    fn link_targets(&mut self, paths: &[String]) {
        self.inner.link_targets(paths);
    }
}

/// The configuration a previous build was made from: the `files` entry with `metadata` of
/// the new configuration names where the old one stored its own.
fn old_config(tar_path: &Path, config: &Config) -> Result<Config, BuildError> {
    let usage = |m: String| BuildError::Usage(m);
    let meta = config
        .files
        .iter()
        .flatten()
        .find(|f| !f.metadata.is_empty())
        .ok_or_else(|| usage("--input-tar needs a `files` entry with `metadata: yaml` (the previous build's configuration is read from it)".into()))?;
    let want = meta.path.trim_start_matches('/').to_owned();
    let err = |source| BuildError::Output {
        path: tar_path.display().to_string(),
        source,
    };
    let mut a = tar::Archive::new(std::io::BufReader::new(File::open(tar_path).map_err(err)?));
    for e in a.entries().map_err(err)? {
        let mut e = e.map_err(err)?;
        if e.path()
            .map_err(err)?
            .to_string_lossy()
            .trim_start_matches("./")
            == want
        {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).map_err(err)?;
            let source = lk_spec::Source::named(&format!("{}:{want}", tar_path.display()));
            let parsed = if meta.metadata == "json" {
                return Err(usage(
                    "--input-tar reads `metadata: yaml` files; json is not supported yet".into(),
                ));
            } else {
                lk_spec::parse_config(&source, &text, None)
            };
            return parsed.map_err(|d| BuildError::Config(ValidateError::Invalid(d)));
        }
    }
    Err(usage(format!(
        "{} has no {want} (the metadata file of the previous build)",
        tar_path.display()
    )))
}

/// Writes a small output file (kernel, cmdline) under a temporary name, then renames it.
fn write_output(path: &Path, data: &[u8]) -> Result<Output, BuildError> {
    let err = |source| BuildError::Output {
        path: path.display().to_string(),
        source,
    };
    let mut st = Staged::create(path).map_err(err)?;
    st.write_all(data).map_err(err)?;
    let size = st.commit().map_err(err)?;
    Ok(Output {
        path: path.display().to_string(),
        size,
    })
}

/// Builds the configuration into the requested formats.
pub fn build(
    s: &BuildSettings,
    progress: &dyn crate::Progress,
    reporter: &dyn Reporter,
) -> Result<BuildReport, BuildError> {
    let formats = check_formats(s)?;
    let config = load_config(&s.inputs, reporter)?;
    let refs: Vec<lk_spec::ImageRef> = images_of(&config).into_values().collect();
    let arch = s
        .images
        .platforms
        .first()
        .map_or_else(|| crate::host_arch().to_owned(), |p| p.architecture.clone());
    if s.docker {
        for r in &refs {
            // Images the local engine has (for the target architecture) come from it; the
            // rest from the cache or registry, as with LinuxKit's --docker.
            if let Ok(pulled) = pull_from_docker(&s.images, &[r.original().to_owned()], &arch) {
                for (name, _) in pulled {
                    reporter.info(&format!("using {name} from the local Docker engine"));
                }
            }
        }
    }
    let resolved = ensure(&s.images, &refs, s.pull, progress)?;
    let cache = s.images.cache()?;
    let mut images = HashMap::new();
    for (r, res) in refs.iter().zip(&resolved) {
        images.insert(
            r.canonical().to_owned(),
            ImageContent {
                canonical: r.canonical().to_owned(),
                resolved: res,
                cache: &cache,
            },
        );
    }
    let inputs = BuildInputs {
        config: &config,
        images,
        source_date_epoch: s.source_date_epoch,
        decompress_kernel: s.decompress_kernel,
        sbom_path: (!s.no_sbom).then(|| s.sbom_output.clone()),
        dockerfile: false,
        home: std::env::var_os("HOME").map(PathBuf::from),
        input: match &s.input_tar {
            Some(p) => Some((p.clone(), old_config(p, &config)?)),
            None => None,
        },
    };
    let mtime = s
        .source_date_epoch
        .unwrap_or(lk_rootfs::assemble::DEFAULT_MTIME);
    let out_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| BuildError::Output { path, source }
    };

    // --o: one stream to a file or stdout.
    if let Some(o) = &s.output {
        let docker = formats[0] == "docker";
        reporter.info(&format!("Create outputs:\n  {o}"));
        if o == "-" {
            let stdout = io::stdout().lock();
            let mut sink: Box<dyn Sink> = if docker {
                Box::new(DockerfileAppender {
                    inner: TarSink::new(stdout),
                    mtime,
                })
            } else {
                Box::new(TarSink::new(stdout))
            };
            Assembler::new(&inputs, sink.as_mut()).run()?;
            return Ok(BuildReport {
                outputs: vec![Output {
                    path: "-".into(),
                    size: 0,
                }],
                dry_run: None,
            });
        }
        let path = PathBuf::from(o);
        let staged = Staged::create(&path).map_err(out_err(&path))?;
        let mut tar = TarSink::new(staged);
        if docker {
            let mut sink = DockerfileAppender { inner: tar, mtime };
            Assembler::new(&inputs, &mut sink).run()?;
            tar = sink.inner;
        } else {
            Assembler::new(&inputs, &mut tar).run()?;
        }
        let size = tar
            .into_inner()
            .and_then(Staged::commit)
            .map_err(out_err(&path))?;
        return Ok(BuildReport {
            outputs: vec![Output {
                path: o.clone(),
                size,
            }],
            dry_run: None,
        });
    }

    let dir = s.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(out_err(&dir))?;
    let base = dir.join(base_name(s));
    let file = |suffix: &str| PathBuf::from(format!("{}{suffix}", base.display()));
    let want = |f: &str| formats.iter().any(|x| x == f);

    let mut tar_sink = if want("tar") || want("docker") {
        let path = file(if want("docker") { ".docker" } else { ".tar" });
        let staged = Staged::create(&path).map_err(out_err(&path))?;
        Some(DockerfileAppender {
            inner: TarSink::new(staged),
            mtime,
        })
    } else {
        None
    };
    let initrd_path = file("-initrd.img");
    let tree_formats: Vec<&str> = ["kernel+squashfs", "kernel+iso", "kernel+erofs"]
        .into_iter()
        .filter(|f| want(f))
        .collect();
    let mut tree_sink = (!tree_formats.is_empty()).then(lk_formats::tree::TreeSink::default);
    let mut initrd_sink = if want("kernel+initrd") || want("tar-kernel-initrd") {
        Some(InitrdSink::new(
            Staged::create(&initrd_path).map_err(out_err(&initrd_path))?,
            Default::default(),
        ))
    } else {
        None
    };
    reporter.info("Create outputs:");
    {
        let mut sinks: Vec<&mut dyn Sink> = Vec::new();
        if let Some(t) = tar_sink.as_mut() {
            if want("docker") {
                sinks.push(t);
            } else {
                sinks.push(&mut t.inner);
            }
        }
        if let Some(i) = initrd_sink.as_mut() {
            sinks.push(i);
        }
        if let Some(t) = tree_sink.as_mut() {
            sinks.push(t);
        }
        let mut tee = lk_formats::Tee(sinks);
        Assembler::new(&inputs, &mut tee).run()?;
    }
    let mut outputs = Vec::new();
    if let Some(t) = tar_sink {
        let path = file(if want("docker") { ".docker" } else { ".tar" });
        let size = t
            .inner
            .into_inner()
            .and_then(Staged::commit)
            .map_err(out_err(&path))?;
        outputs.push(Output {
            path: path.display().to_string(),
            size,
        });
    }
    if let Some(i) = initrd_sink {
        let (staged, boot) = i.into_parts().map_err(out_err(&initrd_path))?;
        let initrd_size = staged.commit().map_err(out_err(&initrd_path))?;
        if boot.kernel.is_empty() {
            let _ = std::fs::remove_file(&initrd_path);
            return Err(BuildError::Usage(
                "kernel+initrd needs a `kernel` section with an image".into(),
            ));
        }
        if want("kernel+initrd") {
            for (suffix, data) in [
                ("-kernel", &boot.kernel[..]),
                ("-cmdline", boot.cmdline.as_bytes()),
            ] {
                if suffix == "-cmdline" && data.is_empty() {
                    continue;
                }
                outputs.push(write_output(&file(suffix), data)?);
            }
            outputs.push(Output {
                path: initrd_path.display().to_string(),
                size: initrd_size,
            });
        }
        if want("tar-kernel-initrd") {
            let path = file("-initrd.tar");
            let mut st = Staged::create(&path).map_err(out_err(&path))?;
            let mut initrd = File::open(&initrd_path).map_err(out_err(&initrd_path))?;
            kernel_initrd_tar(&mut st, &boot, &mut initrd, initrd_size, mtime)
                .map_err(out_err(&path))?;
            let size = st.commit().map_err(out_err(&path))?;
            outputs.push(Output {
                path: path.display().to_string(),
                size,
            });
            if !want("kernel+initrd") {
                let _ = std::fs::remove_file(&initrd_path);
            }
        }
    }
    if let Some(mut tree) = tree_sink {
        let boot = std::mem::take(&mut tree.boot);
        if boot.kernel.is_empty() {
            return Err(BuildError::Usage(format!(
                "{} needs a `kernel` section with an image",
                tree_formats.join(", ")
            )));
        }
        if !want("kernel+initrd") {
            for (suffix, data) in [
                ("-kernel", &boot.kernel[..]),
                ("-cmdline", boot.cmdline.as_bytes()),
            ] {
                outputs.push(write_output(&file(suffix), data)?);
            }
        }
        for f in &tree_formats {
            let img = match *f {
                "kernel+squashfs" => {
                    let img = file("-squashfs.img");
                    let mut st = Staged::create(&img).map_err(out_err(&img))?;
                    lk_formats::squashfs::write_to(&tree, mtime, &mut st).map_err(out_err(&img))?;
                    st.commit().map_err(out_err(&img))?;
                    img
                }
                "kernel+iso" => {
                    let img = file(".iso");
                    lk_formats::iso::write(&tree, mtime, &img).map_err(out_err(&img))?;
                    img
                }
                _ => {
                    let img = file("-erofs.img");
                    lk_formats::erofs::write(&tree, mtime, &img).map_err(out_err(&img))?;
                    img
                }
            };
            let size = std::fs::metadata(&img).map_err(out_err(&img))?.len();
            outputs.push(Output {
                path: img.display().to_string(),
                size,
            });
        }
    }
    for o in &outputs {
        reporter.info(&format!("  {}", o.path));
    }
    Ok(BuildReport {
        outputs,
        dry_run: None,
    })
}

/// `--dry-run`: the merged configuration as YAML, without touching images.
pub fn dry_run(s: &BuildSettings, reporter: &dyn Reporter) -> Result<BuildReport, BuildError> {
    let config = load_config(&s.inputs, reporter)?;
    Ok(BuildReport {
        outputs: Vec::new(),
        dry_run: Some(lk_spec::normalize::to_yaml(&config)),
    })
}
