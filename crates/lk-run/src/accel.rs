//! Accelerator detection by running a guest, not by looking at `/dev/kvm`.
//!
//! On machines where `/dev/kvm` exists but hardware virtualization is unavailable, QEMU
//! reports KVM as enabled and the guest then never runs (LinuxKit hangs forever there). The
//! probe boots a 512-byte boot sector that writes to QEMU's `isa-debug-exit` port: QEMU exits
//! with status 3 within milliseconds when KVM works, and is killed after a timeout otherwise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A QEMU accelerator (`-machine ...,accel=`), parsed once from `--accel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Linux's KVM.
    Kvm,
    /// QEMU's own binary translation (any host, any guest arch).
    Tcg,
    /// macOS's Hypervisor.framework.
    Hvf,
    /// Windows' hypervisor platform.
    Whpx,
    /// Xen.
    Xen,
    /// NetBSD's NVMM.
    Nvmm,
}

impl Accel {
    /// QEMU's name.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
            Accel::Hvf => "hvf",
            Accel::Whpx => "whpx",
            Accel::Xen => "xen",
            Accel::Nvmm => "nvmm",
        }
    }
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `--accel` named no accelerator QEMU has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown accelerator {0:?}: use kvm, tcg, hvf, whpx, xen or nvmm")]
pub struct UnknownAccel(pub String);

impl std::str::FromStr for Accel {
    type Err = UnknownAccel;

    fn from_str(s: &str) -> Result<Accel, UnknownAccel> {
        [
            Accel::Kvm,
            Accel::Tcg,
            Accel::Hvf,
            Accel::Whpx,
            Accel::Xen,
            Accel::Nvmm,
        ]
        .into_iter()
        .find(|a| a.name() == s)
        .ok_or_else(|| UnknownAccel(s.to_owned()))
    }
}

/// `mov al, 1; out 0xf4, al; hlt; jmp $-1`, padded to a boot sector.
fn probe_image() -> Vec<u8> {
    let mut d = vec![0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd];
    d.resize(510, 0);
    d.extend_from_slice(&[0x55, 0xaa]);
    d
}

/// Whether `accel` runs a guest to completion within `timeout` with `qemu`.
pub fn works(qemu: &Path, accel: Accel, timeout: Duration) -> bool {
    let img = std::env::temp_dir().join(format!("lk-accel-probe-{}.img", std::process::id()));
    if std::fs::write(&img, probe_image()).is_err() {
        return false;
    }
    let child = Command::new(qemu)
        .args([
            "-accel",
            accel.name(),
            "-machine",
            "pc",
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-boot",
            "a",
        ])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=floppy", img.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        let _ = std::fs::remove_file(&img);
        return false;
    };
    let start = Instant::now();
    let ok = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code() == Some(3),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    let _ = std::fs::remove_file(&img);
    ok
}

fn kvm_opens() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// `kvm` if `/dev/kvm` opened and KVM really runs the probe guest, else `tcg`.
fn probe(qemu: &Path, kvm_opens: bool) -> Accel {
    if kvm_opens && works(qemu, Accel::Kvm, Duration::from_millis(1500)) {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// The accelerator to use: `kvm` if `/dev/kvm` opens and KVM really runs a guest, else `tcg`.
pub fn detect(qemu: &Path) -> Accel {
    probe(qemu, kvm_opens())
}

/// What a probe result holds for: this host boot, this QEMU binary (path, size, mtime) and
/// whether `/dev/kvm` opened. None when the boot id cannot be read (no record then).
fn probe_key(qemu: &Path, kvm_opens: bool) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let resolved = which(qemu).unwrap_or_else(|| qemu.to_path_buf());
    let meta = std::fs::metadata(&resolved).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!(
        "v1 boot={} qemu={} size={} mtime={mtime} kvm-opens={kvm_opens}",
        boot.trim(),
        resolved.display(),
        meta.len()
    ))
}

/// `qemu` itself when it names a path, else the first match on `PATH`.
fn which(qemu: &Path) -> Option<std::path::PathBuf> {
    if qemu.components().count() > 1 {
        return Some(qemu.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(qemu))
        .find(|p| p.is_file())
}

/// [`detect`], remembered in `record` (e.g. `~/.linuxkit/accel`): a probe costs up to 1.5 s
/// where KVM hangs, so its result is reused while the host boot, the QEMU binary and
/// `/dev/kvm`'s accessibility stay the same. Returns the accelerator and whether it came
/// from the record. A record that cannot be read or written only means probing again.
pub fn detect_remembered(qemu: &Path, record: &Path) -> (Accel, bool) {
    let opens = kvm_opens();
    let Some(key) = probe_key(qemu, opens) else {
        return (probe(qemu, opens), false);
    };
    if let Ok(text) = std::fs::read_to_string(record)
        && let Some((k, accel)) = text.trim_end().rsplit_once(" accel=")
        && k == key
        && let Ok(a @ (Accel::Kvm | Accel::Tcg)) = accel.parse()
    {
        return (a, true);
    }
    let accel = probe(qemu, opens);
    let tmp = record.with_extension(format!("tmp{}", std::process::id()));
    let written = record
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, format!("{key} accel={accel}\n")))
        .and_then(|()| std::fs::rename(&tmp, record));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    (accel, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_qemu(path: &Path, status: i32) {
        std::fs::write(path, format!("#!/bin/sh\nexit {status}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn accelerators_parse_by_qemu_name() {
        assert_eq!("kvm".parse(), Ok(Accel::Kvm));
        assert_eq!("hvf".parse::<Accel>().map(Accel::name), Ok("hvf"));
        assert_eq!(
            "fast".parse::<Accel>().unwrap_err().to_string(),
            "unknown accelerator \"fast\": use kvm, tcg, hvf, whpx, xen or nvmm"
        );
    }

    #[test]
    fn the_probe_result_is_remembered_until_qemu_changes() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = dir.path().join("qemu-system-x86_64");
        let record = dir.path().join("state/accel");
        // Exit status 3 is the probe guest's debug exit: KVM works wherever /dev/kvm opens.
        fake_qemu(&qemu, 3);
        let want = if kvm_opens() { Accel::Kvm } else { Accel::Tcg };
        assert_eq!(detect_remembered(&qemu, &record), (want, false));
        assert!(
            std::fs::read_to_string(&record)
                .unwrap()
                .ends_with(&format!(" accel={want}\n"))
        );
        assert_eq!(detect_remembered(&qemu, &record), (want, true));
        // A different QEMU binary (here: other size) is probed again; this one fails.
        fake_qemu(&qemu, 1);
        assert_eq!(detect_remembered(&qemu, &record), (Accel::Tcg, false));
        assert_eq!(detect_remembered(&qemu, &record), (Accel::Tcg, true));
        // A damaged record is ignored and replaced.
        std::fs::write(&record, "garbage").unwrap();
        assert_eq!(detect_remembered(&qemu, &record), (Accel::Tcg, false));
    }
}
