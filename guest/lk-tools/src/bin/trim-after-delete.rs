//! `trim-after-delete`: see lk_tools::trim.

use std::path::PathBuf;
use std::time::Duration;

use lk_tools::say;

const USAGE: &str =
    "usage: trim-after-delete [--delay 10s] [--docker-socket /var/run/docker.sock] -- COMMAND...

Follows the Docker engine's events and runs COMMAND (e.g. /sbin/fstrim /var/lib/docker) at
most DELAY after images, containers or volumes are deleted: a batch of deletions within
DELAY gives one run; deletions while it runs give one more afterwards.";

fn duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(m) = s.strip_suffix('m') {
        return m
            .parse::<f64>()
            .ok()
            .map(|m| Duration::from_secs_f64(m * 60.0));
    }
    s.strip_suffix('s')
        .unwrap_or(s)
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

fn fail(msg: &str) -> ! {
    say("trim-after-delete", msg);
    std::process::exit(2);
}

fn main() {
    let mut delay = Duration::from_secs(10);
    let mut socket = PathBuf::from("/var/run/docker.sock");
    let mut args = std::env::args().skip(1);
    let mut command = Vec::new();
    while let Some(a) = args.next() {
        // Go's flag package: one or two dashes, `-flag value` or `-flag=value`.
        let flag = a.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        match (a.starts_with('-'), name) {
            (true, "") => {
                command.extend(args.by_ref());
                break;
            }
            (true, "delay") => {
                let v = inline
                    .or_else(|| args.next())
                    .unwrap_or_else(|| fail(USAGE));
                delay = duration(&v).unwrap_or_else(|| fail(&format!("bad --delay {v:?}")));
            }
            (true, "docker-socket") => {
                socket = PathBuf::from(
                    inline
                        .or_else(|| args.next())
                        .unwrap_or_else(|| fail(USAGE)),
                );
            }
            (true, "h" | "help") => {
                say("trim-after-delete", USAGE);
                return;
            }
            (true, _) => fail(&format!("flag provided but not defined: {a}\n{USAGE}")),
            (false, _) => {
                command.push(a);
                command.extend(args.by_ref());
                break;
            }
        }
    }
    if command.is_empty() {
        fail("Please supply a program to run. For usage add -h");
    }
    say(
        "trim-after-delete",
        &format!(
            "I will run {} around {:.1} seconds after an image is deleted",
            command.join(" "),
            delay.as_secs_f64()
        ),
    );
    lk_tools::trim::main_loop(&socket, delay, command);
}
