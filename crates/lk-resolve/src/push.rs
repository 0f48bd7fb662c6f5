//! Pushing cached images to a registry, the reverse of [`crate::Puller`].

use lk_cache::{Cache, CacheError};
use lk_oci::{Descriptor, Digest, Document};
use lk_registry::{Client, RegistryError};
use lk_spec::ImageRef;

use crate::pull::repository;

/// What `cache push` did for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Remote name.
    pub name: String,
    /// Root digest.
    pub digest: Digest,
    /// False when the registry already had it and `--override` was not given.
    pub uploaded: bool,
}

/// What to push: a cached image under another (or the same) name.
#[derive(Clone, Debug)]
pub struct PushRequest {
    /// The name in the cache.
    pub local: ImageRef,
    /// The name in the registry.
    pub target: ImageRef,
    /// Also tag each platform manifest `<tag>-<arch>`.
    pub with_arch_tags: bool,
    /// Push even when the registry already has the same root digest.
    pub override_existing: bool,
}

/// Why a push failed, naming the image.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The cache does not have the image.
    #[error("image {0} is not in the cache")]
    NotCached(String),
    /// Reading the cache failed.
    #[error("reading {image} from the cache")]
    Cache {
        /// Canonical reference.
        image: String,
        /// The cause.
        #[source]
        source: CacheError,
    },
    /// The registry failed.
    #[error("pushing {image}")]
    Registry {
        /// Canonical reference.
        image: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
}

/// Uploads a cached image: blobs the registry lacks (mounted from the local repository
/// when both are on one registry), then platform manifests, then the root (an index is
/// merged with the registry's platforms ours lacks). Skipped when the registry has the
/// same root digest, unless `override_existing`.
pub fn push(client: &Client, cache: &Cache, req: &PushRequest) -> Result<Pushed, PushError> {
    let local_name = req.local.canonical().to_owned();
    let cache_err = |source| PushError::Cache {
        image: local_name.clone(),
        source,
    };
    let root = cache
        .find(&local_name)
        .map_err(cache_err)?
        .ok_or_else(|| PushError::NotCached(local_name.clone()))?;
    let target = &req.target;
    let repo = repository(target);
    let tag = target.tag().unwrap_or("latest").to_owned();
    let push_err = |source| PushError::Registry {
        image: target.canonical().to_owned(),
        source,
    };
    if !req.override_existing
        && let Ok(Some(remote)) = client.head_manifest(&repo, &tag)
        && remote.digest == root.digest
    {
        return Ok(Pushed {
            name: target.canonical().to_owned(),
            digest: root.digest.clone(),
            uploaded: false,
        });
    }
    let mount_from = Some(&req.local)
        .filter(|r| r.domain() == target.domain() && r.repository() != target.repository())
        .map(|r| r.repository().to_owned());
    let mut manifests: Vec<Descriptor> = Vec::new();
    match cache.document(&root).map_err(cache_err)? {
        Document::Index(index) => {
            for m in index.manifests {
                if cache.has_blob(&m.digest, m.size) {
                    manifests.push(m);
                }
            }
        }
        Document::Manifest(_) => manifests.push(root.clone()),
    }
    for m in &manifests {
        if let Document::Manifest(man) = cache.document(m).map_err(cache_err)? {
            for b in std::iter::once(&man.config).chain(&man.layers) {
                let mut reader = cache.open_blob(&b.digest).map_err(cache_err)?;
                client
                    .push_blob(&repo, &b.digest, b.size, &mut reader, mount_from.as_deref())
                    .map_err(push_err)?;
            }
        }
        if m.digest != root.digest {
            let bytes = cache.read_bytes(&m.digest).map_err(cache_err)?;
            client
                .put_manifest(&repo, m.digest.as_str(), &m.media_type, &bytes)
                .map_err(push_err)?;
            if req.with_arch_tags
                && let Some(p) = &m.platform
            {
                client
                    .put_manifest(
                        &repo,
                        &format!("{tag}-{}", p.architecture),
                        &m.media_type,
                        &bytes,
                    )
                    .map_err(push_err)?;
            }
        }
    }
    let mut bytes = cache.read_bytes(&root.digest).map_err(cache_err)?;
    let mut digest = root.digest.clone();
    if lk_oci::is_index(&root.media_type)
        && let Some(merged) = merge_with_remote(client, &repo, &tag, &bytes).map_err(push_err)?
    {
        digest = Digest::of(&merged);
        bytes = merged;
    }
    client
        .put_manifest(&repo, &tag, &root.media_type, &bytes)
        .map_err(push_err)?;
    Ok(Pushed {
        name: target.canonical().to_owned(),
        digest,
        uploaded: true,
    })
}

/// When the registry already has an index under `tag`, keeps its entries for platforms
/// ours does not have (a package built for amd64 on one machine and arm64 on another ends
/// up with both). Returns the merged index bytes, or None when there is nothing to merge.
pub fn merge_with_remote(
    client: &Client,
    repo: &lk_registry::Repository,
    tag: &str,
    ours: &[u8],
) -> Result<Option<Vec<u8>>, RegistryError> {
    let remote = match client.get_manifest(repo, tag) {
        Ok(m) => m,
        Err(RegistryError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (Ok(Document::Index(theirs)), Ok(Document::Index(mut mine))) = (
        Document::parse(&remote.media_type, &remote.bytes),
        Document::parse("", ours),
    ) else {
        return Ok(None);
    };
    let covered = |d: &Descriptor| {
        mine.manifests
            .iter()
            .any(|m| match (&m.platform, &d.platform) {
                (Some(a), Some(b)) => {
                    a.os == b.os && a.architecture == b.architecture && a.variant == b.variant
                }
                _ => m.digest == d.digest,
            })
    };
    let mut extra: Vec<Descriptor> = theirs
        .manifests
        .into_iter()
        .filter(|d| !d.is_attestation() && !covered(d))
        .collect();
    if extra.is_empty() {
        return Ok(None);
    }
    extra.append(&mut mine.manifests);
    mine.manifests = extra;
    Ok(Some(
        serde_json::to_vec(&mine).unwrap_or_else(|_| ours.to_vec()),
    ))
}
