//! The boot loaders of the bootable formats: the files of the pinned `bootloaders` package
//! (`pkg/bootloaders`), or of the image `build --bootloaders` names, pulled like any image
//! (cache first) and read from its layers; nothing is taken from the host.

use std::collections::BTreeMap;
use std::path::Path;

use lk_formats::boot::BootLoaders;
use lk_formats::tree::TreeSink;
use lk_formats::{Kind, Sink};
use lk_resolve::{Progress, Puller};

use crate::cache::{ImageError, ImageSettings, image_name};

/// The image the bootable formats use unless `--bootloaders` says otherwise: the tag of
/// `pkg/bootloaders` (a test keeps the two in step).
pub const PINNED: &str = include_str!("bootloaders.ref");

/// The pinned image name.
pub fn pinned() -> &'static str {
    PINNED.trim()
}

/// `--bootloaders`: an image name, or `@pkg:DIR` for the tag of a package directory.
pub fn image_arg(arg: &str, base: &Path) -> Result<String, String> {
    match arg.strip_prefix("@pkg:") {
        Some(dir) => lk_spec::PackageResolver::resolve(&lk_pkg::PkgResolver::default(), base, dir),
        None => Ok(arg.to_owned()),
    }
}

/// Reads the files of `image` (pulled into the cache unless it is there).
pub fn load(
    s: &ImageSettings,
    image: &str,
    progress: &dyn Progress,
) -> Result<BootLoaders, ImageError> {
    let r = image_name(image)?;
    let cache = s.cache()?;
    let client = s.client()?;
    let resolved = Puller::new(&client, &cache).pull_all(
        std::slice::from_ref(&r),
        &s.pull_options(false),
        progress,
    )?;
    let Some(img) = resolved.first() else {
        return Err(ImageError::Cache {
            dir: s.cache_dir.clone(),
            source: lk_cache::CacheError::NotFound {
                name: image.to_owned(),
            },
        });
    };
    let mut tree = TreeSink::default();
    lk_rootfs::export_filesystem(&cache, img, &mut tree).map_err(|source| ImageError::Flatten {
        image: image.to_owned(),
        source,
    })?;
    tree.finish().ok();
    let files: BTreeMap<String, Vec<u8>> = tree
        .entries
        .into_iter()
        .filter(|(_, (e, _))| matches!(e.kind, Kind::File(_)))
        .map(|(p, (_, d))| (p, d))
        .collect();
    let arch = s
        .platforms
        .first()
        .and_then(|p| p.architecture.parse().ok())
        .or_else(lk_util::Arch::host)
        .unwrap_or(lk_util::Arch::Amd64);
    Ok(BootLoaders {
        image: image.to_owned(),
        files,
        arch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_is_the_tag_of_pkg_bootloaders() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let tag = image_arg("@pkg:pkg/bootloaders", &root).unwrap();
        assert_eq!(
            pinned(),
            tag,
            "pkg/bootloaders changed: write its new tag into crates/lk-ops/src/bootloaders.ref"
        );
        assert_eq!(image_arg("x/y:z", &root).unwrap(), "x/y:z");
    }
}
