//! `/init`: PID 1 of LinuxKit images.
//!
//! Boot steps (mounts, module coldplug, hostname, /etc/init.d) come from the `lk_init`
//! library. After them, until the service supervisor lands, init keeps a login shell on the
//! console (respawned when it exits). It reaps every orphan, and on SIGTERM, SIGINT, SIGUSR1 or
//! SIGUSR2 (what `poweroff`/`reboot` send) stops all processes, syncs and powers off.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lk_guest_sys::{Real, Sys};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

fn log(start: Instant, msg: &str) {
    let t = start.elapsed().as_secs_f64();
    let _ = writeln!(std::io::stderr(), "[{t:>9.3}] init: {msg}");
}

fn console() -> Stdio {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
        .map_or_else(|_| Stdio::inherit(), Stdio::from)
}

fn shell() -> Option<Child> {
    let (program, args): (&str, &[&str]) = if std::path::Path::new("/bin/busybox").exists() {
        ("/bin/busybox", &["setsid", "-c", "/bin/sh", "-l"])
    } else if std::path::Path::new("/bin/sh").exists() {
        ("/bin/sh", &["-l"])
    } else {
        return None;
    };
    Command::new(program)
        .args(args)
        .env("HOME", "/root")
        .env("TERM", "linux")
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(console())
        .stdout(console())
        .stderr(console())
        .spawn()
        .ok()
}

fn shutdown(start: Instant, sys: &dyn Sys) -> ! {
    log(start, "shutting down");
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    sys.sync();
    log(start, "power off");
    let _ = sys.power_off();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() {
    let start = Instant::now();
    if std::process::id() != 1 {
        let _ = writeln!(
            std::io::stderr(),
            "init: must run as PID 1 (it mounts filesystems and powers the machine off)"
        );
        std::process::exit(1);
    }
    let sys = Real;
    let signals = Signals::new([SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2]);
    let scripts = lk_init::boot::run(&sys, &mut |m| log(start, &m));
    for s in scripts {
        log(start, &format!("running {s}"));
        match Command::new(&s)
            .stdin(Stdio::null())
            .stdout(console())
            .stderr(console())
            .status()
        {
            Ok(st) if !st.success() => log(start, &format!("{s} exited with {st}")),
            Err(e) => log(start, &format!("{s}: {e}")),
            _ => {}
        }
    }
    log(
        start,
        &format!("boot complete in {} ms", start.elapsed().as_millis()),
    );
    let mut console_shell = shell();
    if console_shell.is_none() {
        log(start, "no /bin/sh: nothing to run on the console");
    }
    let Ok(mut signals) = signals else {
        log(start, "cannot watch signals; powering off");
        shutdown(start, &sys);
    };
    for sig in signals.forever() {
        if sig != SIGCHLD {
            shutdown(start, &sys);
        }
        // Reap every exited child (orphans included).
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => {
                    let pid = status.pid().map(Pid::as_raw);
                    if console_shell
                        .as_ref()
                        .is_some_and(|c| Some(c.id() as i32) == pid)
                    {
                        console_shell = shell();
                    }
                }
            }
        }
    }
}
