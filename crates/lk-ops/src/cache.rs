//! `linuxkit cache`: list, pull, push, remove, clean, export and import cached images.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use lk_cache::ExportFormat;
use lk_cache::{Cache, CacheError, RemoveReport};
use lk_oci::{Digest, Document, Platform};
pub use lk_registry::{BadCredentials, Credentials};
use lk_registry::{Client, ClientOptions, Mirrors};
pub use lk_resolve::Pushed;
use lk_resolve::{Progress, PullError, PullOptions, Puller, PushError, PushRequest, repository};
use lk_spec::ImageRef;
use lk_spec::reference::reference_expand_with_tag;

/// Registry and cache settings shared by the image commands.
#[derive(Clone, Debug, Default)]
pub struct ImageSettings {
    /// Cache directory.
    pub cache_dir: PathBuf,
    /// `--mirror` values (LINUXKIT_MIRROR is prepended by [`ImageSettings::mirrors`]).
    pub mirrors: Vec<String>,
    /// Hosts reachable over plain http besides loopback.
    pub insecure: Vec<String>,
    /// Explicit credentials by registry host.
    pub credentials: HashMap<String, Credentials>,
    /// Platforms to pull.
    pub platforms: Vec<Platform>,
    /// Concurrent blob downloads.
    pub concurrency: usize,
    /// The docker CLI (`LINUXKIT_DOCKER`; `docker` when unset).
    pub docker: Option<String>,
    /// How the plain layers of images taken from Docker's engine are stored
    /// (`--layer-compression`; gzip, as docker and buildkit push them).
    pub layer_compression: lk_cache::Compression,
}

/// Why an image command failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Bad `--mirror`.
    #[error("{0}")]
    Mirror(String),
    /// An image name is not a valid reference.
    #[error("invalid image name")]
    Reference(#[source] lk_spec::reference::ReferenceError),
    /// The cache failed.
    #[error("cache {dir}")]
    Cache {
        /// The cache directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: CacheError,
    },
    /// Pulling failed.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// Pushing failed.
    #[error(transparent)]
    Push(#[from] PushError),
    /// The engine (the local Docker engine, or the package builder) failed.
    #[error("reading {image} from the {engine}")]
    Docker {
        /// The image.
        image: String,
        /// Which engine: `local Docker engine`, `buildah image store`.
        engine: &'static str,
        /// The cause.
        #[source]
        source: Box<lk_pkg::docker::DockerError>,
    },
    /// The engine does not have the image (for the architecture).
    #[error("the {engine} has no image {image}{}", arch.as_ref().map(|a| format!(" for {a}")).unwrap_or_default())]
    NotInDocker {
        /// The image.
        image: String,
        /// Which engine (as in [`ImageError::Docker`]).
        engine: &'static str,
        /// The architecture asked for, when the engine has another one.
        arch: Option<String>,
    },
    /// An image's layers could not be flattened.
    #[error("flattening {image}")]
    Flatten {
        /// The image.
        image: String,
        /// The cause.
        #[source]
        source: lk_rootfs::FlattenError,
    },
    /// `cache push` of something the cache does not have.
    #[error("image {0} is not in the cache")]
    NotCached(String),
}

/// The default cache directory: `$HOME/.linuxkit/cache`.
pub fn default_cache_dir(env: &crate::Env) -> PathBuf {
    env.home.as_ref().map_or_else(
        || PathBuf::from(".linuxkit/cache"),
        |h| h.join(".linuxkit/cache"),
    )
}

impl ImageSettings {
    /// The mirrors (`LINUXKIT_MIRROR`'s first, then `--mirror`; later wins).
    pub fn mirrors(&self) -> Result<Mirrors, ImageError> {
        Mirrors::new(&self.mirrors).map_err(ImageError::Mirror)
    }

    /// The docker CLI of these settings.
    pub fn docker(&self) -> lk_pkg::docker::Docker {
        self.docker
            .as_deref()
            .map_or_else(lk_pkg::docker::Docker::default, lk_pkg::docker::Docker::new)
    }

    /// The architecture images are resolved for: the first `--platform`, else the host's.
    pub fn target_arch(&self) -> String {
        self.platforms.first().map_or_else(
            || lk_resolve::host_arch().to_owned(),
            |p| p.architecture.clone(),
        )
    }

    /// A registry client for these settings.
    pub fn client(&self) -> Result<Client, ImageError> {
        Ok(Client::new(ClientOptions {
            mirrors: self.mirrors()?,
            insecure: self.insecure.clone(),
            credentials: self.credentials.clone(),
            docker_config: true,
            timeout: None,
        }))
    }

    /// Opens the cache.
    pub fn cache(&self) -> Result<Cache, ImageError> {
        Cache::open(&self.cache_dir).map_err(|source| ImageError::Cache {
            dir: self.cache_dir.clone(),
            source,
        })
    }

    pub(crate) fn pull_options(&self, always: bool) -> PullOptions {
        let mut o = PullOptions {
            always,
            ..PullOptions::default()
        };
        if !self.platforms.is_empty() {
            o.platforms = self.platforms.clone();
        }
        if self.concurrency > 0 {
            o.concurrency = self.concurrency;
        }
        o
    }

    fn cache_err(&self) -> impl Fn(CacheError) -> ImageError + '_ {
        |source| ImageError::Cache {
            dir: self.cache_dir.clone(),
            source,
        }
    }
}

