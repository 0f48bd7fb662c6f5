//! trim-after-delete: runs a command (normally `fstrim /var/lib/docker`) after Docker
//! deletes images, containers or volumes, once per batch: the first deletion starts a
//! `delay` (10 s) wait, every deletion during it joins the same run. A deletion while the
//! command runs gets a run of its own afterwards (LinuxKit's drops it).

use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::docker::Event;
use crate::say;

/// The events that free disk space.
pub fn frees_space(e: &Event) -> bool {
    matches!(
        (e.kind.as_str(), e.action.as_str()),
        ("image", "delete")
            | ("image", "prune")
            | ("container", "destroy")
            | ("container", "prune")
            | ("volume", "destroy")
            | ("volume", "prune")
            | ("builder", "prune")
    )
}

/// Runs `command` at most `delay` after the first of a batch of signals on `rx`; returns
/// when the sender is gone. `run` is called instead of spawning when given (tests).
pub fn debounce(rx: &Receiver<()>, delay: Duration, run: &mut dyn FnMut()) {
    while rx.recv().is_ok() {
        let deadline = Instant::now() + delay;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(()) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    run();
                    return;
                }
            }
        }
        run();
    }
}

/// Runs the command, logging what happened.
pub fn run_command(command: &[String]) {
    let line = command.join(" ");
    say("trim-after-delete", &format!("Running {line}"));
    match Command::new(&command[0]).args(&command[1..]).output() {
        Ok(o) if o.status.success() => {
            let out = String::from_utf8_lossy(&o.stdout);
            say("trim-after-delete", &format!("{line}: done {}", out.trim()));
        }
        Ok(o) => say(
            "trim-after-delete",
            &format!(
                "{line} failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ),
        Err(e) => say("trim-after-delete", &format!("{line}: {e}")),
    }
}

/// Follows the engine at `socket` for ever (reconnecting every second when it is not
/// there), signalling `tx` for each event that frees space.
pub fn follow(socket: &Path, tx: &Sender<()>) {
    let mut connected_once = false;
    loop {
        match crate::docker::events(socket, "/v1.24/events", "trim-after-delete") {
            Ok(events) => {
                say("trim-after-delete", "(Re-)connected to the Docker daemon");
                connected_once = true;
                for e in events {
                    match e {
                        Ok(e) if frees_space(&e) => {
                            say(
                                "trim-after-delete",
                                &format!("{} {}: will run the command", e.kind, e.action),
                            );
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            say("trim-after-delete", &format!("event stream: {e}"));
                            break;
                        }
                    }
                }
            }
            Err(e) if !connected_once => {
                say(
                    "trim-after-delete",
                    &format!("{}: {e}: will retry in 1s", socket.display()),
                );
                connected_once = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The whole program: follow `socket`, run `command` per batch.
///
/// SIGTERM/SIGINT end it at once (it runs as a container's PID 1, which has no default
/// handlers).
pub fn main_loop(socket: &Path, delay: Duration, command: Vec<String>) {
    crate::exit_on_term();
    let (tx, rx) = channel();
    let socket = socket.to_path_buf();
    std::thread::spawn(move || follow(&socket, &tx));
    debounce(&rx, delay, &mut || run_command(&command));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_within_the_delay_runs_once_and_a_later_one_again() {
        let (tx, rx) = channel();
        let runs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let r2 = std::sync::Arc::clone(&runs);
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            debounce(&rx, Duration::from_millis(300), &mut || {
                r2.lock().unwrap().push(start.elapsed());
            });
        });
        for _ in 0..3 {
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(600));
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(tx);
        t.join().unwrap();
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(runs[0] >= Duration::from_millis(300) && runs[0] < Duration::from_millis(500));
    }

    #[test]
    fn which_events_count() {
        let e = |k: &str, a: &str| Event {
            kind: k.into(),
            action: a.into(),
        };
        assert!(frees_space(&e("image", "delete")));
        assert!(frees_space(&e("volume", "destroy")));
        assert!(!frees_space(&e("image", "untag")));
        assert!(!frees_space(&e("container", "start")));
    }
}
