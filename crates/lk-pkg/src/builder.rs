//! The engines a package's Dockerfile is built with, behind one trait: [`ImageBuilder`] turns
//! a [`BuildRequest`] into an image the engine holds, and hands that image back as a
//! `docker save` archive, which the cache imports and compresses the same way whichever
//! engine built it (same tags, same cache layout, same layer compression).
//!
//! | back end | what it needs |
//! |---|---|
//! | [`Docker`] | a Docker engine at `DOCKER_HOST`, a Docker context, or the local socket |
//! | [`Buildah`](crate::buildah::Buildah) | the `buildah` program; no daemon (root, or rootless with subuids) |
//!
//! [`Engine`] is the one chosen at run time (`--builder docker|buildah|auto`).

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

pub use lk_util::ToolError;

use crate::buildah::Buildah;
use crate::docker::{BuildLog, BuildRequest, Docker};

/// A back end that builds package images.
pub trait ImageBuilder {
    /// Which back end this is (for messages).
    fn kind(&self) -> BuilderKind;
    /// Whether it can build here and now (the engine answers, the program runs).
    fn available(&self) -> bool;
    /// The architecture of an image it holds, or None when it does not hold it.
    fn image_arch(&self, image: &str) -> Result<Option<String>, ToolError>;
    /// Takes the images of a `docker save` archive (a `FROM` image from our cache).
    fn load(&self, archive: &mut dyn Read) -> Result<(), ToolError>;
    /// Pulls `image` from its registry.
    fn pull(&self, image: &str) -> Result<(), ToolError>;
    /// Builds `req`; the build's output is shown as `log` says.
    fn build(&self, req: &BuildRequest, log: BuildLog<'_>) -> Result<(), ToolError>;
    /// The command line [`ImageBuilder::build`] runs for `req` (`pkg build --dry-run`).
    fn build_command(&self, req: &BuildRequest) -> Vec<String>;
    /// Streams `image` as a `docker save` archive to `consume`.
    fn save<T>(
        &self,
        image: &str,
        consume: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, ToolError>;
    /// Writes `images` as one `docker save` archive to `file` (`depends.docker-images`).
    fn save_to(&self, file: &Path, images: &[String]) -> Result<(), ToolError>;
    /// Names `src` also `dst`.
    fn tag(&self, src: &str, dst: &str) -> Result<(), ToolError>;
    /// The engine's own architecture (`amd64`): what `FROM --platform=$BUILDPLATFORM`
    /// stages run on.
    fn native_arch(&self) -> Result<String, ToolError>;
    /// Whether one build may copy between stages of different platforms (BuildKit and
    /// buildah can; Docker's classic builder refuses a stage of another platform).
    fn cross_stages(&self) -> bool;
}

/// The back ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuilderKind {
    /// `docker build` through a Docker engine.
    Docker,
    /// `buildah build`, daemonless.
    Buildah,
}

impl fmt::Display for BuilderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuilderKind::Docker => "docker",
            BuilderKind::Buildah => "buildah",
        })
    }
}

/// `--builder`: a back end, or `auto` (a Docker engine that answers, else buildah).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuilderChoice {
    /// A reachable Docker engine, else buildah.
    #[default]
    Auto,
    /// This back end, whether or not it is available (its own error says why not).
    Only(BuilderKind),
}

/// `--builder` was not one of docker, buildah, auto.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown builder {0:?}: use docker, buildah or auto")]
pub struct UnknownBuilder(pub String);

impl FromStr for BuilderChoice {
    type Err = UnknownBuilder;

    fn from_str(s: &str) -> Result<BuilderChoice, UnknownBuilder> {
        match s {
            "auto" => Ok(BuilderChoice::Auto),
            "docker" => Ok(BuilderChoice::Only(BuilderKind::Docker)),
            "buildah" => Ok(BuilderChoice::Only(BuilderKind::Buildah)),
            other => Err(UnknownBuilder(other.to_owned())),
        }
    }
}

impl fmt::Display for BuilderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuilderChoice::Auto => f.write_str("auto"),
            BuilderChoice::Only(k) => k.fmt(f),
        }
    }
}

/// `--progress`: how a build's own output is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// `tty` when stderr is a terminal, else `plain`.
    #[default]
    Auto,
    /// Every line of the build's output as it comes, among our own lines.
    Plain,
    /// The engine's own display, straight on the terminal.
    Tty,
}

/// `--progress` was not one of auto, plain, tty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown progress {0:?}: use auto, plain or tty")]
pub struct UnknownProgress(pub String);

