//! Why a package could not be built or pushed: one variant per cause, each naming the
//! package (its tag) and, where there is one, the file, image or builder.

use std::path::PathBuf;

use lk_pkg::PkgError;
use lk_pkg::builder::{BadBuilders, BuilderKind, NoBuilder, ToolError};
use lk_pkg::depends::DependsError;
use lk_pkg::plan::PlatformError;

use crate::cache::ImageError;

/// Why a package could not be built or pushed.
#[derive(Debug, thiserror::Error)]
pub enum PkgBuildError {
    /// Loading the package failed.
    #[error(transparent)]
    Package(#[from] PkgError),
    /// No back end of `--builder` can build here.
    #[error("cannot build {tag}")]
    NoBuilder {
        /// The package tag.
        tag: String,
        /// Which back ends were tried, and how to get one.
        #[source]
        source: NoBuilder,
    },
    /// The back end failed.
    #[error("building {tag} with {builder}")]
    Builder {
        /// The package tag.
        tag: String,
        /// The back end.
        builder: BuilderKind,
        /// The cause.
        #[source]
        source: ToolError,
    },
    /// The engine built an image for another platform than asked, even without its cache.
    #[error("{tag} was built for {got}, not {wanted}: the engine cannot build for {wanted}")]
    WrongPlatform {
        /// The image built.
        tag: String,
        /// The platform's architecture asked for.
        wanted: String,
        /// The architecture of the image the engine made.
        got: String,
    },
    /// The Dockerfile has a `FROM --platform=$BUILDPLATFORM` stage (a cross build) and the
    /// engine cannot copy between stages of two platforms.
    #[error(
        "{tag}: building for {wanted} copies from a stage on the engine's own {native} (FROM --platform=$BUILDPLATFORM), which Docker's classic builder cannot do; hint: use a Docker CLI with BuildKit (the buildx plugin, or a CLI before 23.0), `--builder buildah`, or an engine of {wanted} with --builders"
    )]
    CrossStages {
        /// The package's tag.
        tag: String,
        /// The platform's architecture asked for.
        wanted: String,
        /// The engine's own architecture.
        native: String,
    },
    /// A `--builders` target does not answer.
    #[error(
        "the builder {target} for {platform} does not answer (building {tag}); check it with `docker --host/--context {target} info`"
    )]
    Unreachable {
        /// The package tag.
        tag: String,
        /// The platform it was named for.
        platform: String,
        /// The context or URL.
        target: String,
    },
    /// `--builders` / `LINUXKIT_BUILDERS` is malformed.
    #[error(transparent)]
    Builders(#[from] BadBuilders),
    /// `--builders` with `--builder buildah`.
    #[error("--builders names Docker engines; it cannot be used with --builder buildah")]
    BuildersNeedDocker,
    /// Cache or registry failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The platforms to build for.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A `--build-arg-file` could not be read.
    #[error("cannot read --build-arg-file {}", path.display())]
    ArgFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `depends.docker-images` cannot be honoured.
    #[error("{tag}")]
    Depends {
        /// The package tag.
        tag: String,
        /// What is wrong with the entry.
        #[source]
        source: DependsError,
    },
    /// Naming in the registry (`pkg manifest`, `pkg remote-tag`) failed.
    #[error(transparent)]
    Tags(#[from] lk_resolve::TagError),
    /// A package's image name is not a valid reference.
    #[error("invalid image name")]
    Reference(#[from] lk_spec::reference::ReferenceError),
    /// Pushing a package with uncommitted changes.
    #[error("refusing to push dirty package {0}")]
    Dirty(String),
    /// A dependency cycle through `@lkt:pkg:`.
    #[error("package dependency cycle through {0}")]
    Cycle(String),
    /// The package's Dockerfile could not be read.
    #[error("cannot read {}", path.display())]
    Dockerfile {
        /// The Dockerfile.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An index could not be serialized.
    #[error("encoding the index of {what}: {reason}")]
    Encode {
        /// The image.
        what: String,
        /// The serializer's message.
        reason: String,
    },
}
