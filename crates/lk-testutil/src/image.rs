//! Small OCI images built in memory (gzip layers, config, manifest) and pushed with our
//! registry client.

use std::collections::BTreeMap;
use std::io::Write;

use lk_oci::{
    Descriptor, Digest, Index, MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_MANIFEST, Manifest, Platform,
};
use lk_registry::{Client, Repository};

/// A built image: its blobs and manifest.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// Config bytes.
    pub config: Vec<u8>,
    /// Gzip layer blobs, bottom first.
    pub layers: Vec<Vec<u8>>,
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Platform.
    pub platform: Platform,
}

/// A gzip tar layer with `files` (path, contents), deterministic.
pub fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    let mut t = tar::Builder::new(gz);
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        t.append_data(&mut h, path, *data).expect("tar append");
    }
    t.into_inner()
        .and_then(|gz| gz.finish())
        .expect("tar finish")
}

impl TestImage {
    /// An image of `layers` for `arch` with `labels` and `cmd`.
    pub fn new(
        arch: &str,
        layers: Vec<Vec<u8>>,
        labels: &[(&str, &str)],
        cmd: &[&str],
    ) -> TestImage {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| {
                let mut d = flate2::read::GzDecoder::new(&l[..]);
                let mut raw = Vec::new();
                std::io::Read::read_to_end(&mut d, &mut raw).expect("gunzip");
                Digest::of(&raw).to_string()
            })
            .collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("config json");
        let manifest = Manifest {
            schema_version: 2,
            media_type: MEDIA_OCI_MANIFEST.into(),
            config: Descriptor::new(MEDIA_OCI_CONFIG, Digest::of(&config), config.len() as u64),
            layers: layers
                .iter()
                .map(|l| Descriptor::new(MEDIA_OCI_LAYER_GZIP, Digest::of(l), l.len() as u64))
                .collect(),
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        TestImage {
            config,
            layers,
            manifest: serde_json::to_vec(&manifest).expect("manifest json"),
            platform: Platform::linux(arch),
        }
    }

    /// The manifest's descriptor (with platform, for an index).
    pub fn descriptor(&self) -> Descriptor {
        let mut d = Descriptor::new(
            MEDIA_OCI_MANIFEST,
            Digest::of(&self.manifest),
            self.manifest.len() as u64,
        );
        d.platform = Some(self.platform.clone());
        d
    }

    /// Pushes blobs and the manifest, tagged `tag` (or by digest if `tag` is None).
    pub fn push(&self, client: &Client, repo: &Repository, tag: Option<&str>) -> Digest {
        for blob in std::iter::once(&self.config).chain(&self.layers) {
            client
                .push_blob(
                    repo,
                    &Digest::of(blob),
                    blob.len() as u64,
                    &mut &blob[..],
                    None,
                )
                .expect("push blob");
        }
        let d = Digest::of(&self.manifest);
        client
            .put_manifest(
                repo,
                tag.unwrap_or(d.as_str()),
                MEDIA_OCI_MANIFEST,
                &self.manifest,
            )
            .expect("push manifest")
    }
}

/// Pushes `images` and an index of them tagged `tag`; returns the index digest.
pub fn push_index(client: &Client, repo: &Repository, tag: &str, images: &[TestImage]) -> Digest {
    let mut index = Index {
        media_type: MEDIA_OCI_INDEX.into(),
        ..Index::default()
    };
    for i in images {
        i.push(client, repo, None);
        index.manifests.push(i.descriptor());
    }
    let bytes = serde_json::to_vec(&index).expect("index json");
    client
        .put_manifest(repo, tag, MEDIA_OCI_INDEX, &bytes)
        .expect("push index")
}

/// Random-ish incompressible bytes (xorshift), for large layers.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.write_all(&x.to_le_bytes()).expect("vec write");
    }
    out.truncate(len);
    out
}
