//! Helpers every host crate shares. No workspace dependencies.
//!
//! | module | role |
//! |---|---|
//! | [`tool`] | external programs (docker, git, xorriso, mkfs.erofs, qemu-img): run, and [`ToolError`] |
//! | [`compress`] | gzip (default), zstd or none, for the initrd and for image layers |
//! | [`pgzip`] | parallel gzip (pigz-style blocks; the same bytes on any number of cores) |

pub mod compress;
pub mod pgzip;
pub mod tool;

pub use tool::{ToolError, ToolStatus};
