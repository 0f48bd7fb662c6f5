//! The services daemon. Starts every bundle of `/containers/services` (name order, no
//! waiting for readiness, as in LinuxKit), restarts a service that fails (non-zero exit or
//! killed by a signal) after a backoff that doubles from 1 s up to 30 s and starts again from
//! 1 s once a run lasted 10 s, leaves one that exits 0 alone, and answers the control socket.
//! Stopping is SIGTERM, then SIGKILL after 10 s (LinuxKit sends SIGKILL at once).
//!
//! Single-threaded on purpose: libcontainer clones the process to create a container, and a
//! clone of a multi-threaded process may inherit a lock another thread holds.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::control::{Request, Response, Status};
use crate::logs::Backend;
use crate::prepare::{self, Cgroups};
use crate::runtime::{Io, Runtime};
use crate::{Error, bundle, logs, mountpoints, reap, say};

/// The containerd namespace LinuxKit puts services in (our cgroup group for them).
pub const DEFAULT_NAMESPACE: &str = "services.linuxkit";

/// The restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
    /// A run at least this long resets the delay to `base`.
    pub reset_after: Duration,
    /// How long `stop` waits after SIGTERM before SIGKILL.
    pub grace: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(10),
            grace: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The delay before restart number `n` (0-based) of a crash loop.
    pub fn delay(&self, n: u32) -> Duration {
        self.base
            .saturating_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX))
            .min(self.max)
    }
}

/// Where a service is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Its init process runs.
    Running {
        /// The pid.
        pid: i32,
        /// Since.
        since: Instant,
    },
    /// Failed; starts again at `at`.
    Restarting {
        /// When.
        at: Instant,
    },
    /// Exited 0 (not restarted).
    Exited,
    /// Stopped by the control CLI or shutdown.
    Stopped,
    /// Could not be started (bad bundle); retried with backoff too.
    Failed(String),
}

#[derive(Debug)]
struct Service {
    bundle: PathBuf,
    state: State,
    restarts: u32,
    crash_loop: u32,
    last_exit: Option<i32>,
    wanted: bool,
    started_once: bool,
}

/// The daemon's state.
pub struct Supervisor {
    rt: Box<dyn Runtime>,
    services: BTreeMap<String, Service>,
    backend: Backend,
    cgroups: Cgroups,
    policy: Backoff,
    state_dir: PathBuf,
    first_start_logged: bool,
    init_start: Option<f64>,
    /// Running execs and the connection waiting for each one's exit code.
    execs: BTreeMap<i32, UnixStream>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("runtime", &self.rt.name())
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor for the bundles in `dir` (not started yet).
    pub fn new(
        rt: Box<dyn Runtime>,
        dir: &Path,
        backend: Backend,
        policy: Backoff,
        state_dir: &Path,
    ) -> Supervisor {
        let names = bundle::list(dir);
        let services = names
            .into_iter()
            .map(|n| {
                let s = Service {
                    bundle: dir.join(&n),
                    state: State::Stopped,
                    restarts: 0,
                    crash_loop: 0,
                    last_exit: None,
                    wanted: true,
                    started_once: false,
                };
                (n, s)
            })
            .collect();
        Supervisor {
            rt,
            services,
            backend,
            cgroups: Cgroups::detect(),
            policy,
            state_dir: state_dir.to_owned(),
            first_start_logged: false,
            init_start: std::env::var("LINUXKIT_INIT_UPTIME")
                .ok()
                .and_then(|v| v.parse().ok()),
            execs: BTreeMap::new(),
        }
    }

    /// Starts every service (name order); a failure is logged and retried with backoff.
    pub fn start_all(&mut self) {
        let names: Vec<String> = self.services.keys().cloned().collect();
        for n in names {
            self.launch(&n);
        }
    }

