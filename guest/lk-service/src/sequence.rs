//! onboot and onshutdown: every bundle of the section in name order, each run to completion
//! before the next. A failing container is reported and the sequence goes on (its exit code
//! does not stop the boot, as in LinuxKit). Unlike LinuxKit, the output also reaches the
//! console while it goes to memlogd or the log files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::logs::Backend;
use crate::prepare::{self, Cgroups};
use crate::runtime::{Io, Runtime};
use crate::{Error, bundle, logs, mountpoints, reap, say};

/// One section to run.
#[derive(Debug)]
pub struct Sequence {
    /// `onboot` or `onshutdown`: the directory under `/containers`.
    pub section: String,
    /// Log names are `<log_prefix>.<id>` (`onboot`, `shutdown`).
    pub log_prefix: String,
    /// `/containers/<section>`.
    pub dir: PathBuf,
    /// Log directory when memlogd is not running (`/run/log/<log_prefix>`).
    pub log_dir: PathBuf,
}

impl Sequence {
    /// The section `onboot` or `onshutdown` under `containers`.
    pub fn new(containers: &Path, section: &str) -> Sequence {
        let log_prefix = if section == "onshutdown" {
            "shutdown"
        } else {
            section
        };
        Sequence {
            section: section.to_owned(),
            log_prefix: log_prefix.to_owned(),
            dir: containers.join(section),
            log_dir: Path::new("/run/log").join(log_prefix),
        }
    }

    /// The bundle names, sorted.
    pub fn bundles(&self) -> Vec<String> {
        bundle::list(&self.dir)
    }

    /// Runs them all; returns `(id, exit code or error)` for each.
    pub fn run(&self, rt: &dyn Runtime) -> Vec<(String, Result<i32, Error>)> {
        reap::become_subreaper();
        let backend = Backend::detect(&self.log_dir);
        let cgroups = Cgroups::detect();
        let mut results = Vec::new();
        for id in self.bundles() {
            let t = Instant::now();
            say(&format!("{}: starting {id}", self.section));
            let r = self.run_one(rt, &backend, &cgroups, &id);
            match &r {
                Ok(0) => say(&format!(
                    "{}: {id} done in {} ms",
                    self.section,
                    t.elapsed().as_millis()
                )),
                Ok(c) => say(&format!("{}: {id} exited with status {c}", self.section)),
                Err(e) => say(&format!("{}: {id} failed: {e}", self.section)),
            }
            results.push((id, r));
        }
        results
    }

    fn run_one(
        &self,
        rt: &dyn Runtime,
        backend: &Backend,
        cgroups: &Cgroups,
        id: &str,
    ) -> Result<i32, Error> {
        let dir = self.dir.join(id);
        let config = crate::runtime_json::load(&dir)?;
        prepare::apply(
            &prepare::filesystem_plan(&dir, &config, cgroups),
            &mut |m| {
                say(&m);
            },
        )?;
        let spec = bundle::spec_for(&dir, &self.section, id)?;
        mountpoints::provide(&spec, id, &mut |m| say(&m))?;
        let run_dir = bundle::write(Path::new(bundle::STATE), id, &spec)?;
        let sinks = backend.open(&format!("{}.{id}", self.log_prefix))?;
        let pipe = |what: &str| {
            std::io::pipe().map_err(|e| Error::Io {
                path: PathBuf::from(what),
                source: e,
            })
        };
        let (out_r, out_w) = pipe("stdout pipe")?;
        let (err_r, err_w) = pipe("stderr pipe")?;
        // The state of an earlier run of the same id (`service onboot` run by hand again).
        let _ = rt.delete(id);
        let pid = rt.create(
            id,
            &run_dir,
            Io {
                stdin: logs::null()?,
                stdout: out_w.into(),
                stderr: err_w.into(),
            },
        )?;
        // Copy threads start only after the clone above, and copy without allocating.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        for (from, to) in [(out_r, sinks.out), (err_r, sinks.err)] {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                lk_memlogd::client::tee(from, std::io::stderr(), Some(std::fs::File::from(to)));
                let _ = done.send(());
            });
        }
        drop(done_tx);
        let started = prepare::process_plan(&config, pid)
            .and_then(|plan| prepare::apply(&plan, &mut |m| say(&m)))
            .and_then(|()| rt.start(id));
        if let Err(e) = started {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = reap::wait_for(pid);
            prepare::cleanup(&dir, id);
            return Err(e);
        }
        let code = reap::wait_for(pid).map_err(|e| Error::Runtime {
            id: id.to_owned(),
            message: format!("waiting for it: {e}"),
        })?;
        // Let the copies finish (a background process that keeps the streams open must not
        // hold up the boot).
        let deadline = Instant::now() + Duration::from_secs(1);
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        prepare::cleanup(&dir, id);
        Ok(code)
    }
}
