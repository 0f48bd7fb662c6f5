//! Packages: a directory with a `build.yml` (and usually a Dockerfile) whose image tag is the
//! git tree hash of the directory, with `-dirty-<hash>` when it has uncommitted changes.
//!
//! | module | role |
//! |---|---|
//! | [`git`] | typed wrapper for the `git` commands the tag needs |
//! | [`package`] | loading a package and computing its tag; `@pkg:` resolution |

pub mod git;
pub mod package;

pub use package::{Package, PkgError, PkgOptions, PkgResolver};
