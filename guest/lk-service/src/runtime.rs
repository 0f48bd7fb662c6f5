//! The OCI runtime behind one trait: youki's libcontainer embedded in this binary (the
//! default: no extra program in the image) or the `runc` binary. Both keep their state under
//! `/run` (`/run/youki`, `/run/runc`), so the getty/sshd containers, which bind `/run`, see it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// The standard streams of a container's process.
#[derive(Debug)]
pub struct Io {
    /// stdin (`/dev/null` for services).
    pub stdin: OwnedFd,
    /// stdout.
    pub stdout: OwnedFd,
    /// stderr.
    pub stderr: OwnedFd,
}

/// What the supervisor needs from a runtime.
pub trait Runtime {
    /// `libcontainer` or `runc`.
    fn name(&self) -> &'static str;
    /// Creates container `id` from the bundle (its `config.json`) with the given streams and
    /// returns the pid of its init process, which waits for [`Runtime::start`]. The caller
    /// reaps it (it is our child, or reparented to us as a subreaper).
    fn create(&self, id: &str, bundle: &Path, io: Io) -> Result<i32, Error>;
    /// Lets the created container run its process.
    fn start(&self, id: &str) -> Result<(), Error>;
    /// Sends `signal` to every process of the container.
    fn kill(&self, id: &str, signal: i32) -> Result<(), Error>;
    /// Deletes the container's state (it must have stopped; `force` kills it first).
    fn delete(&self, id: &str) -> Result<(), Error>;
    /// Starts `args` inside the running container with the given streams (a terminal stays
    /// a terminal); returns its pid, which the caller reaps.
    fn exec(&self, id: &str, args: &[String], io: Io) -> Result<i32, Error>;
}

/// Picks a runtime by name.
pub fn by_name(name: &str) -> Result<Box<dyn Runtime>, Error> {
    match name {
        "libcontainer" | "youki" => Ok(Box::new(Libcontainer::default())),
        "runc" => Ok(Box::new(Runc::default())),
        other => Err(Error::Usage(format!(
            "unknown runtime {other:?}: use libcontainer or runc"
        ))),
    }
}

fn runtime_err(id: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Runtime {
        id: id.to_owned(),
        message: format!("{what}: {e}"),
    }
}

/// youki's libcontainer, in process.
#[derive(Debug)]
pub struct Libcontainer {
    /// State directory.
    pub root: PathBuf,
    /// The `service` program, which does the after-create work on `/dev` in a helper
    /// process (`service attach-dev`): ourselves by default.
    pub helper: PathBuf,
}

impl Default for Libcontainer {
    fn default() -> Self {
        Libcontainer {
            root: PathBuf::from("/run/youki"),
            helper: PathBuf::from("/proc/self/exe"),
        }
    }
}

impl Libcontainer {
    /// A builder for container `id` in our state directory with the given streams.
    fn builder(
        &self,
        id: &str,
        io: Io,
    ) -> Result<libcontainer::container::builder::ContainerBuilder, Error> {
        use libcontainer::container::builder::ContainerBuilder;
        use libcontainer::syscall::syscall::SyscallType;
        use libcontainer::workload::default::DefaultExecutor;
        Ok(ContainerBuilder::new(id.to_owned(), SyscallType::default())
            .with_executor(DefaultExecutor {})
            .with_root_path(&self.root)
            .map_err(|e| runtime_err(id, "state directory", e))?
            .with_stdin(io.stdin)
            .with_stdout(io.stdout)
            .with_stderr(io.stderr))
    }

    fn load(&self, id: &str) -> Result<libcontainer::container::Container, Error> {
        libcontainer::container::Container::load(self.root.join(id))
            .map_err(|e| runtime_err(id, "loading its state", e))
    }
}

