//! One `pkg build` run: for each package, the plan's decision (lk-pkg), then the chosen
//! back end's build of each missing platform into the cache, the package's index, and the
//! push (lk-resolve through the cache module).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lk_oci::{Descriptor, Document, MEDIA_OCI_INDEX, Platform};
use lk_pkg::buildah::Buildah;
use lk_pkg::builder::{BuilderChoice, BuilderKind, Engine, ImageBuilder, ToolError};
use lk_pkg::docker::BuildLog;
use lk_pkg::docker::Docker;
use lk_pkg::image::FromImage;
use lk_pkg::plan::{self, ArgValue, BuildMode, Decision};
use lk_pkg::{Package, PkgError};

use super::{PkgBuildError, PkgBuildSettings, PkgResult};
use crate::Reporter;
use crate::cache::{self, ImageError};

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

pub(super) struct Run<'a> {
    pub(super) s: &'a PkgBuildSettings,
    pub(super) reporter: &'a dyn Reporter,
    pub(super) docker: Docker,
    pub(super) buildah: Buildah,
    /// The default back end, chosen at the first build (a run of cached packages needs none).
    pub(super) engine: Option<Engine>,
    pub(super) in_progress: Vec<PathBuf>,
    /// `--dry-run`: the build commands not run yet reported.
    pub(super) commands: Vec<String>,
    /// Held while a built image goes into the cache.
    pub(super) importing: std::sync::Mutex<()>,
}

