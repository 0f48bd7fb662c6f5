//! Use cases of the `linuxkit` command. Each takes typed settings, reads what it needs,
//! calls the pipeline stages in order and returns typed results; it never prints.
//! Progress and warnings go through [`Reporter`].
//!
//! | module | use case |
//! |---|---|
//! | [`validate`] | read, merge and check YAML files (no network) |
//! | [`bootloaders`] | the boot loader files of the bootable formats (a pinned package) |
//! | [`build`] | YAML -> pinned images -> root filesystem stream -> output files |
//! | [`cache`] | the image cache: pull, ls, rm, clean, push, export, import |
//! | [`metadata`] | the metadata ISO (`metadata create`, `run --data`) |
//! | [`run`] | what to boot, accelerator, QEMU |
//! | [`serve`] | the static file server of `linuxkit serve` |

pub mod bootloaders;
pub mod build;
pub mod cache;
mod env;
pub mod metadata;
pub mod pkg;
pub mod run;
pub mod serve;
pub mod validate;

pub use env::{Env, EnvError};
pub use lk_oci::{Digest, Platform};
pub use lk_resolve::{Progress, Quiet, host_arch};

use lk_spec::Diagnostic;

/// Where use cases send progress and warnings; the CLI renders them.
pub trait Reporter: Sync {
    /// A non-fatal problem in the input.
    fn warning(&self, diagnostic: &Diagnostic);
    /// A progress line (LinuxKit's info-level log lines).
    fn info(&self, _line: &str) {}
}

/// A reporter that drops everything (for tests and library callers).
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn warning(&self, _diagnostic: &Diagnostic) {}
}
