//! Helpers every host crate shares. No workspace dependencies.
//!
//! | module | role |
//! |---|---|
//! | [`arch`] | the architectures images are built for (`--arch`), one type from the CLI down |
//! | [`tool`] | external programs (docker, git, xorriso, mkfs.erofs, qemu-img): run, and [`ToolError`] |
//! | [`compress`] | gzip (default), zstd or none, for the initrd and for image layers |
//! | [`pgzip`] | parallel gzip (pigz-style blocks; the same bytes on any number of cores) |
//! | [`error_chain`] | an error and its causes on one line |

pub mod arch;
pub mod compress;
pub mod pgzip;
pub mod tool;

pub use arch::Arch;
pub use tool::{ToolError, ToolStatus};

/// An error with its causes, on one line (`a: b: c`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
