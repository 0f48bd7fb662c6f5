//! Packages: a directory with a `build.yml` (and usually a Dockerfile) whose image tag is the
//! git tree hash of the directory, with `-dirty-<hash>` when it has uncommitted changes.
//!
//! | module | role |
//! |---|---|
//! | [`builder`] | the [`builder::ImageBuilder`] trait, `--builder` and `--builders` (remote engines per platform) |
//! | [`buildah`] | the daemonless back end: `buildah build`, images in and out as `docker save` archives |
//! | [`depends`] | `depends.docker-images` as a plan: the images and their archive files (pure) |
//! | [`docker`] | typed wrapper for the `docker` CLI: [`docker::BuildRequest`], image save/load; the docker back end |
//! | [`git`] | typed wrapper for the `git` commands the tag needs |
//! | [`image`] | a package build as data: the build request, `FROM` images, the package's index |
//! | [`package`] | loading a package and computing its tag; `@pkg:` resolution |
//! | [`plan`] | a build as a plan: platforms, cache/registry decision, build arguments (pure) |

pub mod buildah;
pub mod builder;
pub mod depends;
pub mod docker;
pub mod git;
pub mod image;
pub mod package;
pub mod plan;

pub use package::{Package, PkgError, PkgOptions, PkgResolver};
