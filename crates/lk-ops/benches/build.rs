//! Warm `build --format kernel+initrd` of a ~70 MB root filesystem (kernel with modules,
//! init, 4 containers) from a loopback registry: `cargo bench -p lk-ops --bench build`.
//! Each measured build runs in a child process so its peak RSS is its own.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use lk_ops::build::{BuildSettings, build};
use lk_ops::cache::ImageSettings;
use lk_ops::validate::Input;
use lk_ops::{Env, Quiet, Silent};
use lk_registry::{Client, ClientOptions, Repository};
use lk_testutil::TempDir;
use lk_testutil::image::{TestImage, layer, noise};
use lk_testutil::registry::{Registry, available};

/// Half incompressible, half repetitive: compresses about 2:1 like real binaries.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut v = noise(len / 2, seed);
    v.extend(std::iter::repeat_n(b"linuxkit rootfs content ".as_slice(), len / 48).flatten());
    v.resize(len, b'x');
    v
}

fn settings(yaml: &str, cache: &str, out: &str, format: &str) -> BuildSettings {
    BuildSettings {
        images: ImageSettings {
            cache_dir: PathBuf::from(cache),
            ..ImageSettings::default()
        },
        inputs: vec![Input::File(PathBuf::from(yaml))],
        dir: Some(PathBuf::from(out)),
        formats: vec![format.into()],
        sbom_output: "sbom.spdx.json".into(),
        ..BuildSettings::default()
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let t = Instant::now();
        build(
            &settings(&args[i + 1], &args[i + 2], &args[i + 3], &args[i + 4]),
            &Env::default(),
            &mut std::io::sink(),
            &Quiet,
            &Silent,
        )
        .expect("build");
        println!("{:.3} {}", t.elapsed().as_secs_f64(), peak_rss_kib());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    if !available() {
        eprintln!("error: this benchmark needs docker-registry (apt-get install docker-registry)");
        std::process::exit(2);
    }
    let scale = if bench { 1 } else { 16 };
    let mb = |n: usize| (n << 20) / scale;
    let reg = Registry::start();
    let c = Client::new(ClientOptions::default());
    let push = |path: &str, img: TestImage| {
        img.push(
            &c,
            &Repository {
                registry: reg.host.clone(),
                path: path.into(),
            },
            Some("v1"),
        );
    };
    let modules = {
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..60 {
            let d = content(mb(12) / 60, 100 + i);
            let mut h = tar::Header::new_ustar();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("lib/modules/6.1.0/kernel/m{i}.ko"), &d[..])
                .unwrap();
        }
        b.into_inner().unwrap()
    };
    push(
        "b/kernel",
        TestImage::new(
            "amd64",
            vec![layer(&[
                ("kernel", &content(mb(8), 1)),
                ("kernel.tar", &modules),
            ])],
            &[],
            &[],
        ),
    );
    push(
        "b/init",
        TestImage::new(
            "amd64",
            vec![layer(&[("init", &content(mb(10), 2))])],
            &[],
            &[],
        ),
    );
    for i in 0..4u64 {
        let files: Vec<(String, Vec<u8>)> = (0..20)
            .map(|j| (format!("usr/bin/f{j}"), content(mb(10) / 20, 10 * i + j)))
            .collect();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, d)| (p.as_str(), d.as_slice()))
            .collect();
        push(
            &format!("b/c{i}"),
            TestImage::new("amd64", vec![layer(&refs)], &[], &["/usr/bin/f0"]),
        );
    }
    let work = TempDir::new("bench-build");
    let h = &reg.host;
    let yaml = format!(
        "kernel:\n  image: {h}/b/kernel:v1\n  cmdline: console=ttyS0\ninit:\n  - {h}/b/init:v1\nonboot:\n  - name: c0\n    image: {h}/b/c0:v1\n  - name: c1\n    image: {h}/b/c1:v1\nservices:\n  - name: c2\n    image: {h}/b/c2:v1\n  - name: c3\n    image: {h}/b/c3:v1\n"
    );
    let yml = work.path().join("bench.yml");
    std::fs::write(&yml, yaml).unwrap();
    let cache = work.path().join("cache");
    let out = work.path().join("out");
    let (y, ca, o) = (
        yml.to_str().unwrap(),
        cache.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let env = Env::default();
    build(
        &settings(y, ca, o, "kernel+initrd"),
        &env,
        &mut std::io::sink(),
        &Quiet,
        &Silent,
    )
    .expect("cold build");
    drop(reg); // warm builds need no registry
    let exe = std::env::current_exe().unwrap();
    // Best time and peak RSS of warm builds of `format`, each in its own process.
    let warm = |format: &str| {
        let mut best = f64::MAX;
        let mut rss = 0;
        for _ in 0..if bench { 5 } else { 1 } {
            let r = Command::new(&exe)
                .args(["--child", y, ca, o, format])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&r.stdout).into_owned();
            let mut it = line.split_whitespace();
            best = best.min(it.next().and_then(|t| t.parse().ok()).unwrap_or(f64::MAX));
            rss = rss.max(it.next().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0));
        }
        (best, rss)
    };
    let (tar, tar_rss) = warm("tar");
    println!(
        "warm build tar: best {tar:.3} s, peak RSS {} MiB",
        tar_rss / 1024
    );
    let (best, rss) = warm("kernel+initrd");
    let rootfs: u64 = std::fs::metadata(out.join("bench-initrd.img"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "warm build kernel+initrd of a {} MB rootfs: best {:.3} s, peak RSS {} MiB, initrd {:.1} MB",
        70 / scale,
        best,
        rss / 1024,
        rootfs as f64 / 1e6
    );
    limits(&out.join("bench-initrd.img"), if bench { 3 } else { 1 });
}

/// Best wall time of `f` over `runs` runs.
fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// The same uncompressed cpio through our gzip (one core, every core) and, in the same run,
/// through the practical limits: `pigz -6`, `pigz -1`, `zstd -3 -T0` (when installed).
fn limits(initrd: &std::path::Path, runs: usize) {
    use std::io::{Read, Write};
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(initrd).unwrap())
        .read_to_end(&mut cpio)
        .unwrap();
    let raw = initrd.with_extension("cpio");
    std::fs::write(&raw, &cpio).unwrap();
    println!(
        "the same {:.1} MB cpio, best of {runs}:",
        cpio.len() as f64 / 1e6
    );
    let cores = lk_formats::pgzip::cores();
    for threads in [1, cores] {
        let t = best_of(runs, || {
            let mut e = lk_formats::pgzip::ParGzEncoder::new(
                std::io::sink(),
                flate2::Compression::default(),
                threads,
            );
            e.write_all(&cpio).unwrap();
            e.finish().unwrap();
        });
        println!("  ours, gzip -6, {threads} thread(s): {t:.3} s");
    }
    for (program, args) in [
        ("pigz", &["-6", "-c"][..]),
        ("pigz", &["-1", "-c"][..]),
        ("zstd", &["-3", "-T0", "-c", "-q"][..]),
    ] {
        let mut ok = true;
        let t = best_of(runs, || {
            let r = Command::new(program)
                .args(args)
                .arg(&raw)
                .stdout(std::process::Stdio::null())
                .status();
            ok &= r.is_ok_and(|s| s.success());
        });
        if ok {
            println!("  {program} {}: {t:.3} s", args.join(" "));
        } else {
            println!("  {program} {}: not installed", args.join(" "));
        }
    }
    let _ = std::fs::remove_file(&raw);
}