impl FromStr for Progress {
    type Err = UnknownProgress;

    fn from_str(s: &str) -> Result<Progress, UnknownProgress> {
        match s {
            "auto" => Ok(Progress::Auto),
            "plain" => Ok(Progress::Plain),
            "tty" => Ok(Progress::Tty),
            other => Err(UnknownProgress(other.to_owned())),
        }
    }
}

impl Progress {
    /// Whether the engine draws on the terminal (`tty`, or `auto` on a terminal).
    pub fn on_terminal(self, stderr_is_terminal: bool) -> bool {
        match self {
            Progress::Auto => stderr_is_terminal,
            Progress::Plain => false,
            Progress::Tty => true,
        }
    }
}

/// The back end chosen for a run.
#[derive(Clone, Debug)]
pub enum Engine {
    /// A Docker engine.
    Docker(Docker),
    /// buildah.
    Buildah(Buildah),
}

/// No back end of the choice can build here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoBuilder {
    /// `--builder auto`: neither answers.
    #[error(
        "no package builder: no Docker engine answers (start dockerd, or set DOCKER_HOST) and buildah is not installed (apt-get install buildah)"
    )]
    Neither,
    /// `--builder docker`.
    #[error(
        "no Docker engine answers (start dockerd, set DOCKER_HOST, or build with --builder buildah)"
    )]
    Docker,
    /// `--builder buildah`.
    #[error(
        "buildah does not run here (install it: apt-get install buildah; or build with --builder docker)"
    )]
    Buildah,
}

impl Engine {
    /// The back end `choice` names, checked to be available: `auto` takes `docker` when its
    /// engine answers, else `buildah` when it runs.
    pub fn choose(
        choice: BuilderChoice,
        docker: Docker,
        buildah: Buildah,
    ) -> Result<Engine, NoBuilder> {
        match choice {
            BuilderChoice::Only(BuilderKind::Docker) if docker.available() => {
                Ok(Engine::Docker(docker))
            }
            BuilderChoice::Only(BuilderKind::Docker) => Err(NoBuilder::Docker),
            BuilderChoice::Only(BuilderKind::Buildah) if buildah.available() => {
                Ok(Engine::Buildah(buildah))
            }
            BuilderChoice::Only(BuilderKind::Buildah) => Err(NoBuilder::Buildah),
            BuilderChoice::Auto if docker.available() => Ok(Engine::Docker(docker)),
            BuilderChoice::Auto if buildah.available() => Ok(Engine::Buildah(buildah)),
            BuilderChoice::Auto => Err(NoBuilder::Neither),
        }
    }
}

/// Calls `$call` on the back end inside an [`Engine`].
macro_rules! delegate {
    ($self:ident, $b:ident => $call:expr) => {
        match $self {
            Engine::Docker($b) => $call,
            Engine::Buildah($b) => $call,
        }
    };
}

impl ImageBuilder for Engine {
    fn kind(&self) -> BuilderKind {
        delegate!(self, b => b.kind())
    }
    fn available(&self) -> bool {
        delegate!(self, b => b.available())
    }
    fn image_arch(&self, image: &str) -> Result<Option<String>, ToolError> {
        delegate!(self, b => b.image_arch(image))
    }
    fn load(&self, archive: &mut dyn Read) -> Result<(), ToolError> {
        delegate!(self, b => b.load(archive))
    }
    fn pull(&self, image: &str) -> Result<(), ToolError> {
        delegate!(self, b => b.pull(image))
    }
    fn build(&self, req: &BuildRequest, log: BuildLog<'_>) -> Result<(), ToolError> {
        delegate!(self, b => b.build(req, log))
    }
    fn build_command(&self, req: &BuildRequest) -> Vec<String> {
        delegate!(self, b => b.build_command(req))
    }
    fn save<T>(
        &self,
        image: &str,
        consume: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, ToolError> {
        delegate!(self, b => b.save(image, consume))
    }
    fn save_to(&self, file: &Path, images: &[String]) -> Result<(), ToolError> {
        delegate!(self, b => b.save_to(file, images))
    }
    fn tag(&self, src: &str, dst: &str) -> Result<(), ToolError> {
        delegate!(self, b => b.tag(src, dst))
    }
    fn native_arch(&self) -> Result<String, ToolError> {
        delegate!(self, b => b.native_arch())
    }
    fn cross_stages(&self) -> bool {
        delegate!(self, b => b.cross_stages())
    }
}

/// `--builders` / `LINUXKIT_BUILDERS`: a Docker engine per platform
/// (`linux/arm64=<context or DOCKER_HOST URL>,...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteBuilders(Vec<(String, String)>);

/// A `--builders` entry that is not `os/arch=target`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--builders entry {0:?} is not PLATFORM=TARGET (e.g. linux/arm64=unix:///run/arm64.sock or a Docker context name)"
)]
pub struct BadBuilders(pub String);

