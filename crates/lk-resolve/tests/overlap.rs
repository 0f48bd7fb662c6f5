//! `Puller::resolve_with`: a cold build starts once the manifests and configs are in the
//! cache, reads each layer as it arrives, and the images are named only afterwards.

use std::io::Read;

use lk_cache::Cache;
use lk_oci::{Digest, Platform};
use lk_registry::{Client, ClientOptions, Repository};
use lk_resolve::{PullError, PullOptions, Puller, Quiet};
use lk_spec::{ImageRef, Source, parse_config};
use lk_testutil::TempDir;
use lk_testutil::image::{TestImage, layer, noise};
use lk_testutil::registry::Registry;

fn opts() -> PullOptions {
    PullOptions {
        platforms: vec![Platform::linux("amd64")],
        always: false,
        concurrency: 2,
    }
}

/// Pushes a kernel and a service image with several layers; returns the configuration
/// naming them and the images.
fn setup(reg: &Registry, c: &Client) -> (lk_spec::Config, Vec<(String, TestImage)>) {
    let mut images = Vec::new();
    for (path, seed) in [("ov/kernel", 1u64), ("ov/svc", 2)] {
        let img = TestImage::new(
            "amd64",
            (0..3)
                .map(|i| {
                    layer(&[(
                        format!("f{i}").as_str(),
                        noise(200_000, seed * 10 + i).as_slice(),
                    )])
                })
                .collect(),
            &[],
            &["/bin/sh"],
        );
        let repo = Repository {
            registry: reg.host.clone(),
            path: path.into(),
        };
        img.push(c, &repo, Some("v1"));
        images.push((format!("{}/{path}:v1", reg.host), img));
    }
    let yaml = format!(
        "kernel:\n  image: {}\nservices:\n  - name: s\n    image: {}\n",
        images[0].0, images[1].0
    );
    (
        parse_config(&Source::named("ov.yml"), &yaml, None).unwrap(),
        images,
    )
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn the_build_reads_layers_as_they_arrive_and_images_are_named_after() {
    let reg = Registry::start();
    let c = Client::new(ClientOptions::default());
    let (config, images) = setup(&reg, &c);
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let out = Puller::new(&c, &cache)
        .resolve_with(config, &opts(), &Quiet, |r| {
            let mut read = Vec::new();
            for p in r.images() {
                assert!(
                    cache.find(p.canonical()).unwrap().is_none(),
                    "{} is not named before its layers are in",
                    p.canonical()
                );
                for i in 0..p.image.manifest.layers.len() {
                    let mut bytes = Vec::new();
                    r.open_layer(&p.image, i)
                        .map_err(|e| e.to_string())?
                        .read_to_end(&mut bytes)
                        .map_err(|e| e.to_string())?;
                    read.push(bytes);
                }
            }
            Ok::<_, String>(read)
        })
        .unwrap()
        .unwrap();
    assert_eq!(out.len(), 6, "every layer read inside the build");
    for (name, img) in &images {
        let r = ImageRef::parse(name).unwrap();
        assert_eq!(
            cache.find(r.canonical()).unwrap().map(|d| d.digest),
            Some(Digest::of(&img.manifest)),
            "{name} named once its blobs are in"
        );
        for l in &img.layers {
            assert!(cache.has_blob(&Digest::of(l), l.len() as u64));
        }
    }
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn a_corrupt_layer_fails_the_pull_and_the_reader_waiting_for_it() {
    let reg = Registry::start();
    let c = Client::new(ClientOptions::default());
    let (config, images) = setup(&reg, &c);
    let bad = Digest::of(&images[1].1.layers[2]);
    std::fs::write(reg.blob_data_path(bad.hex()), b"not this layer").unwrap();
    let dir = TempDir::new("cache");
    let cache = Cache::open(dir.path()).unwrap();
    let mut reader_error = None;
    let e = Puller::new(&c, &cache)
        .resolve_with(config, &opts(), &Quiet, |r| {
            for p in r.images() {
                for i in 0..p.image.manifest.layers.len() {
                    if let Err(e) = r.open_layer(&p.image, i) {
                        reader_error = Some(e.to_string());
                        return Err(());
                    }
                }
            }
            Ok(())
        })
        .unwrap_err();
    let text = format!(
        "{e}: {}",
        std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(!matches!(e, PullError::Interrupted), "{text}");
    assert!(text.contains(&images[1].0), "names the image: {text}");
    assert!(text.contains(bad.as_str()), "names the digest: {text}");
    let reader_error = reader_error.expect("the reader of the bad layer was told");
    assert!(reader_error.contains(bad.as_str()), "{reader_error}");
    assert!(!cache.blob_path(&bad).exists(), "bad layer not stored");
    let svc = ImageRef::parse(&images[1].0).unwrap();
    assert!(
        cache.find(svc.canonical()).unwrap().is_none(),
        "the image with a missing layer is not named"
    );
}
