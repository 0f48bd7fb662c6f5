//! `linuxkit pkg`: package tags, builds through the local Docker engine, pushes.

use std::path::PathBuf;

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

use lk_oci::{Descriptor, Document, Index, MEDIA_OCI_INDEX, Platform};

use crate::Reporter;
use crate::cache::{self, ImageError, ImageSettings};
use lk_pkg::docker::{Docker, DockerError};

/// Settings of `pkg build` / `pkg push`.
#[derive(Clone, Debug, Default)]
pub struct PkgBuildSettings {
    /// Cache and registry.
    pub images: ImageSettings,
    /// The `pkg` persistent flags.
    pub options: PkgOptions,
    /// `--force`.
    pub force: bool,
    /// `--platforms` (`linux/amd64`, ...); default: the host's, if build.yml lists it.
    pub platforms: Vec<String>,
    /// `--build-arg` values.
    pub build_args: Vec<String>,
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
    #[error("{0}")]
    Platform(String),
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

fn platforms(s: &PkgBuildSettings, p: &Package) -> Result<Vec<Platform>, PkgBuildError> {
    if !s.platforms.is_empty() {
        return s
            .platforms
            .iter()
            .flat_map(|x| x.split(','))
            .map(|x| {
                Platform::parse(x.trim()).ok_or_else(|| {
                    PkgBuildError::Platform(format!("--platforms {x}: expected os/arch"))
                })
            })
            .collect();
    }
    let arches = p
        .info
        .arches
        .clone()
        .unwrap_or_else(|| vec!["amd64".into(), "arm64".into(), "riscv64".into()]);
    let host = crate::host_arch();
    if arches.iter().any(|a| a == host) {
        Ok(vec![Platform::linux(host)])
    } else {
        Err(PkgBuildError::Platform(format!(
            "{} does not build for this host's architecture ({host}); its arches are {}; pass --platforms",
            p.tag(),
            arches.join(", ")
        )))
    }
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

    fn build(&mut self, dir: &std::path::Path) -> Result<PkgResult, PkgBuildError> {
        let p = Package::load(dir, &self.s.options)?;
        if self.in_progress.contains(&p.dir) {
            return Err(PkgBuildError::Cycle(p.dir.display().to_string()));
        }
        let tag = p.tag();
        let full = p.full_tag();
        let wanted = platforms(self.s, &p)?;
        let cache = self.s.images.cache()?;
        let cache_err = |source| ImageError::Cache {
            dir: self.s.images.cache_dir.clone(),
            source,
        };
        let mut result = PkgResult {
            tag: tag.clone(),
            built: Vec::new(),
            skipped: None,
            pushed: Vec::new(),
        };
        self.reporter
            .info(&format!("checking for {full} in local cache..."));
        let missing: Vec<Platform> = if self.s.force {
            wanted.clone()
        } else {
            wanted
                .iter()
                .filter(|pl| cache.resolve(&full, pl).is_err())
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            self.reporter
                .info(&format!("found {full} in local cache, skipping build"));
            // A package stored by an earlier version with Docker's plain layers gets them
            // compressed now (the tag, and so the skip, does not change).
            let report = cache
                .compress_layers(&full, self.s.images.layer_compression)
                .map_err(cache_err)?;
            if let Some(line) = compressed_summary(&report.layers, self.s.images.layer_compression)
            {
                self.reporter.info(&format!("{full}: {line}"));
            }
            result.skipped = Some("in the local cache".into());
        } else if !self.s.force && self.in_registry(&full, &missing) {
            self.reporter
                .info(&format!("{full} found on registry, skipping build"));
            result.skipped = Some("in the registry".into());
        } else {
            if !self.docker.available() {
                return Err(PkgBuildError::NoDocker(tag));
            }
            self.depends(&p)?;
            self.in_progress.push(p.dir.clone());
            let args = self.build_args(&p)?;
            self.in_progress.pop();
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
            for pl in &missing {
                let arch_tag = format!("{tag}-{}", pl.architecture);
                self.reporter.info(&format!(
                    "Building for arch {} as {arch_tag}",
                    pl.architecture
                ));
                let req =
                    lk_pkg::image::build_request(&p, pl, &arch_tag, args.clone(), self.s.force);
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
                if let Some(line) =
                    compressed_summary(&pulled[0].layers, self.s.images.layer_compression)
                {
                    self.reporter.info(&line);
                }
                let mut d = cache
                    .find(name)
                    .map_err(cache_err)?
                    .ok_or_else(|| ImageError::NotCached(name.clone()))?;
                d.annotations.clear();
                d.platform = Some(pl.clone());
                descriptors.push(d);
                if pl.architecture == crate::host_arch() {
                    let _ = self.docker.tag(&arch_tag, &tag);
                }
                result.built.push(pl.architecture.clone());
            }
            let old = match cache.find(&full).map_err(cache_err)? {
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
            let digest = cache.put_bytes(&bytes).map_err(cache_err)?;
            cache
                .set_name(
                    &full,
                    &Descriptor::new(MEDIA_OCI_INDEX, digest, bytes.len() as u64),
                )
                .map_err(cache_err)?;
            self.reporter.info("Build complete");
        }
        if self.s.push {
            if p.dirty {
                return Err(PkgBuildError::Dirty(tag));
            }
            for pushed in cache::push(
                &self.s.images,
                std::slice::from_ref(&full),
                None,
                true,
                false,
            )? {
                result.pushed.push(pushed.name);
            }
            let mut releases: Vec<String> = self.s.release.iter().cloned().collect();
            if releases.is_empty() && p.git {
                releases = lk_pkg::git::Git::new(&p.dir)
                    .tags_at_head()
                    .map_err(PkgError::Git)?;
            }
            for r in releases {
                let release = format!("{}/{}:{r}", p.org, p.info.image);
                for pushed in cache::push(
                    &self.s.images,
                    std::slice::from_ref(&full),
                    Some(&release),
                    true,
                    false,
                )? {
                    result.pushed.push(pushed.name);
                }
            }
        }
        Ok(result)
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
                Err(PkgBuildError::Platform(format!(
                    "depends target `{rel}` must be inside the package directory (and not the directory itself)"
                )))
            }
        };
        for image in &list {
            if image.split_once('@').is_none() {
                return Err(PkgBuildError::Platform(format!(
                    "image {image:?} lacks a digest"
                )));
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
        let Ok(r) = lk_spec::ImageRef::parse(full) else {
            return false;
        };
        let Ok(client) = self.s.images.client() else {
            return false;
        };
        let repo = lk_resolve::repository(&r);
        let Ok(m) = client.get_manifest(&repo, r.tag().unwrap_or("latest")) else {
            return false;
        };
        match Document::parse(&m.media_type, &m.bytes) {
            Ok(Document::Index(i)) => platforms.iter().all(|p| {
                i.manifests
                    .iter()
                    .any(|d| d.platform.as_ref().is_none_or(|dp| dp.satisfies(p)))
            }),
            Ok(Document::Manifest(_)) => true,
            Err(_) => false,
        }
    }

    /// build.yml `buildArgs` then `--build-arg`, with `@lkt:pkg:<dir>` built first and
    /// replaced by its tag; LinuxKit's default args added when absent.
    fn build_args(&mut self, p: &Package) -> Result<BTreeMap<String, String>, PkgBuildError> {
        let mut args = BTreeMap::new();
        for a in p.info.build_args.iter().chain(&self.s.build_args) {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            let v = match v.strip_prefix("@lkt:pkg:") {
                Some(dep) => {
                    let dep_dir = p.dir.join(dep);
                    let built = self.build(&dep_dir)?;
                    self.ensure_in_docker(&built.tag, &built.tag)?;
                    built.tag
                }
                None => v.to_owned(),
            };
            args.insert(k.to_owned(), v);
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
        out.push(b.build(d)?);
    }
    Ok(out)
}

/// `pkg manifest`: builds the package's index in the registry from the per-arch tags
/// (`<tag>-<arch>`) found there, merged with an index already under the tag.
pub fn manifest(
    images: &ImageSettings,
    dir: &std::path::Path,
    opts: &PkgOptions,
    release: Option<&str>,
) -> Result<Vec<String>, PkgBuildError> {
    let p = Package::load(dir, opts)?;
    let client = images.client()?;
    let mut out = Vec::new();
    let mut tags = vec![p.full_tag()];
    if let Some(r) = release {
        tags.push(lk_spec::reference::reference_expand(&format!(
            "{}/{}:{r}",
            p.org, p.info.image
        )));
    }
    let base = lk_spec::ImageRef::parse(&p.full_tag())?;
    let repo = lk_resolve::repository(&base);
    let mut index = Index {
        media_type: MEDIA_OCI_INDEX.into(),
        ..Index::default()
    };
    for arch in ["amd64", "arm64", "s390x", "riscv64", "ppc64le"] {
        let arch_tag = format!("{}-{arch}", base.tag().unwrap_or("latest"));
        if let Ok(Some(mut d)) = client.head_manifest(&repo, &arch_tag) {
            d.platform = Some(Platform::linux(arch));
            index.manifests.push(d);
        }
    }
    if index.manifests.is_empty() {
        return Err(PkgBuildError::Platform(format!(
            "no per-architecture images ({}-<arch>) in the registry",
            p.full_tag()
        )));
    }
    let ours = serde_json::to_vec(&index).map_err(|e| PkgBuildError::Encode {
        what: p.full_tag(),
        reason: e.to_string(),
    })?;
    for t in tags {
        let r = lk_spec::ImageRef::parse(&t)?;
        let tag = r.tag().unwrap_or("latest").to_owned();
        let push_err = |source| {
            ImageError::Push(lk_resolve::PushError::Registry {
                image: t.clone(),
                source,
            })
        };
        let bytes = lk_resolve::merge_with_remote(&client, &repo, &tag, &ours)
            .map_err(push_err)?
            .unwrap_or_else(|| ours.clone());
        let digest = lk_oci::Digest::of(&bytes);
        if client
            .head_manifest(&repo, &tag)
            .ok()
            .flatten()
            .is_some_and(|d| d.digest == digest)
        {
            continue;
        }
        client
            .put_manifest(&repo, &tag, MEDIA_OCI_INDEX, &bytes)
            .map_err(push_err)?;
        out.push(format!("{t} {digest}"));
    }
    Ok(out)
}

/// `pkg remote-tag FROM TO`: makes TO name what FROM names in the registry (a manifest PUT
/// within one repository; blobs are mounted or copied across repositories).
pub fn remote_tag(images: &ImageSettings, from: &str, to: &str) -> Result<String, PkgBuildError> {
    let client = images.client()?;
    let f = cache::image_name(from)?;
    let t = cache::image_name(to)?;
    let (frepo, trepo) = (lk_resolve::repository(&f), lk_resolve::repository(&t));
    let perr = |source| {
        ImageError::Push(lk_resolve::PushError::Registry {
            image: t.canonical().to_owned(),
            source,
        })
    };
    let root = client
        .get_manifest(&frepo, f.digest().or(f.tag()).unwrap_or("latest"))
        .map_err(perr)?;
    if frepo != trepo {
        let mut manifests = vec![(root.media_type.clone(), root.bytes.clone())];
        if let Ok(Document::Index(i)) = Document::parse(&root.media_type, &root.bytes) {
            for d in i.manifests {
                let m = client
                    .get_manifest(&frepo, d.digest.as_str())
                    .map_err(perr)?;
                manifests.push((m.media_type, m.bytes));
            }
        }
        for (mt, bytes) in manifests.iter().rev() {
            if let Ok(Document::Manifest(m)) = Document::parse(mt, bytes) {
                for b in std::iter::once(&m.config).chain(&m.layers) {
                    if client.blob_exists(&trepo, &b.digest).map_err(perr)? {
                        continue;
                    }
                    let mount = (frepo.registry == trepo.registry).then(|| frepo.path.clone());
                    let mut data = Vec::new();
                    if mount.is_none() {
                        client
                            .get_blob(&frepo, &b.digest, &mut data, &mut |_| {})
                            .map_err(perr)?;
                    }
                    client
                        .push_blob(&trepo, &b.digest, b.size, &mut &data[..], mount.as_deref())
                        .map_err(perr)?;
                }
            }
            if lk_oci::Digest::of(bytes) != root.digest {
                client
                    .put_manifest(&trepo, lk_oci::Digest::of(bytes).as_str(), mt, bytes)
                    .map_err(perr)?;
            }
        }
    }
    client
        .put_manifest(
            &trepo,
            t.tag().unwrap_or("latest"),
            &root.media_type,
            &root.bytes,
        )
        .map_err(perr)?;
    Ok(format!("{} {}", t.canonical(), root.digest))
}
