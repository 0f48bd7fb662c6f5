//! Packages: a directory with a `build.yml` (and usually a Dockerfile) whose image tag is the
//! git tree hash of the directory, with `-dirty-<hash>` when it has uncommitted changes.
//!
//! | module | role |
//! |---|---|
//! | [`docker`] | typed wrapper for the `docker` CLI: [`docker::BuildRequest`], image save/load |
//! | [`git`] | typed wrapper for the `git` commands the tag needs |
//! | [`image`] | a package build as data: the build request, `FROM` images, the package's index |
//! | [`package`] | loading a package and computing its tag; `@pkg:` resolution |
//! | [`plan`] | a build as a plan: platforms, cache/registry decision, build arguments (pure) |

pub mod docker;
pub mod git;
pub mod image;
pub mod package;
pub mod plan;

pub use package::{Package, PkgError, PkgOptions, PkgResolver};
