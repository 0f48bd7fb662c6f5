//! `host-timesync-daemon`: the host asks (by connecting to vsock port 0xf3a4, after a
//! suspend or resume) and the guest sets its clock from the RTC, which the hypervisor keeps
//! on the host's time. Each connection: read the RTC, set the system clock, log, close.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lk_virtsock::addr::{CID_ANY, VsockAddr};
use lk_virtsock::{Endpoint, Listener};

/// LinuxKit's port.
pub const PORT: u32 = 0xf3a4;

/// Sets the clock from the RTC; returns the correction in seconds (new - old).
pub fn sync(rtc: &Path) -> std::io::Result<i64> {
    let t = lk_guest_sys::clock::rtc_read(rtc)?;
    let now = lk_guest_sys::clock::rtc_to_unix(&t);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    lk_guest_sys::clock::set_realtime(now)?;
    Ok(now - before)
}

/// Serves the port forever.
pub fn serve(port: u32, rtc: &Path, log: &dyn Fn(&str)) -> Result<(), String> {
    let l = Listener::bind(&Endpoint::Vsock(VsockAddr::new(CID_ANY, port)))
        .map_err(|e| e.to_string())?;
    log(&format!("listening on {}", l.describe()));
    loop {
        let (mut s, peer) = match l.accept() {
            Ok(x) => x,
            Err(e) => {
                log(&format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        match sync(rtc) {
            Ok(d) => log(&format!(
                "{peer} asked: clock set from {} ({d:+} s)",
                rtc.display()
            )),
            Err(e) => log(&format!(
                "{peer} asked: cannot set the clock from {}: {e}",
                rtc.display()
            )),
        }
        // EOF from the host is the end of the exchange; do not wait long for it.
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = s.read(&mut [0u8; 64]);
    }
}
