//! The `buildah` CLI as a package builder: `buildah build` of a [`BuildRequest`] with no
//! daemon, images in and out as `docker save` archives (so the cache imports what it builds
//! exactly as it imports Docker's). Runs as root, or rootless where the user has subuids.
//! buildah's own environment applies: `STORAGE_DRIVER` (`vfs` where overlay cannot
//! mount), `BUILDAH_ISOLATION` (`chroot` where no OCI runtime can run).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use lk_util::ToolError;
use lk_util::tool::output;

use crate::builder::{BuilderKind, ImageBuilder};
use crate::docker::{BuildLog, BuildRequest};

/// The `buildah` program.
#[derive(Clone, Debug)]
pub struct Buildah {
    program: String,
}

impl Default for Buildah {
    fn default() -> Buildah {
        Buildah::new("buildah")
    }
}

/// A temporary archive path, removed on drop.
struct TempArchive(PathBuf);

impl TempArchive {
    fn new() -> TempArchive {
        static N: AtomicU32 = AtomicU32::new(0);
        TempArchive(std::env::temp_dir().join(format!(
            "lk-buildah-{}-{}.tar",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for TempArchive {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Buildah {
    /// A client running `program` (`LINUXKIT_BUILDAH`, else `buildah`).
    pub fn new(program: &str) -> Buildah {
        Buildah {
            program: program.to_owned(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args);
        cmd
    }

    fn output(&self, args: &[&str]) -> Result<String, ToolError> {
        let out = output(&mut self.command(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The arguments after `buildah`: `build` with Docker's image format (the same config
    /// fields as the docker back end's images), one layer per image, and the host's network
    /// for `network: true` (no container network to configure; `none` otherwise).
    pub fn build_args(req: &BuildRequest) -> Vec<String> {
        let mut a = vec!["build".to_owned(), "--format=docker".to_owned()];
        a.extend(req.flags(
            &qualified(&req.tag),
            if req.network { "host" } else { "none" },
        ));
        a
    }
}

/// `docker.io/linuxkit/x:t` for `linuxkit/x:t`: buildah names an unqualified tag
/// `localhost/...`, which would then come back into the cache under that name too.
fn qualified(name: &str) -> String {
    lk_spec::reference::reference_expand(name)
}

impl ImageBuilder for Buildah {
    fn kind(&self) -> BuilderKind {
        BuilderKind::Buildah
    }

    /// `buildah info` answers (the program runs and its storage opens).
    fn available(&self) -> bool {
        self.output(&["info"]).is_ok()
    }

    fn image_arch(&self, image: &str) -> Result<Option<String>, ToolError> {
        let format = "{{.OCIv1.Architecture}}";
        let image = qualified(image);
        match self.output(&["inspect", "--type", "image", "--format", format, &image]) {
            Ok(arch) => Ok(Some(arch)),
            Err(e) if !e.not_installed() && e.stderr.contains("not known") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// buildah reads archives from files only: `archive` goes through a temporary file.
    fn load(&self, archive: &mut dyn Read) -> Result<(), ToolError> {
        let tmp = TempArchive::new();
        let src = format!("docker-archive:{}", tmp.0.display());
        let mut cmd = self.command(&["pull", "--quiet", &src]);
        let mut file =
            std::fs::File::create(&tmp.0).map_err(|e| ToolError::not_started(&cmd, &e))?;
        std::io::copy(archive, &mut file).map_err(|e| ToolError::not_started(&cmd, &e))?;
        drop(file);
        output(&mut cmd).map(|_| ())
    }

    fn pull(&self, image: &str) -> Result<(), ToolError> {
        self.output(&["pull", "--quiet", image]).map(|_| ())
    }

    fn build(&self, req: &BuildRequest, log: BuildLog<'_>) -> Result<(), ToolError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(Buildah::build_args(req));
        crate::docker::run_logged(&mut cmd, log)
    }
    fn build_command(&self, req: &BuildRequest) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(Buildah::build_args(req))
            .collect()
    }

    /// `buildah push` to a temporary `docker-archive:` file, read back by `consume`.
    fn save<T>(
        &self,
        image: &str,
        consume: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, ToolError> {
        let tmp = TempArchive::new();
        self.save_to(&tmp.0, &[image.to_owned()])?;
        let cmd = self.command(&["push", image]);
        let mut file = std::fs::File::open(&tmp.0).map_err(|e| ToolError::not_started(&cmd, &e))?;
        Ok(consume(&mut file))
    }

    /// One image per archive (buildah writes no multi-image `docker save` archives).
    fn save_to(&self, file: &Path, images: &[String]) -> Result<(), ToolError> {
        let [image] = images else {
            let cmd = self.command(&["push"]);
            let why = std::io::Error::other(
                "buildah writes one image per archive: list one image per `target`, use `target-dir`, or build with --builder docker",
            );
            return Err(ToolError::not_started(&cmd, &why));
        };
        let _ = std::fs::remove_file(file);
        let dst = format!("docker-archive:{}:{}", file.display(), qualified(image));
        self.output(&["push", "--quiet", image, &dst]).map(|_| ())
    }

    fn tag(&self, src: &str, dst: &str) -> Result<(), ToolError> {
        self.output(&["tag", src, &qualified(dst)]).map(|_| ())
    }
    fn native_arch(&self) -> Result<String, ToolError> {
        self.output(&["info", "--format", "{{.host.arch}}"])
    }
    fn cross_stages(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_request_argv_is_buildah_build() {
        let mut req = BuildRequest {
            platform: "linux/arm64".into(),
            build_platform: "linux/amd64".into(),
            tag: "o/p:h-arm64".into(),
            dockerfile: "pkg/p/Dockerfile".into(),
            context: "pkg/p".into(),
            ..BuildRequest::default()
        };
        req.build_args.insert("BASE".into(), "o/base:1".into());
        // The package's own TARGETOS wins over the one derived from the platform.
        req.build_args.insert("TARGETOS".into(), "mine".into());
        assert_eq!(
            Buildah::build_args(&req),
            [
                "build",
                "--format=docker",
                "--platform",
                "linux/arm64",
                "-t",
                "docker.io/o/p:h-arm64",
                "-f",
                "pkg/p/Dockerfile",
                "--network=none",
                "--build-arg=BASE=o/base:1",
                "--build-arg=BUILDARCH=amd64",
                "--build-arg=BUILDOS=linux",
                "--build-arg=BUILDPLATFORM=linux/amd64",
                "--build-arg=TARGETARCH=arm64",
                "--build-arg=TARGETOS=mine",
                "--build-arg=TARGETPLATFORM=linux/arm64",
                "pkg/p"
            ]
        );
        req.network = true;
        assert!(Buildah::build_args(&req).contains(&"--network=host".to_owned()));
    }

    #[test]
    fn several_images_in_one_archive_are_refused_with_the_way_out() {
        let b = Buildah::new("/nonexistent/buildah");
        let e = b
            .save_to(
                Path::new("/tmp/x.tar"),
                &["a@sha256:1".into(), "b@sha256:2".into()],
            )
            .unwrap_err();
        assert!(e.to_string().contains("target-dir"), "{e}");
        assert!(!b.available());
    }
}
