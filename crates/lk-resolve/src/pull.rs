//! Pulling images into the cache.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lk_cache::{Cache, CacheError, ResolvedImage};
use lk_image::{Arrivals, Resolved};
use lk_oci::{Descriptor, Digest, Document, Platform};
use lk_registry::{Client, RegistryError, Repository};
use lk_spec::{Config, ImageRef};

/// Progress of pulls, for progress bars or log lines.
pub trait Progress: Sync {
    /// A blob download starts.
    fn blob_started(&self, image: &str, digest: &Digest, size: u64);
    /// Bytes received so far for a blob.
    fn blob_progress(&self, digest: &Digest, received: u64);
    /// A blob is stored.
    fn blob_done(&self, digest: &Digest);
    /// An image is ready (`from_cache`: no download was needed).
    fn image_ready(&self, image: &str, digest: &Digest, from_cache: bool);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn blob_started(&self, _: &str, _: &Digest, _: u64) {}
    fn blob_progress(&self, _: &Digest, _: u64) {}
    fn blob_done(&self, _: &Digest) {}
    fn image_ready(&self, _: &str, _: &Digest, _: bool) {}
}

/// Settings of a pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Platforms that must be present.
    pub platforms: Vec<Platform>,
    /// Fetch the manifest even if the cache has the image (`--pull`).
    pub always: bool,
    /// Blobs downloaded at the same time.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> PullOptions {
        PullOptions {
            platforms: vec![Platform::linux(host_arch())],
            always: false,
            concurrency: 4,
        }
    }
}

/// The host architecture in Go's names.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Why a pull failed, naming the image.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The registry failed.
    #[error("pulling {image}")]
    Registry {
        /// Canonical reference.
        image: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
    /// The cache failed.
    #[error("storing {image} in the cache")]
    Cache {
        /// Canonical reference.
        image: String,
        /// The cause.
        #[source]
        source: CacheError,
    },
    /// An index lacks a wanted platform.
    #[error("index {image} does not contain target platforms {missing}; it has {available}")]
    MissingPlatform {
        /// Canonical reference.
        image: String,
        /// Comma-separated platforms.
        missing: String,
        /// The platforms it has, comma-separated (`none` for none).
        available: String,
    },
    /// The cache holds the image but not the platform, and the registry could not give it.
    #[error(
        "the cache's {image} has no entry for {platform}; it has {available} (and from the registry: {registry})"
    )]
    CachedWithoutPlatform {
        /// Canonical reference.
        image: String,
        /// The platform asked for.
        platform: String,
        /// The platforms the cached image has, comma-separated.
        available: String,
        /// Why the registry could not give it (the pull's error, flattened).
        registry: String,
    },
    /// The registry returned something that is not an image.
    #[error("{image} is neither an image nor an index ({media_type})")]
    NotAnImage {
        /// Canonical reference.
        image: String,
        /// What it was.
        media_type: String,
    },
    /// An image of the configuration did not end up pinned.
    #[error(transparent)]
    Unpinned(#[from] lk_image::Unpinned),
    /// A download thread died.
    #[error("the downloads were interrupted")]
    Interrupted,
}

/// The registry repository of a reference.
pub fn repository(r: &ImageRef) -> Repository {
    Repository {
        registry: r.domain().to_owned(),
        path: r.repository().to_owned(),
    }
}

/// The name an image has in the cache: the canonical reference (no `:latest` added).
fn cache_name(r: &ImageRef) -> String {
    r.canonical().to_owned()
}

struct Job {
    image: String,
    repo: Repository,
    desc: Descriptor,
    /// An image config (needed before the build starts), not a layer.
    config: bool,
}

/// What [`Puller::prepare`] found: images ready in the cache, images whose manifests and
/// configs are stored but whose layers are not, and those layers.
struct Prepared {
    ready: BTreeMap<String, ResolvedImage>,
    pending: Vec<(String, Descriptor, ResolvedImage)>,
    layers: Vec<Job>,
    platform: Platform,
}