impl RemoteBuilders {
    /// Parses the flag's (or the variable's) comma-separated list; empty gives none.
    pub fn parse(s: &str) -> Result<RemoteBuilders, BadBuilders> {
        let mut out = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.split_once('=') {
                Some((pl, target))
                    if pl.split('/').count() >= 2
                        && pl.split('/').all(|c| !c.is_empty())
                        && !target.is_empty() =>
                {
                    out.push((pl.to_owned(), target.to_owned()));
                }
                _ => return Err(BadBuilders(entry.to_owned())),
            }
        }
        Ok(RemoteBuilders(out))
    }

    /// LinuxKit's precedence: the flag when given, else `LINUXKIT_BUILDERS`.
    pub fn from_flag_or_env(
        flag: Option<&str>,
        env: Option<&str>,
    ) -> Result<RemoteBuilders, BadBuilders> {
        RemoteBuilders::parse(flag.or(env).unwrap_or(""))
    }

    /// The target named for `platform` (`linux/amd64`), if any.
    pub fn target(&self, platform: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, _)| p == platform)
            .map(|(_, t)| t.as_str())
    }

    /// Whether any platform has a target.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_builders_follow_linuxkit_precedence() {
        let b = RemoteBuilders::from_flag_or_env(
            Some("linux/arm64=arm-ctx, linux/amd64=unix:///run/lk-remote.sock"),
            Some("linux/arm64=from-env"),
        )
        .unwrap();
        assert_eq!(b.target("linux/arm64"), Some("arm-ctx"));
        assert_eq!(b.target("linux/amd64"), Some("unix:///run/lk-remote.sock"));
        assert_eq!(b.target("linux/riscv64"), None);
        let env = RemoteBuilders::from_flag_or_env(None, Some("linux/arm64=from-env")).unwrap();
        assert_eq!(env.target("linux/arm64"), Some("from-env"));
        assert!(
            RemoteBuilders::from_flag_or_env(None, None)
                .unwrap()
                .is_empty()
        );
        for bad in ["arm64=x", "linux/arm64", "linux/arm64=", "/arm64=x"] {
            let e = RemoteBuilders::parse(bad).unwrap_err();
            assert_eq!(e, BadBuilders(bad.into()));
        }
    }

    #[test]
    fn progress_modes() {
        let p = |s: &str| s.parse::<Progress>().unwrap();
        assert!(p("auto").on_terminal(true) && !p("auto").on_terminal(false));
        assert!(p("tty").on_terminal(false) && !p("plain").on_terminal(true));
        let e = "fancy".parse::<Progress>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown progress \"fancy\": use auto, plain or tty"
        );
    }

    #[test]
    fn builder_names_parse_and_print() {
        for s in ["auto", "docker", "buildah"] {
            assert_eq!(s.parse::<BuilderChoice>().unwrap().to_string(), s);
        }
        let e = "podman".parse::<BuilderChoice>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown builder \"podman\": use docker, buildah or auto"
        );
    }

    #[test]
    fn auto_takes_what_runs_and_names_both_when_nothing_does() {
        let no_docker = Docker::new("/nonexistent/docker");
        let no_buildah = Buildah::new("/nonexistent/buildah");
        let e =
            Engine::choose(BuilderChoice::Auto, no_docker.clone(), no_buildah.clone()).unwrap_err();
        assert_eq!(e, NoBuilder::Neither);
        assert!(e.to_string().contains("apt-get install buildah"), "{e}");
        assert!(e.to_string().contains("DOCKER_HOST"), "{e}");
        let only = BuilderChoice::Only(BuilderKind::Buildah);
        assert_eq!(
            Engine::choose(only, no_docker.clone(), no_buildah.clone()).unwrap_err(),
            NoBuilder::Buildah
        );
        // `true` stands in for a buildah that runs: auto then takes it.
        let e = Engine::choose(BuilderChoice::Auto, no_docker, Buildah::new("true")).unwrap();
        assert_eq!(e.kind(), BuilderKind::Buildah);
    }
}
