//! The TSC frequency a microvm guest under TCG should assume. microvm has no HPET or ACPI PM
//! timer, so a kernel that cannot calibrate its TSC against the PIT (which fails when a loaded
//! TCG host delays the guest) has no reference left and can hang early in boot. Under TCG the
//! guest's TSC counts at the host's rate, so `linuxkit run` tells the kernel that rate with
//! `tsc_early_khz=` and it skips the calibration.

/// The host TSC rate in kHz from `/proc/cpuinfo`, when the host kernel says it is constant
/// (`constant_tsc` or `tsc_known_freq`) and gives `cpu MHz`.
pub fn host_khz(cpuinfo: &str) -> Option<u64> {
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
    let constant = flags
        .split_whitespace()
        .any(|f| f == "constant_tsc" || f == "tsc_known_freq");
    if !constant {
        return None;
    }
    let mhz: f64 = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    (mhz > 0.0).then(|| (mhz * 1000.0).round() as u64)
}

/// `cmdline` with `tsc_early_khz=<khz>` added, unless it sets one already.
pub fn with_early_khz(cmdline: &str, khz: u64) -> String {
    if cmdline
        .split_whitespace()
        .any(|w| w.starts_with("tsc_early_khz="))
    {
        return cmdline.to_owned();
    }
    format!("{} tsc_early_khz={khz}", cmdline.trim())
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_constant_tsc_and_adds_it_once() {
        let info = "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.140\nflags\t\t: fpu tsc constant_tsc nonstop_tsc\n";
        assert_eq!(host_khz(info), Some(2_596_140));
        assert_eq!(host_khz(&info.replace("constant_tsc", "x")), None);
        assert_eq!(host_khz("flags : constant_tsc\n"), None);
        assert_eq!(
            with_early_khz("console=ttyS0", 2_596_140),
            "console=ttyS0 tsc_early_khz=2596140"
        );
        assert_eq!(
            with_early_khz("console=ttyS0 tsc_early_khz=1", 5),
            "console=ttyS0 tsc_early_khz=1"
        );
    }
}
