//! `linuxkit pkg`: package tags, builds through the local Docker engine, pushes.

use std::path::PathBuf;

pub use lk_pkg::{Package, PkgError, PkgOptions};

/// `pkg show-tag`: `org/image:tag` (or the canonical form) of each package.
pub fn show_tags(dirs: &[PathBuf], opts: &PkgOptions, canonical: bool) -> Result<Vec<String>, PkgError> {
    dirs.iter()
        .map(|d| Package::load(d, opts).map(|p| if canonical { p.full_tag() } else { p.tag() }))
        .collect()
}