/// Parses an image name as `cache pull` does (`redis` -> `docker.io/library/redis:latest`).
pub fn image_name(name: &str) -> Result<ImageRef, ImageError> {
    ImageRef::parse(&reference_expand_with_tag(name)).map_err(ImageError::Reference)
}

/// `cache pull`: fetches images (always asking the registry) and also names each pulled
/// platform manifest `<name>-<arch>`, as LinuxKit does.
pub fn pull(
    s: &ImageSettings,
    names: &[String],
    progress: &dyn Progress,
) -> Result<Vec<(String, Digest)>, ImageError> {
    let refs = names
        .iter()
        .map(|n| image_name(n))
        .collect::<Result<Vec<_>, _>>()?;
    let cache = s.cache()?;
    let client = s.client()?;
    let opts = s.pull_options(true);
    let resolved = Puller::new(&client, &cache).pull_all(&refs, &opts, progress)?;
    let mut out = Vec::new();
    for r in &resolved {
        if let Ok(Document::Index(index)) = cache.document(&r.root) {
            for p in &opts.platforms {
                if let Some(m) = index.manifests.iter().find(|m| {
                    !m.is_attestation() && m.platform.as_ref().is_some_and(|mp| mp.satisfies(p))
                }) {
                    cache
                        .set_name(&format!("{}-{}", r.name, p.architecture), m)
                        .map_err(s.cache_err())?;
                }
            }
        }
        out.push((r.name.clone(), r.root.digest.clone()));
    }
    Ok(out)
}

/// The resolve stage: every image of `config` available (cache first, registry if needed,
/// always asking the registry with `always`) and pinned.
pub fn resolve(
    s: &ImageSettings,
    config: lk_spec::Config,
    always: bool,
    progress: &dyn Progress,
) -> Result<lk_image::Resolved, ImageError> {
    let cache = s.cache()?;
    let client = s.client()?;
    Ok(Puller::new(&client, &cache).resolve(config, &s.pull_options(always), progress)?)
}

/// The resolve stage overlapped with `build` (see `Puller::resolve_with`): `build` starts
/// once every image is pinned and its layers are read as they arrive.
pub fn resolve_with<T, E: From<ImageError>>(
    s: &ImageSettings,
    config: lk_spec::Config,
    always: bool,
    progress: &dyn Progress,
    build: impl FnOnce(&lk_image::Resolved) -> Result<T, E>,
) -> Result<T, E> {
    let cache = s.cache()?;
    let client = s.client()?;
    Puller::new(&client, &cache)
        .resolve_with(config, &s.pull_options(always), progress, build)
        .map_err(ImageError::from)?
}

