//! The root filesystem stage: a [`Resolved`](lk_image::Resolved) configuration -> one
//! deterministic stream of entries into the output formats' sink.
//!
//! | module | role |
//! |---|---|
//! | `path` | name normalization and containment |
//! | [`flatten`] | layer flattening (whiteouts, opaque directories, links) |
//! | [`assemble`] | [`Assembler`]: init, volumes, container bundles, SBOM, in LinuxKit's order |
//! | `parents` | missing parent directories, and their state across segments |
//! | `segments` | the stream's segments: ids, skipping what the outputs already have |
//! | `emit` | an image's entries under a prefix, with LinuxKit's generated files |
//! | `kernel` | the kernel image: `boot/kernel`, `boot/cmdline`, modules, microcode |
//! | `files` | the `files` section |
//! | [`input`] | `--input-tar`: copying unchanged sections from a previous build |
//! | `error` | [`AssembleError`] |

pub mod assemble;
mod emit;
mod error;
mod files;
pub mod flatten;
pub mod input;
mod kernel;
pub mod modules;
mod parents;
mod path;
mod sbom;
mod segments;

use std::io::{self, Read};

use lk_cache::{Cache, ResolvedImage};
use lk_formats::{Entry, Sink};

pub use assemble::{Assembler, DEFAULT_MTIME, RootfsOptions, RootfsReport};
pub use error::AssembleError;
pub use flatten::{Emit, FlattenError, flatten};
pub use input::InputTar;
pub use kernel::decompress_kernel;
pub use parents::ImpliedParent;

/// Forwards flattened entries to a sink unchanged (no prefix, no origin records).
struct ToSink<'a>(&'a mut dyn Sink);

impl Emit for ToSink<'_> {
    fn link_targets(&mut self, paths: &[String]) {
        self.0.link_targets(paths);
    }

    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        self.0.add(&e, data)
    }
}

/// `cache export --format filesystem`: the image's layers flattened (whiteouts, opaque
/// directories and hard links resolved as in a build) into `out`, then `out.finish()`.
pub fn export_filesystem(
    cache: &Cache,
    image: &ResolvedImage,
    out: &mut dyn Sink,
) -> Result<(), FlattenError> {
    let open = |i: usize| -> io::Result<Box<dyn flatten::Layer>> {
        Ok(Box::new(lk_image::open_layer(cache, image, i)?))
    };
    flatten(image.manifest.layers.len(), &open, &mut ToSink(&mut *out))?;
    out.finish().map_err(FlattenError::Write)
}
