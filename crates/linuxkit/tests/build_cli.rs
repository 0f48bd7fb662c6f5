//! `linuxkit build` end to end against a loopback registry: kernel, init, 2 onboot,
//! 2 services, files and volumes; the tar listing, config.json, the initrd's archives read
//! back, byte-identical rebuilds, bad input.

mod common;

use std::process::Command;

use common::{fixture, linuxkit, tar_listing, text, yaml};
use lk_registry::{Client, ClientOptions, Repository};
use lk_testutil::TempDir;
use lk_testutil::image::TestImage;

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn builds_tar_and_kernel_initrd_reproducibly() {
    let f = fixture();
    let dir = f.work.path();
    std::fs::write(dir.join("lk.yml"), yaml(&f)).unwrap();
    let cache = dir.join("cache");
    let out = linuxkit(dir, &cache, &["--format", "tar", "lk.yml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The fixture's kernel.tar starts at lib/modules/...: named once, with the parent.
    let err = text(&out.stderr);
    let implied: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("has no entry for its parent directory"))
        .collect();
    assert!(
        implied.iter().any(|l| l.starts_with("warning: kernel (")
            && l.contains(
                "`lib/modules/6.1.0/modules.dep` has no entry for its parent directory `lib`"
            )),
        "{err}"
    );
    assert_eq!(
        implied
            .iter()
            .filter(|l| l.contains("warning: kernel ("))
            .count(),
        1,
        "{err}"
    );
    let listing = tar_listing(&dir.join("lk.tar"));
    let names: Vec<&str> = listing.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "boot/",
        "boot/cmdline",
        "boot/kernel",
        "lib/modules/6.1.0/modules.dep",
        "init",
        "bin/busybox",
        "etc/resolv.conf",
        "containers/onboot/000-first/lower/bin/tool",
        "containers/onboot/000-first/config.json",
        "containers/onboot/000-first/runtime.json",
        "containers/onboot/001-second/rootfs/",
        "containers/services/svc/lower/usr/bin/svc",
        "containers/services/svc/config.json",
        "containers/volumes/data/merged/",
        "etc/motd",
        "etc/linuxkit.yml",
        "sbom.spdx.json",
    ] {
        assert!(
            names.contains(&want),
            "{want} missing from\n{}",
            names.join("\n")
        );
    }
    assert!(
        !names.contains(&"containers/services/svc/lower/bin/svc"),
        "the whiteout of bin/ hides the lower layer's bin/svc"
    );
    assert!(
        !names.contains(&"System.map"),
        "other kernel image files are dropped"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("containers/services/other/lower/bin")),
        "same image as first: not extracted twice"
    );
    for (name, src) in &listing {
        if name != "sbom.spdx.json" {
            assert!(src.is_some(), "{name} lacks LINUXKIT.source/location");
        }
    }
    // config.json from the label and YAML, volumes rewritten.
    let mut a = tar::Archive::new(std::fs::File::open(dir.join("lk.tar")).unwrap());
    let mut svc_config = String::new();
    let mut other_runtime = String::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "containers/services/svc/config.json" {
            std::io::Read::read_to_string(&mut e, &mut svc_config).unwrap();
        }
        if name == "containers/services/other/runtime.json" {
            std::io::Read::read_to_string(&mut e, &mut other_runtime).unwrap();
        }
    }
    assert!(svc_config.contains("\"CAP_NET_ADMIN\""), "{svc_config}");
    assert!(
        svc_config.contains("\"source\": \"/containers/volumes/data/merged\""),
        "{svc_config}"
    );
    assert!(svc_config.contains("\"/usr/bin/svc\""));
    assert!(
        other_runtime.contains("lowerdir=/containers/onboot/000-first/lower"),
        "dedup points at the first extraction: {other_runtime}"
    );

    // kernel+initrd, twice: byte-identical; every archive of the initrd reads back.
    let out = linuxkit(dir, &cache, &["lk.yml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = std::fs::read(dir.join("lk-initrd.img")).unwrap();
    assert_eq!(
        std::fs::read(dir.join("lk-kernel")).unwrap(),
        b"KERNEL-IMAGE"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("lk-cmdline")).unwrap(),
        "console=ttyS0"
    );
    let out = linuxkit(dir, &cache, &["lk.yml"]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(dir.join("lk-initrd.img")).unwrap(),
        first,
        "second build differs"
    );
    let initrd = lk_testutil::cpio::read_initrd(&first);
    let names = initrd.names();
    let list = names.join("\n");
    for want in [
        "init",
        "etc/motd",
        "containers/services/svc/lower/usr/bin/svc",
        "lib/modules/6.1.0/kernel/virtio.ko",
        "boot",
    ] {
        assert!(names.contains(&want), "{want} not in the cpio:\n{list}");
    }
    assert!(!names.contains(&"boot/kernel"), "boot/* is split off");
    assert!(
        initrd.archives > 3,
        "one archive per segment: {}",
        initrd.archives
    );
    assert_eq!(
        initrd.archives, initrd.compressed_parts,
        "each gzipped on its own"
    );
    let tar_again = linuxkit(
        dir,
        &cache,
        &["--format", "tar", "--name", "again", "lk.yml"],
    );
    assert!(tar_again.status.success());
    assert_eq!(
        std::fs::read(dir.join("again.tar")).unwrap(),
        std::fs::read(dir.join("lk.tar")).unwrap(),
        "tar output is reproducible"
    );
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn bad_input_leaves_no_partial_output() {
    let f = fixture();
    let dir = f.work.path();
    let cache = dir.join("cache");
    let base = yaml(&f);
    // A missing `source` file.
    std::fs::write(
        dir.join("missing.yml"),
        format!("{base}  - path: etc/x\n    source: /nonexistent/file\n"),
    )
    .unwrap();
    let out = linuxkit(dir, &cache, &["--format", "tar", "missing.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/file"),
        "{}",
        text(&out.stderr)
    );
    // An image whose layer is not a tar.
    let c = Client::new(ClientOptions::default());
    let notar = TestImage::new(
        "amd64",
        vec![{
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &[0x42; 4096]).unwrap();
            gz.finish().unwrap()
        }],
        &[],
        &[],
    );
    notar.push(
        &c,
        &Repository {
            registry: f.reg.host.clone(),
            path: "t/notar".into(),
        },
        Some("v1"),
    );
    std::fs::write(
        dir.join("notar.yml"),
        format!(
            "onboot:\n  - name: x\n    image: {}/t/notar:v1\n",
            f.reg.host
        ),
    )
    .unwrap();
    let out = linuxkit(dir, &cache, &["--format", "tar", "notar.yml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("is not a valid tar archive"), "{err}");
    // The error names the container, the image and the layer's digest.
    let layer = lk_oci::Digest::of(&notar.layers[0]);
    assert!(
        err.contains(&format!(
            "onboot[0] ({}/t/notar:v1, layer {layer})",
            f.reg.host
        )),
        "{err}"
    );
    // An unknown format.
    let out = linuxkit(dir, &cache, &["--format", "floppy", "notar.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown output format `floppy`"),
        "{}",
        text(&out.stderr)
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar") || n.contains("partial") || n.contains("initrd"))
        .collect();
    assert!(leftovers.is_empty(), "partial outputs left: {leftovers:?}");
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn builds_kernel_squashfs_that_unsquashfs_reads() {
    let f = fixture();
    let dir = f.work.path();
    std::fs::write(dir.join("lk.yml"), yaml(&f)).unwrap();
    let cache = dir.join("cache");
    let out = linuxkit(dir, &cache, &["--format", "kernel+squashfs", "lk.yml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(dir.join("lk-kernel")).unwrap(),
        b"KERNEL-IMAGE"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("lk-cmdline")).unwrap(),
        "console=ttyS0"
    );
    let list = Command::new("unsquashfs")
        .arg("-l")
        .arg(dir.join("lk-squashfs.img"))
        .output()
        .expect("unsquashfs(1) is needed (apt-get install squashfs-tools)");
    assert!(list.status.success(), "{}", text(&list.stderr));
    let list = text(&list.stdout);
    for want in [
        "squashfs-root/init",
        "squashfs-root/etc/motd",
        "squashfs-root/containers/services/svc/lower/usr/bin/svc",
        "squashfs-root/etc/resolv.conf",
    ] {
        assert!(list.lines().any(|l| l == want), "{want} not in\n{list}");
    }
    assert!(
        !list.lines().any(|l| l.starts_with("squashfs-root/boot/")),
        "boot/* is split off"
    );
}

#[test]
#[cfg_attr(
    not(all(has_docker_registry, has_xorriso, has_mkfs_erofs)),
    ignore = "needs docker-registry, xorriso and erofs-utils (apt-get install docker-registry xorriso erofs-utils)"
)]
fn builds_kernel_iso_and_erofs_reproducibly() {
    let f = fixture();
    let dir = f.work.path();
    std::fs::write(dir.join("lk.yml"), yaml(&f)).unwrap();
    let cache = dir.join("cache");
    let args = [
        "--no-sbom",
        "--format",
        "kernel+iso",
        "--format",
        "kernel+erofs",
    ];
    let mut images = Vec::new();
    for run in ["a", "b"] {
        let out_dir = dir.join(run);
        let mut a = args.to_vec();
        let d = out_dir.to_string_lossy().into_owned();
        a.extend(["--dir", &d, "lk.yml"]);
        let out = linuxkit(dir, &cache, &a);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let names: Vec<String> = {
            let mut n: Vec<String> = std::fs::read_dir(&out_dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names,
            ["lk-cmdline", "lk-erofs.img", "lk-kernel", "lk.iso"],
            "no staging leftovers"
        );
        images.push((
            std::fs::read(out_dir.join("lk.iso")).unwrap(),
            std::fs::read(out_dir.join("lk-erofs.img")).unwrap(),
        ));
    }
    assert!(images[0] == images[1], "two builds give identical images");

    // The ISO: Rock Ridge names, owners and modes as in the tree; no boot/.
    let iso = dir.join("a/lk.iso");
    let ls = Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(&iso)
        .args(["-find", "/", "-exec", "lsdl", "--"])
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    let ls = text(&ls.stdout);
    for want in [
        "'/init'",
        "'/etc/motd'",
        "'/containers/services/svc/lower/usr/bin/svc'",
    ] {
        assert!(ls.lines().any(|l| l.ends_with(want)), "{want} not in\n{ls}");
    }
    assert!(!ls.contains("'/boot/"), "boot/* is split off:\n{ls}");
    let motd = ls.lines().find(|l| l.ends_with("'/etc/motd'")).unwrap();
    assert!(motd.starts_with("-rw-r--r--"), "{motd}");
    let extract = dir.join("motd-from-iso");
    let x = Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(&iso)
        .args(["-extract", "/etc/motd"])
        .arg(&extract)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", text(&x.stderr));
    assert_eq!(std::fs::read(&extract).unwrap(), b"hello");

    // The EROFS image: fsck passes, and extracting it gives the files (dump.erofs exits 0
    // even for missing paths, so the check is on the extracted tree).
    let erofs = dir.join("a/lk-erofs.img");
    let root = dir.join("erofs-root");
    let fsck = Command::new("fsck.erofs")
        .arg(format!("--extract={}", root.display()))
        .args(["--no-preserve", "--force"])
        .arg(&erofs)
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}{}",
        text(&fsck.stdout),
        text(&fsck.stderr)
    );
    assert_eq!(std::fs::read(root.join("etc/motd")).unwrap(), b"hello");
    for path in ["init", "containers/services/svc/lower/usr/bin/svc"] {
        assert!(root.join(path).is_file(), "{path} missing");
    }
    assert!(!root.join("boot/kernel").exists(), "boot/* is split off");

    // A missing image maker is a clear error with a hint, and leaves no partial image.
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .args(["build", "--cache"])
        .arg(&cache)
        .args(["--format", "kernel+iso", "--dir", "c", "lk.yml"])
        .env("LINUXKIT_XORRISO", "/nonexistent/xorriso")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("lk.iso") && err.contains("apt-get install xorriso"),
        "{err}"
    );
    let left: Vec<String> = std::fs::read_dir(dir.join("c"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.ends_with(".iso"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_format_that_needs_a_kernel_fails_before_anything_is_pulled() {
    let work = TempDir::new("needs-kernel");
    let dir = work.path();
    // Nothing listens on port 1: a pull would fail with a connection error instead.
    std::fs::write(
        dir.join("nokernel.yml"),
        "onboot:\n  - name: x\n    image: 127.0.0.1:1/t/x:v1\n",
    )
    .unwrap();
    let cache = dir.join("cache");
    let out = linuxkit(
        dir,
        &cache,
        &["--format", "kernel+squashfs", "nokernel.yml"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("kernel+squashfs needs a `kernel` section with an image"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert!(!err.contains("127.0.0.1:1"), "it tried to pull: {err}");
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nokernel-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `--arch arm64` (or `aarch64`): a BIOS format fails before anything is pulled, naming the
/// format and the arch; an image that has no arm64 image fails naming the image and the
/// platform it has, and leaves no output; an unknown arch is refused by name.
#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn arch_arm64_checks_the_formats_and_every_image() {
    let f = fixture();
    let dir = f.work.path();
    std::fs::write(dir.join("lk.yml"), yaml(&f)).unwrap();
    let cache = dir.join("cache");
    let out = linuxkit(
        dir,
        &cache,
        &[
            "--arch",
            "aarch64",
            "--format",
            "iso-bios,raw-efi",
            "lk.yml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "iso-bios cannot be built for arm64 (they boot with a PC BIOS); formats for arm64: "
        ),
        "{err}"
    );
    assert!(
        !cache.join("index.json").exists() || !err.contains("pull"),
        "{err}"
    );
    let out = linuxkit(
        dir,
        &cache,
        &["--arch", "arm64", "--format", "tar", "lk.yml"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}/t/kernel:v1 has no manifest for linux/arm64; it has linux/amd64",
            f.reg.host
        )),
        "{err}"
    );
    assert!(
        !dir.join("lk.tar").exists(),
        "a failed build left its output"
    );
    let out = linuxkit(dir, &cache, &["--arch", "s390x", "lk.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown architecture \"s390x\""));
    // The host's arch by name is the default's build.
    let out = linuxkit(
        dir,
        &cache,
        &["--arch", "x86_64", "--format", "tar", "lk.yml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // run: riscv64 guests are refused before QEMU starts; arm64 ones on a PC machine too.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_linuxkit"))
            .current_dir(dir)
            .args(["run", "qemu"])
            .args(args)
            .output()
            .unwrap()
    };
    std::fs::write(dir.join("lk-kernel"), b"").unwrap();
    std::fs::write(dir.join("lk-initrd.img"), b"").unwrap();
    let out = run(&["--arch", "riscv64", "lk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--arch riscv64: run boots amd64 and arm64 guests"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--arch", "arm64", "--machine", "microvm", "lk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--machine microvm does not run arm64 guests: amd64 boots on q35 or microvm, arm64 on virt"),
        "{}",
        text(&out.stderr)
    );
}
