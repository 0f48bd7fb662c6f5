//! Image resolution: reference -> digest for the wanted platforms, with everything needed
//! in the cache.
//!
//! Warm path: an image already named in the cache with the manifest, config and layers of
//! every wanted platform present is used as is, with no network access and no re-hashing
//! (layers are hashed when they are read). Cold path: the manifest is fetched once, the
//! wanted platforms' manifests, configs and layers (and attestations that refer to them)
//! are downloaded by a bounded pool of workers, each blob verified before it becomes visible,
//! and only then is the name written.
//!
//! | module | role |
//! |---|---|
//! | `pull` | one or many images into the cache; a configuration -> [`lk_image::Resolved`] |
//! | `push` | cached images to a registry, indexes merged with the registry's |
//! | `tags` | `pkg`'s names in a registry: served platforms, per-arch tags joined, remote tags |

mod pull;
mod push;
mod tags;

pub use pull::{Progress, PullError, PullOptions, Puller, Quiet, host_arch, repository};
pub use push::{PushError, PushRequest, Pushed, merge_with_remote, push};
pub use tags::{
    MANIFEST_ARCHES, TagError, index_from_arch_tags, put_index, remote_tag, serves_platforms,
};
