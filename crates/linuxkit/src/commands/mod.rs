//! One module per subcommand: settings from arguments, one `lk_ops` call, output.

pub mod build;
pub mod cache;
pub mod pkg;
pub mod run;
pub mod serve;
pub mod validate;
pub mod version;

use std::path::PathBuf;

use lk_ops::Env;
use lk_ops::cache::{ImageSettings, default_cache_dir};

use crate::cli::Global;

/// Registry and cache settings every image command shares: `--cache` (else
/// `~/.linuxkit/cache`) and the mirrors (`LINUXKIT_MIRROR`'s, then `--mirror`'s).
pub fn image_settings(global: &Global, env: &Env, cache: Option<&PathBuf>) -> ImageSettings {
    ImageSettings {
        cache_dir: cache.cloned().unwrap_or_else(|| default_cache_dir(env)),
        mirrors: env.mirrors.iter().chain(&global.mirror).cloned().collect(),
        docker: env.docker.clone(),
        ..ImageSettings::default()
    }
}