impl Runtime for Libcontainer {
    fn name(&self) -> &'static str {
        "libcontainer"
    }

    fn create(&self, id: &str, bundle: &Path, io: Io) -> Result<i32, Error> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::Io {
            path: self.root.clone(),
            source: e,
        })?;
        // libcontainer changes our oom_score_adj and RLIMIT_MEMLOCK while it creates a
        // container: both are put back when `_ours` goes (crate::asrunc).
        let _ours = crate::asrunc::Preserved::now();
        let after = crate::devbind::take_from_bundle(bundle, crate::asrunc::Limits::current())?;
        let container = self
            .builder(id, io)?
            .validate_id()
            .map_err(|e| runtime_err(id, "container id", e))?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| runtime_err(id, "create", e))?;
        let pid = container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| runtime_err(id, "create", "no init process"))?;
        if after.any()
            && let Err(e) = crate::devbind::attach(&self.helper, pid, &after)
        {
            let _ = self.delete(id);
            return Err(e);
        }
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<(), Error> {
        self.load(id)?
            .start()
            .map_err(|e| runtime_err(id, "start", e))
    }

    fn kill(&self, id: &str, signal: i32) -> Result<(), Error> {
        let sig = libcontainer::signal::Signal::try_from(signal)
            .map_err(|e| runtime_err(id, "signal", e))?;
        self.load(id)?
            .kill(sig, true)
            .map_err(|e| runtime_err(id, "kill", e))
    }

    fn delete(&self, id: &str) -> Result<(), Error> {
        if !self.root.join(id).exists() {
            return Ok(());
        }
        self.load(id)?
            .delete(true)
            .map_err(|e| runtime_err(id, "delete", e))
    }

    fn exec(&self, id: &str, args: &[String], io: Io) -> Result<i32, Error> {
        // The process joins the container with its `oomScoreAdj`, which libcontainer
        // writes to our own score first (crate::asrunc).
        let _ours = crate::asrunc::Preserved::now();
        let pid = self
            .builder(id, io)?
            .as_tenant()
            .with_container_args(args.to_vec())
            .with_detach(true)
            .build()
            .map_err(|e| runtime_err(id, "exec", e))?;
        Ok(pid.as_raw())
    }
}

/// Reads and removes a pid file runc wrote.
fn read_pid(id: &str, pid_file: &Path) -> Result<i32, Error> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| Error::Io {
        path: pid_file.to_owned(),
        source: e,
    })?;
    let _ = std::fs::remove_file(pid_file);
    text.trim()
        .parse()
        .map_err(|e| runtime_err(id, "runc pid file", e))
}

/// The `runc` binary.
#[derive(Debug)]
pub struct Runc {
    /// The program.
    pub program: PathBuf,
    /// State directory (`--root`).
    pub root: PathBuf,
}

impl Default for Runc {
    fn default() -> Self {
        Runc {
            program: PathBuf::from("runc"),
            root: PathBuf::from("/run/runc"),
        }
    }
}

impl Runc {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.arg("--root").arg(&self.root);
        c
    }

    /// `runc <what> <flags> --pid-file F <id> <args>` with the container's streams; returns
    /// the pid runc wrote.
    fn spawn_with_io(
        &self,
        id: &str,
        what: &str,
        flags: &[&str],
        args: &[String],
        io: Io,
    ) -> Result<i32, Error> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::Io {
            path: self.root.clone(),
            source: e,
        })?;
        let pid_file = self.root.join(format!("{id}.{what}.pid"));
        let status = self
            .command()
            .arg(what)
            .args(flags)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .args(args)
            .stdin(Stdio::from(io.stdin))
            .stdout(Stdio::from(io.stdout))
            .stderr(Stdio::from(io.stderr))
            .status()
            .map_err(|e| runtime_err(id, &format!("runc {what}"), e))?;
        if !status.success() {
            return Err(runtime_err(id, &format!("runc {what}"), status));
        }
        read_pid(id, &pid_file)
    }

    fn run(&self, id: &str, what: &str, args: &[&str]) -> Result<(), Error> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| runtime_err(id, &format!("runc {what}"), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(runtime_err(
                id,
                &format!("runc {what}"),
                String::from_utf8_lossy(&out.stderr).trim(),
            ))
        }
    }
}

impl Runtime for Runc {
    fn name(&self) -> &'static str {
        "runc"
    }

    fn create(&self, id: &str, bundle: &Path, io: Io) -> Result<i32, Error> {
        let bundle = bundle.display().to_string();
        self.spawn_with_io(id, "create", &["--bundle", &bundle], &[], io)
    }

    fn start(&self, id: &str) -> Result<(), Error> {
        self.run(id, "start", &["start", id])
    }

    fn kill(&self, id: &str, signal: i32) -> Result<(), Error> {
        self.run(id, "kill", &["kill", "--all", id, &signal.to_string()])
    }

    fn delete(&self, id: &str) -> Result<(), Error> {
        self.run(id, "delete", &["delete", "--force", id])
    }

    fn exec(&self, id: &str, args: &[String], io: Io) -> Result<i32, Error> {
        self.spawn_with_io(id, "exec", &["--detach"], args, io)
    }
}