/// One row of `cache ls`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CachedImage {
    /// Name.
    pub name: String,
    /// Root manifest or index digest.
    pub digest: String,
    /// Media type of the root.
    pub media_type: String,
}

/// `cache ls`, sorted by name.
pub fn list(s: &ImageSettings) -> Result<Vec<CachedImage>, ImageError> {
    let cache = s.cache()?;
    cache.sweep_leftovers();
    Ok(cache
        .images()
        .map_err(s.cache_err())?
        .into_iter()
        .map(|(name, d)| CachedImage {
            name,
            digest: d.digest.to_string(),
            media_type: d.media_type,
        })
        .collect())
}

/// `cache rm`: names are matched exactly as listed (as LinuxKit does); blobs shared with
/// other images are kept.
pub fn remove(
    s: &ImageSettings,
    names: &[String],
    published_only: bool,
) -> Result<RemoveReport, ImageError> {
    let cache = s.cache()?;
    let names = if published_only {
        published(s, &cache, names)?
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        return Ok(RemoveReport::default());
    }
    cache.remove(&names).map_err(s.cache_err())
}

/// `cache clean`: removes everything, or with `published_only` the images whose root digest
/// equals the registry's.
pub fn clean(s: &ImageSettings, published_only: bool) -> Result<RemoveReport, ImageError> {
    let cache = s.cache()?;
    cache.sweep_leftovers();
    let names: Vec<String> = cache
        .images()
        .map_err(s.cache_err())?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    if published_only {
        let names = published(s, &cache, &names)?;
        if names.is_empty() {
            return Ok(RemoveReport::default());
        }
        return cache.remove(&names).map_err(s.cache_err());
    }
    cache.clean().map_err(s.cache_err())?;
    Ok(RemoveReport {
        removed: names,
        ..RemoveReport::default()
    })
}

fn published(
    s: &ImageSettings,
    cache: &Cache,
    names: &[String],
) -> Result<Vec<String>, ImageError> {
    let client = s.client()?;
    let mut out = Vec::new();
    for n in names {
        let Some(local) = cache.find(n).map_err(s.cache_err())? else {
            continue;
        };
        let Ok(r) = ImageRef::parse(n) else { continue };
        let reference = r.digest().or(r.tag()).unwrap_or("latest");
        if let Ok(Some(remote)) = client.head_manifest(&repository(&r), reference)
            && remote.digest == local.digest
        {
            out.push(n.clone());
        }
    }
    Ok(out)
}

/// How `cache push` and `pkg build --push` push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushFlags {
    /// Also tag each platform manifest `<tag>-<arch>` (`--with-arch-tags`, pkg's `--manifest`).
    pub arch_tags: bool,
    /// Push even when the registry already has the same root digest (`--override`).
    pub override_existing: bool,
}

/// `cache push`: uploads cached images (blobs the registry lacks, then manifests, then the
/// index), skipping images the registry already has unless `flags.override_existing`.
pub fn push(
    s: &ImageSettings,
    names: &[String],
    remote_name: Option<&str>,
    flags: PushFlags,
) -> Result<Vec<Pushed>, ImageError> {
    let cache = s.cache()?;
    let client = s.client()?;
    let mut out = Vec::new();
    for n in names {
        let request = PushRequest {
            local: image_name(n)?,
            target: image_name(remote_name.unwrap_or(n))?,
            with_arch_tags: flags.arch_tags,
            override_existing: flags.override_existing,
        };
        out.push(lk_resolve::push(&client, &cache, &request)?);
    }
    Ok(out)
}

/// `cache export`: writes image `name` (expanded as LinuxKit does) for `platform` to `out`.
pub fn export(
    s: &ImageSettings,
    name: &str,
    platform: &Platform,
    format: lk_cache::ExportFormat,
    ref_name: Option<&str>,
    out: &mut dyn std::io::Write,
) -> Result<(), ImageError> {
    let cache = s.cache()?;
    let full = lk_spec::reference::reference_expand(name);
    cache
        .export(&full, platform, format, ref_name, out)
        .map_err(s.cache_err())
}

