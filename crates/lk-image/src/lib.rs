//! The stage between resolution and the root filesystem: [`Resolved`], a configuration
//! whose every image is pinned to a digest with its manifest, config and layers in the
//! cache. Only `lk-resolve` makes one (after pulling what was missing); `lk-rootfs` takes
//! it, so a bare tag or an image that was never pulled cannot reach the rootfs stage.
//!
//! | module | role |
//! |---|---|
//! | `layer` | reading a pinned image's layers from the cache, decompressed and verified |

mod layer;

use std::collections::BTreeMap;

use lk_cache::{Cache, ResolvedImage};
use lk_spec::{Config, ImageRef};

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
            let image = by_name
                .remove(r.canonical())
                .or_else(|| {
                    images
                        .get(r.canonical())
                        .map(|p: &PinnedImage| p.image.clone())
                })
                .ok_or_else(|| Unpinned {
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
        })
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