    fn launch(&mut self, name: &str) {
        let t = Instant::now();
        match self.try_start(name) {
            Ok(pid) => {
                let mut msg = format!("started {name} (pid {pid}, {} ms)", t.elapsed().as_millis());
                if !self.first_start_logged {
                    self.first_start_logged = true;
                    if let Some(start) = self.init_start {
                        msg.push_str(&format!(
                            "; first service running {:.0} ms after /init started",
                            (crate::uptime() - start) * 1000.0
                        ));
                    }
                }
                say(&msg);
                if let Some(s) = self.services.get_mut(name) {
                    s.state = State::Running {
                        pid,
                        since: Instant::now(),
                    };
                }
            }
            Err(e) => {
                say(&format!("{name}: {e}"));
                // Listed as failed, then retried by `tick` with the crash backoff.
                if let Some(s) = self.services.get_mut(name) {
                    s.state = State::Failed(e.to_string());
                    s.crash_loop += 1;
                }
            }
        }
    }

    fn try_start(&mut self, name: &str) -> Result<i32, Error> {
        let svc = self
            .services
            .get_mut(name)
            .ok_or_else(|| Error::Usage(format!("no service {name:?}")))?;
        svc.wanted = true;
        let dir = svc.bundle.clone();
        if svc.started_once {
            prepare::release_rootfs(&dir, name);
        }
        svc.started_once = true;
        let _ = self.rt.delete(name);
        let config = crate::runtime_json::load(&dir)?;
        prepare::apply(
            &prepare::filesystem_plan(&dir, &config, &self.cgroups),
            &mut |m| say(&m),
        )?;
        let group = if config.namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            &config.namespace
        };
        let spec = bundle::spec_for(&dir, group, name)?;
        mountpoints::provide(&spec, name, &mut |m| say(&m))?;
        let run_dir = bundle::write(&self.state_dir, name, &spec)?;
        let streams = self.backend.open(name)?;
        let pid = self.rt.create(
            name,
            &run_dir,
            Io {
                stdin: logs::null()?,
                stdout: streams.out,
                stderr: streams.err,
            },
        )?;
        let started = prepare::process_plan(&config, pid)
            .and_then(|plan| prepare::apply(&plan, &mut |m| say(&m)))
            .and_then(|()| self.rt.start(name));
        if let Err(e) = started {
            let _ = self.rt.kill(name, nix::sys::signal::Signal::SIGKILL as i32);
            let _ = reap::wait_for(pid);
            let _ = self.rt.delete(name);
            return Err(e);
        }
        Ok(pid)
    }

    /// Records the exit of `pid` (if it is a service) and schedules a restart by the policy.
    pub fn on_exit(&mut self, pid: i32, code: i32) {
        let policy = self.policy;
        let Some((name, svc)) = self
            .services
            .iter_mut()
            .find(|(_, s)| matches!(s.state, State::Running { pid: p, .. } if p == pid))
        else {
            return;
        };
        let ran = match svc.state {
            State::Running { since, .. } => since.elapsed(),
            _ => Duration::ZERO,
        };
        svc.last_exit = Some(code);
        let _ = self.rt.delete(name);
        if !svc.wanted {
            svc.state = State::Stopped;
            say(&format!("{name} stopped (status {code})"));
        } else if code == 0 {
            svc.state = State::Exited;
            say(&format!("{name} exited with status 0; not restarted"));
        } else {
            if ran >= policy.reset_after {
                svc.crash_loop = 0;
            }
            let delay = policy.delay(svc.crash_loop);
            svc.crash_loop += 1;
            svc.state = State::Restarting {
                at: Instant::now() + delay,
            };
            say(&format!(
                "{name} exited with status {code}; restarting in {} ms",
                delay.as_millis()
            ));
        }
    }

    /// Restarts what is due; returns how long until the next restart is due.
    pub fn tick(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let policy = self.policy;
        // A failed start is retried with the same backoff as a crash.
        for s in self.services.values_mut() {
            if let State::Failed(_) = s.state
                && s.wanted
            {
                let delay = policy.delay(s.crash_loop.saturating_sub(1));
                s.state = State::Restarting { at: now + delay };
            }
        }
        let due: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| matches!(s.state, State::Restarting { at } if at <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for n in due {
            if let Some(s) = self.services.get_mut(&n) {
                s.restarts += 1;
            }
            self.launch(&n);
        }
        self.services
            .values()
            .filter_map(|s| match s.state {
                State::Restarting { at } => Some(at.saturating_duration_since(Instant::now())),
                _ => None,
            })
            .min()
    }

    fn pid_of(&self, name: &str) -> Option<i32> {
        match self.services.get(name)?.state {
            State::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    fn reap(&mut self) {
        for (pid, code) in reap::exited() {
            match self.execs.remove(&pid) {
                Some(conn) => crate::control::write_response(
                    &conn,
                    &Response {
                        exit_code: Some(code),
                        ..self.answer(Vec::new())
                    },
                ),
                None => self.on_exit(pid, code),
            }
        }
    }

    fn answer(&self, services: Vec<Status>) -> Response {
        Response {
            ok: true,
            error: String::new(),
            services,
            runtime: self.rt.name().to_owned(),
            exit_code: None,
        }
    }

    /// Starts an exec with the client's streams; the connection gets its exit code later.
    fn exec(
        &mut self,
        name: &str,
        args: &[String],
        fds: Vec<std::os::fd::OwnedFd>,
        conn: UnixStream,
    ) {
        let result = self
            .known(name)
            .and_then(|()| {
                self.pid_of(name)
                    .map(|_| ())
                    .ok_or_else(|| Response::error(format!("service {name:?} is not running")))
            })
            .and_then(|()| {
                let [stdin, stdout, stderr]: [std::os::fd::OwnedFd; 3] =
                    fds.try_into().map_err(|_| {
                        Response::error("exec needs stdin, stdout and stderr with the request")
                    })?;
                self.rt
                    .exec(
                        name,
                        args,
                        Io {
                            stdin,
                            stdout,
                            stderr,
                        },
                    )
                    .map_err(Response::error)
            });
        match result {
            Ok(pid) => {
                self.execs.insert(pid, conn);
            }
            Err(r) => crate::control::write_response(&conn, &r),
        }
    }

    /// Stops the named services: SIGTERM to all, SIGKILL to what still runs after the grace
    /// period; they stay stopped.
    pub fn stop(&mut self, names: &[String]) {
        for n in names {
            if let Some(s) = self.services.get_mut(n) {
                s.wanted = false;
                if !matches!(s.state, State::Running { .. }) {
                    s.state = State::Stopped;
                }
            }
        }
        let running = |sv: &Supervisor| -> Vec<String> {
            names
                .iter()
                .filter(|n| sv.pid_of(n).is_some())
                .cloned()
                .collect()
        };
        for n in running(self) {
            let _ = self.rt.kill(&n, nix::sys::signal::Signal::SIGTERM as i32);
        }
        let deadline = Instant::now() + self.policy.grace;
        while !running(self).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            self.reap();
        }
        for n in running(self) {
            say(&format!("{n} did not stop after SIGTERM: killing it"));
            if self
                .rt
                .kill(&n, nix::sys::signal::Signal::SIGKILL as i32)
                .is_err()
                && let Some(pid) = self.pid_of(&n)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        while !running(self).is_empty() {
            std::thread::sleep(Duration::from_millis(20));
            self.reap();
        }
    }

    /// The statuses for `service list`.
    pub fn statuses(&self) -> Vec<Status> {
        self.services
            .iter()
            .map(|(name, s)| {
                let (state, pid, detail) = match &s.state {
                    State::Running { pid, since } => (
                        "running",
                        Some(*pid),
                        format!("up {}s", since.elapsed().as_secs()),
                    ),
                    State::Restarting { at } => (
                        "restarting",
                        None,
                        format!(
                            "last status {}, next start in {} ms",
                            s.last_exit.unwrap_or(0),
                            at.saturating_duration_since(Instant::now()).as_millis()
                        ),
                    ),
                    State::Exited => ("exited", None, "status 0".to_owned()),
                    State::Stopped => (
                        "stopped",
                        None,
                        s.last_exit
                            .map(|c| format!("last status {c}"))
                            .unwrap_or_default(),
                    ),
                    State::Failed(e) => ("failed", None, e.clone()),
                };
                Status {
                    name: name.clone(),
                    state: state.to_owned(),
                    pid,
                    restarts: s.restarts,
                    detail,
                }
            })
            .collect()
    }

    fn known(&self, name: &str) -> Result<(), Response> {
        if self.services.contains_key(name) {
            Ok(())
        } else {
            Err(Response::error(format!(
                "no service {name:?} (services: {})",
                self.services.keys().cloned().collect::<Vec<_>>().join(", ")
            )))
        }
    }

    /// Answers one request; the bool says the daemon should exit.
    pub fn handle(&mut self, req: &Request) -> (Response, bool) {
        let one = |sv: &Supervisor, name: &str| {
            sv.answer(
                sv.statuses()
                    .into_iter()
                    .filter(|s| s.name == name)
                    .collect(),
            )
        };
        let result = match req {
            Request::List => Ok(self.answer(self.statuses())),
            Request::Start { name } => self.known(name).map(|()| {
                if self.pid_of(name).is_none() {
                    if let Some(s) = self.services.get_mut(name) {
                        s.crash_loop = 0;
                    }
                    self.launch(name);
                }
                one(self, name)
            }),
            Request::Stop { name } => self.known(name).map(|()| {
                self.stop(std::slice::from_ref(name));
                one(self, name)
            }),
            Request::Restart { name } => self.known(name).map(|()| {
                self.stop(std::slice::from_ref(name));
                if let Some(s) = self.services.get_mut(name) {
                    s.crash_loop = 0;
                    s.restarts += 1;
                }
                self.launch(name);
                one(self, name)
            }),
            Request::Exec { .. } => Err(Response::error(
                "exec requests come with their streams over the control socket",
            )),
            Request::Shutdown => {
                let all: Vec<String> = self.services.keys().cloned().collect();
                self.stop(&all);
                return (self.answer(self.statuses()), true);
            }
        };
        let mut r = result.unwrap_or_else(|e| e);
        if r.ok
            && let Some(s) = r.services.first()
            && s.state == "failed"
        {
            r.ok = false;
            r.error = s.detail.clone();
        }
        (r, false)
    }

    /// Serves until a shutdown request or SIGTERM (then every service is stopped).
    pub fn serve(&mut self, listener: &UnixListener) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Control(e.to_string());
        let (wake_r, wake_w) = UnixStream::pair().map_err(io)?;
        wake_r.set_nonblocking(true).map_err(io)?;
        let term = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGCHLD, signal_hook::consts::SIGTERM] {
            signal_hook::low_level::pipe::register(sig, wake_w.try_clone().map_err(io)?)
                .map_err(io)?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&term)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        loop {
            self.reap();
            if term.load(Ordering::Relaxed) {
                say("SIGTERM: stopping every service");
                let all: Vec<String> = self.services.keys().cloned().collect();
                self.stop(&all);
                return Ok(());
            }
            let next = self.tick();
            loop {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let (resp, exit) = match crate::control::read_request(&conn) {
                            Ok((Request::Exec { name, args }, fds)) => {
                                self.exec(&name, &args, fds, conn);
                                continue;
                            }
                            Ok((req, _)) => self.handle(&req),
                            Err(e) => (Response::error(e), false),
                        };
                        crate::control::write_response(&conn, &resp);
                        if exit {
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io(e)),
                }
            }
            let timeout = next.map_or(PollTimeout::NONE, |d| {
                PollTimeout::try_from(d.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            });
            let mut fds = [
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(wake_r.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut fds, timeout);
            let mut buf = [0u8; 64];
            while std::io::Read::read(&mut &wake_r, &mut buf).is_ok_and(|n| n > 0) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::process::Command;
    use std::rc::Rc;

    /// A runtime whose "containers" are shell commands: `create` spawns `sh -c <script>`
    /// where the script is the bundle's `config.json` process args' last word.
    struct ShellRuntime {
        calls: Rc<RefCell<Vec<String>>>,
    }

    impl Runtime for ShellRuntime {
        fn name(&self) -> &'static str {
            "shell"
        }
        fn create(&self, id: &str, bundle: &Path, _io: Io) -> Result<i32, Error> {
            self.calls.borrow_mut().push(format!("create {id}"));
            let spec = oci_spec::runtime::Spec::load(bundle.join("config.json")).unwrap();
            let script = spec.process().as_ref().unwrap().args().as_ref().unwrap()[2].clone();
            #[allow(clippy::zombie_processes)] // the supervisor under test reaps it
            let child = Command::new("sh").arg("-c").arg(script).spawn().unwrap();
            Ok(child.id() as i32)
        }
        fn start(&self, id: &str) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("start {id}"));
            Ok(())
        }
        fn kill(&self, id: &str, signal: i32) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("kill {id} {signal}"));
            Ok(())
        }
        fn delete(&self, id: &str) -> Result<(), Error> {
            self.calls.borrow_mut().push(format!("delete {id}"));
            Ok(())
        }
        fn exec(&self, id: &str, _args: &[String], _io: Io) -> Result<i32, Error> {
            Err(Error::Usage(format!("no exec in {id}")))
        }
    }

    fn bundle(dir: &Path, name: &str, script: &str) {
        let b = dir.join(name);
        std::fs::create_dir_all(&b).unwrap();
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh", "-c", script], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {}
        });
        std::fs::write(b.join("config.json"), config.to_string()).unwrap();
    }

    fn wait_until(sv: &mut Supervisor, what: &str, f: impl Fn(&Supervisor) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f(sv) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                sv.statuses()
            );
            std::thread::sleep(Duration::from_millis(20));
            sv.reap();
            sv.tick();
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(8));
        assert_eq!(b.delay(10), Duration::from_secs(30));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn crashing_services_restart_clean_exits_do_not_and_stop_is_term_then_done() {
        let dir = std::env::temp_dir().join(format!("lk-service-sup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let services = dir.join("services");
        bundle(&services, "crash", "exit 3");
        bundle(&services, "done", "exit 0");
        bundle(&services, "long", "sleep 30");
        let calls = Rc::new(RefCell::new(Vec::new()));
        let policy = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(200),
            reset_after: Duration::from_secs(10),
            grace: Duration::from_millis(300),
        };
        let mut sv = Supervisor::new(
            Box::new(ShellRuntime {
                calls: Rc::clone(&calls),
            }),
            &services,
            Backend::Files(dir.join("log")),
            policy,
            &dir.join("state"),
        );
        sv.start_all();
        let state =
            |sv: &Supervisor, n: &str| sv.statuses().into_iter().find(|s| s.name == n).unwrap();
        wait_until(&mut sv, "two restarts of crash", |sv| {
            state(sv, "crash").restarts >= 2
        });
        wait_until(&mut sv, "done to exit", |sv| {
            state(sv, "done").state == "exited"
        });
        assert_eq!(state(&sv, "long").state, "running");
        assert_eq!(state(&sv, "done").restarts, 0);
        // The fake runtime's kill only records the call, so deliver the signal here as a
        // real runtime would.
        let pid = state(&sv, "long").pid.unwrap();
        let (r, exit) = {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            sv.handle(&Request::Stop {
                name: "long".into(),
            })
        };
        assert!(!exit);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.services[0].state, "stopped");
        assert!(
            calls.borrow().contains(&"kill long 15".to_owned()),
            "{:?}",
            calls.borrow()
        );
        let (r, _) = sv.handle(&Request::Start {
            name: "nope".into(),
        });
        assert!(!r.ok && r.error.contains("no service \"nope\""), "{r:?}");
        let (r, _) = sv.handle(&Request::Start {
            name: "long".into(),
        });
        assert_eq!(r.services[0].state, "running", "{r:?}");
        let pid = r.services[0].pid.unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let (_, exit) = sv.handle(&Request::Shutdown);
        assert!(exit);
        assert!(sv.statuses().iter().all(|s| s.state != "running"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
