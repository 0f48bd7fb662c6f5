//! Compressing the plain layers of an image Docker's engine handed over (`docker save`).

use std::io::Read;
use std::path::PathBuf;

use lk_cache::{Cache, Compression};
use lk_oci::{Digest, Document, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, Platform};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lk-layers-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A real tar of `files`, big enough that the parallel gzip cuts it into several blocks.
fn layer_tar(files: &[(&str, usize)]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (i, (path, len)) in files.iter().enumerate() {
        let data: Vec<u8> = (0..*len)
            .map(|j| ((j * 31 + i * 7) % 251) as u8 ^ (j / 4096) as u8)
            .collect();
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        t.append_data(&mut h, path, &data[..]).unwrap();
    }
    t.into_inner().unwrap()
}

/// A legacy `docker save` archive of `tag` with `layers` (what Docker 20.10 writes).
fn docker_save(tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/x"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let mut t = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, path, data).unwrap();
    };
    add("cfg.json", &config);
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("l{i}/layer.tar");
        add(&p, l);
        paths.push(p);
    }
    let manifest = serde_json::json!([{"Config": "cfg.json", "RepoTags": [tag], "Layers": paths}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    t.into_inner().unwrap()
}

fn decompress(kind: Compression, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match kind {
        Compression::Gzip => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => out = zstd::stream::decode_all(data).unwrap(),
        Compression::None => out = data.to_vec(),
    }
    out
}

fn layers() -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("bin/a", 700_000), ("etc/b", 10)]),
        layer_tar(&[("usr/lib/c", 300_000)]),
    ]
}

const NAME: &str = "docker.io/library/pkg:1";

#[test]
fn plain_layers_become_reproducible_gzip_or_zstd_with_the_same_diff_ids() {
    let plain = layers();
    for kind in [Compression::Gzip, Compression::Zstd] {
        let mut roots = Vec::new();
        for run in 0..2 {
            let c = Cache::open(&tempdir(&format!("{kind}-{run}"))).unwrap();
            c.import(&mut &docker_save("pkg:1", &plain)[..]).unwrap();
            let report = c.compress_layers(NAME, kind).unwrap();
            assert_eq!(report.layers.len(), 2);
            assert_eq!(report.removed, 3, "two plain layers and the old manifest");
            let r = c.resolve(NAME, &Platform::linux("amd64")).unwrap();
            assert_eq!(r.manifest.media_type, MEDIA_OCI_MANIFEST);
            assert_eq!(r.manifest.config.media_type, MEDIA_OCI_CONFIG);
            let diff_ids = r.config.rootfs.as_ref().unwrap().diff_ids.clone();
            for (i, l) in r.manifest.layers.iter().enumerate() {
                assert_eq!(l.media_type, lk_cache::layer_media_type(kind));
                let stored = c.read_to_vec(&l.digest).unwrap();
                assert!(stored.len() < plain[i].len() / 2, "{kind} layer {i} shrank");
                let back = decompress(kind, &stored);
                assert_eq!(back, plain[i]);
                assert_eq!(Digest::of(&back).to_string(), diff_ids[i]);
                // The plain blob is gone: nothing else uses it.
                assert!(!c.blob_path(&Digest::of(&plain[i])).exists());
            }
            if kind == Compression::Gzip {
                let gz = c.read_to_vec(&r.manifest.layers[0].digest).unwrap();
                assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
            }
            roots.push(report.root.digest);
        }
        assert_eq!(roots[0], roots[1], "{kind}: the same digest twice");
    }
}

#[test]
fn a_plain_blob_another_image_uses_is_kept_and_compressing_again_changes_nothing() {
    let plain = layers();
    let c = Cache::open(&tempdir("shared")).unwrap();
    c.import(&mut &docker_save("other:1", &plain[..1])[..])
        .unwrap();
    c.import(&mut &docker_save("pkg:1", &plain)[..]).unwrap();
    let report = c.compress_layers(NAME, Compression::Gzip).unwrap();
    assert_eq!(
        report.removed, 2,
        "layer 1 and the manifest; layer 0 is shared"
    );
    assert!(c.blob_path(&Digest::of(&plain[0])).exists());
    assert!(!c.blob_path(&Digest::of(&plain[1])).exists());
    let again = c.compress_layers(NAME, Compression::Gzip).unwrap();
    assert!(again.layers.is_empty());
    assert_eq!(again.root, report.root);
    assert_eq!(c.find(NAME).unwrap().unwrap().digest, report.root.digest);
    let none = c
        .compress_layers("docker.io/library/other:1", Compression::None)
        .unwrap();
    assert!(none.layers.is_empty());
}

#[test]
fn an_index_gets_every_platform_rewritten_and_keeps_its_platforms() {
    let plain = layers();
    let c = Cache::open(&tempdir("index")).unwrap();
    c.import(&mut &docker_save("pkg:1-amd64", &plain)[..])
        .unwrap();
    let mut m = c.find("docker.io/library/pkg:1-amd64").unwrap().unwrap();
    m.annotations.clear();
    m.platform = Some(Platform::linux("amd64"));
    let index = lk_oci::Index {
        media_type: lk_oci::MEDIA_OCI_INDEX.into(),
        manifests: vec![m],
        ..Default::default()
    };
    let bytes = serde_json::to_vec(&index).unwrap();
    let d = c.put_bytes(&bytes).unwrap();
    c.set_name(
        NAME,
        &lk_oci::Descriptor::new(lk_oci::MEDIA_OCI_INDEX, d, bytes.len() as u64),
    )
    .unwrap();
    let report = c.compress_layers(NAME, Compression::Gzip).unwrap();
    assert_eq!(report.layers.len(), 2);
    let Document::Index(i) = c.document(&report.root).unwrap() else {
        panic!("an index")
    };
    assert_eq!(i.manifests[0].platform, Some(Platform::linux("amd64")));
    // Only the old index goes: the per-arch name still points at the plain manifest.
    assert_eq!(report.removed, 1);
    assert!(c.blob_path(&Digest::of(&plain[0])).exists());
    let r = c.resolve(NAME, &Platform::linux("amd64")).unwrap();
    assert!(r.manifest.layers[0].media_type.ends_with("gzip"));
}
