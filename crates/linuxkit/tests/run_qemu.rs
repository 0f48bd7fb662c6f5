//! `linuxkit run qemu` booting Debian's kernel with a tiny busybox initrd under the
//! accelerator it detects (TCG here: KVM is present but does not run guests).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use lk_formats::cpio::CpioSink;
use lk_formats::{Entry, Sink};
use lk_testutil::TempDir;

fn initrd(path: &Path, init: &str) {
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut c = CpioSink::new(gz, Default::default());
    for d in ["bin", "proc", "dev"] {
        c.add(&Entry::dir(d, 0o755, 0), &mut std::io::empty())
            .unwrap();
    }
    c.add(
        &Entry::file("bin/busybox", busybox.len() as u64, 0o755, 0),
        &mut &busybox[..],
    )
    .unwrap();
    c.add(
        &Entry::file("init", init.len() as u64, 0o755, 0),
        &mut init.as_bytes(),
    )
    .unwrap();
    c.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

fn kernel() -> std::path::PathBuf {
    std::fs::read_dir("/boot")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .unwrap()
}

#[test]
#[cfg_attr(
    not(has_qemu_kernel),
    ignore = "needs qemu-system-x86, linux-image-amd64 and busybox-static"
)]
fn boots_powers_off_and_reports_a_panic() {
    let dir = TempDir::new("run-qemu");
    let d = dir.path();
    for (prefix, init) in [
        (
            "ok",
            "#!/bin/busybox sh\n/bin/busybox echo LK-BOOT-MARKER\n/bin/busybox poweroff -f\n",
        ),
        (
            "bad",
            "#!/bin/busybox sh\n/bin/busybox echo exiting\nexit 3\n",
        ),
    ] {
        std::fs::copy(kernel(), d.join(format!("{prefix}-kernel"))).unwrap();
        initrd(&d.join(format!("{prefix}-initrd.img")), init);
        std::fs::write(d.join(format!("{prefix}-cmdline")), "console=ttyS0 quiet").unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(d)
        .args(["run", "qemu", "--mem", "512", "--networking", "none", "ok"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("LK-BOOT-MARKER"), "{stdout}");
    assert!(
        std::fs::read_to_string(d.join("ok-state/console.log"))
            .unwrap()
            .contains("LK-BOOT-MARKER")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(d)
        .args(["run", "--", "bad"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the guest kernel panicked"));
}

#[test]
fn nothing_to_boot_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["run", "qemu", "/nonexistent/prefix"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing to boot at /nonexistent/prefix")
    );
}

/// Whether process `pid` still exists.
fn alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_terminated_run_stops_qemu_too() {
    let work = TempDir::new("run-term");
    let dir = work.path();
    for f in ["img-kernel", "img-initrd.img"] {
        std::fs::write(dir.join(f), b"").unwrap();
    }
    // A stand-in for QEMU that records its pid, says when it is asked to stop, and otherwise
    // runs for a minute.
    let fake = dir.join("fake-qemu");
    let pidfile = dir.join("fake.pid");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho $$ > {}\ntrap 'echo FAKE-QEMU-TERM; exit 0' TERM\ni=0\nwhile [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n",
            pidfile.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let lk = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args([
            "run",
            "qemu",
            "--accel",
            "tcg",
            "--networking",
            "none",
            "--qemu",
        ])
        .arg(&fake)
        .arg("--state")
        .arg(dir.join("state"))
        .arg(dir.join("img"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !pidfile.exists() && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let qemu_pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    assert!(alive(&qemu_pid));
    let status = Command::new("kill")
        .args(["-TERM", &lk.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = lk.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAKE-QEMU-TERM"),
        "QEMU was not asked to stop: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!alive(&qemu_pid), "QEMU ({qemu_pid}) outlived linuxkit");
}
