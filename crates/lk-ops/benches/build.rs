//! `build --format kernel+initrd` of a 141 MB root filesystem (kernel with 58 MB of modules,
//! init, 4 containers) from a loopback registry: full warm, incremental (one service
//! changed, nothing changed), cold, warm `tar`, and in the same run the practical limits
//! over the same cpio. `cargo bench -p lk-ops --bench build`. Each measured build runs in a
//! child process so its peak RSS is its own.
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

/// User plus system CPU seconds of this process so far (from /proc/self/stat, in clock
/// ticks of 1/100 s, the kernel's USER_HZ on Linux).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which is in parentheses): utime is the 12th.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ticks: u64 =
                rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// The configuration; `run` goes into one service's command (a new value changes only that
/// service's bundle).
fn yaml(h: &str, run: u32) -> String {
    format!(
        "kernel:\n  image: {h}/b/kernel:v1\n  cmdline: console=ttyS0\ninit:\n  - {h}/b/init:v1\nonboot:\n  - name: c0\n    image: {h}/b/c0:v1\n  - name: c1\n    image: {h}/b/c1:v1\nservices:\n  - name: c2\n    image: {h}/b/c2:v1\n    command: [/usr/bin/f0, --run, \"{run}\"]\n  - name: c3\n    image: {h}/b/c3:v1\n"
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pushes the benchmark's images: kernel 8 MB with 58 MB of modules, init 15 MB, four
/// containers of 15 MB (content compressing about 2:1).
fn push_images(reg: &Registry, scale: usize) {
    let mb = |n: usize| (n << 20) / scale;
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
        for dir in [
            "lib",
            "lib/modules",
            "lib/modules/6.1.0",
            "lib/modules/6.1.0/kernel",
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_cksum();
            b.append_data(&mut h, dir, std::io::empty()).unwrap();
        }
        for i in 0..580 {
            let d = content(mb(58) / 580, 100 + i);
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
    let files = |seed: u64| -> Vec<(String, Vec<u8>)> {
        (0..30)
            .map(|j| (format!("usr/bin/f{j}"), content(mb(15) / 30, seed + j)))
            .collect()
    };
    let image = |files: &[(String, Vec<u8>)], cmd: &[&str]| {
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, d)| (p.as_str(), d.as_slice()))
            .collect();
        TestImage::new("amd64", vec![layer(&refs)], &[], cmd)
    };
    push("b/init", image(&files(2000), &[]));
    for i in 0..4u64 {
        push(
            &format!("b/c{i}"),
            image(&files(1000 * i), &["/usr/bin/f0"]),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let env = Env {
            segments_max: args[i + 5].parse().ok(),
            ..Env::default()
        };
        let t = Instant::now();
        build(
            &settings(&args[i + 1], &args[i + 2], &args[i + 3], &args[i + 4]),
            &env,
            &mut std::io::sink(),
            &Quiet,
            &Silent,
        )
        .expect("build");
        println!(
            "{:.4} {} {:.2}",
            t.elapsed().as_secs_f64(),
            peak_rss_kib(),
            cpu_seconds()
        );
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
    let runs = if bench { 5 } else { 1 };
    let reg = Registry::start();
    push_images(&reg, scale);
    let work = TempDir::new("bench-build");
    let cache = work.path().join("cache");
    let out = work.path().join("out");
    let (ca, o) = (cache.to_str().unwrap(), out.to_str().unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut run_no = 0u32;
    let mut peak = 0u64;
    let mut cpu: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    // One build in its own process: seconds (its peak RSS and CPU time recorded). `segments`: the store's bound
    // ("0": none, "": default).
    let mut child =
        |what: &'static str, cache: &str, format: &str, segments: &str, changed: bool| -> f64 {
            if changed {
                run_no += 1;
            }
            let yml = work.path().join(format!("bench-{run_no}.yml"));
            std::fs::write(&yml, yaml(&reg.host, run_no)).unwrap();
            let r = Command::new(&exe)
                .args(["--child", yml.to_str().unwrap(), cache, o, format, segments])
                .output()
                .unwrap();
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let line = String::from_utf8_lossy(&r.stdout).into_owned();
            let mut it = line.split_whitespace();
            let t = it.next().and_then(|t| t.parse().ok()).unwrap_or(f64::MAX);
            peak = peak.max(it.next().and_then(|t| t.parse().ok()).unwrap_or(0));
            cpu.entry(what)
                .or_default()
                .push(it.next().and_then(|t| t.parse().ok()).unwrap_or(0.0));
            t
        };
    // Cold: an empty cache each time (pull from the registry, no segments), alternated with
    // the warm builds below.
    let mut cold = Vec::new();
    let mut full = Vec::new();
    let mut one = Vec::new();
    let mut nothing = Vec::new();
    let mut tar = Vec::new();
    for i in 0..runs {
        let fresh = work.path().join(format!("cold-{i}"));
        cold.push(child(
            "cold",
            fresh.to_str().unwrap(),
            "kernel+initrd",
            "",
            false,
        ));
        let _ = std::fs::remove_dir_all(&fresh);
        if i == 0 {
            child("fill", ca, "kernel+initrd", "", false); // fills the cache and the store
        }
        // Every segment compressed again (images and layer indexes warm).
        for e in std::fs::read_dir(cache.join("segments")).unwrap().flatten() {
            let p = e.path();
            if p.extension()
                .is_some_and(|x| x == "initrd" || x == "rootfs")
            {
                std::fs::remove_file(p).unwrap();
            }
        }
        full.push(child("full", ca, "kernel+initrd", "", false));
        one.push(child("one", ca, "kernel+initrd", "", true));
        nothing.push(child("nothing", ca, "kernel+initrd", "", false));
        tar.push(child("tar", ca, "tar", "", false));
    }
    let initrd_size =
        std::fs::metadata(out.join(format!("bench-{run_no}-initrd.img"))).map_or(0, |m| m.len());
    let full = median(full);
    println!(
        "{} MB root filesystem, medians of {runs} builds, each in its own process:",
        141 / scale
    );
    println!(
        "  full warm kernel+initrd (images and layer indexes cached, every segment compressed): {full:.3} s"
    );
    println!(
        "  warm rebuild, one service's command changed: {:.3} s",
        median(one)
    );
    println!("  warm rebuild, nothing changed: {:.3} s", median(nothing));
    let cold = median(cold);
    println!(
        "  cold kernel+initrd (empty cache, pulled from a loopback registry): {cold:.3} s ({:.2} x full warm)",
        cold / full
    );
    println!("  warm tar: {:.3} s", median(tar));
    let cpu_of = |k: &str| median(cpu.get(k).cloned().unwrap_or_else(|| vec![0.0]));
    println!(
        "  CPU time (user+sys), full warm {:.2} s, cold {:.2} s, on {} cores",
        cpu_of("full"),
        cpu_of("cold"),
        lk_formats::pgzip::cores()
    );
    println!("  peak RSS of any build: {} MiB", peak / 1024);
    println!("  initrd: {:.1} MB", initrd_size as f64 / 1e6);
    let pigz6 = limits(
        &out.join(format!("bench-{run_no}-initrd.img")),
        if bench { 3 } else { 1 },
    );
    if let Some(p) = pigz6 {
        println!("  full warm build / pigz -6 alone: {:.2}", full / p);
    }
}

/// Median wall time of `f` over `runs` runs.
fn median_of(runs: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// The same uncompressed cpio through our gzip (one core, every core) and, in the same run,
/// through the practical limits: `pigz -6`, `pigz -1`, `zstd -3 -T0` (when installed).
fn limits(initrd: &std::path::Path, runs: usize) -> Option<f64> {
    use std::io::{Read, Write};
    let mut cpio = Vec::new();
    // Every segment's gzip member, one after the other: the whole cpio stream.
    flate2::read::MultiGzDecoder::new(std::fs::File::open(initrd).unwrap())
        .read_to_end(&mut cpio)
        .unwrap();
    let raw = initrd.with_extension("cpio");
    std::fs::write(&raw, &cpio).unwrap();
    println!(
        "the same {:.1} MB of cpio, medians of {runs}:",
        cpio.len() as f64 / 1e6
    );
    let cores = lk_formats::pgzip::cores();
    for threads in [1, cores] {
        let t = median_of(runs, || {
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
    let mut pigz6 = None;
    for (program, args) in [
        ("pigz", &["-6", "-c"][..]),
        ("pigz", &["-1", "-c"][..]),
        ("zstd", &["-3", "-T0", "-c", "-q"][..]),
    ] {
        let mut ok = true;
        let t = median_of(runs, || {
            let r = Command::new(program)
                .args(args)
                .arg(&raw)
                .stdout(std::process::Stdio::null())
                .status();
            ok &= r.is_ok_and(|s| s.success());
        });
        if ok {
            if args[0] == "-6" {
                pigz6 = Some(t);
            }
            println!("  {program} {}: {t:.3} s", args.join(" "));
        } else {
            println!("  {program} {}: not installed", args.join(" "));
        }
    }
    let _ = std::fs::remove_file(&raw);
    pigz6
}
