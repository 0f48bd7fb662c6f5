//! The `docker` CLI as a typed wrapper: the package builder (`docker build` as a
//! [`BuildRequest`]) and the local engine as an image source (`image save/load/inspect`).
//! Every failure is the shared [`ToolError`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lk_util::ToolError;
use lk_util::tool::output;

/// A `docker` invocation failed.
pub type DockerError = ToolError;

/// The `docker` client, for the local engine or a remote builder.
#[derive(Clone, Debug)]
pub struct Docker {
    program: String,
    /// `-H URL` or `--context NAME` before every command (`--builders`).
    target: Vec<String>,
}

impl Default for Docker {
    fn default() -> Docker {
        Docker::new("docker")
    }
}

/// One `docker build` of a package for one platform.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildRequest {
    /// `--platform` (`linux/amd64`).
    pub platform: String,
    /// The engine's own platform (`linux/amd64`; empty when not known): `BUILDPLATFORM`.
    pub build_platform: String,
    /// `-t`.
    pub tag: String,
    /// `-f`.
    pub dockerfile: PathBuf,
    /// `--network=default` instead of `none` (build.yml `network: true`).
    pub network: bool,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--ssh` specs (buildx syntax: `default`, `ID=SOCKET|KEY,...`), in order.
    pub ssh: Vec<String>,
    /// `--build-arg`s, in order.
    pub build_args: BTreeMap<String, String>,
    /// `--label`s, in order.
    pub labels: Vec<(String, String)>,
    /// The build context.
    pub context: PathBuf,
}

impl BuildRequest {
    /// The arguments after `docker build`.
    pub fn args(&self) -> Vec<String> {
        self.flags(&self.tag, if self.network { "default" } else { "none" })
    }

    /// The build arguments with BuildKit's platform arguments (`TARGETPLATFORM`,
    /// `TARGETOS`, `TARGETARCH`, `BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`) added, so a
    /// Dockerfile sees them with every engine (Docker's classic builder and older buildah
    /// set none); the package's own arguments of those names win.
    pub fn platform_args(&self) -> BTreeMap<String, String> {
        let mut args = self.build_args.clone();
        let mut add = |prefix: &str, platform: &str| {
            if platform.is_empty() {
                return;
            }
            let mut parts = platform.splitn(3, '/');
            let os = parts.next().unwrap_or_default();
            let arch = parts.next().unwrap_or_default();
            for (k, v) in [("PLATFORM", platform), ("OS", os), ("ARCH", arch)] {
                args.entry(format!("{prefix}{k}"))
                    .or_insert_with(|| v.to_owned());
            }
        };
        add("TARGET", &self.platform);
        add("BUILD", &self.build_platform);
        args
    }

    /// The flags both back ends take, in this order: platform, tag, Dockerfile, network
    /// (`network` is the back end's name for build.yml's `network: true`, or `none`),
    /// `--no-cache`, `--ssh`, build arguments, labels, then the context.
    pub(crate) fn flags(&self, tag: &str, network: &str) -> Vec<String> {
        let mut a = vec![
            "--platform".to_owned(),
            self.platform.clone(),
            "-t".to_owned(),
            tag.to_owned(),
            "-f".to_owned(),
            self.dockerfile.display().to_string(),
            format!("--network={network}"),
        ];
        if self.no_cache {
            a.push("--no-cache".into());
        }
        a.extend(self.ssh.iter().map(|s| format!("--ssh={s}")));
        a.extend(
            self.platform_args()
                .iter()
                .map(|(k, v)| format!("--build-arg={k}={v}")),
        );
        a.extend(self.labels.iter().map(|(k, v)| format!("--label={k}={v}")));
        a.push(self.context.display().to_string());
        a
    }
}

/// Where a build's own output goes (`pkg build --progress`).
pub enum BuildLog<'a> {
    /// Line by line as it comes, to this function (`plain`).
    Lines(&'a mut dyn FnMut(&str)),
    /// Straight to the terminal, where the engine draws its own progress (`tty`).
    Terminal,
}

impl std::fmt::Debug for BuildLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.progress_name())
    }
}

impl BuildLog<'_> {
    /// The engine's name for this display (`BUILDKIT_PROGRESS`).
    pub fn progress_name(&self) -> &'static str {
        match self {
            BuildLog::Lines(_) => "plain",
            BuildLog::Terminal => "tty",
        }
    }
}

/// Runs a build command, its output shown as `log` says.
pub(crate) fn run_logged(cmd: &mut Command, log: BuildLog<'_>) -> Result<(), DockerError> {
    match log {
        BuildLog::Lines(f) => lk_util::tool::stream_lines(cmd, f),
        BuildLog::Terminal => lk_util::tool::run_on_terminal(cmd),
    }
}

impl Docker {
    /// A client running `program` (`LINUXKIT_DOCKER`, else `docker`).
    pub fn new(program: &str) -> Docker {
        Docker {
            program: program.to_owned(),
            target: Vec::new(),
        }
    }

    /// The same client talking to another engine: `target` is a `DOCKER_HOST`-style URL
    /// (`unix://`, `tcp://`, `ssh://`) or the name of a Docker context.
    pub fn at(&self, target: &str) -> Docker {
        let flag = if target.contains("://") {
            "--host"
        } else {
            "--context"
        };
        Docker {
            program: self.program.clone(),
            target: vec![flag.to_owned(), target.to_owned()],
        }
    }

    /// The engine it talks to when not the default one: the URL or context name.
    pub fn target(&self) -> Option<&str> {
        self.target.get(1).map(String::as_str)
    }

    /// Whether a Docker context of this name exists (`docker context inspect`).
    pub fn has_context(&self, name: &str) -> bool {
        self.output(&["context", "inspect", "--format", "{{.Name}}", name])
            .is_ok()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.target).args(args);
        cmd
    }

    fn output(&self, args: &[&str]) -> Result<String, DockerError> {
        let out = output(&mut self.command(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Whether an engine answers (`docker info`).
    pub fn available(&self) -> bool {
        self.output(&["info", "--format", "{{.ServerVersion}}"])
            .is_ok()
    }

    /// The architecture of a local image, or None if the engine does not have it.
    pub fn image_arch(&self, image: &str) -> Result<Option<String>, DockerError> {
        match self.output(&["image", "inspect", "--format", "{{.Architecture}}", image]) {
            Ok(arch) => Ok(Some(arch)),
            Err(e) if e.stderr.contains("No such image") || e.stderr.contains("No such object") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Streams `docker image save IMAGE` to `consume`.
    pub fn save<T>(
        &self,
        image: &str,
        consume: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, DockerError> {
        let mut cmd = self.command(&["image", "save", image]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| ToolError::not_started(&cmd, &e))?;
        let result = child.stdout.as_mut().map(|out| consume(out));
        let out = child
            .wait_with_output()
            .map_err(|e| ToolError::not_started(&cmd, &e))?;
        match result {
            Some(r) if out.status.success() => Ok(r),
            _ => Err(ToolError::failed(&cmd, out.status, &out.stderr)),
        }
    }

    /// Whether `docker build` can use BuildKit: the CLI has the buildx plugin, or is one
    /// from before Docker 23 (18.09 to 22.x carry BuildKit's client themselves).
    pub fn has_buildkit(&self) -> bool {
        self.output(&["buildx", "version"]).is_ok()
            || self
                .output(&["version", "--format", "{{.Client.Version}}"])
                .is_ok_and(|v| builtin_buildkit(&v))
    }

    /// `docker build`, with BuildKit where the buildx plugin exists and the classic builder
    /// otherwise; its output shown as `log` says.
    pub fn build(&self, req: &BuildRequest, log: BuildLog<'_>) -> Result<(), DockerError> {
        let mut cmd = self.command(&["build"]);
        cmd.args(req.args())
            .env(
                "DOCKER_BUILDKIT",
                if self.has_buildkit() { "1" } else { "0" },
            )
            .env("BUILDKIT_PROGRESS", log.progress_name());
        run_logged(&mut cmd, log)
    }

    /// The build as a command line (`pkg build --dry-run`).
    pub fn build_command(&self, req: &BuildRequest) -> Vec<String> {
        let cmd = self.command(&["build"]);
        std::iter::once(self.program.clone())
            .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
            .chain(req.args())
            .collect()
    }

    /// `docker image load` from `tar`.
    pub fn load(&self, tar: &mut dyn Read) -> Result<(), DockerError> {
        let mut cmd = self.command(&["image", "load", "-q"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| ToolError::not_started(&cmd, &e))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A short write shows as the engine's own error below.
            let _ = std::io::copy(tar, &mut stdin);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| ToolError::not_started(&cmd, &e))?;
        if !out.status.success() {
            return Err(ToolError::failed(&cmd, out.status, &out.stderr));
        }
        Ok(())
    }

    /// `docker image tag SRC DST`.
    pub fn tag(&self, src: &str, dst: &str) -> Result<(), DockerError> {
        self.output(&["image", "tag", src, dst]).map(|_| ())
    }

    /// `docker image pull IMAGE`.
    pub fn pull(&self, image: &str) -> Result<(), DockerError> {
        self.output(&["image", "pull", "-q", image]).map(|_| ())
    }

    /// `docker image save -o FILE IMAGES...`.
    pub fn save_to(&self, file: &Path, images: &[String]) -> Result<(), DockerError> {
        let f = file.display().to_string();
        let mut args = vec!["image", "save", "-o", f.as_str()];
        args.extend(images.iter().map(String::as_str));
        self.output(&args).map(|_| ())
    }
}

impl crate::builder::ImageBuilder for Docker {
    fn kind(&self) -> crate::builder::BuilderKind {
        crate::builder::BuilderKind::Docker
    }
    fn available(&self) -> bool {
        Docker::available(self)
    }
    fn image_arch(&self, image: &str) -> Result<Option<String>, ToolError> {
        Docker::image_arch(self, image)
    }
    fn load(&self, archive: &mut dyn Read) -> Result<(), ToolError> {
        Docker::load(self, archive)
    }
    fn pull(&self, image: &str) -> Result<(), ToolError> {
        Docker::pull(self, image)
    }
    fn build(&self, req: &BuildRequest, log: BuildLog<'_>) -> Result<(), ToolError> {
        Docker::build(self, req, log)
    }
    fn build_command(&self, req: &BuildRequest) -> Vec<String> {
        Docker::build_command(self, req)
    }
    fn save<T>(
        &self,
        image: &str,
        consume: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, ToolError> {
        Docker::save(self, image, consume)
    }
    fn save_to(&self, file: &Path, images: &[String]) -> Result<(), ToolError> {
        Docker::save_to(self, file, images)
    }
    fn tag(&self, src: &str, dst: &str) -> Result<(), ToolError> {
        Docker::tag(self, src, dst)
    }
    fn native_arch(&self) -> Result<String, ToolError> {
        self.output(&["version", "--format", "{{.Server.Arch}}"])
    }
    fn cross_stages(&self) -> bool {
        self.has_buildkit()
    }
}

/// Whether a Docker CLI of `version` (`20.10.24+dfsg1`) has BuildKit's client built in.
fn builtin_buildkit(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    matches!(
        (parts.next().flatten(), parts.next().flatten()),
        (Some(18), Some(9..)) | (Some(19..=22), _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkit_is_built_into_clis_before_23() {
        assert!(builtin_buildkit("20.10.24+dfsg1"));
        assert!(builtin_buildkit("18.09.1"));
        assert!(!builtin_buildkit("18.06.0-ce"));
        assert!(!builtin_buildkit("28.2.2"));
        assert!(!builtin_buildkit("dev"));
    }

    #[test]
    fn build_request_argv_is_docker_builds() {
        let mut req = BuildRequest {
            platform: "linux/amd64".into(),
            tag: "o/p:h-amd64".into(),
            dockerfile: "pkg/p/Dockerfile".into(),
            context: "pkg/p".into(),
            ..BuildRequest::default()
        };
        req.build_args.insert("PKG_IMAGE".into(), "o/p".into());
        req.labels
            .push(("org.mobyproject.config".into(), "{}".into()));
        assert_eq!(
            req.args(),
            [
                "--platform",
                "linux/amd64",
                "-t",
                "o/p:h-amd64",
                "-f",
                "pkg/p/Dockerfile",
                "--network=none",
                "--build-arg=PKG_IMAGE=o/p",
                "--build-arg=TARGETARCH=amd64",
                "--build-arg=TARGETOS=linux",
                "--build-arg=TARGETPLATFORM=linux/amd64",
                "--label=org.mobyproject.config={}",
                "pkg/p"
            ]
        );
        req.network = true;
        req.no_cache = true;
        req.ssh = vec!["default".into()];
        let a = req.args();
        assert!(
            a.contains(&"--network=default".to_owned()) && a.contains(&"--no-cache".to_owned())
        );
        assert!(a.contains(&"--ssh=default".to_owned()), "{a:?}");
        let line = Docker::default().at("arm-ctx").build_command(&req);
        assert_eq!(line[..4], ["docker", "--context", "arm-ctx", "build"]);
        assert_eq!(line.last().map(String::as_str), Some("pkg/p"));
    }

    #[test]
    fn a_remote_builder_is_a_host_url_or_a_context() {
        let d = Docker::default();
        let cmd = d.at("unix:///run/lk-remote.sock").command(&["info"]);
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["--host", "unix:///run/lk-remote.sock", "info"]);
        let cmd = d.at("linuxkit-linux-arm64").command(&["info"]);
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["--context", "linuxkit-linux-arm64", "info"]);
    }

    #[test]
    fn a_missing_docker_is_a_tool_error() {
        let d = Docker::new("/nonexistent/docker");
        assert!(!d.available());
        let e = d.image_arch("x").unwrap_err();
        assert!(e.not_installed(), "{e}");
    }
}
