//! The root filesystem, as one stream of entries into the output formats.
//!
//! | module | role |
//! |---|---|
//! | `path` | name normalization and containment |
//! | [`flatten`] | layer flattening (whiteouts, opaque directories, links) |
//! | [`assemble`] | kernel, init, volumes, container bundles, files, SBOM, in LinuxKit's order |

pub mod assemble;
pub mod flatten;
mod path;
mod sbom;

pub use assemble::{AssembleError, Assembler, BuildInputs, ImageContent, export_filesystem};
pub use flatten::{Emit, FlattenError, flatten};
