//! Pulling from a real loopback registry (Debian's docker-registry), images built in-process.

use lk_cache::Cache;
use lk_oci::{Digest, Platform};
use lk_registry::{Client, ClientOptions, Credentials, Repository};
use lk_resolve::{PullError, PullOptions, Puller, Quiet};
use lk_spec::ImageRef;
use lk_testutil::TempDir;
use lk_testutil::image::{TestImage, layer, noise, push_index};
use lk_testutil::registry::Registry;

fn client() -> Client {
    Client::new(ClientOptions::default())
}

fn repo(reg: &Registry, path: &str) -> Repository {
    Repository {
        registry: reg.host.clone(),
        path: path.into(),
    }
}

fn opts(archs: &[&str]) -> PullOptions {
    PullOptions {
        platforms: archs.iter().map(|a| Platform::linux(a)).collect(),
        always: false,
        concurrency: 4,
    }
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn pulls_a_single_manifest_image_and_then_needs_no_network() {
    let reg = Registry::start();
    let c = client();
    let img = TestImage::new(
        "amd64",
        vec![layer(&[("etc/a", b"a")]), layer(&[("etc/b", b"b")])],
        &[("org.mobyproject.config", "{}")],
        &["/bin/sh"],
    );
    let digest = img.push(&c, &repo(&reg, "test/single"), Some("v1"));
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let r = ImageRef::parse(&format!("{}/test/single:v1", reg.host)).unwrap();
    let got = Puller::new(&c, &cache)
        .pull_all(std::slice::from_ref(&r), &opts(&["amd64"]), &Quiet)
        .unwrap();
    assert_eq!(got[0].root.digest, digest);
    assert_eq!(
        got[0]
            .config
            .config
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap()["org.mobyproject.config"],
        "{}"
    );
    for l in &img.layers {
        assert_eq!(
            std::fs::read(cache.blob_path(&Digest::of(l))).unwrap(),
            *l,
            "byte-identical layer"
        );
    }
    // Warm: works with the registry gone.
    drop(reg);
    let again = Puller::new(&c, &cache)
        .pull_all(&[r], &opts(&["amd64"]), &Quiet)
        .unwrap();
    assert_eq!(again[0].root.digest, digest);
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn pulls_only_the_wanted_platform_of_an_index() {
    let reg = Registry::start();
    let c = client();
    let amd = TestImage::new("amd64", vec![layer(&[("x", b"amd64")])], &[], &[]);
    let arm = TestImage::new("arm64", vec![layer(&[("x", b"arm64")])], &[], &[]);
    let idx = push_index(
        &c,
        &repo(&reg, "test/multi"),
        "v1",
        &[amd.clone(), arm.clone()],
    );
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let r = ImageRef::parse(&format!("{}/test/multi:v1", reg.host)).unwrap();
    let got = Puller::new(&c, &cache)
        .pull_all(std::slice::from_ref(&r), &opts(&["arm64"]), &Quiet)
        .unwrap();
    assert_eq!(got[0].root.digest, idx);
    assert_eq!(got[0].config.architecture, "arm64");
    assert!(cache.has_blob(&Digest::of(&arm.layers[0]), arm.layers[0].len() as u64));
    assert!(
        !cache.blob_path(&Digest::of(&amd.layers[0])).exists(),
        "other platforms' layers are not downloaded"
    );
    let e = Puller::new(&c, &cache)
        .pull_all(&[r], &opts(&["riscv64"]), &Quiet)
        .unwrap_err();
    assert!(matches!(e, PullError::MissingPlatform { .. }), "{e}");
    assert!(
        e.to_string().ends_with(
            "does not contain target platforms linux/riscv64; it has linux/amd64, linux/arm64"
        ),
        "{e}"
    );
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn a_corrupt_blob_in_the_registry_is_rejected_and_the_cache_is_unchanged() {
    let reg = Registry::start();
    let c = client();
    let img = TestImage::new("amd64", vec![layer(&[("a", &noise(4096, 1))])], &[], &[]);
    img.push(&c, &repo(&reg, "test/bad"), Some("v1"));
    let l = Digest::of(&img.layers[0]);
    std::fs::write(
        reg.blob_data_path(l.hex()),
        b"not the layer you are looking for",
    )
    .unwrap();
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let before = cache.blob_digests().unwrap();
    let r = ImageRef::parse(&format!("{}/test/bad:v1", reg.host)).unwrap();
    let e = Puller::new(&c, &cache)
        .pull_all(&[r], &opts(&["amd64"]), &Quiet)
        .unwrap_err();
    let text = format!(
        "{e}: {}",
        std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(
        text.contains(&format!("pulling {}/test/bad:v1", reg.host)),
        "{text}"
    );
    assert!(text.contains(l.as_str()), "names the digest: {text}");
    assert!(cache.images().unwrap().is_empty(), "no name written");
    let after = cache.blob_digests().unwrap();
    assert!(!after.contains(l.hex()), "bad layer not stored");
    assert!(after.is_superset(&before));
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn basic_auth_with_htpasswd() {
    let reg = Registry::start_with(Some(("alice", "s3cret")));
    let mut creds = std::collections::HashMap::new();
    creds.insert(
        reg.host.clone(),
        Credentials::Basic {
            user: "alice".into(),
            password: "s3cret".into(),
        },
    );
    let authed = Client::new(ClientOptions {
        credentials: creds,
        ..ClientOptions::default()
    });
    let img = TestImage::new("amd64", vec![layer(&[("a", b"1")])], &[], &[]);
    let digest = img.push(&authed, &repo(&reg, "private/img"), Some("v1"));
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let r = ImageRef::parse(&format!("{}/private/img:v1", reg.host)).unwrap();
    let got = Puller::new(&authed, &cache)
        .pull_all(std::slice::from_ref(&r), &opts(&["amd64"]), &Quiet)
        .unwrap();
    assert_eq!(got[0].root.digest, digest);
    let anonymous = client();
    let dir2 = TempDir::new("cache");
    let cache2 = Cache::open(dir2.path()).unwrap();
    let e = Puller::new(&anonymous, &cache2)
        .pull_all(&[r], &opts(&["amd64"]), &Quiet)
        .unwrap_err();
    let text = format!("{:?}", e);
    assert!(text.contains("Auth"), "{text}");
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn pushed_then_pulled_back_is_byte_identical() {
    let reg = Registry::start();
    let c = client();
    let img = TestImage::new("amd64", vec![layer(&[("a", &noise(100_000, 7))])], &[], &[]);
    let digest = img.push(&c, &repo(&reg, "round/trip"), Some("v1"));
    let fetched = c.get_manifest(&repo(&reg, "round/trip"), "v1").unwrap();
    assert_eq!(fetched.bytes, img.manifest);
    assert_eq!(fetched.digest, digest);
    let mut out = Vec::new();
    c.get_blob(
        &repo(&reg, "round/trip"),
        &Digest::of(&img.layers[0]),
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out, img.layers[0]);
    // Cross-repository mount: the blob appears in another repository without re-upload.
    let other = repo(&reg, "round/other");
    c.push_blob(
        &other,
        &Digest::of(&img.layers[0]),
        img.layers[0].len() as u64,
        &mut std::io::empty(),
        Some("round/trip"),
    )
    .unwrap();
    assert!(c.blob_exists(&other, &Digest::of(&img.layers[0])).unwrap());
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn many_images_pull_in_parallel_into_one_cache() {
    let reg = Registry::start();
    let c = client();
    let mut refs = Vec::new();
    for i in 0..10u64 {
        let img = TestImage::new(
            "amd64",
            vec![
                layer(&[("shared", b"same")]),
                layer(&[("own", &noise(50_000, i + 1))]),
            ],
            &[],
            &[],
        );
        img.push(&c, &repo(&reg, &format!("many/img{i}")), Some("v1"));
        refs.push(ImageRef::parse(&format!("{}/many/img{i}:v1", reg.host)).unwrap());
    }
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let got = Puller::new(&c, &cache)
        .pull_all(&refs, &opts(&["amd64"]), &Quiet)
        .unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(cache.images().unwrap().len(), 10);
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn docker_hub_names_are_pulled_through_a_mirror() {
    let reg = Registry::start();
    let img = TestImage::new("amd64", vec![layer(&[("m", b"mirrored")])], &[], &[]);
    let digest = img.push(&client(), &repo(&reg, "library/alpine"), Some("3.20"));
    let mirrors = lk_registry::Mirrors::new(&[format!("docker.io=http://{}", reg.host)]).unwrap();
    let via_mirror = Client::new(ClientOptions {
        mirrors,
        ..ClientOptions::default()
    });
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let r = ImageRef::parse("alpine:3.20").unwrap();
    let got = Puller::new(&via_mirror, &cache)
        .pull_all(&[r], &opts(&["amd64"]), &Quiet)
        .unwrap();
    assert_eq!(got[0].root.digest, digest);
    assert_eq!(
        got[0].name, "docker.io/library/alpine:3.20",
        "cached under the canonical name, not the mirror's"
    );
}
