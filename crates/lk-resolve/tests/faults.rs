//! Pulling from a registry that misbehaves (lk_testutil::faulty): the cache stays valid, a
//! cut or stalled download resumes with a range request, 5xx answers are retried with
//! backoff, wrong bytes are refused naming the image and digest, and a later run recovers.

use std::time::Duration;

use lk_cache::Cache;
use lk_oci::{Digest, Platform};
use lk_registry::{Client, ClientOptions};
use lk_resolve::{PullOptions, Puller, Quiet};
use lk_spec::ImageRef;
use lk_testutil::TempDir;
use lk_testutil::faulty::{Fault, FaultyRegistry};
use lk_testutil::image::{TestImage, noise};

fn image() -> TestImage {
    // One big layer (incompressible) so a cut lands inside it.
    let big = noise(1 << 20, 7);
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(big.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "big", &big[..]).unwrap();
    let plain = t.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    TestImage::new("amd64", vec![gz.finish().unwrap()], &[], &["/big"])
}

fn client(timeout: Duration) -> Client {
    Client::new(ClientOptions {
        timeout: Some(timeout),
        ..ClientOptions::default()
    })
}

fn opts() -> PullOptions {
    PullOptions {
        platforms: vec![Platform::linux("amd64")],
        always: false,
        concurrency: 2,
    }
}

fn pull(reg: &FaultyRegistry, cache: &Cache, c: &Client) -> Result<(), String> {
    let r = ImageRef::parse(&format!("{}/test/faulty:v1", reg.host)).unwrap();
    Puller::new(c, cache)
        .with_retries(3, Duration::from_millis(20))
        .pull_all(&[r], &opts(), &Quiet)
        .map(|_| ())
        .map_err(|e| {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        })
}

/// Files in the cache's blob directory other than blobs named by their digest.
fn strays(cache: &Cache) -> Vec<String> {
    std::fs::read_dir(cache.root().join("blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn valid(cache: &Cache, img: &TestImage) {
    for b in std::iter::once(&img.config).chain(&img.layers) {
        let d = Digest::of(b);
        assert_eq!(cache.read_to_vec(&d).unwrap(), *b, "blob {d}");
    }
    assert!(strays(cache).is_empty(), "{:?}", strays(cache));
}

/// The image, a faulty registry serving it with `plan` then `after`, and an empty cache.
fn setup(name: &str, plan: &[Fault], after: Fault) -> (TestImage, FaultyRegistry, TempDir, Cache) {
    let img = image();
    let reg = FaultyRegistry::start("test/faulty", "v1", &img, plan, after);
    let dir = TempDir::new(name);
    let cache = Cache::open(dir.path()).unwrap();
    (img, reg, dir, cache)
}

#[test]
fn a_cut_connection_is_resumed_with_a_range_request() {
    let (img, reg, _dir, cache) = setup("faults-cut", &[Fault::Cut, Fault::Cut], Fault::None);
    pull(&reg, &cache, &client(Duration::from_secs(10))).unwrap();
    valid(&cache, &img);
    // The first blob asked for (the config) was cut twice: asked again from where it stopped.
    let r = reg.requests();
    assert_eq!(r[0].from, 0, "{r:?}");
    assert!(
        r[1].digest == r[0].digest && r[1].from > 0,
        "resumed: {r:?}"
    );
    assert!(
        r[2].digest == r[0].digest && r[2].from > r[1].from,
        "resumed: {r:?}"
    );
}

#[test]
fn a_registry_that_ignores_the_range_gets_the_blob_from_the_start() {
    let (img, reg, _dir, cache) = setup(
        "faults-norange",
        &[Fault::Cut, Fault::Cut],
        Fault::IgnoreRange,
    );
    pull(&reg, &cache, &client(Duration::from_secs(10))).unwrap();
    valid(&cache, &img);
}

#[test]
fn service_unavailable_is_retried_with_backoff() {
    let (img, reg, _dir, cache) = setup(
        "faults-503",
        &[Fault::Unavailable, Fault::Unavailable, Fault::Unavailable],
        Fault::None,
    );
    pull(&reg, &cache, &client(Duration::from_secs(10))).unwrap();
    valid(&cache, &img);
}

#[test]
fn wrong_bytes_are_refused_naming_image_and_digest_and_a_later_run_recovers() {
    let (img, reg, _dir, cache) = setup("faults-corrupt", &[], Fault::Corrupt);
    let e = pull(&reg, &cache, &client(Duration::from_secs(10))).unwrap_err();
    assert!(e.contains("test/faulty:v1"), "{e}");
    assert!(e.contains("sha256:"), "{e}");
    assert!(strays(&cache).is_empty(), "{:?}", strays(&cache));
    assert!(
        cache
            .find(&format!("{}/test/faulty:v1", reg.host))
            .unwrap()
            .is_none()
    );
    reg.set_faults(&[], Fault::None);
    pull(&reg, &cache, &client(Duration::from_secs(10))).unwrap();
    valid(&cache, &img);
}

#[test]
fn a_registry_that_stops_sending_times_out_and_the_next_run_resumes() {
    let (img, reg, _dir, cache) = setup("faults-stall", &[], Fault::Stall);
    let t0 = std::time::Instant::now();
    let e = pull(&reg, &cache, &client(Duration::from_millis(300))).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(e.contains("test/faulty:v1"), "{e}");
    // What arrived stays for the next run, which asks only for the rest.
    let partial = strays(&cache);
    assert!(
        partial.iter().all(|n| n.starts_with(".partial-")),
        "{partial:?}"
    );
    reg.set_faults(&[], Fault::None);
    let before = reg.requests().len();
    pull(&reg, &cache, &client(Duration::from_secs(10))).unwrap();
    valid(&cache, &img);
    let resumed = reg.requests()[before..].iter().any(|r| r.from > 0);
    assert!(resumed, "{:?}", reg.requests());
}
