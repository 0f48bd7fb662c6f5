//! `/init`: PID 1 of LinuxKit images.
//!
//! Re-roots off the initramfs (so containers can pivot_root), then runs the boot steps
//! of the `lk_init` library (mounts, module coldplug, hostname) and `/etc/init.d/*` in name
//! order: the init package links `service` there, which runs the onboot containers and
//! starts the services supervisor. Afterwards it reaps orphans. SIGUSR2 (`poweroff`),
//! SIGTERM (`reboot`), SIGUSR1 (`halt`), SIGINT (ctrl-alt-del) and the ACPI power button shut down: `/etc/shutdown.d/*`
//! in name order (onshutdown containers, stopping the services), SIGTERM to everything, 5 s,
//! SIGKILL, sync, unmount disks, then the reboot syscall for that signal.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lk_guest_sys::{PowerAction, Real, Sys, uptime};
use lk_init::{reroot, shutdown};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

fn log(msg: &str) {
    let _ = writeln!(std::io::stderr(), "[{:>9.3}] init: {msg}", uptime());
}

fn console() -> Stdio {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
        .map_or_else(|_| Stdio::inherit(), Stdio::from)
}

/// Runs the scripts of a hook directory in order, each to completion.
fn run_hooks(scripts: &[String], started: f64) {
    for s in scripts {
        log(&format!("running {s}"));
        match Command::new(s)
            .env("LINUXKIT_INIT_UPTIME", format!("{started:.6}"))
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(Stdio::null())
            .stdout(console())
            .stderr(console())
            .status()
        {
            Ok(st) if !st.success() => log(&format!("{s} exited with {st}")),
            Err(e) => log(&format!("{s}: {e}")),
            _ => {}
        }
    }
}

/// Reaps every exited child; false once there are no children left.
fn reap_all() -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Err(Errno::ECHILD) => return false,
            Err(_) => return true,
            Ok(_) => {}
        }
    }
}

fn end(sys: &dyn Sys, action: PowerAction, started: f64) -> ! {
    log(&format!("shutting down ({})", shutdown::describe(action)));
    let hooks = sys
        .list("/etc/shutdown.d")
        .unwrap_or_default()
        .into_iter()
        .map(|n| format!("/etc/shutdown.d/{n}"))
        .collect::<Vec<_>>();
    run_hooks(&hooks, started);
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while reap_all() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    let _ = reap_all();
    sys.sync();
    for (target, lazy) in shutdown::unmounts(&sys.read("/proc/mounts").unwrap_or_default()) {
        let flags = if lazy {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        if let Err(e) = nix::mount::umount2(target.as_str(), flags) {
            log(&format!("umount {target}: {e}"));
        }
    }
    sys.sync();
    log(shutdown::describe(action));
    let _ = sys.reboot(action);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() {
    let start = Instant::now();
    let started = uptime();
    if std::process::id() != 1 {
        let _ = writeln!(
            std::io::stderr(),
            "init: must run as PID 1 (it mounts filesystems and powers the machine off)"
        );
        std::process::exit(1);
    }
    let sys = Real;
    if lk_init::mountroot::is_first_stage() {
        // The boot initrd of a root image: mount the root, run its own /init.
        let e = lk_init::mountroot::run(&sys, &mut |m| log(&m));
        log(&format!(
            "cannot boot the root image ({e}); powering off in 10 s"
        ));
        std::thread::sleep(Duration::from_secs(10));
        let _ = sys.reboot(PowerAction::PowerOff);
        std::process::exit(1);
    }
    match reroot::run() {
        Ok(true) => log("root re-mounted off the initramfs (containers can pivot_root)"),
        Ok(false) => {}
        Err(e) => log(&format!(
            "re-rooting off the initramfs failed: {e} (containers cannot pivot_root)"
        )),
    }
    let signals = Signals::new([SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2]);
    let scripts = lk_init::boot::run(&sys, &mut |m| log(&m));
    run_hooks(&scripts, started);
    // Modules for devices that appear from now on (started after the boot hooks so that
    // reading the module index does not compete with them; coldplug covered boot time).
    std::thread::spawn(|| {
        let sys = Real;
        let Some(dir) = lk_init::boot::modules_dir(&sys) else {
            return;
        };
        match lk_init::modules::ModuleIndex::load(&sys, &dir) {
            Ok(index) => {
                if let Err(e) = lk_init::hotplug::listen(&sys, &index, &mut |m| log(&m)) {
                    log(&format!("hotplug: {e}"));
                }
            }
            Err(e) => log(&format!("hotplug: reading {}: {e}", dir.display())),
        }
    });
    // The ACPI power button: a press is a clean poweroff (SIGUSR2 to ourselves).
    for dev in lk_init::powerbutton::devices(std::path::Path::new("/sys/class/input")) {
        std::thread::spawn(move || {
            if lk_init::powerbutton::wait_for_press(&dev).is_ok() {
                log("power button pressed");
                let _ = kill(Pid::from_raw(1), Signal::SIGUSR2);
            }
        });
    }
    log(&format!(
        "boot complete in {} ms",
        start.elapsed().as_millis()
    ));
    let Ok(mut signals) = signals else {
        log("cannot watch signals; powering off");
        end(&sys, PowerAction::PowerOff, started);
    };
    for sig in signals.forever() {
        if sig != SIGCHLD {
            end(&sys, shutdown::action_for(sig), started);
        }
        let _ = reap_all();
    }
}
