//! Helpers every host crate shares. No workspace dependencies.
//!
//! | module | role |
//! |---|---|
//! | [`tool`] | external programs (docker, git, xorriso, mkfs.erofs, qemu-img): run, and [`ToolError`] |

pub mod tool;

pub use tool::{ToolError, ToolStatus};
