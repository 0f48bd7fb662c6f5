//! Accelerator detection by running a guest, not by looking at `/dev/kvm`.
//!
//! On machines where `/dev/kvm` exists but hardware virtualization is unavailable, QEMU
//! reports KVM as enabled and the guest then never runs (LinuxKit hangs forever there). The
//! probe boots a 512-byte boot sector that writes to QEMU's `isa-debug-exit` port: QEMU exits
//! with status 3 within milliseconds when KVM works, and is killed after a timeout otherwise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `mov al, 1; out 0xf4, al; hlt; jmp $-1`, padded to a boot sector.
fn probe_image() -> Vec<u8> {
    let mut d = vec![0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd];
    d.resize(510, 0);
    d.extend_from_slice(&[0x55, 0xaa]);
    d
}

/// Whether `accel` runs a guest to completion within `timeout` with `qemu`.
pub fn works(qemu: &Path, accel: &str, timeout: Duration) -> bool {
    let img = std::env::temp_dir().join(format!("lk-accel-probe-{}.img", std::process::id()));
    if std::fs::write(&img, probe_image()).is_err() {
        return false;
    }
    let child = Command::new(qemu)
        .args([
            "-accel",
            accel,
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

/// The accelerator to use: `kvm` if `/dev/kvm` opens and KVM really runs a guest, else `tcg`.
pub fn detect(qemu: &Path) -> &'static str {
    let kvm_opens = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if kvm_opens && works(qemu, "kvm", Duration::from_millis(1500)) {
        "kvm"
    } else {
        "tcg"
    }
}
