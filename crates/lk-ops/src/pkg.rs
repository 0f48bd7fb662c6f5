//! `linuxkit pkg`: package tags, builds through the local Docker engine, pushes.

use std::path::PathBuf;

pub use lk_pkg::plan::{BuildMode, PlatformError, PlatformFlags};
pub use lk_pkg::{Package, PkgError, PkgOptions};

/// `pkg show-tag`: `org/image:tag` (or the canonical form) of each package.
pub fn show_tags(
    dirs: &[PathBuf],
    opts: &PkgOptions,
    canonical: bool,
) -> Result<Vec<String>, PkgError> {
    dirs.iter()
        .map(|d| Package::load(d, opts).map(|p| if canonical { p.full_tag() } else { p.tag() }))
        .collect()
}

use std::collections::BTreeMap;

use lk_oci::{Descriptor, Document, MEDIA_OCI_INDEX, Platform};

use crate::Reporter;
use crate::cache::{self, ImageError, ImageSettings};
use lk_pkg::docker::{Docker, DockerError};
use lk_pkg::plan::{self, ArgValue, Decision};

/// Settings of `pkg build` / `pkg push`.
#[derive(Clone, Debug, Default)]
pub struct PkgBuildSettings {
    /// Cache and registry.
    pub images: ImageSettings,
    /// The `pkg` persistent flags.
    pub options: PkgOptions,
    /// `--force` / `--nobuild` (default: build what is missing).
    pub mode: BuildMode,
    /// `--dockerfile`: the Dockerfile of the packages named on the command line (relative
    /// to each package's directory), instead of build.yml's. Not applied to the
    /// `@lkt:pkg:` packages their arguments name.
    pub dockerfile: Option<String>,
    /// `--platforms` / `--skip-platforms`; default: the host's, if build.yml lists it.
    pub platforms: PlatformFlags,
    /// `--build-arg` values.
    pub build_args: Vec<String>,
    /// `--build-arg-file` files.
    pub build_arg_files: Vec<PathBuf>,
    /// `--push`.
    pub push: bool,
    /// `--release`.
    pub release: Option<String>,
}

/// Why a package could not be built or pushed.
#[derive(Debug, thiserror::Error)]
pub enum PkgBuildError {
    /// Loading the package failed.
    #[error(transparent)]
    Package(#[from] PkgError),
    /// No Docker engine answers.
    #[error("no Docker engine is running (needed to build {0})")]
    NoDocker(String),
    /// Docker failed.
    #[error("building {tag}")]
    Docker {
        /// The package tag.
        tag: String,
        /// The cause.
        #[source]
        source: DockerError,
    },
    /// Cache or registry failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The platforms to build for.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A `--build-arg-file` could not be read.
    #[error("cannot read --build-arg-file {}", path.display())]
    ArgFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `depends` target outside the package directory.
    #[error(
        "{tag}: depends target `{target}` must be inside the package directory (and not the directory itself)"
    )]
    DependsOutside {
        /// The package tag.
        tag: String,
        /// The target as written.
        target: String,
    },
    /// A `depends` image without `@sha256:...`.
    #[error("{tag}: depends image {image:?} lacks a digest")]
    DependsNoDigest {
        /// The package tag.
        tag: String,
        /// The image as written.
        image: String,
    },
    /// Naming in the registry (`pkg manifest`, `pkg remote-tag`) failed.
    #[error(transparent)]
    Tags(#[from] lk_resolve::TagError),
    /// A package's image name is not a valid reference.
    #[error("invalid image name")]
    Reference(#[from] lk_spec::reference::ReferenceError),
    /// Pushing a package with uncommitted changes.
    #[error("refusing to push dirty package {0}")]
    Dirty(String),
    /// A dependency cycle through `@lkt:pkg:`.
    #[error("package dependency cycle through {0}")]
    Cycle(String),
    /// The package's Dockerfile could not be read.
    #[error("cannot read {}", path.display())]
    Dockerfile {
        /// The Dockerfile.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An index could not be serialized.
    #[error("encoding the index of {what}: {reason}")]
    Encode {
        /// The image.
        what: String,
        /// The serializer's message.
        reason: String,
    },
}

/// What happened to one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkgResult {
    /// `org/image:tag`.
    pub tag: String,
    /// Architectures built now (empty when skipped).
    pub built: Vec<String>,
    /// Why nothing was built, if so.
    pub skipped: Option<String>,
    /// Names pushed.
    pub pushed: Vec<String>,
}

/// `stored 3 layers gzip: 120.4 MB -> 38.2 MB`, or nothing when no layer was rewritten.
fn compressed_summary(
    layers: &[lk_cache::CompressedLayer],
    kind: lk_cache::Compression,
) -> Option<String> {
    if layers.is_empty() {
        return None;
    }
    let mb = |n: u64| n as f64 / 1e6;
    let plain: u64 = layers.iter().map(|l| l.plain_size).sum();
    let stored: u64 = layers.iter().map(|l| l.compressed_size).sum();
    Some(format!(
        "stored {} layer{} {kind}: {:.1} MB -> {:.1} MB",
        layers.len(),
        if layers.len() == 1 { "" } else { "s" },
        mb(plain),
        mb(stored)
    ))
}

struct Builder<'a> {
    s: &'a PkgBuildSettings,
    reporter: &'a dyn Reporter,
    docker: Docker,
    in_progress: Vec<PathBuf>,
}

