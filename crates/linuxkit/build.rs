//! Records the git commit for `linuxkit version`.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("cargo:rustc-env=LINUXKIT_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
    // Registry tests run when Debian's docker-registry is installed, else they are ignored
    // with the reason.
    println!("cargo::rustc-check-cfg=cfg(has_docker_registry)");
    println!("cargo::rerun-if-changed=/usr/bin/docker-registry");
    if std::path::Path::new("/usr/bin/docker-registry").is_file() {
        println!("cargo::rustc-cfg=has_docker_registry");
    }
    // Docker-engine tests run when a daemon socket exists at build time (.ci/run starts
    // dockerd first with scripts/dockerd.sh); otherwise they are ignored with the reason.
    println!("cargo::rustc-check-cfg=cfg(has_docker_engine)");
    println!("cargo::rerun-if-changed=/var/run/docker.sock");
    if std::path::Path::new("/var/run/docker.sock").exists() {
        println!("cargo::rustc-cfg=has_docker_engine");
    }
    // kernel+iso / kernel+erofs tests need the external image makers.
    for (cfg, program) in [
        ("has_xorriso", "/usr/bin/xorriso"),
        ("has_mkfs_erofs", "/usr/bin/mkfs.erofs"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-changed={program}");
        if std::path::Path::new(program).exists() {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    // QEMU boot tests need qemu-system-x86_64, a Debian kernel and a static busybox.
    println!("cargo::rustc-check-cfg=cfg(has_qemu_kernel)");
    println!("cargo::rerun-if-changed=/boot");
    let kernel = std::fs::read_dir("/boot")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"));
    if kernel
        && std::path::Path::new("/usr/bin/qemu-system-x86_64").exists()
        && std::path::Path::new("/bin/busybox").exists()
    {
        println!("cargo::rustc-cfg=has_qemu_kernel");
    }
}
