//! `host-timesync-daemon`: see lk_tools::timesync.

use std::path::PathBuf;

use lk_tools::flags::Flags;
use lk_tools::timesync;

const USAGE: &str = "usage: host-timesync-daemon [-port 0xf3a4] [-rtc /dev/rtc0]

Listens on vsock PORT (any CID); each connection from the host sets the system clock from
the RTC (the hypervisor keeps it on the host's time), e.g. after the host resumed.";

fn log(m: &str) {
    lk_tools::say("host-timesync-daemon", m);
}

fn main() {
    let f = Flags::parse(std::env::args().skip(1), &["port", "rtc"], &["h", "help"])
        .unwrap_or_else(|e| {
            log(&format!("{e}\n{USAGE}"));
            std::process::exit(2)
        });
    if f.on("h") || f.on("help") {
        lk_tools::usage(USAGE);
        return;
    }
    let port = f.last("port").map_or(Ok(timesync::PORT), |p| {
        lk_virtsock::addr::parse_port(p).map_err(|e| e.0)
    });
    let port = port.unwrap_or_else(|e| {
        log(&e);
        std::process::exit(2)
    });
    lk_tools::exit_on_term();
    let rtc = PathBuf::from(f.last("rtc").unwrap_or("/dev/rtc0"));
    if let Err(e) = timesync::serve(port, &rtc, &log) {
        log(&e);
        std::process::exit(1);
    }
}