impl Builder<'_> {
    /// Makes sure `image` is in the Docker engine, loading it from our cache if needed.
    fn ensure_in_docker(&self, image: &str, tag: &str) -> Result<(), PkgBuildError> {
        let derr = |source| PkgBuildError::Docker {
            tag: tag.to_owned(),
            source,
        };
        if self.docker.image_arch(image).map_err(derr)?.is_some() {
            return Ok(());
        }
        let cache = self.s.images.cache()?;
        let full = lk_spec::reference::reference_expand(image);
        if cache
            .find(&full)
            .map_err(|source| ImageError::Cache {
                dir: self.s.images.cache_dir.clone(),
                source,
            })?
            .is_none()
        {
            return Ok(()); // docker will try to pull it and report
        }
        let mut tar = Vec::new();
        cache::export(
            &self.s.images,
            image,
            &Platform::linux(crate::host_arch()),
            cache::ExportFormat::Docker,
            Some(image),
            &mut tar,
        )?;
        self.reporter.info(&format!(
            "loading {image} from the linuxkit cache into Docker"
        ));
        self.docker.load(&mut &tar[..]).map_err(derr)
    }

    /// Builds (or skips) the package in `dir`; `dockerfile` overrides build.yml's.
    fn build(
        &mut self,
        dir: &std::path::Path,
        dockerfile: Option<&str>,
    ) -> Result<PkgResult, PkgBuildError> {
        let mut p = Package::load(dir, &self.s.options)?;
        if let Some(d) = dockerfile {
            p.info.dockerfile = Some(d.to_owned());
        }
        if self.in_progress.contains(&p.dir) {
            return Err(PkgBuildError::Cycle(p.dir.display().to_string()));
        }
        let tag = p.tag();
        let full = p.full_tag();
        let wanted = plan::select_platforms(
            &tag,
            p.info.arches.as_deref(),
            crate::host_arch(),
            &self.s.platforms,
        )?;
        let cache = self.s.images.cache()?;
        let mut result = PkgResult {
            tag: tag.clone(),
            built: Vec::new(),
            skipped: None,
            pushed: Vec::new(),
        };
        self.reporter
            .info(&format!("checking for {full} in local cache..."));
        let decision = plan::decide(
            &wanted,
            self.s.mode,
            |pl| cache.resolve(&full, pl).is_ok(),
            |missing| self.in_registry(&full, missing),
        );
        match decision {
            Decision::NoPlatforms => {
                self.reporter
                    .info(&format!("Skipping {tag} with no architectures to build"));
                result.skipped = Some("no architectures to build".into());
            }
            Decision::InCache => {
                self.reporter
                    .info(&format!("found {full} in local cache, skipping build"));
                self.recompress(&cache, &full)?;
                result.skipped = Some("in the local cache".into());
            }
            Decision::InRegistry => {
                self.reporter
                    .info(&format!("{full} found on registry, skipping build"));
                result.skipped = Some("in the registry".into());
            }
            Decision::NotBuilt(missing) => {
                let arches: Vec<&str> = missing.iter().map(|p| p.architecture.as_str()).collect();
                self.reporter.info(&format!(
                    "--nobuild: not building {full} for {}",
                    arches.join(", ")
                ));
                result.skipped = Some("--nobuild".into());
            }
            Decision::Build(missing) => {
                result.built = self.build_platforms(&p, &cache, &missing)?;
                self.reporter.info("Build complete");
            }
        }
        if self.s.push {
            if cache.find(&full).map_err(|e| self.cache_err(e))?.is_some() {
                result.pushed = self.push(&p)?;
            } else {
                self.reporter.info("No new platforms to push, skipping.");
            }
        }
        Ok(result)
    }

    /// A package stored by an earlier version with Docker's plain layers gets them
    /// compressed now (the tag, and so the skip, does not change).
    fn recompress(&self, cache: &lk_cache::Cache, full: &str) -> Result<(), PkgBuildError> {
        let report = cache
            .compress_layers(full, self.s.images.layer_compression)
            .map_err(|source| self.cache_err(source))?;
        if let Some(line) = compressed_summary(&report.layers, self.s.images.layer_compression) {
            self.reporter.info(&format!("{full}: {line}"));
        }
        Ok(())
    }

    fn cache_err(&self, source: lk_cache::CacheError) -> ImageError {
        ImageError::Cache {
            dir: self.s.images.cache_dir.clone(),
            source,
        }
    }

    /// Builds `missing` through the Docker engine into the cache and writes the package's
    /// index (merged with the one already cached). Returns the architectures built.
    fn build_platforms(
        &mut self,
        p: &Package,
        cache: &lk_cache::Cache,
        missing: &[Platform],
    ) -> Result<Vec<String>, PkgBuildError> {
        let tag = p.tag();
        let full = p.full_tag();
        if !self.docker.available() {
            return Err(PkgBuildError::NoDocker(tag));
        }
        self.depends(p)?;
        self.in_progress.push(p.dir.clone());
        let args = self.build_args(p);
        self.in_progress.pop();
        let args = args?;
        let dockerfile = std::fs::read_to_string(p.dockerfile()).map_err(|source| {
            PkgBuildError::Dockerfile {
                path: p.dockerfile(),
                source,
            }
        })?;
        for image in lk_pkg::image::from_images(&dockerfile, &args) {
            self.ensure_in_docker(&image, &tag)?;
        }
        let mut descriptors = Vec::new();
        let mut built = Vec::new();
        for pl in missing {
            descriptors.push(self.build_one(p, cache, pl, &args)?);
            built.push(pl.architecture.clone());
        }
        let old = match cache.find(&full).map_err(|e| self.cache_err(e))? {
            Some(old) => match cache.document(&old) {
                Ok(Document::Index(old)) => Some(old),
                _ => None,
            },
            None => None,
        };
        let index = lk_pkg::image::package_index(old, descriptors);
        let bytes = serde_json::to_vec(&index).map_err(|e| PkgBuildError::Encode {
            what: full.clone(),
            reason: e.to_string(),
        })?;
        let digest = cache.put_bytes(&bytes).map_err(|e| self.cache_err(e))?;
        cache
            .set_name(
                &full,
                &Descriptor::new(MEDIA_OCI_INDEX, digest, bytes.len() as u64),
            )
            .map_err(|e| self.cache_err(e))?;
        Ok(built)
    }

    /// One platform: `docker build` as `<tag>-<arch>`, then into the cache. Returns the
    /// platform's descriptor for the package's index.
    fn build_one(
        &self,
        p: &Package,
        cache: &lk_cache::Cache,
        pl: &Platform,
        args: &BTreeMap<String, String>,
    ) -> Result<Descriptor, PkgBuildError> {
        let tag = p.tag();
        let arch_tag = format!("{tag}-{}", pl.architecture);
        self.reporter.info(&format!(
            "Building for arch {} as {arch_tag}",
            pl.architecture
        ));
        let req = lk_pkg::image::build_request(
            p,
            pl,
            &arch_tag,
            args.clone(),
            self.s.mode == BuildMode::Force,
        );
        let reporter = self.reporter;
        self.docker
            .build(&req, &mut |l| reporter.info(&format!("  {l}")))
            .map_err(|source| PkgBuildError::Docker {
                tag: tag.clone(),
                source,
            })?;
        let pulled = cache::pull_from_docker(
            &self.s.images,
            std::slice::from_ref(&arch_tag),
            &pl.architecture,
        )?;
        let name = &pulled[0].name;
        if let Some(line) = compressed_summary(&pulled[0].layers, self.s.images.layer_compression) {
            self.reporter.info(&line);
        }
        let mut d = cache
            .find(name)
            .map_err(|e| self.cache_err(e))?
            .ok_or_else(|| ImageError::NotCached(name.clone()))?;
        d.annotations.clear();
        d.platform = Some(pl.clone());
        if pl.architecture == crate::host_arch() {
            let _ = self.docker.tag(&arch_tag, &tag);
        }
        Ok(d)
    }

    /// `--push`: the package's tag, then its releases (`--release`, else the git tags on
    /// HEAD). Returns the names pushed.
    fn push(&self, p: &Package) -> Result<Vec<String>, PkgBuildError> {
        if p.dirty {
            return Err(PkgBuildError::Dirty(p.tag()));
        }
        let full = p.full_tag();
        let mut releases: Vec<Option<String>> = vec![None];
        let mut named: Vec<String> = self.s.release.iter().cloned().collect();
        if named.is_empty() && p.git {
            named = lk_pkg::git::Git::new(&p.dir)
                .tags_at_head()
                .map_err(PkgError::Git)?;
        }
        releases.extend(
            named
                .into_iter()
                .map(|r| Some(format!("{}/{}:{r}", p.org, p.info.image))),
        );
        let mut pushed = Vec::new();
        for release in releases {
            for x in cache::push(
                &self.s.images,
                std::slice::from_ref(&full),
                release.as_deref(),
                true,
                false,
            )? {
                pushed.push(x.name);
            }
        }
        Ok(pushed)
    }

    /// `depends.docker-images`: pulls the listed `ref@digest` images into the Docker engine
    /// and saves them into the package (`target`: one tar; `target-dir`: one tar each).
    fn depends(&self, p: &Package) -> Result<(), PkgBuildError> {
        let d = &p.info.depends;
        let mut list = d.list.clone();
        if let Some(f) = &d.from_file {
            let text = std::fs::read_to_string(p.dir.join(f)).map_err(|source| PkgError::Read {
                path: p.dir.join(f).display().to_string(),
                source,
            })?;
            list.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        if list.is_empty() {
            return Ok(());
        }
        let tag = p.tag();
        let derr = |source| PkgBuildError::Docker {
            tag: tag.clone(),
            source,
        };
        let inside = |rel: &str| -> Result<PathBuf, PkgBuildError> {
            let path = p.dir.join(rel);
            let ok = !rel.split('/').any(|c| c == "..")
                && !rel.starts_with('/')
                && path != p.dir
                && !rel.trim_matches('/').is_empty()
                && rel != ".";
            if ok {
                Ok(path)
            } else {
                Err(PkgBuildError::DependsOutside {
                    tag: tag.clone(),
                    target: rel.to_owned(),
                })
            }
        };
        for image in &list {
            if image.split_once('@').is_none() {
                return Err(PkgBuildError::DependsNoDigest {
                    tag: tag.clone(),
                    image: image.clone(),
                });
            }
            if self.docker.image_arch(image).map_err(derr)?.is_none() {
                self.reporter.info(&format!("pulling dependency {image}"));
                self.docker.pull(image).map_err(derr)?;
            }
        }
        if let Some(t) = &d.target {
            let file = inside(t)?;
            if let Some(parent) = file.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            self.docker.save_to(&file, &list).map_err(derr)?;
        }
        if let Some(t) = &d.target_dir {
            let dir = inside(t)?;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|source| PkgError::Read {
                path: dir.display().to_string(),
                source,
            })?;
            for image in &list {
                let (name, digest) = image.split_once('@').unwrap_or((image, ""));
                let base = name.rsplit('/').next().unwrap_or(name);
                self.docker
                    .save_to(
                        &dir.join(format!("{base}@{digest}.tar")),
                        std::slice::from_ref(image),
                    )
                    .map_err(derr)?;
            }
        }
        Ok(())
    }

    fn in_registry(&self, full: &str, platforms: &[Platform]) -> bool {
        let (Ok(r), Ok(client)) = (lk_spec::ImageRef::parse(full), self.s.images.client()) else {
            return false;
        };
        lk_resolve::serves_platforms(&client, &r, platforms)
    }

    /// The build arguments in LinuxKit's order (build.yml, `--build-arg-file`,
    /// `--build-arg`), each `@lkt:pkg:<dir>` built first and replaced by its tag; LinuxKit's
    /// default args added when absent.
    fn build_args(&mut self, p: &Package) -> Result<BTreeMap<String, String>, PkgBuildError> {
        let files = self
            .s
            .build_arg_files
            .iter()
            .map(|path| {
                std::fs::read_to_string(path)
                    .map(|text| plan::ArgFile {
                        path: path.clone(),
                        text,
                    })
                    .map_err(|source| PkgBuildError::ArgFile {
                        path: path.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut args = BTreeMap::new();
        for (k, v) in plan::build_args(&p.dir, &p.info.build_args, &files, &self.s.build_args) {
            let v = match v {
                ArgValue::Package(dep_dir) => {
                    let built = self.build(&dep_dir, None)?;
                    self.ensure_in_docker(&built.tag, &built.tag)?;
                    built.tag
                }
                ArgValue::Literal(v) => v,
            };
            args.insert(k, v);
        }
        args.entry("SOURCE".into()).or_insert_with(|| {
            p.info
                .gitrepo
                .clone()
                .unwrap_or_else(|| "https://github.com/linuxkit/linuxkit".into())
        });
        if let (false, Some(c)) = (p.dirty, &p.commit) {
            args.entry("REVISION".into()).or_insert_with(|| c.clone());
        }
        args.entry("PKG_HASH".into())
            .or_insert_with(|| p.hash.clone());
        args.entry("PKG_IMAGE".into())
            .or_insert_with(|| format!("{}/{}", p.org, p.info.image));
        Ok(args)
    }
}

/// `pkg build` (and `pkg push` with `push` set) for each directory, in order.
pub fn build(
    s: &PkgBuildSettings,
    dirs: &[PathBuf],
    reporter: &dyn Reporter,
) -> Result<Vec<PkgResult>, PkgBuildError> {
    let mut b = Builder {
        s,
        reporter,
        docker: s.images.docker(),
        in_progress: Vec::new(),
    };
    let mut out = Vec::new();
    for d in dirs {
        out.push(b.build(d, s.dockerfile.as_deref())?);
    }
    Ok(out)
}

/// `pkg manifest`: builds the package's index in the registry from the per-arch tags
/// (`<tag>-<arch>`) found there, merged with an index already under the tag (and under
/// `<org>/<image>:<release>` with a release).
pub fn manifest(
    images: &ImageSettings,
    dir: &std::path::Path,
    opts: &PkgOptions,
    release: Option<&str>,
) -> Result<Vec<String>, PkgBuildError> {
    let p = Package::load(dir, opts)?;
    let client = images.client()?;
    let mut names = vec![lk_spec::ImageRef::parse(&p.full_tag())?];
    if let Some(r) = release {
        names.push(lk_spec::ImageRef::parse(&format!(
            "{}/{}:{r}",
            p.org, p.info.image
        ))?);
    }
    let index = lk_resolve::index_from_arch_tags(&client, &names[0])?;
    Ok(lk_resolve::put_index(&client, &names, &index)?)
}

/// `pkg remote-tag FROM TO`: makes TO name what FROM names in the registry.
pub fn remote_tag(images: &ImageSettings, from: &str, to: &str) -> Result<String, PkgBuildError> {
    let client = images.client()?;
    let (f, t) = (cache::image_name(from)?, cache::image_name(to)?);
    let digest = lk_resolve::remote_tag(&client, &f, &t)?;
    Ok(format!("{} {digest}", t.canonical()))
}
