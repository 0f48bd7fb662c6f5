//! `kmsg`: see lk_tools::kmsg.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

fn main() {
    let mut f = match std::fs::File::open("/dev/kmsg") {
        Ok(f) => f,
        Err(e) => {
            lk_tools::say("kmsg", &format!("/dev/kmsg: {e}"));
            std::process::exit(1);
        }
    };
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let boot = SystemTime::now() - Duration::from_secs_f64(uptime);
    let mut buf = vec![0u8; 8192];
    let err = std::io::stderr();
    loop {
        // One record per read; EPIPE when records were overwritten before we read them.
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(r) = lk_tools::kmsg::parse(&buf[..n]) {
                    let _ = writeln!(err.lock(), "{}", lk_tools::kmsg::line(&r, boot));
                }
            }
            Err(e) if e.raw_os_error() == Some(32) => {}
            Err(e) => {
                lk_tools::say("kmsg", &format!("/dev/kmsg: {e}"));
                std::process::exit(1);
            }
        }
    }
}
