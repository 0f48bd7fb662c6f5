//! The clocks host-timesync-daemon touches: the RTC (read with `RTC_RD_TIME`, which nix
//! has no wrapper for) and the system clock (`clock_settime`, through nix).

use std::os::fd::AsRawFd;
use std::path::Path;

/// `struct rtc_time` of `<linux/rtc.h>` (the fields of `struct tm`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtcTime {
    pub tm_sec: i32,
    pub tm_min: i32,
    pub tm_hour: i32,
    pub tm_mday: i32,
    /// 0-11.
    pub tm_mon: i32,
    /// Years since 1900.
    pub tm_year: i32,
    pub tm_wday: i32,
    pub tm_yday: i32,
    pub tm_isdst: i32,
}

nix::ioctl_read!(rtc_rd_time, b'p', 0x09, RtcTime);

/// Reads the RTC at `dev` (`/dev/rtc0`).
pub fn rtc_read(dev: &Path) -> std::io::Result<RtcTime> {
    let f = std::fs::File::open(dev)?;
    let mut t = RtcTime::default();
    // SAFETY: the descriptor is open for the call's duration and `t` is a writable
    // `struct rtc_time`, the size and layout RTC_RD_TIME writes.
    unsafe { rtc_rd_time(f.as_raw_fd(), &mut t) }.map_err(std::io::Error::from)?;
    Ok(t)
}

/// Seconds since the epoch for an RTC reading taken as UTC (how Linux keeps a VM's RTC).
pub fn rtc_to_unix(t: &RtcTime) -> i64 {
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let (mut y, m, d) = (
        i64::from(t.tm_year) + 1900,
        i64::from(t.tm_mon) + 1,
        i64::from(t.tm_mday),
    );
    if m <= 2 {
        y -= 1;
    }
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(t.tm_hour) * 3600 + i64::from(t.tm_min) * 60 + i64::from(t.tm_sec)
}

/// Sets the system clock (needs CAP_SYS_TIME).
pub fn set_realtime(secs: i64) -> std::io::Result<()> {
    let ts = nix::sys::time::TimeSpec::new(secs, 0);
    nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtc_readings_convert_to_unix_time() {
        let t = |y, mo, d, h, mi, s| RtcTime {
            tm_year: y - 1900,
            tm_mon: mo - 1,
            tm_mday: d,
            tm_hour: h,
            tm_min: mi,
            tm_sec: s,
            ..RtcTime::default()
        };
        assert_eq!(rtc_to_unix(&t(1970, 1, 1, 0, 0, 0)), 0);
        assert_eq!(rtc_to_unix(&t(2000, 2, 29, 12, 0, 0)), 951_825_600);
        assert_eq!(rtc_to_unix(&t(2026, 12, 6, 6, 30, 15)), 1_796_538_615);
    }
}
