//! A local Docker engine as an image source (`cache pull --docker`).

use std::process::{Command, Stdio};

use lk_cache::Cache;
use lk_oci::Platform;
use lk_testutil::TempDir;

#[test]
#[cfg_attr(
    not(has_docker_engine),
    ignore = "no Docker engine (run scripts/dockerd.sh)"
)]
fn images_come_from_the_local_engine() {
    // An image made offline: `docker import` of a one-file rootfs tar.
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let mut child = Command::new("docker")
        .args(["import", "-", "lktest/dockersrc:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "docker import failed");
    let dir = TempDir::new("docker-cache");
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["cache", "--cache"])
        .arg(dir.path())
        .args(["pull", "--docker", "lktest/dockersrc:1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("docker.io/lktest/dockersrc:1 sha256:")
    );
    let cache = Cache::open(dir.path()).unwrap();
    let r = cache
        .resolve("docker.io/lktest/dockersrc:1", &Platform::linux("amd64"))
        .unwrap();
    assert_eq!(r.manifest.layers.len(), 1);
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["cache", "--cache"])
        .arg(dir.path())
        .args(["pull", "--docker", "lktest/absent:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the local Docker engine has no image lktest/absent:1")
    );
    let _ = Command::new("docker")
        .args(["rmi", "lktest/dockersrc:1"])
        .output();
}
