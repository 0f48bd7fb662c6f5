//! Incremental initrds: each segment of the stream is its own compressed archive, kept in
//! `<cache>/segments`; a warm build compresses only what changed, and whatever the store
//! holds, the initrd has the same bytes as a build without it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fixture, text, yaml};
use lk_registry::{Client, ClientOptions, Repository};
use lk_testutil::cpio::read_initrd;
use lk_testutil::image::{TestImage, layer};

/// `linuxkit build --cache CACHE ARGS lk.yml` in `dir` with extra environment.
fn build(dir: &Path, cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .arg("build")
        .arg("--cache")
        .arg(cache)
        .args(args)
        .arg("lk.yml")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("LINUXKIT_SEGMENTS_MAX")
        .envs(env.iter().copied())
        .output()
        .expect("run linuxkit");
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// The "initrd: R of N segments reused, B built" line.
fn reused(out: &Output) -> (usize, usize) {
    let all = text(&out.stderr) + &text(&out.stdout);
    let line = all
        .lines()
        .find(|l| l.contains("segments reused"))
        .unwrap_or_else(|| panic!("no segment line in\n{all}"))
        .to_owned();
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (nums[0], nums[1])
}

fn initrd(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("lk-initrd.img")).unwrap()
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn warm_builds_reuse_segments_and_match_cold_builds() {
    let f = fixture();
    let dir = f.work.path();
    let cache = dir.join("cache");
    let yml = yaml(&f);
    std::fs::write(dir.join("lk.yml"), &yml).unwrap();

    let cold = build(dir, &cache, &[], &[]);
    let (r, n) = reused(&cold);
    assert_eq!(r, 0, "an empty store reuses nothing");
    let first = initrd(dir);
    let parsed = read_initrd(&first);
    assert_eq!(parsed.archives, n, "one archive per segment");
    assert!(cache.join("segments").is_dir());

    // Nothing changed: every segment but `files` (host files, never kept) is reused.
    let warm = build(dir, &cache, &[], &[]);
    assert_eq!(reused(&warm), (n - 1, n));
    assert_eq!(initrd(dir), first, "a warm build differs from the cold one");

    // One service's command changed: only its bundle files and `files` are built.
    let changed = yml.replace(
        "command: [/bin/tool, --serve]",
        "command: [/bin/tool, --other]",
    );
    assert_ne!(changed, yml);
    std::fs::write(dir.join("lk.yml"), &changed).unwrap();
    let inc = build(dir, &cache, &[], &[]);
    assert_eq!(reused(&inc), (n - 2, n));
    let incremental = initrd(dir);
    assert_ne!(incremental, first);
    let runtime = read_initrd(&incremental);
    let config = runtime
        .get("containers/services/other/config.json")
        .expect("config.json");
    assert!(text(&config.data).contains("--other"));

    // The same configuration without a store, and with an empty one: the same bytes.
    let none = build(dir, &cache, &[("LINUXKIT_SEGMENTS_MAX", "0")], &[]);
    assert_eq!(reused(&none), (0, n));
    assert_eq!(
        initrd(dir),
        incremental,
        "incremental and store-less builds differ"
    );
    std::fs::remove_dir_all(cache.join("segments")).unwrap();
    build(dir, &cache, &[], &[]);
    assert_eq!(
        initrd(dir),
        incremental,
        "incremental and cold builds differ"
    );

    // A damaged record is a miss, never a wrong initrd.
    for e in std::fs::read_dir(cache.join("segments")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "initrd") {
            let mut b = std::fs::read(&p).unwrap();
            b[0] ^= 0xff;
            std::fs::write(&p, b).unwrap();
        }
    }
    let damaged = build(dir, &cache, &[], &[]);
    assert_eq!(reused(&damaged).0, 0);
    assert_eq!(initrd(dir), incremental);

    // Another compression has segments of its own; a tree format beside the initrd still
    // gets every entry (the initrd reuses its archives all the same).
    let zstd = build(dir, &cache, &[], &["--initrd-compression", "zstd"]);
    assert_eq!(reused(&zstd).0, 0);
    let both = build(
        dir,
        &cache,
        &[],
        &["--format", "kernel+initrd,kernel+squashfs"],
    );
    assert_eq!(reused(&both), (n - 1, n));
    assert_eq!(initrd(dir), incremental);
    let squashfs = std::fs::read(dir.join("lk-squashfs.img")).unwrap();
    build(dir, &cache, &[], &["--format", "kernel+squashfs"]);
    assert_eq!(
        std::fs::read(dir.join("lk-squashfs.img")).unwrap(),
        squashfs,
        "the squashfs built beside a reused initrd lacks entries"
    );

    // A bound of 1 byte keeps nothing; `cache clean` removes the store.
    build(dir, &cache, &[("LINUXKIT_SEGMENTS_MAX", "1")], &[]);
    let left = std::fs::read_dir(cache.join("segments"))
        .map(|d| d.flatten().count())
        .unwrap_or(0);
    assert_eq!(left, 0, "trimmed to the bound");
    build(dir, &cache, &[], &[]);
    let clean = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["cache", "clean", "--cache"])
        .arg(&cache)
        .output()
        .unwrap();
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert!(!cache.join("segments").exists());
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn microcode_goes_uncompressed_in_front_of_the_initrd() {
    let f = fixture();
    let dir = f.work.path();
    let cache = dir.join("cache");
    let ucode = {
        let mut c = b"070701".to_vec();
        c.resize(512, b'0');
        c
    };
    let modules = common::tar_of(&[("lib/modules/6.1.0/kernel/virtio.ko", b"ko")]);
    push_ucode_kernel(&f.reg.host, &ucode, &modules);
    let h = &f.reg.host;
    std::fs::write(
        dir.join("lk.yml"),
        format!("kernel:\n  image: {h}/t/ukernel:v1\n  cmdline: x\n  ucode: intel-ucode.cpio\ninit:\n  - {h}/t/init:v1\n"),
    )
    .unwrap();
    for pass in ["cold", "warm"] {
        build(dir, &cache, &[], &[]);
        let img = initrd(dir);
        assert!(img.starts_with(&ucode), "{pass}: no microcode in front");
        assert_eq!(&img[ucode.len()..ucode.len() + 2], &[0x1f, 0x8b], "{pass}");
    }
}

/// A kernel image with a microcode cpio, as `t/ukernel:v1`.
fn push_ucode_kernel(host: &str, ucode: &[u8], modules: &[u8]) {
    let img = TestImage::new(
        "amd64",
        vec![layer(&[
            ("kernel", b"KERNEL"),
            ("kernel.tar", modules),
            ("intel-ucode.cpio", ucode),
        ])],
        &[],
        &[],
    );
    let repo = Repository {
        registry: host.to_owned(),
        path: "t/ukernel".into(),
    };
    img.push(&Client::new(ClientOptions::default()), &repo, Some("v1"));
}