/// `cache export --format filesystem`: the image's flattened filesystem as a PAX tar.
pub fn export_filesystem(
    s: &ImageSettings,
    name: &str,
    platform: &Platform,
    out: &mut dyn std::io::Write,
) -> Result<(), ImageError> {
    let cache = s.cache()?;
    let full = lk_spec::reference::reference_expand(name);
    let resolved = cache.resolve(&full, platform).map_err(s.cache_err())?;
    let mut tar = lk_formats::tar::TarSink::new(out);
    lk_rootfs::export_filesystem(&cache, &resolved, &mut tar).map_err(|source| {
        ImageError::Flatten {
            image: full,
            source,
        }
    })
}

/// `cache import`: loads an OCI layout tar or `docker save` archive.
pub fn import(
    s: &ImageSettings,
    input: &mut dyn std::io::Read,
) -> Result<lk_cache::ImportReport, ImageError> {
    let cache = s.cache()?;
    cache.import(input).map_err(s.cache_err())
}

/// `cache import DIR`: loads an OCI image layout directory.
pub fn import_dir(s: &ImageSettings, dir: &Path) -> Result<lk_cache::ImportReport, ImageError> {
    let cache = s.cache()?;
    cache.import_dir(dir).map_err(s.cache_err())
}

/// An image copied from the local Docker engine into the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromDocker {
    /// Its name in the cache.
    pub name: String,
    /// Its top-level digest.
    pub digest: Digest,
    /// The layers compressed on the way in (plain tar digest and size, stored digest and size).
    pub layers: Vec<lk_cache::CompressedLayer>,
}

/// Copies images from the local Docker engine into the cache (`docker image save`), as
/// `linuxkit build --docker` does for images the engine has for the target architecture.
/// Docker hands the layers over as plain tars; they are stored compressed with
/// `s.layer_compression` (reproducibly: the same image gives the same digests).
pub fn pull_from_docker(
    s: &ImageSettings,
    names: &[String],
    arch: &str,
) -> Result<Vec<FromDocker>, ImageError> {
    pull_from_engine(s, &s.docker(), names, arch)
}

/// As [`pull_from_docker`], from any package builder's image store (`pkg build` takes
/// what docker or buildah built this way).
pub fn pull_from_engine(
    s: &ImageSettings,
    docker: &impl lk_pkg::builder::ImageBuilder,
    names: &[String],
    arch: &str,
) -> Result<Vec<FromDocker>, ImageError> {
    let cache = s.cache()?;
    let mut out = Vec::new();
    for n in names {
        let r = image_name(n)?;
        let engine = match docker.kind() {
            lk_pkg::builder::BuilderKind::Docker => "local Docker engine",
            lk_pkg::builder::BuilderKind::Buildah => "buildah image store",
        };
        let err = |source| ImageError::Docker {
            image: n.clone(),
            engine,
            source: Box::new(source),
        };
        match docker.image_arch(n).map_err(err)? {
            None => {
                return Err(ImageError::NotInDocker {
                    image: n.clone(),
                    engine,
                    arch: None,
                });
            }
            Some(a) if !a.is_empty() && a != arch => {
                return Err(ImageError::NotInDocker {
                    image: n.clone(),
                    engine,
                    arch: Some(arch.to_owned()),
                });
            }
            Some(_) => {}
        }
        docker
            .save(n, |tar| cache.import(tar))
            .map_err(err)?
            .map_err(s.cache_err())?;
        let name = r.canonical().to_owned();
        let report = cache
            .compress_layers(&name, s.layer_compression)
            .map_err(s.cache_err())?;
        out.push(FromDocker {
            name,
            digest: report.root.digest,
            layers: report.layers,
        });
    }
    Ok(out)
}
