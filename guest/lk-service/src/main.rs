//! `service`: runs LinuxKit's containers inside the VM and controls them.
//!
//! Also called through symlinks in `/etc/init.d` and `/etc/shutdown.d`, as in LinuxKit: a name
//! containing `onboot` runs `service onboot`, `onshutdown` runs `service onshutdown`,
//! `stop-services` runs `service shutdown` and `services` runs `service system-init`.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use lk_service::control::{self, Request};
use lk_service::logs::Backend;
use lk_service::runtime;
use lk_service::sequence::Sequence;
use lk_service::supervisor::{Backoff, Supervisor};
use lk_service::{Error, say};

#[derive(Parser, Debug)]
#[command(
    name = "service",
    about = "Run and control LinuxKit's onboot, service and onshutdown containers",
    long_about = "Run and control LinuxKit's onboot, service and onshutdown containers.\n\n\
        The bundles come from the image's /containers directory. onboot and onshutdown \
        containers run one at a time to completion; services are kept running by a \
        supervisor (`service system-init`) that restarts a failing one with backoff and \
        answers `service list|start|stop|restart`. Output goes to memlogd (read it with \
        `service logs NAME` or logread) or, without memlogd, to /run/log and /var/log."
)]
struct Cli {
    /// OCI runtime: libcontainer (embedded youki) or runc. Default: the kernel command line's
    /// linuxkit.runtime=..., else libcontainer.
    #[arg(long, global = true, env = "LINUXKIT_RUNTIME")]
    runtime: Option<String>,
    /// The bundles' root directory.
    #[arg(long, global = true, default_value = "/containers")]
    containers: PathBuf,
    /// The supervisor's control socket.
    #[arg(long, global = true, default_value = control::SOCKET)]
    socket: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run /containers/onboot/* in name order, each to completion.
    Onboot,
    /// Run /containers/onshutdown/* in name order, each to completion.
    Onshutdown,
    /// Start the supervisor in the background and return once it answers (init.d).
    SystemInit,
    /// Run the supervisor in the foreground.
    Daemon,
    /// List the services and their state.
    #[command(visible_alias = "ls")]
    List,
    /// Start a stopped service.
    Start {
        /// Service name.
        name: String,
    },
    /// Stop a service (SIGTERM, SIGKILL after 10 s); it stays stopped.
    Stop {
        /// Service name.
        name: String,
    },
    /// Stop and start a service.
    Restart {
        /// Service name.
        name: String,
    },
    /// Print a container's output (memlogd, else the log files).
    Logs {
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        /// Service, or onboot/onshutdown container (e.g. 000-sysctl).
        name: String,
    },
    /// Run a command inside a running service (with this terminal).
    Exec {
        /// Service name.
        name: String,
        /// Command and arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Stop every service and the supervisor.
    Shutdown,
    /// (internal) In the mount namespace of PID: attach a clone of SOURCE on /dev, and/or
    /// make /dev read-only.
    #[command(hide = true)]
    AttachDev {
        /// The container's init process.
        pid: i32,
        /// The tree to clone (the host's /dev).
        source: Option<PathBuf>,
        /// Remount the container's /dev read-only (a read-only container's tmpfs).
        #[arg(long)]
        read_only: bool,
    },
}

fn runtime_name(cli: &Cli) -> String {
    cli.runtime
        .clone()
        .unwrap_or_else(|| lk_service::runtime_from_cmdline(&lk_service::cmdline()).to_owned())
}

fn out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn call(cli: &Cli, req: &Request) -> Result<control::Response, Error> {
    let r = control::call(&cli.socket, req)?;
    if r.ok {
        Ok(r)
    } else {
        Err(Error::Control(r.error))
    }
}

fn sequence(cli: &Cli, section: &str) -> Result<u8, Error> {
    let rt = runtime::by_name(&runtime_name(cli))?;
    let seq = Sequence::new(&cli.containers, section);
    let results = seq.run(rt.as_ref());
    say(&format!(
        "{section}: {} containers, {} failed",
        results.len(),
        results.iter().filter(|(_, r)| !matches!(r, Ok(0))).count()
    ));
    // Exit codes of the containers do not fail the boot.
    Ok(0)
}

fn daemon(cli: &Cli) -> Result<u8, Error> {
    let rt = runtime::by_name(&runtime_name(cli))?;
    let sock = Path::new(&cli.socket);
    if let Some(parent) = sock.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io {
            path: parent.to_owned(),
            source: e,
        })?;
    }
    let _ = std::fs::remove_file(sock);
    let listener = std::os::unix::net::UnixListener::bind(sock).map_err(|e| Error::Io {
        path: sock.to_owned(),
        source: e,
    })?;
    lk_service::reap::become_subreaper();
    let backend = Backend::detect(Path::new("/var/log"));
    let name = rt.name();
    let mut sv = Supervisor::new(
        rt,
        &cli.containers.join("services"),
        backend,
        Backoff::default(),
        Path::new(lk_service::bundle::STATE),
    );
    say(&format!(
        "supervisor up ({name}, logs to {}, control socket {})",
        Backend::detect(Path::new("/var/log")).describe(),
        cli.socket
    ));
    sv.start_all();
    sv.serve(&listener)?;
    say("supervisor stopped");
    Ok(0)
}

fn system_init(cli: &Cli) -> Result<u8, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::Io {
        path: "/proc/self/exe".into(),
        source: e,
    })?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--containers")
        .arg(&cli.containers)
        .arg("--socket")
        .arg(&cli.socket)
        .arg("--runtime")
        .arg(runtime_name(cli))
        .arg("daemon")
        .stdin(std::process::Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| Error::Io {
        path: "service daemon".into(),
        source: e,
    })?;
    // Ready once it answers; it starts the services before it listens, so this also waits
    // for every service to be started.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if control::call(&cli.socket, &Request::List).is_ok() {
            return Ok(0);
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(Error::Control(format!("the supervisor exited: {st}")));
        }
        if Instant::now() > deadline {
            return Err(Error::Control(
                "the supervisor did not answer in 120 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn logs(name: &str, follow: bool) -> Result<u8, Error> {
    // `<name>` and `<name>.out` for services; `onboot.<NNN>-<name>[.out]` (and shutdown.)
    // for onboot and onshutdown containers, named with or without their number.
    let matches = |source: &str| {
        let base = source.strip_suffix(".out").unwrap_or(source);
        base == name
            || base.rsplit_once('.').is_some_and(|(_, id)| {
                id == name
                    || id.split_once('-').is_some_and(|(n, rest)| {
                        n.bytes().all(|b| b.is_ascii_digit()) && rest == name
                    })
            })
    };
    let stdout = std::io::stdout();
    if Path::new(lk_memlogd::QUERY_SOCKET).exists() {
        let mode = if follow {
            lk_memlogd::Mode::DumpFollow
        } else {
            lk_memlogd::Mode::Dump
        };
        let mut lock = stdout.lock();
        lk_memlogd::client::query(lk_memlogd::QUERY_SOCKET, mode, &mut |e| {
            !matches(&e.source) || (writeln!(lock, "{}", e.msg).is_ok() && lock.flush().is_ok())
        })
        .map_err(Error::Control)?;
        return Ok(0);
    }
    // Files: services in /var/log, onboot/onshutdown in /run/log/{onboot,shutdown}.
    let mut files = Vec::new();
    for (dir, prefix) in [
        ("/var/log", String::new()),
        ("/run/log/onboot", "onboot.".to_owned()),
        ("/run/log/shutdown", "shutdown.".to_owned()),
    ] {
        for suffix in [".out.log", ".log"] {
            let p = Path::new(dir).join(format!("{prefix}{name}{suffix}"));
            if p.is_file() {
                files.push(p);
            }
        }
    }
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "no logs for {name:?}: memlogd is not running and no /var/log/{name}.log"
        )));
    }
    let mut offsets = vec![0u64; files.len()];
    loop {
        for (f, off) in files.iter().zip(offsets.iter_mut()) {
            if let Ok(data) = std::fs::read(f) {
                let start = usize::try_from(*off).unwrap_or(0).min(data.len());
                let _ = stdout.lock().write_all(&data[start..]);
                *off = data.len() as u64;
            }
        }
        if !follow {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run(cli: &Cli) -> Result<u8, Error> {
    match &cli.command {
        Cmd::Onboot => sequence(cli, "onboot"),
        Cmd::Onshutdown => sequence(cli, "onshutdown"),
        Cmd::SystemInit => system_init(cli),
        Cmd::Daemon => daemon(cli),
        Cmd::List => {
            let r = call(cli, &Request::List)?;
            out(&control::table(&r.services));
            Ok(0)
        }
        Cmd::Start { name } => call(cli, &Request::Start { name: name.clone() }).map(|r| {
            out(&control::table(&r.services));
            0
        }),
        Cmd::Stop { name } => call(cli, &Request::Stop { name: name.clone() }).map(|r| {
            out(&control::table(&r.services));
            0
        }),
        Cmd::Restart { name } => call(cli, &Request::Restart { name: name.clone() }).map(|r| {
            out(&control::table(&r.services));
            0
        }),
        Cmd::Logs { follow, name } => logs(name, *follow),
        Cmd::Exec { name, command } => {
            // The supervisor runs it (from the root namespaces, where the container's cgroup
            // is writable) with our terminal, and answers with its exit code.
            let r = control::call_with_fds(
                &cli.socket,
                &Request::Exec {
                    name: name.clone(),
                    args: command.clone(),
                },
                &[
                    std::io::stdin().as_fd(),
                    std::io::stdout().as_fd(),
                    std::io::stderr().as_fd(),
                ],
            )?;
            if !r.ok {
                return Err(Error::Control(r.error));
            }
            Ok(r.exit_code.map_or(1, |c| u8::try_from(c).unwrap_or(1)))
        }
        Cmd::Shutdown => {
            if !Path::new(&cli.socket).exists() {
                return Ok(0); // no supervisor: nothing to stop
            }
            call(cli, &Request::Shutdown).map(|_| 0)
        }
        Cmd::AttachDev {
            pid,
            source,
            read_only,
        } => {
            lk_service::devbind::attach_here(*pid, source.as_deref(), *read_only).map_err(|e| {
                Error::Io {
                    path: source.clone().unwrap_or_else(|| PathBuf::from("/dev")),
                    source: e,
                }
            })?;
            Ok(0)
        }
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .unwrap_or_default();
    let implied = if argv0.contains("onshutdown") {
        Some("onshutdown")
    } else if argv0.contains("stop-services") {
        Some("shutdown")
    } else if argv0.contains("onboot") {
        Some("onboot")
    } else if argv0.contains("services") {
        Some("system-init")
    } else {
        None
    };
    if let Some(sub) = implied {
        args.truncate(1);
        args.push(sub.to_owned());
    }
    let cli = Cli::parse_from(args);
    // libcontainer reports the cause of a failure (a mount, a missing file) through tracing;
    // its warnings (controllers it does not manage, no seccomp support) only with
    // linuxkit.runc_debug=1. What its container-side code logs lands in the container's log.
    let debug = lk_service::cmdline()
        .split_whitespace()
        .any(|w| w == "linuxkit.runc_debug=1");
    let _ = tracing_subscriber::fmt()
        .with_max_level(if debug {
            tracing::Level::DEBUG
        } else {
            tracing::Level::ERROR
        })
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "service: {e}");
            ExitCode::from(1)
        }
    }
}
