//! Pull benchmark against a loopback docker-registry (run with `cargo bench -p lk-resolve`):
//! cold pull of 10 images (200 MB in all) into an empty cache, and warm resolution of the
//! same 10 images (no network). Prints the figures; docs/benchmarks.md records them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lk_cache::Cache;
use lk_oci::{Digest, Platform};
use lk_registry::{Client, ClientOptions, Repository};
use lk_resolve::{Progress, PullOptions, Puller};
use lk_spec::ImageRef;
use lk_testutil::TempDir;
use lk_testutil::image::{TestImage, layer, noise};
use lk_testutil::registry::{Registry, available};

#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    network: Mutex<usize>,
}

impl Progress for InFlight {
    fn blob_started(&self, _: &str, _: &Digest, _: u64) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        if let Ok(mut c) = self.network.lock() {
            *c += 1;
        }
    }
    fn blob_progress(&self, _: &Digest, _: u64) {}
    fn blob_done(&self, _: &Digest) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn image_ready(&self, _: &str, _: &Digest, _: bool) {}
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Without --bench (run by hand): a small smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    if !available() {
        eprintln!("error: this benchmark needs docker-registry (apt-get install docker-registry)");
        std::process::exit(2);
    }
    let (images, layer_mb) = if bench { (10, 10) } else { (3, 1) };
    let reg = Registry::start();
    let client = Client::new(ClientOptions::default());
    let mut refs = Vec::new();
    for i in 0..images {
        let img = TestImage::new(
            "amd64",
            vec![
                layer(&[("a", &noise(layer_mb << 20, i * 2 + 1))]),
                layer(&[("b", &noise(layer_mb << 20, i * 2 + 2))]),
            ],
            &[],
            &["/bin/sh"],
        );
        let repo = Repository {
            registry: reg.host.clone(),
            path: format!("bench/img{i}"),
        };
        img.push(&client, &repo, Some("v1"));
        refs.push(ImageRef::parse(&format!("{}/bench/img{i}:v1", reg.host)).expect("ref"));
    }
    let dir = TempDir::new("bench-cache");
    let cache = Cache::open(dir.path()).expect("cache");
    let opts = PullOptions {
        platforms: vec![Platform::linux("amd64")],
        always: false,
        concurrency: 4,
    };
    let progress = InFlight::default();
    let t = Instant::now();
    Puller::new(&client, &cache)
        .pull_all(&refs, &opts, &progress)
        .expect("cold pull");
    let cold = t.elapsed();
    let total_mb = images as usize * 2 * layer_mb;
    println!(
        "cold pull: {images} images, {total_mb} MB in {:.2} s ({:.0} MB/s), max {} layers in flight",
        cold.as_secs_f64(),
        total_mb as f64 / cold.as_secs_f64(),
        progress.max.load(Ordering::SeqCst)
    );
    drop(reg);
    let warm_progress = InFlight::default();
    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        Puller::new(&client, &cache)
            .pull_all(&refs, &opts, &warm_progress)
            .expect("warm resolve");
    }
    let warm = t.elapsed() / runs;
    println!(
        "warm resolve: {images} cached images in {:.2} ms (mean of {runs}), {} downloads, registry stopped",
        warm.as_secs_f64() * 1000.0,
        warm_progress.network.lock().map(|n| *n).unwrap_or(0)
    );
}
