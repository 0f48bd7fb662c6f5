//! `fdd`: see lk_tools::fdd.

use std::path::PathBuf;
use std::time::Duration;

use lk_tools::{fdd, say};

const USAGE: &str = "usage: fdd <command> [options]

Shares socketpairs over Unix sockets (MirageSDK's file-descriptor daemon).

  fdd init [-s SOCKET] [--share PATH]...   start the daemon (default socket /var/run/fdd.sock;
                                           --share offers PATH at once)
  fdd share [-s SOCKET] PATH               offer a new socketpair at PATH: the first two
                                           clients that connect get one end each
  fdd test PATH                            take both ends of PATH and send a line through
  fdd exec [--wait SECONDS] PATH -- CMD... take one end of PATH as CMD's stdin and stdout";

fn fail(msg: &str) -> ! {
    say("fdd", msg);
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        say("fdd", USAGE);
        std::process::exit(2);
    };
    let mut socket = PathBuf::from(fdd::DEFAULT_SOCKET);
    let mut shares = Vec::new();
    let mut wait = 30u64;
    let mut rest = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" | "--socket" => socket = it.next().map_or_else(|| fail(USAGE), PathBuf::from),
            "--share" => shares.push(it.next().map_or_else(|| fail(USAGE), PathBuf::from)),
            "--wait" => {
                wait = it
                    .next()
                    .and_then(|w| w.parse().ok())
                    .unwrap_or_else(|| fail("--wait takes a number of seconds"));
            }
            "--" => {
                rest.push("--".to_owned());
                rest.extend(it.by_ref().cloned());
            }
            "-h" | "--help" | "help" => {
                say("fdd", USAGE);
                return;
            }
            _ => rest.push(a.clone()),
        }
    }
    let r = match (cmd.as_str(), rest.as_slice()) {
        ("init", []) => {
            // SIGTERM/SIGINT (service stop, shutdown): remove the pid file and the socket.
            let (pid, sock) = (fdd::pid_file(&socket), socket.clone());
            let mut signals = signal_hook::iterator::Signals::new([
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGINT,
            ])
            .unwrap_or_else(|e| fail(&e.to_string()));
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    let _ = std::fs::remove_file(&pid);
                    let _ = std::fs::remove_file(&sock);
                    std::process::exit(0);
                }
            });
            fdd::serve(&socket, &shares, &mut || {
                say("fdd", &format!("listening on {}", socket.display()));
            })
        }
        ("share", [path]) => fdd::share(&socket, &PathBuf::from(path)),
        ("test", [path]) => fdd::test(&PathBuf::from(path)).map(|()| {
            say(
                "fdd",
                &format!("[SUCCESS] the socketpair shared on {path} works"),
            );
        }),
        ("exec", [path, dash, command @ ..]) if dash == "--" && !command.is_empty() => {
            match fdd::receive(&PathBuf::from(path), Duration::from_secs(wait)) {
                Ok(end) => {
                    use std::os::unix::process::CommandExt;
                    let out = end.try_clone().unwrap_or_else(|e| fail(&e.to_string()));
                    let e = std::process::Command::new(&command[0])
                        .args(&command[1..])
                        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(end)))
                        .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(out)))
                        .exec();
                    fail(&format!("{}: {e}", command[0]));
                }
                Err(e) => Err(e),
            }
        }
        ("-h" | "--help" | "help", _) => {
            say("fdd", USAGE);
            return;
        }
        _ => fail(USAGE),
    };
    if let Err(e) = r {
        fail(&e.to_string());
    }
}