/// Pulls images into a cache.
#[derive(Debug)]
pub struct Puller<'a> {
    client: &'a Client,
    cache: &'a Cache,
    retries: u32,
    backoff: Duration,
}

/// Attempts after the first for a blob whose download failed in a way that may pass.
const RETRIES: u32 = 3;
/// The wait before the first retry; doubled before each next one (0.5 s, 1 s, 2 s).
const BACKOFF: Duration = Duration::from_millis(500);

impl<'a> Puller<'a> {
    /// A puller writing into `cache`.
    pub fn new(client: &'a Client, cache: &'a Cache) -> Puller<'a> {
        Puller {
            client,
            cache,
            retries: RETRIES,
            backoff: BACKOFF,
        }
    }

    /// Sets how often a failed blob download is tried again (a cut connection, a timeout,
    /// 5xx or 429) and the first wait, doubled each time (tests use short waits).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Puller<'a> {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// The resolve stage: makes every image of `config` available (cache first, registry
    /// for the rest) and pins the configuration to them.
    pub fn resolve(
        &self,
        config: Config,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Resolved, PullError> {
        let r = self.resolve_with(config, opts, progress, |r| {
            Ok::<_, std::convert::Infallible>(r.clone())
        })?;
        Ok(r.unwrap_or_else(|e| match e {}))
    }

    /// The resolve stage overlapped with what uses it: `build` gets the pinned
    /// configuration as soon as every manifest and config is in the cache, while the
    /// layers download in build order; a reader of a layer still on its way waits for it
    /// ([`Resolved::open_layer`]). Returns once every download has ended (an error of
    /// `build` stops those not started); a failed download is the error, even when `build`
    /// failed because of it. Images are named in the cache only once all their blobs are.
    pub fn resolve_with<T, E>(
        &self,
        config: Config,
        opts: &PullOptions,
        progress: &dyn Progress,
        build: impl FnOnce(&Resolved) -> Result<T, E>,
    ) -> Result<Result<T, E>, PullError> {
        let refs: Vec<ImageRef> = config.images().into_iter().cloned().collect();
        let prepared = self.prepare(&refs, opts, progress)?;
        let arrivals = Arc::new(Arrivals::new(
            prepared.layers.iter().map(|j| j.desc.digest.clone()),
        ));
        let pins = prepared
            .ready
            .values()
            .chain(prepared.pending.iter().map(|(_, _, r)| r))
            .cloned()
            .collect::<Vec<_>>();
        let resolved =
            Resolved::new(config, self.cache.clone(), pins)?.with_arrivals(Arc::clone(&arrivals));
        let stop = AtomicBool::new(false);
        let workers = opts.concurrency.max(1);
        let (result, downloaded) = std::thread::scope(|s| {
            let downloads = s.spawn(|| {
                self.download(&prepared.layers, workers, progress, Some(&arrivals), &stop)
            });
            let result = build(&resolved);
            if result.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            let downloaded = downloads
                .join()
                .unwrap_or_else(|_| Err(PullError::Interrupted));
            (result, downloaded)
        });
        downloaded?;
        // After a failed build, only the images whose downloads all ended are named.
        self.name(&prepared, progress, stop.load(Ordering::SeqCst))?;
        Ok(result)
    }

    /// Makes every image available for every wanted platform; returns each one resolved
    /// for the first wanted platform, in input order. Downloads of all images share one
    /// pool of `concurrency` workers.
    pub fn pull_all(
        &self,
        images: &[ImageRef],
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<ResolvedImage>, PullError> {
        let mut prepared = self.prepare(images, opts, progress)?;
        let never = AtomicBool::new(false);
        self.download(
            &prepared.layers,
            opts.concurrency.max(1),
            progress,
            None,
            &never,
        )?;
        let named = self.name(&prepared, progress, false)?;
        prepared.ready.extend(named);
        Ok(images
            .iter()
            .filter_map(|r| prepared.ready.get(&cache_name(r)).cloned())
            .collect())
    }

    /// Everything but the layers: images the cache has, manifests and configs of the rest.
    fn prepare(
        &self,
        images: &[ImageRef],
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Prepared, PullError> {
        let platform = opts
            .platforms
            .first()
            .cloned()
            .unwrap_or_else(|| Platform::linux(host_arch()));
        // Partial downloads of pulls that were killed: nobody will finish them.
        self.cache.sweep_leftovers();
        let mut unique: Vec<&ImageRef> = Vec::new();
        for i in images {
            if !unique.iter().any(|u| u.canonical() == i.canonical()) {
                unique.push(i);
            }
        }
        // Warm path first: what the cache already has needs no network.
        let mut todo = Vec::new();
        let mut ready: BTreeMap<String, ResolvedImage> = BTreeMap::new();
        for r in unique {
            let name = cache_name(r);
            if !opts.always
                && let Some(resolved) = self.warm(&name, &opts.platforms, &platform)
            {
                progress.image_ready(&name, &resolved.root.digest, true);
                ready.insert(name, resolved);
            } else {
                todo.push(r);
            }
        }
        // Manifests: fetch, store, and list the blobs each image needs; configs first.
        let (mut configs, mut layers) = (Vec::new(), Vec::new());
        let mut roots = Vec::new();
        for r in &todo {
            let (root, blobs) = self
                .fetch_manifests(r, &opts.platforms)
                .map_err(|e| self.cached_without(&cache_name(r), &platform, e))?;
            for j in blobs {
                if j.config {
                    configs.push(j);
                } else {
                    layers.push(j);
                }
            }
            roots.push((cache_name(r), root));
        }
        let never = AtomicBool::new(false);
        self.download(&configs, opts.concurrency.max(1), progress, None, &never)?;
        let mut pending = Vec::new();
        for (name, root) in roots {
            let resolved = self
                .cache
                .resolve_without_layers(&name, root.clone(), &platform)
                .map_err(|source| PullError::Cache {
                    image: name.clone(),
                    source,
                })?;
            pending.push((name, root, resolved));
        }
        Ok(Prepared {
            ready,
            pending,
            layers,
            platform,
        })
    }

    /// Names the downloaded images in the cache (all their blobs are there now; with
    /// `partial`, images that still lack a blob are left unnamed).
    fn name(
        &self,
        prepared: &Prepared,
        progress: &dyn Progress,
        partial: bool,
    ) -> Result<BTreeMap<String, ResolvedImage>, PullError> {
        let mut out = BTreeMap::new();
        for (name, root, r) in &prepared.pending {
            if partial
                && !r
                    .manifest
                    .layers
                    .iter()
                    .all(|l| self.cache.has_blob(&l.digest, l.size))
            {
                continue;
            }
            let cache_err = |source| PullError::Cache {
                image: name.clone(),
                source,
            };
            self.cache.set_name(name, root).map_err(cache_err)?;
            let resolved = self
                .cache
                .resolve_descriptor(name, root.clone(), &prepared.platform)
                .map_err(cache_err)?;
            progress.image_ready(name, &resolved.root.digest, false);
            out.insert(name.clone(), resolved);
        }
        Ok(out)
    }

    /// A pull the registry failed, of an image the cache holds for other platforms only: the
    /// error says so, with the platforms it has (offline, the registry's error alone hides
    /// that). The registry's own answers (an index without the platform) stay as they are.
    fn cached_without(&self, name: &str, platform: &Platform, pull: PullError) -> PullError {
        if !matches!(pull, PullError::Registry { .. }) {
            return pull;
        }
        match self.cache.resolve(name, platform) {
            Err(CacheError::NoPlatform {
                platform,
                available,
                ..
            }) => PullError::CachedWithoutPlatform {
                image: name.to_owned(),
                platform,
                available,
                registry: lk_util::error_chain(&pull),
            },
            _ => pull,
        }
    }

    fn warm(&self, name: &str, platforms: &[Platform], first: &Platform) -> Option<ResolvedImage> {
        let resolved = self.cache.resolve(name, first).ok()?;
        for p in platforms.iter().skip(1) {
            self.cache
                .resolve_descriptor(name, resolved.root.clone(), p)
                .ok()?;
        }
        Some(resolved)
    }

    /// Fetches the root manifest (and for an index, the wanted platforms' manifests and
    /// attestations), stores them, and returns the root and the blobs still missing.
    fn fetch_manifests(
        &self,
        r: &ImageRef,
        platforms: &[Platform],
    ) -> Result<(Descriptor, Vec<Job>), PullError> {
        let image = cache_name(r);
        let repo = repository(r);
        let reg = |source| PullError::Registry {
            image: image.clone(),
            source,
        };
        let store = |source| PullError::Cache {
            image: image.clone(),
            source,
        };
        let reference = r.digest().or(r.tag()).unwrap_or("latest");
        let root = self.client.get_manifest(&repo, reference).map_err(reg)?;
        self.cache.put_bytes(&root.bytes).map_err(store)?;
        let root_desc = root.descriptor();
        let doc =
            Document::parse(&root.media_type, &root.bytes).map_err(|_| PullError::NotAnImage {
                image: image.clone(),
                media_type: root.media_type.clone(),
            })?;
        let mut manifests = Vec::new();
        match doc {
            Document::Manifest(m) => manifests.push(m),
            Document::Index(index) => {
                let missing: Vec<String> = platforms
                    .iter()
                    .filter(|p| {
                        !index.manifests.iter().any(|m| {
                            !m.is_attestation()
                                && m.platform.as_ref().is_some_and(|mp| mp.satisfies(p))
                        })
                    })
                    .map(ToString::to_string)
                    .collect();
                if !missing.is_empty() {
                    return Err(PullError::MissingPlatform {
                        image,
                        missing: missing.join(","),
                        available: lk_oci::platforms_of(&index),
                    });
                }
                let wanted: Vec<&Descriptor> = index
                    .manifests
                    .iter()
                    .filter(|m| {
                        !m.is_attestation()
                            && m.platform
                                .as_ref()
                                .is_some_and(|mp| platforms.iter().any(|p| mp.satisfies(p)))
                    })
                    .collect();
                let wanted_digests: HashSet<&str> =
                    wanted.iter().map(|d| d.digest.as_str()).collect();
                // Attestations that refer to a wanted manifest come along (LinuxKit checks them).
                let attestations = index.manifests.iter().filter(|m| {
                    m.is_attestation()
                        && m.annotations
                            .get("vnd.docker.reference.digest")
                            .is_some_and(|d| wanted_digests.contains(d.as_str()))
                });
                for d in wanted.iter().copied().chain(attestations) {
                    let m = if self.cache.has_blob(&d.digest, d.size) {
                        self.cache.read_bytes(&d.digest).map_err(store)?
                    } else {
                        let fetched = self
                            .client
                            .get_manifest(&repo, d.digest.as_str())
                            .map_err(reg)?;
                        self.cache.put_bytes(&fetched.bytes).map_err(store)?;
                        fetched.bytes
                    };
                    match Document::parse(&d.media_type, &m) {
                        Ok(Document::Manifest(m)) => manifests.push(m),
                        _ => {
                            return Err(PullError::NotAnImage {
                                image,
                                media_type: d.media_type.clone(),
                            });
                        }
                    }
                }
            }
        }
        let mut jobs = Vec::new();
        for m in manifests {
            let blobs =
                std::iter::once((m.config, true)).chain(m.layers.into_iter().map(|l| (l, false)));
            for (desc, config) in blobs {
                if !self.cache.has_blob(&desc.digest, desc.size) {
                    jobs.push(Job {
                        image: image.clone(),
                        repo: repo.clone(),
                        desc,
                        config,
                    });
                }
            }
        }
        Ok((root_desc, jobs))
    }

    /// Downloads `jobs` with `workers` threads, telling `arrivals` as each lands; the first
    /// error (or `stop`) stops new downloads.
    fn download(
        &self,
        jobs: &[Job],
        workers: usize,
        progress: &dyn Progress,
        arrivals: Option<&Arrivals>,
        stop: &AtomicBool,
    ) -> Result<(), PullError> {
        let mut seen = HashSet::new();
        let jobs: Vec<&Job> = jobs
            .iter()
            .filter(|j| seen.insert(j.desc.digest.clone()))
            .collect();
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<PullError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers.min(jobs.len()) {
                s.spawn(|| {
                    loop {
                        if stop.load(Ordering::SeqCst)
                            || failure.lock().map(|f| f.is_some()).unwrap_or(true)
                        {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(job) = jobs.get(i) else { break };
                        match self.fetch_blob(job, progress) {
                            Ok(()) => {
                                if let Some(a) = arrivals {
                                    a.arrived(&job.desc.digest);
                                }
                            }
                            Err(e) => {
                                if let Some(a) = arrivals {
                                    a.failed(lk_util::error_chain(&e));
                                }
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(e);
                                }
                            }
                        }
                    }
                });
            }
        });
        if let Some(a) = arrivals {
            // Whatever did not arrive now never will (a reader must not wait for it).
            a.failed("the downloads stopped".into());
        }
        match failure.into_inner() {
            Ok(Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Downloads one blob into the cache, resuming what an earlier attempt (or a killed
    /// pull) left in its `.partial-*` file with a range request, and trying again with
    /// backoff when the failure may pass. A blob that does not match its digest is fetched
    /// once more from the start; the partial file is removed then, so the cache holds only
    /// verified blobs.
    fn fetch_blob(&self, job: &Job, progress: &dyn Progress) -> Result<(), PullError> {
        let d = &job.desc.digest;
        if self.cache.has_blob(d, job.desc.size) {
            return Ok(());
        }
        progress.blob_started(&job.image, d, job.desc.size);
        let cache_err = |source| PullError::Cache {
            image: job.image.clone(),
            source,
        };
        let registry_err = |source| PullError::Registry {
            image: job.image.clone(),
            source,
        };
        let mut mismatches = 0;
        let mut failures = 0;
        loop {
            let mut w = self
                .cache
                .resumable_blob_writer(d, Some(&job.image))
                .map_err(cache_err)?;
            if w.written() > job.desc.size {
                w.restart()
                    .map_err(|e| cache_err(io_error(&self.cache.blob_path(d), e)))?;
            }
            let fetched = self.client.get_blob_from(
                &job.repo,
                d,
                w.written(),
                &mut Resumable(&mut w),
                &mut |n| progress.blob_progress(d, n),
            );
            match fetched {
                Ok(_) => match w.commit() {
                    Ok(()) => break,
                    Err(lk_cache::CacheError::DigestMismatch { .. }) if mismatches == 0 => {
                        mismatches += 1;
                    }
                    // The registry sent other bytes than the digest names (twice).
                    Err(lk_cache::CacheError::DigestMismatch {
                        expected, actual, ..
                    }) => {
                        return Err(registry_err(RegistryError::DigestMismatch {
                            what: "blob",
                            url: format!("{}@{expected}", job.repo),
                            expected,
                            actual,
                        }));
                    }
                    Err(e) => return Err(cache_err(e)),
                },
                Err(e) if e.is_transient() && failures < self.retries => {
                    drop(w);
                    std::thread::sleep(self.backoff * 2u32.pow(failures));
                    failures += 1;
                }
                Err(e) => return Err(registry_err(e)),
            }
        }
        progress.blob_done(d);
        Ok(())
    }
}

/// The cache's blob writer as the registry client's sink.
struct Resumable<'w>(&'w mut lk_cache::BlobWriter);

impl std::io::Write for Resumable<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl lk_registry::BlobSink for Resumable<'_> {
    fn restart(&mut self) -> std::io::Result<()> {
        self.0.restart()
    }
}

fn io_error(path: &std::path::Path, source: std::io::Error) -> lk_cache::CacheError {
    lk_cache::CacheError::Io {
        action: "restarting the download into",
        path: path.to_path_buf(),
        source,
    }
}