impl Run<'_> {
    pub(super) fn cache_err(&self, source: lk_cache::CacheError) -> ImageError {
        ImageError::Cache {
            dir: self.s.images.cache_dir.clone(),
            source,
        }
    }

    /// The back end that builds `platform`: its `--builders` Docker engine (or LinuxKit's
    /// `linuxkit-<os>-<arch>` context), else the one `--builder` chooses.
    fn engine_for(&mut self, tag: &str, platform: &Platform) -> Result<Engine, PkgBuildError> {
        let pl = format!("{}/{}", platform.os, platform.architecture);
        let buildah_only = self.s.builder == BuilderChoice::Only(BuilderKind::Buildah);
        if let Some(target) = self.s.builders.target(&pl) {
            if buildah_only {
                return Err(PkgBuildError::BuildersNeedDocker);
            }
            let remote = self.docker.at(target);
            if !remote.available() {
                return Err(PkgBuildError::Unreachable {
                    tag: tag.to_owned(),
                    platform: pl,
                    target: target.to_owned(),
                });
            }
            return Ok(Engine::Docker(remote));
        }
        if !buildah_only {
            let context = format!("linuxkit-{}", pl.replace('/', "-"));
            if self.docker.has_context(&context) {
                return Ok(Engine::Docker(self.docker.at(&context)));
            }
        }
        if self.engine.is_none() {
            let chosen = Engine::choose(self.s.builder, self.docker.clone(), self.buildah.clone());
            let e = match chosen {
                // A dry run shows the command of the back end asked for (auto: docker)
                // whether or not it runs here.
                Err(_) if self.s.dry_run => match self.s.builder {
                    BuilderChoice::Only(BuilderKind::Buildah) => {
                        Engine::Buildah(self.buildah.clone())
                    }
                    _ => Engine::Docker(self.docker.clone()),
                },
                other => other.map_err(|source| PkgBuildError::NoBuilder {
                    tag: tag.to_owned(),
                    source,
                })?,
            };
            self.reporter.info(&format!("building with {}", e.kind()));
            self.engine = Some(e);
        }
        Ok(self.engine.clone().expect("chosen above"))
    }

    /// Makes sure `image` is in `engine`, loading it from our cache if needed (an image
    /// the cache lacks is left to the engine's own pull, which reports).
    fn ensure_in(
        &self,
        engine: &Engine,
        image: &str,
        tag: &str,
        arch: &str,
    ) -> Result<(), PkgBuildError> {
        let err = builder_err(engine, tag);
        // One name holds one platform in an engine: another platform's image is replaced.
        if engine.image_arch(image).map_err(&err)?.as_deref() == Some(arch) {
            return Ok(());
        }
        let cache = self.s.images.cache()?;
        let full = lk_spec::reference::reference_expand(image);
        if cache.find(&full).map_err(|e| self.cache_err(e))?.is_none() {
            return Ok(());
        }
        let mut tar = Vec::new();
        cache::export(
            &self.s.images,
            image,
            &Platform::linux(arch),
            cache::ExportFormat::Docker,
            Some(image),
            &mut tar,
        )?;
        self.reporter.info(&format!(
            "loading {image} from the linuxkit cache into {}",
            engine.kind()
        ));
        engine.load(&mut &tar[..]).map_err(err)
    }

    /// Builds (or skips) the package in `dir`; `dockerfile` overrides build.yml's.
    pub(super) fn build(
        &mut self,
        dir: &Path,
        dockerfile: Option<&str>,
    ) -> Result<PkgResult, PkgBuildError> {
        let mut p = Package::load(dir, &self.s.options)?;
        if let Some(d) = dockerfile {
            p.info.dockerfile = Some(d.to_owned());
        }
        if self.in_progress.contains(&p.dir) {
            return Err(PkgBuildError::Cycle(p.dir.display().to_string()));
        }
        let (tag, full) = (p.tag(), p.full_tag());
        let select = if self.in_progress.is_empty() {
            plan::select_platforms
        } else {
            plan::select_dependency_platforms
        };
        let wanted = select(
            &tag,
            p.info.arches.as_deref(),
            crate::host_arch(),
            &self.s.platforms,
        )?;
        let cache = self.s.images.cache()?;
        self.reporter
            .info(&format!("checking for {full} in local cache..."));
        let decision = plan::decide(
            &wanted,
            self.s.mode,
            self.s.pull || self.s.docker_load,
            &mut super::sources::RunSources {
                run: self,
                cache: &cache,
                full: &full,
            },
        );
        let mut result = PkgResult {
            tag: tag.clone(),
            built: Vec::new(),
            skipped: None,
            pushed: Vec::new(),
            commands: Vec::new(),
        };
        let (line, skipped) = match decision {
            Decision::NoPlatforms => (
                format!("Skipping {tag} with no architectures to build"),
                "no architectures to build",
            ),
            Decision::InCache => {
                self.reporter
                    .info(&format!("found {full} in local cache, skipping build"));
                if !self.s.dry_run {
                    self.recompress(&cache, &full)?;
                }
                (String::new(), "in the local cache")
            }
            Decision::Pulled => (
                format!("pulled {full} from the registry, skipping build"),
                "pulled from the registry",
            ),
            Decision::InRegistry => (
                format!("{full} found on registry, skipping build"),
                "in the registry",
            ),
            Decision::NotBuilt(missing) => {
                let arches: Vec<&str> = missing.iter().map(|p| p.architecture.as_str()).collect();
                (
                    format!("--nobuild: not building {full} for {}", arches.join(", ")),
                    "--nobuild",
                )
            }
            Decision::Build(missing) => {
                result.built = self.build_platforms(&p, &cache, &missing)?;
                let done = if self.s.dry_run {
                    "Dry run complete"
                } else {
                    "Build complete"
                };
                (done.to_owned(), "")
            }
        };
        if !line.is_empty() {
            self.reporter.info(&line);
        }
        result.skipped = (!skipped.is_empty()).then(|| skipped.to_owned());
        result.commands = std::mem::take(&mut self.commands);
        if self.s.dry_run {
            return Ok(result);
        }
        if self.s.docker_load {
            self.load_into_docker(&p, &cache, &wanted)?;
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

    /// Builds `missing` into the cache, each platform on its own back end (at the same time
    /// when every platform has an engine of its own), and writes the package's index
    /// (merged with the one already cached). Returns the architectures built.
    fn build_platforms(
        &mut self,
        p: &Package,
        cache: &lk_cache::Cache,
        missing: &[Platform],
    ) -> Result<Vec<String>, PkgBuildError> {
        let arches: Vec<String> = missing.iter().map(|pl| pl.architecture.clone()).collect();
        self.in_progress.push(p.dir.clone());
        let args = self.build_args(p);
        self.in_progress.pop();
        let (args, deps) = args?;
        let dockerfile = std::fs::read_to_string(p.dockerfile()).map_err(|source| {
            PkgBuildError::Dockerfile {
                path: p.dockerfile(),
                source,
            }
        })?;
        let mut from = lk_pkg::image::from_images(&dockerfile, &args);
        if self.s.ignore_cached {
            from.retain(|f| deps.contains(&f.image));
        }
        // A package named only by a build arg (not in a `FROM`) is handed over for the
        // target platform; one a `FROM` names keeps that line's platform.
        for image in deps {
            if !from.iter().any(|f| f.image == image) {
                from.push(FromImage {
                    image,
                    on_build_platform: false,
                });
            }
        }
        let engines = missing
            .iter()
            .map(|pl| self.engine_for(&p.tag(), pl))
            .collect::<Result<Vec<_>, _>>()?;
        if self.s.dry_run {
            for (pl, engine) in missing.iter().zip(&engines) {
                let native = engine
                    .native_arch()
                    .unwrap_or_else(|_| crate::host_arch().to_owned());
                let line = engine.build_command(&self.request(p, pl, &native, &args));
                self.commands.push(
                    shlex::try_join(line.iter().map(String::as_str))
                        .unwrap_or_else(|_| line.join(" ")),
                );
            }
            return Ok(arches);
        }
        // `depends.docker-images` go into the package directory, once for every platform.
        self.depends(p, &engines[0])?;
        let descriptors = self.build_each(p, cache, missing, &engines, &args, &from)?;
        self.write_index(cache, &p.full_tag(), descriptors)?;
        Ok(arches)
    }

    /// Each platform's build on its engine: one after another when two share an engine
    /// (its one name per `FROM` image holds one platform at a time), else all at once.
    fn build_each(
        &self,
        p: &Package,
        cache: &lk_cache::Cache,
        missing: &[Platform],
        engines: &[Engine],
        args: &BTreeMap<String, String>,
        from: &[FromImage],
    ) -> Result<Vec<Descriptor>, PkgBuildError> {
        let several = missing.len() > 1;
        // Every platform's engine can do the build before any starts.
        let mut natives = Vec::new();
        for (pl, engine) in missing.iter().zip(engines) {
            let native = engine
                .native_arch()
                .map_err(builder_err(engine, &p.tag()))?;
            let cross = native != pl.architecture;
            if cross && from.iter().any(|f| f.on_build_platform) && !engine.cross_stages() {
                return Err(PkgBuildError::CrossStages {
                    tag: p.tag(),
                    wanted: pl.architecture.clone(),
                    native,
                });
            }
            natives.push(native);
        }
        let one = |pl: &Platform, engine: &Engine| -> Result<Descriptor, PkgBuildError> {
            let i = missing.iter().position(|m| m == pl).unwrap_or_default();
            let native = &natives[i];
            for f in from {
                let arch = if f.on_build_platform {
                    native
                } else {
                    &pl.architecture
                };
                self.ensure_in(engine, &f.image, &p.tag(), arch)?;
            }
            let req = self.request(p, pl, native, args);
            self.build_one(p, cache, pl, req, engine, several)
        };
        let mut keys: Vec<String> = engines.iter().map(engine_key).collect();
        keys.sort();
        keys.dedup();
        if !several || keys.len() < engines.len() {
            return missing
                .iter()
                .zip(engines)
                .map(|(pl, e)| one(pl, e))
                .collect();
        }
        let one = &one;
        std::thread::scope(|scope| {
            let builds: Vec<_> = missing
                .iter()
                .zip(engines)
                .map(|(pl, e)| scope.spawn(move || one(pl, e)))
                .collect();
            builds
                .into_iter()
                .map(|b| {
                    b.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// The package's index under `full`: `built` joined with the platforms already cached.
    fn write_index(
        &self,
        cache: &lk_cache::Cache,
        full: &str,
        built: Vec<Descriptor>,
    ) -> Result<(), PkgBuildError> {
        let old = match cache.find(full).map_err(|e| self.cache_err(e))? {
            Some(old) => match cache.document(&old) {
                Ok(Document::Index(old)) => Some(old),
                _ => None,
            },
            None => None,
        };
        let index = lk_pkg::image::package_index(old, built);
        let bytes = serde_json::to_vec(&index).map_err(|e| PkgBuildError::Encode {
            what: full.to_owned(),
            reason: e.to_string(),
        })?;
        let digest = cache.put_bytes(&bytes).map_err(|e| self.cache_err(e))?;
        cache
            .set_name(
                full,
                &Descriptor::new(MEDIA_OCI_INDEX, digest, bytes.len() as u64),
            )
            .map_err(|e| self.cache_err(e).into())
    }

    /// One platform: the back end's build `req` as `<tag>-<arch>`, then into the cache.
    /// Returns the platform's descriptor for the package's index.
    fn build_one(
        &self,
        p: &Package,
        cache: &lk_cache::Cache,
        pl: &Platform,
        req: lk_pkg::docker::BuildRequest,
        engine: &Engine,
        several: bool,
    ) -> Result<Descriptor, PkgBuildError> {
        let tag = p.tag();
        let arch_tag = format!("{tag}-{}", pl.architecture);
        let at = match engine {
            Engine::Docker(d) => d.target().map(|t| format!(" at {t}")),
            Engine::Buildah(_) => None,
        };
        self.reporter.info(&format!(
            "Building for arch {} as {arch_tag} ({}{})",
            pl.architecture,
            engine.kind(),
            at.unwrap_or_default()
        ));
        self.run_build(engine, req, &tag, pl, several)?;
        // One import into the cache at a time: builds that share a layer would otherwise
        // race on it (one compresses and drops the plain blob the other still reads).
        let _one_at_a_time = self.importing.lock().unwrap_or_else(|e| e.into_inner());
        let pulled = cache::pull_from_engine(
            &self.s.images,
            engine,
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
            let _ = engine.tag(&arch_tag, &tag);
        }
        Ok(d)
    }

    /// Runs the engine's build of `req` (for `pl`), its output shown as `--progress` says
    /// (`several`: its lines marked with the arch, never on the terminal). An image of
    /// another platform (Docker's classic builder takes cached steps of any platform) is
    /// built again without the layer cache.
    fn run_build(
        &self,
        engine: &Engine,
        mut req: lk_pkg::docker::BuildRequest,
        tag: &str,
        pl: &Platform,
        several: bool,
    ) -> Result<(), PkgBuildError> {
        let err = builder_err(engine, tag);
        let prefix = if several {
            format!("  [{}] ", pl.architecture)
        } else {
            "  ".to_owned()
        };
        loop {
            let reporter = self.reporter;
            let mut line = |l: &str| reporter.info(&format!("{prefix}{l}"));
            let log = if self.s.build_on_terminal && !several {
                BuildLog::Terminal
            } else {
                BuildLog::Lines(&mut line)
            };
            engine.build(&req, log).map_err(&err)?;
            let got = engine.image_arch(&req.tag).map_err(&err)?;
            match got {
                Some(a) if a != pl.architecture && !req.no_cache => {
                    self.reporter.info(&format!(
                        "{}: the engine's layer cache gave a {a} image; building again without it",
                        req.tag
                    ));
                    req.no_cache = true;
                }
                Some(a) if a != pl.architecture => {
                    return Err(PkgBuildError::WrongPlatform {
                        tag: req.tag,
                        wanted: pl.architecture.clone(),
                        got: a,
                    });
                }
                _ => return Ok(()),
            }
        }
    }

    /// The build of `p` for `pl` on an engine of arch `native`, as `<tag>-<arch>`.
    fn request(
        &self,
        p: &Package,
        pl: &Platform,
        native: &str,
        args: &BTreeMap<String, String>,
    ) -> lk_pkg::docker::BuildRequest {
        let flags = lk_pkg::image::RunFlags {
            force: self.s.mode == BuildMode::Force,
            ssh: self.s.ssh.clone(),
        };
        let arch_tag = format!("{}-{}", p.tag(), pl.architecture);
        let build = Platform::linux(native);
        lk_pkg::image::build_request(p, pl, &build, &arch_tag, args.clone(), &flags)
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
            let names = std::slice::from_ref(&full);
            let flags = cache::PushFlags {
                arch_tags: self.s.arch_tags,
                override_existing: false,
            };
            for x in cache::push(&self.s.images, names, release.as_deref(), flags)? {
                pushed.push(x.name);
            }
        }
        Ok(pushed)
    }

    /// `depends.docker-images`: pulls the listed `ref@digest` images into `engine` and
    /// saves them into the package (`target`: one archive; `target-dir`: one each).
    fn depends(&self, p: &Package, engine: &Engine) -> Result<(), PkgBuildError> {
        let d = &p.info.depends;
        let from_file =
            match &d.from_file {
                Some(f) => Some(std::fs::read_to_string(p.dir.join(f)).map_err(|source| {
                    PkgError::Read {
                        path: p.dir.join(f).display().to_string(),
                        source,
                    }
                })?),
                None => None,
            };
        let tag = p.tag();
        let plan = lk_pkg::depends::plan(&p.dir, d, from_file.as_deref()).map_err(|source| {
            PkgBuildError::Depends {
                tag: tag.clone(),
                source,
            }
        })?;
        let err = builder_err(engine, &tag);
        for image in &plan.images {
            if engine.image_arch(image).map_err(&err)?.is_none() {
                self.reporter.info(&format!("pulling dependency {image}"));
                engine.pull(image).map_err(&err)?;
            }
        }
        if let Some(file) = &plan.target {
            if let Some(parent) = file.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            engine.save_to(file, &plan.images).map_err(&err)?;
        }
        if let Some((dir, files)) = &plan.target_dir {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).map_err(|source| PkgError::Read {
                path: dir.display().to_string(),
                source,
            })?;
            for (image, file) in files {
                engine
                    .save_to(file, std::slice::from_ref(image))
                    .map_err(&err)?;
            }
        }
        Ok(())
    }

    /// The build arguments in LinuxKit's order (build.yml, `--build-arg-file`,
    /// `--build-arg`), each `@lkt:pkg:<dir>` built first and replaced by its tag; LinuxKit's
    /// default args added when absent. Also returns the tags of the packages built for them
    /// (the engine must hold them).
    #[allow(clippy::type_complexity)]
    fn build_args(
        &mut self,
        p: &Package,
    ) -> Result<(BTreeMap<String, String>, Vec<String>), PkgBuildError> {
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
        let mut deps = Vec::new();
        for (k, v) in plan::build_args(&p.dir, &p.info.build_args, &files, &self.s.build_args) {
            let v = match v {
                ArgValue::Package(dep_dir) => {
                    let built = self.build(&dep_dir, None)?;
                    deps.push(built.tag.clone());
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
        Ok((args, deps))
    }
}

/// Which engine a back end talks to: builds on one engine run one after another.
fn engine_key(e: &Engine) -> String {
    match e {
        Engine::Docker(d) => format!("docker {}", d.target().unwrap_or("")),
        Engine::Buildah(_) => "buildah".to_owned(),
    }
}

/// Maps a back end's failure to the package's error.
pub(super) fn builder_err(engine: &Engine, tag: &str) -> impl Fn(ToolError) -> PkgBuildError {
    let (builder, tag) = (engine.kind(), tag.to_owned());
    move |source| PkgBuildError::Builder {
        tag: tag.clone(),
        builder,
        source,
    }
}
