//! Names in a registry for `pkg`: whether the registry already serves every wanted platform
//! of a tag (`pkg build`'s skip), the per-architecture tags joined into one index
//! (`pkg manifest`), and one name made to point at what another names (`pkg remote-tag`).

use lk_oci::{Descriptor, Digest, Document, Index, MEDIA_OCI_INDEX, Platform};
use lk_registry::{Client, RegistryError};
use lk_spec::ImageRef;

use crate::pull::repository;
use crate::push::merge_with_remote;

/// The architectures `pkg manifest` looks for as `<tag>-<arch>` (LinuxKit's list).
pub const MANIFEST_ARCHES: [&str; 5] = ["amd64", "arm64", "s390x", "riscv64", "ppc64le"];

/// Why a registry naming step failed, naming the image.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// `pkg manifest` found none of the `<tag>-<arch>` images.
    #[error("no per-architecture images ({image}-<arch>) in the registry")]
    NoArchImages {
        /// The package's canonical name.
        image: String,
    },
    /// The registry failed.
    #[error("registry request for {image}")]
    Registry {
        /// Canonical reference.
        image: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
    /// An index could not be serialized.
    #[error("encoding the index of {image}: {reason}")]
    Encode {
        /// Canonical reference.
        image: String,
        /// The serializer's message.
        reason: String,
    },
}

fn registry_err(image: &ImageRef) -> impl Fn(RegistryError) -> TagError + '_ {
    move |source| TagError::Registry {
        image: image.canonical().to_owned(),
        source,
    }
}

/// True when the registry has `image` for every one of `platforms` (a single manifest
/// counts as serving them all, as LinuxKit treats it). Any failure to ask counts as "no":
/// the caller then builds.
pub fn serves_platforms(client: &Client, image: &ImageRef, platforms: &[Platform]) -> bool {
    let repo = repository(image);
    let Ok(m) = client.get_manifest(&repo, image.tag().unwrap_or("latest")) else {
        return false;
    };
    match Document::parse(&m.media_type, &m.bytes) {
        Ok(Document::Index(i)) => platforms.iter().all(|p| {
            i.manifests
                .iter()
                .any(|d| d.platform.as_ref().is_none_or(|dp| dp.satisfies(p)))
        }),
        Ok(Document::Manifest(_)) => true,
        Err(_) => false,
    }
}

/// An index of the `<tag>-<arch>` manifests the registry has for `image` (one entry per
/// architecture of [`MANIFEST_ARCHES`] found).
pub fn index_from_arch_tags(client: &Client, image: &ImageRef) -> Result<Index, TagError> {
    let repo = repository(image);
    let mut index = Index {
        media_type: MEDIA_OCI_INDEX.into(),
        ..Index::default()
    };
    for arch in MANIFEST_ARCHES {
        let arch_tag = format!("{}-{arch}", image.tag().unwrap_or("latest"));
        if let Ok(Some(mut d)) = client.head_manifest(&repo, &arch_tag) {
            d.platform = Some(Platform::linux(arch));
            index.manifests.push(d);
        }
    }
    if index.manifests.is_empty() {
        return Err(TagError::NoArchImages {
            image: image.canonical().to_owned(),
        });
    }
    Ok(index)
}

/// Puts `index` under each of `names` (all in one repository), each merged with the index
/// already there (platforms ours lacks are kept). A name that already has the same bytes
/// is left alone. Returns `name digest` for each name written.
pub fn put_index(
    client: &Client,
    names: &[ImageRef],
    index: &Index,
) -> Result<Vec<String>, TagError> {
    let mut out = Vec::new();
    for name in names {
        let ours = serde_json::to_vec(index).map_err(|e| TagError::Encode {
            image: name.canonical().to_owned(),
            reason: e.to_string(),
        })?;
        let repo = repository(name);
        let tag = name.tag().unwrap_or("latest");
        let bytes = merge_with_remote(client, &repo, tag, &ours)
            .map_err(registry_err(name))?
            .unwrap_or(ours);
        let digest = Digest::of(&bytes);
        if client
            .head_manifest(&repo, tag)
            .ok()
            .flatten()
            .is_some_and(|d| d.digest == digest)
        {
            continue;
        }
        client
            .put_manifest(&repo, tag, MEDIA_OCI_INDEX, &bytes)
            .map_err(registry_err(name))?;
        out.push(format!("{} {digest}", name.canonical()));
    }
    Ok(out)
}

/// Makes `to` name what `from` names: a manifest PUT within one repository; across
/// repositories the platform manifests and their blobs first (mounted when both are on one
/// registry, else copied). Returns the root digest.
pub fn remote_tag(client: &Client, from: &ImageRef, to: &ImageRef) -> Result<Digest, TagError> {
    let (frepo, trepo) = (repository(from), repository(to));
    let err = registry_err(to);
    let root = client
        .get_manifest(&frepo, from.digest().or(from.tag()).unwrap_or("latest"))
        .map_err(&err)?;
    if frepo != trepo {
        let mut manifests = vec![(root.media_type.clone(), root.bytes.clone())];
        if let Ok(Document::Index(i)) = Document::parse(&root.media_type, &root.bytes) {
            for d in i.manifests {
                let m = client
                    .get_manifest(&frepo, d.digest.as_str())
                    .map_err(&err)?;
                manifests.push((m.media_type, m.bytes));
            }
        }
        for (mt, bytes) in manifests.iter().rev() {
            if let Ok(Document::Manifest(m)) = Document::parse(mt, bytes) {
                for b in std::iter::once(&m.config).chain(&m.layers) {
                    copy_blob(client, (&frepo, &trepo), b).map_err(&err)?;
                }
            }
            if Digest::of(bytes) != root.digest {
                client
                    .put_manifest(&trepo, Digest::of(bytes).as_str(), mt, bytes)
                    .map_err(&err)?;
            }
        }
    }
    client
        .put_manifest(
            &trepo,
            to.tag().unwrap_or("latest"),
            &root.media_type,
            &root.bytes,
        )
        .map_err(&err)?;
    Ok(root.digest)
}

/// One blob from one repository to another, unless the target has it: mounted when both
/// are on one registry, else downloaded and uploaded.
fn copy_blob(
    client: &Client,
    (from, to): (&lk_registry::Repository, &lk_registry::Repository),
    blob: &Descriptor,
) -> Result<(), RegistryError> {
    if client.blob_exists(to, &blob.digest)? {
        return Ok(());
    }
    let mount = (from.registry == to.registry).then(|| from.path.clone());
    let mut data = Vec::new();
    if mount.is_none() {
        client.get_blob(from, &blob.digest, &mut data, &mut |_| {})?;
    }
    client.push_blob(
        to,
        &blob.digest,
        blob.size,
        &mut &data[..],
        mount.as_deref(),
    )
}
