//! `linuxkit pkg`: package tags, builds, pushes. Wiring only: the plan (platforms, the
//! cache/registry decision, build arguments, `depends`) is lk-pkg's, the back ends (docker,
//! buildah, remote Docker engines per platform) are lk-pkg's builders, the registry work is
//! lk-resolve's; [`run`] executes one `pkg build` with them.

mod error;
mod run;
mod sources;

use std::path::PathBuf;

pub use error::PkgBuildError;
pub use lk_pkg::builder::{BuilderChoice, Progress, RemoteBuilders};
pub use lk_pkg::plan::{BuildMode, PlatformError, PlatformFlags};
pub use lk_pkg::{Package, PkgError, PkgOptions};

use crate::Reporter;
use crate::cache::{self, ImageSettings};

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
    /// `--builder`: docker, buildah, or auto (a Docker engine that answers, else buildah).
    pub builder: BuilderChoice,
    /// `--builders` (else `LINUXKIT_BUILDERS`): a Docker engine per platform.
    pub builders: RemoteBuilders,
    /// The buildah program (`LINUXKIT_BUILDAH`; `buildah` when unset).
    pub buildah: Option<String>,
    /// `--push`.
    pub push: bool,
    /// `--release`.
    pub release: Option<String>,
    /// `--pull` (and `--docker`, which implies it): the platforms the cache lacks are pulled
    /// from the registry where it has them, and only the rest are built.
    pub pull: bool,
    /// `--docker`: each platform's image is also loaded into the local Docker engine as
    /// `<tag>-<arch>`, this host's also as `<tag>`.
    pub docker_load: bool,
    /// `--manifest` (on by default): a push also tags each platform `<tag>-<arch>`.
    pub arch_tags: bool,
    /// `--ignore-cached`: the engine gets the Dockerfile's `FROM` images itself (its store
    /// or its registry), not from the linuxkit cache; the packages built for `@lkt:pkg:`
    /// arguments are still handed over.
    pub ignore_cached: bool,
    /// `--ssh` specs, passed to every build.
    pub ssh: Vec<String>,
    /// `--progress`, resolved: the engine draws its own progress on the terminal (`tty`)
    /// instead of its lines coming through ours (`plain`).
    pub build_on_terminal: bool,
    /// `--dry-run`: the command of each build is returned; nothing is built, written or
    /// pushed.
    pub dry_run: bool,
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
    /// `--dry-run`: the builds that would run, one command line each (the packages its
    /// build arguments name first).
    pub commands: Vec<String>,
}

/// `pkg build` (and `pkg push` with `push` set) for each directory, in order.
pub fn build(
    s: &PkgBuildSettings,
    dirs: &[PathBuf],
    reporter: &dyn Reporter,
) -> Result<Vec<PkgResult>, PkgBuildError> {
    let buildah = s.buildah.as_deref().map_or_else(
        lk_pkg::buildah::Buildah::default,
        lk_pkg::buildah::Buildah::new,
    );
    let mut r = run::Run {
        s,
        reporter,
        docker: s.images.docker(),
        buildah,
        engine: None,
        in_progress: Vec::new(),
        commands: Vec::new(),
        importing: std::sync::Mutex::new(()),
    };
    dirs.iter()
        .map(|d| r.build(d, s.dockerfile.as_deref()))
        .collect()
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
