//! A typed wrapper for the `docker` CLI (a local Docker engine as an image source).

use std::io::Read;
use std::process::{Command, Stdio};

/// A `docker` invocation failed.
#[derive(Debug, thiserror::Error)]
#[error("`{}` failed{}: {stderr}", argv.join(" "), status.map(|s| format!(" with status {s}")).unwrap_or_default())]
pub struct DockerError {
    /// The command line.
    pub argv: Vec<String>,
    /// Exit status, if it ran.
    pub status: Option<i32>,
    /// What it printed on stderr (or why it could not start).
    pub stderr: String,
}

/// The `docker` client.
#[derive(Clone, Debug)]
pub struct Docker {
    program: String,
}

impl Default for Docker {
    fn default() -> Docker {
        Docker {
            program: std::env::var("LINUXKIT_DOCKER").unwrap_or_else(|_| "docker".to_owned()),
        }
    }
}

impl DockerError {
    fn new(argv: &[String], status: Option<i32>, stderr: impl Into<String>) -> DockerError {
        DockerError {
            argv: argv.to_vec(),
            status,
            stderr: stderr.into(),
        }
    }
}

impl Docker {
    fn argv(&self, args: &[&str]) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(args.iter().map(|s| (*s).to_owned()))
            .collect()
    }

    fn output(&self, args: &[&str]) -> Result<String, DockerError> {
        let argv = self.argv(args);
        let out = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                DockerError::new(&argv, None, format!("{e} (is the docker CLI installed?)"))
            })?;
        if !out.status.success() {
            return Err(DockerError::new(
                &argv,
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
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
        let args = ["image", "save", image];
        let argv = self.argv(&args);
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| DockerError::new(&argv, None, e.to_string()))?;
        let result = match child.stdout.as_mut() {
            Some(out) => consume(out),
            None => {
                return Err(DockerError::new(&argv, None, "no stdout"));
            }
        };
        let out = child
            .wait_with_output()
            .map_err(|e| DockerError::new(&argv, None, e.to_string()))?;
        if !out.status.success() {
            return Err(DockerError::new(
                &argv,
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        Ok(result)
    }

    /// Whether the CLI has the buildx plugin (BuildKit builds).
    pub fn has_buildkit(&self) -> bool {
        self.output(&["buildx", "version"]).is_ok()
    }

    /// `docker build ARGS...`, with BuildKit where the buildx plugin exists and the classic
    /// builder otherwise; output goes to `log` line by line.
    pub fn build(&self, args: &[String], log: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        let mut full = vec!["build".to_owned()];
        full.extend(args.iter().cloned());
        let argv = self.argv(&full.iter().map(String::as_str).collect::<Vec<_>>());
        let buildkit = if self.has_buildkit() { "1" } else { "0" };
        let out = Command::new(&self.program)
            .args(&full)
            .env("DOCKER_BUILDKIT", buildkit)
            .env("BUILDKIT_PROGRESS", "plain")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| DockerError::new(&argv, None, e.to_string()))?;
        for line in String::from_utf8_lossy(&out.stderr)
            .lines()
            .chain(String::from_utf8_lossy(&out.stdout).lines())
        {
            log(line);
        }
        if !out.status.success() {
            let tail: Vec<&str> = std::str::from_utf8(&out.stderr)
                .unwrap_or("")
                .lines()
                .rev()
                .take(15)
                .collect();
            return Err(DockerError::new(
                &argv,
                out.status.code(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            ));
        }
        Ok(())
    }

    /// `docker image load` from `tar`.
    pub fn load(&self, tar: &mut dyn Read) -> Result<(), DockerError> {
        let args = ["image", "load", "-q"];
        let argv = self.argv(&args);
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| DockerError::new(&argv, None, e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = std::io::copy(tar, &mut stdin);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| DockerError::new(&argv, None, e.to_string()))?;
        if !out.status.success() {
            return Err(DockerError::new(
                &argv,
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
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
    pub fn save_to(&self, file: &std::path::Path, images: &[String]) -> Result<(), DockerError> {
        let f = file.display().to_string();
        let mut args = vec!["image", "save", "-o", f.as_str()];
        args.extend(images.iter().map(String::as_str));
        self.output(&args).map(|_| ())
    }
}
