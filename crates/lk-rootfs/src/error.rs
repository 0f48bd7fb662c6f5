//! Why assembling the root filesystem failed; every variant names the section and image.

use std::io;

use crate::flatten::FlattenError;

/// A build step failed; names the section and image.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// An image's layers could not be flattened.
    #[error("{location} ({image}{})", layer.as_ref().map(|d| format!(", layer {d}")).unwrap_or_default())]
    Image {
        /// `onboot[0]`, `kernel`, ...
        location: String,
        /// Canonical reference.
        image: String,
        /// The digest of the layer at fault, when one is.
        layer: Option<String>,
        /// The cause.
        #[source]
        source: FlattenError,
    },
    /// The kernel image lacks what the configuration names.
    #[error("kernel ({image}): {problem}")]
    Kernel {
        /// Canonical reference.
        image: String,
        /// What is missing.
        problem: String,
    },
    /// OCI config generation failed.
    #[error(transparent)]
    Oci(#[from] lk_spec::OciError),
    /// An image of the configuration was not resolved.
    #[error("{location}: image {image} was not resolved")]
    Missing {
        /// Where it is used.
        location: String,
        /// Canonical reference.
        image: String,
    },
    /// A `files` entry could not be read.
    #[error("files[{index}] ({path}): cannot read {source_path}")]
    FileSource {
        /// Index in `files`.
        index: usize,
        /// Path in the image.
        path: String,
        /// Host path.
        source_path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A layer uses a compression we cannot read.
    #[error("{image}: layer media type {media_type} is not supported")]
    LayerType {
        /// Image.
        image: String,
        /// Media type.
        media_type: String,
    },
    /// Writing the output failed.
    #[error("writing the output")]
    Write(#[source] io::Error),
    /// `--input-tar` could not be read.
    #[error("reading the input tar {path}")]
    InputTar {
        /// The tar.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `--input-tar` needs the previous configuration and cannot find it.
    #[error("--input-tar {path}: {problem}")]
    InputConfig {
        /// The tar.
        path: String,
        /// What is missing.
        problem: String,
    },
    /// The previous build's configuration (in the input tar) is invalid.
    #[error("--input-tar {path}: the configuration it was built from is invalid")]
    InputInvalid {
        /// The tar.
        path: String,
        /// The problems.
        #[source]
        source: lk_spec::Diagnostics,
    },
}

impl AssembleError {
    /// Flattening `image` (used at `location`) failed; names the layer's digest.
    pub(crate) fn image(
        location: &str,
        image: &lk_image::PinnedImage,
        source: FlattenError,
    ) -> AssembleError {
        AssembleError::Image {
            location: location.to_owned(),
            image: image.canonical().to_owned(),
            layer: source
                .layer()
                .and_then(|i| image.image.manifest.layers.get(i))
                .map(|l| l.digest.to_string()),
            source,
        }
    }
}
