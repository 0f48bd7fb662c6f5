//! The newc writer read back by cpio(1): files, directories, symlinks, real hard links.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use lk_formats::cpio::CpioSink;
use lk_formats::{Entry, Kind, Sink};

#[test]
fn cpio_tool_reads_what_we_write_including_hard_links() {
    if Command::new("cpio").arg("--version").output().is_err() {
        panic!("cpio(1) is needed for this test (apt-get install cpio)");
    }
    let mut targets = HashSet::new();
    targets.insert("bin/busybox".to_owned());
    let mut sink = CpioSink::new(Vec::new(), targets);
    sink.add(&Entry::dir("bin", 0o755, 0), &mut std::io::empty())
        .unwrap();
    sink.add(
        &Entry::file("bin/busybox", 7, 0o755, 0),
        &mut &b"busybox"[..],
    )
    .unwrap();
    let link = Entry {
        kind: Kind::Hardlink("bin/busybox".into()),
        ..Entry::file("bin/sh", 0, 0o755, 0)
    };
    sink.add(&link, &mut std::io::empty()).unwrap();
    sink.add(
        &Entry::symlink("bin/ash", "busybox", 0),
        &mut std::io::empty(),
    )
    .unwrap();
    sink.add(&Entry::dir("etc", 0o755, 0), &mut std::io::empty())
        .unwrap();
    sink.add(&Entry::file("etc/motd", 3, 0o644, 0), &mut &b"hi\n"[..])
        .unwrap();
    let archive = sink.into_inner().unwrap();
    let dir = std::env::temp_dir().join(format!("lk-cpio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new("cpio")
        .args(["-idm", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &archive).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let bb = std::fs::metadata(dir.join("bin/busybox")).unwrap();
    let sh = std::fs::metadata(dir.join("bin/sh")).unwrap();
    assert_eq!(bb.ino(), sh.ino(), "a real hard link");
    assert_eq!(std::fs::read(dir.join("bin/sh")).unwrap(), b"busybox");
    assert_eq!(
        std::fs::read_link(dir.join("bin/ash")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(std::fs::read(dir.join("etc/motd")).unwrap(), b"hi\n");
    let _ = std::fs::remove_dir_all(&dir);
}
