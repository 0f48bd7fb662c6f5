//! The stage between resolution and the root filesystem: [`Resolved`], a configuration
//! whose every image is pinned to a digest with its manifest, config and layers in the
//! cache. Only `lk-resolve` makes one (after pulling what was missing); `lk-rootfs` takes
//! it, so a bare tag or an image that was never pulled cannot reach the rootfs stage.
//!
//! | module | role |
//! |---|---|
//! | `layer` | reading a pinned image's layers from the cache, decompressed and verified |
//! | `arrivals` | layers still downloading while a cold build assembles |

mod arrivals;
mod layer;

use std::collections::BTreeMap;
use std::sync::Arc;

use lk_cache::{Cache, ResolvedImage};
use lk_spec::{Config, ImageRef};

pub use arrivals::Arrivals;
pub use layer::{LayerReader, open_layer, unsupported_layer};

/// One image of the configuration, pinned.
#[derive(Clone, Debug)]
pub struct PinnedImage {
    /// The reference as the configuration names it.
    pub reference: ImageRef,
    /// Root, platform manifest and config, as the cache holds them.
    pub image: ResolvedImage,
}

impl PinnedImage {
    /// The canonical reference (what builds record as `LINUXKIT.source`).
    pub fn canonical(&self) -> &str {
        self.reference.canonical()
    }
}

/// An image of the configuration has no pin.
#[derive(Debug, thiserror::Error)]
#[error("image {image} was not resolved")]
pub struct Unpinned {
    /// Canonical reference.
    pub image: String,
}

/// A configuration with every image pinned, and the cache that holds their content.
#[derive(Clone, Debug)]
pub struct Resolved {
    config: Config,
    cache: Cache,
    // Invariant (checked by `new`): one entry per image of `config.images()`.
    images: BTreeMap<String, PinnedImage>,
    /// Layers still being downloaded (a cold build assembles while it pulls).
    arrivals: Option<Arc<Arrivals>>,
}

impl Resolved {
    /// Pins `config`'s images to `pins` (by canonical reference). Fails if any image of
    /// the configuration has no pin. Called by `lk-resolve` once the content is cached.
    pub fn new(
        config: Config,
        cache: Cache,
        pins: impl IntoIterator<Item = ResolvedImage>,
    ) -> Result<Resolved, Unpinned> {
        let mut by_name: BTreeMap<String, ResolvedImage> =
            pins.into_iter().map(|p| (p.name.clone(), p)).collect();
        let mut images = BTreeMap::new();
        for r in config.images() {
            let image = by_name.remove(r.canonical()).ok_or_else(|| Unpinned {
                image: r.canonical().to_owned(),
            })?;
            images.insert(
                r.canonical().to_owned(),
                PinnedImage {
                    reference: r.clone(),
                    image,
                },
            );
        }
        Ok(Resolved {
            config,
            cache,
            images,
            arrivals: None,
        })
    }

    /// The same, with blobs that are still being downloaded: readers wait for them.
    #[must_use]
    pub fn with_arrivals(mut self, arrivals: Arc<Arrivals>) -> Resolved {
        self.arrivals = Some(arrivals);
        self
    }

    /// Waits until blob `d` is in the cache (at once unless it is still downloading).
    pub fn wait_blob(&self, d: &lk_oci::Digest) -> std::io::Result<()> {
        match &self.arrivals {
            Some(a) => a.wait(d),
            None => Ok(()),
        }
    }

    /// Opens layer `i` of `image`, once it has arrived.
    pub fn open_layer(&self, image: &ResolvedImage, i: usize) -> std::io::Result<LayerReader> {
        if let Some(l) = image.manifest.layers.get(i) {
            self.wait_blob(&l.digest)?;
        }
        open_layer(&self.cache, image, i)
    }

    /// The merged configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The cache holding every pinned image's blobs.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The pin of an image of the configuration. `r` must come from [`Resolved::config`]
    /// (every such image has a pin, checked by [`Resolved::new`]).
    pub fn image(&self, r: &ImageRef) -> Result<&PinnedImage, Unpinned> {
        self.images.get(r.canonical()).ok_or_else(|| Unpinned {
            image: r.canonical().to_owned(),
        })
    }

    /// Every pinned image, by canonical reference.
    pub fn images(&self) -> impl Iterator<Item = &PinnedImage> {
        self.images.values()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lk_oci::{Descriptor, Digest, ImageConfig, MEDIA_OCI_MANIFEST, Manifest};

    use super::*;

    fn pin(name: &str) -> ResolvedImage {
        let d = Descriptor::new(MEDIA_OCI_MANIFEST, Digest::of(name.as_bytes()), 1);
        ResolvedImage {
            name: name.to_owned(),
            root: d.clone(),
            manifest_descriptor: d.clone(),
            manifest: Manifest {
                schema_version: 2,
                media_type: MEDIA_OCI_MANIFEST.into(),
                config: d,
                layers: Vec::new(),
                annotations: BTreeMap::new(),
                extra: BTreeMap::new(),
            },
            config: ImageConfig::default(),
        }
    }

    fn config() -> Config {
        let yaml = "kernel:\n  image: k:1\ninit:\n  - i:1\nonboot:\n  - name: a\n    image: i:1\nservices:\n  - name: b\n    image: s:1\n";
        lk_spec::parse_config(&lk_spec::Source::named("t.yml"), yaml, None).unwrap()
    }

    #[test]
    fn every_image_of_the_configuration_must_be_pinned() {
        let cache = Cache::open(
            &std::env::temp_dir().join(format!("lk-image-test-{}", std::process::id())),
        )
        .unwrap();
        let names: Vec<String> = config()
            .images()
            .iter()
            .map(|r| r.canonical().to_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        let missing =
            Resolved::new(config(), cache.clone(), [pin(&names[0]), pin(&names[1])]).unwrap_err();
        assert_eq!(missing.image, names[2]);
        let r = Resolved::new(config(), cache.clone(), names.iter().map(|n| pin(n))).unwrap();
        assert_eq!(r.images().count(), 3);
        let kernel = r.config().kernel.image.as_ref().unwrap();
        assert_eq!(r.image(&kernel.value).unwrap().canonical(), names[0]);
        let stranger = ImageRef::parse("elsewhere/x:1").unwrap();
        assert!(r.image(&stranger).is_err());
        std::fs::remove_dir_all(cache.root()).unwrap();
    }
}
