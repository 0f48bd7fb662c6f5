//! The image cache: an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`), the same layout LinuxKit uses, so either tool can use the other's
//! cache. Images are named by the `org.opencontainers.image.ref.name` annotation of their
//! top-level descriptor (`docker.io/library/alpine:3.20`).
//!
//! Invariants:
//! - a blob becomes visible only after its digest was verified (temp file + fsync + rename);
//! - `index.json` is replaced atomically under an exclusive lock on `<cache>/.lock`;
//! - removing an image keeps blobs other images still use;
//! - a killed writer leaves at most a `.tmp-*` file, which readers ignore.
//!
//! | module | role |
//! |---|---|
//! | `store` | layout, blobs, index, names, removal |
//! | `verify` | streaming readers that check digests |
//! | `archive` | export to / import from OCI layout tars and `docker save` archives |
//! | `layers` | compressing the plain layers of an image taken from Docker's engine |

mod archive;
mod layers;
mod store;
mod verify;

pub use archive::{ExportFormat, ImportReport};
pub use layers::{CompressReport, CompressedLayer, layer_media_type};
pub use lk_util::compress::Compression;

pub use store::{BlobWriter, Cache, CacheError, LockGuard, NewBlob, RemoveReport, ResolvedImage};
pub use verify::VerifyingReader;

/// The directory under the cache root where builds keep their initrd segments (written by
/// the build, removed by [`Cache::clean`]; the layout is documented in `lk_formats::segment`).
pub const SEGMENTS_DIR: &str = "segments";
