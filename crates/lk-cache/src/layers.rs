//! Compressing the layers of an image we wrote into the cache ourselves. Docker's engine
//! hands images over (`docker save`) with every layer as a plain tar; LinuxKit, like every
//! registry client, expects `tar+gzip` layers, and plain layers make pushes and pulls about
//! three times larger. [`Cache::compress_layers`] rewrites such an image in place: each plain
//! layer becomes a gzip (or zstd) blob written reproducibly (the same bytes for the same
//! content, on any number of cores: [`lk_util::pgzip`]), the config keeps its bytes (its
//! `diff_ids` are the plain tars' digests, which do not change), and the manifests and index
//! become OCI documents. The plain blobs are removed once no image in the cache uses them.

use std::io::{self, Write};

use lk_oci::{
    Descriptor, Digest, Document, MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER,
    MEDIA_OCI_MANIFEST,
};
use lk_util::compress::{Compression, Compressor};

use crate::store::{Cache, CacheError};

/// The OCI media type of a tar layer compressed with `kind`.
pub fn layer_media_type(kind: Compression) -> &'static str {
    match kind {
        Compression::Gzip => lk_oci::MEDIA_OCI_LAYER_GZIP,
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::None => MEDIA_OCI_LAYER,
    }
}

/// A plain (uncompressed) tar layer's media type: OCI's or Docker's.
fn is_plain_layer(media_type: &str) -> bool {
    media_type == MEDIA_OCI_LAYER || media_type == "application/vnd.docker.image.rootfs.diff.tar"
}

/// One layer [`Cache::compress_layers`] rewrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressedLayer {
    /// The plain tar (the config's diff_id).
    pub plain: Digest,
    /// Its size.
    pub plain_size: u64,
    /// The compressed blob.
    pub compressed: Digest,
    /// Its size.
    pub compressed_size: u64,
}

/// What [`Cache::compress_layers`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressReport {
    /// The image's top-level descriptor now (unchanged when nothing was rewritten).
    pub root: Descriptor,
    /// The layers rewritten, bottom first, manifest by manifest.
    pub layers: Vec<CompressedLayer>,
    /// Plain blobs removed from the cache (no other image used them).
    pub removed: usize,
}

impl Cache {
    /// Rewrites image `name` so its plain tar layers are compressed with `kind` (see the
    /// module documentation). `Compression::None` and an image whose layers are already
    /// compressed leave it as it is. Attestation manifests are kept unchanged.
    pub fn compress_layers(
        &self,
        name: &str,
        kind: Compression,
    ) -> Result<CompressReport, CacheError> {
        let root = self.find(name)?.ok_or_else(|| CacheError::NotFound {
            name: name.to_owned(),
        })?;
        let mut report = CompressReport {
            root: root.clone(),
            layers: Vec::new(),
            removed: 0,
        };
        if kind == Compression::None {
            return Ok(report);
        }
        let mut replaced = vec![root.digest.clone()];
        let new_root = match self.document(&root)? {
            Document::Manifest(_) => {
                self.compress_manifest(name, &root, kind, &mut report, &mut replaced)?
            }
            Document::Index(mut index) => {
                let mut changed = false;
                for m in &mut index.manifests {
                    if m.is_attestation() || !lk_oci::is_manifest(&m.media_type) {
                        continue;
                    }
                    let new = self.compress_manifest(name, m, kind, &mut report, &mut replaced)?;
                    changed |= new.digest != m.digest;
                    *m = new;
                }
                if !changed {
                    return Ok(report);
                }
                index.media_type = MEDIA_OCI_INDEX.to_owned();
                self.put_document(
                    &root,
                    MEDIA_OCI_INDEX,
                    &serialize(serde_json::to_vec(&index), name)?,
                )?
            }
        };
        if new_root.digest == root.digest {
            return Ok(report);
        }
        self.set_name(name, &new_root)?;
        report.root = new_root;
        report.removed = self.remove_unreferenced(&replaced)?;
        Ok(report)
    }

    /// The manifest `desc` with its plain layers compressed (itself when it has none).
    fn compress_manifest(
        &self,
        name: &str,
        desc: &Descriptor,
        kind: Compression,
        report: &mut CompressReport,
        replaced: &mut Vec<Digest>,
    ) -> Result<Descriptor, CacheError> {
        let Document::Manifest(mut manifest) = self.document(desc)? else {
            return Ok(desc.clone());
        };
        if !manifest
            .layers
            .iter()
            .any(|l| is_plain_layer(&l.media_type))
        {
            return Ok(desc.clone());
        }
        for l in &mut manifest.layers {
            if !is_plain_layer(&l.media_type) {
                continue;
            }
            let (digest, size) = self.compress_blob(name, &l.digest, kind)?;
            report.layers.push(CompressedLayer {
                plain: l.digest.clone(),
                plain_size: l.size,
                compressed: digest.clone(),
                compressed_size: size,
            });
            replaced.push(l.digest.clone());
            l.media_type = layer_media_type(kind).to_owned();
            l.digest = digest;
            l.size = size;
        }
        // The config's bytes stay; in an OCI manifest it is an OCI config (Docker's image
        // config is the same JSON).
        manifest.config.media_type = MEDIA_OCI_CONFIG.to_owned();
        manifest.media_type = MEDIA_OCI_MANIFEST.to_owned();
        replaced.push(desc.digest.clone());
        self.put_document(
            desc,
            MEDIA_OCI_MANIFEST,
            &serialize(serde_json::to_vec(&manifest), name)?,
        )
    }

    /// Compresses blob `plain` (verified while read) into a new blob.
    fn compress_blob(
        &self,
        name: &str,
        plain: &Digest,
        kind: Compression,
    ) -> Result<(Digest, u64), CacheError> {
        let mut reader = self.open_blob(plain)?;
        let out = self.new_blob()?;
        let failed = |source: io::Error| CacheError::Io {
            action: "compressing a layer of",
            path: self
                .blob_path(plain)
                .with_file_name(format!("{plain} ({name})")),
            source,
        };
        let mut c = Compressor::new(out, kind).map_err(failed)?;
        io::copy(&mut reader, &mut c).map_err(failed)?;
        let mut out = c.finish().map_err(failed)?;
        out.flush().map_err(failed)?;
        out.commit()
    }

    /// Stores a rewritten document; its descriptor keeps `old`'s platform and annotations.
    fn put_document(
        &self,
        old: &Descriptor,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Descriptor, CacheError> {
        let digest = self.put_bytes(bytes)?;
        let mut d = old.clone();
        d.media_type = media_type.to_owned();
        d.digest = digest;
        d.size = bytes.len() as u64;
        Ok(d)
    }
}

fn serialize(json: serde_json::Result<Vec<u8>>, name: &str) -> Result<Vec<u8>, CacheError> {
    json.map_err(|e| CacheError::BadDocument {
        path: name.into(),
        source: Box::new(e),
    })
}
