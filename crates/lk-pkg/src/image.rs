//! What a package build produces, as data: the `docker build` request for one platform
//! (labels, build args, network, cache), the `FROM` images it needs, and the package's
//! OCI index assembled from the per-platform manifests.

use std::collections::{BTreeMap, HashSet};

use lk_oci::{Descriptor, Index, MEDIA_OCI_INDEX, Platform};

use crate::docker::BuildRequest;
use crate::package::Package;

/// An image a Dockerfile's `FROM` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromImage {
    /// The reference, with `ARG` defaults and build args substituted.
    pub image: String,
    /// `FROM --platform=$BUILDPLATFORM`: the stage runs on the engine's own platform (a
    /// cross build's tools), so the engine needs this image's entry for that platform, not
    /// the target's.
    pub on_build_platform: bool,
}

/// `FROM` images of a Dockerfile, with `ARG` defaults and build args substituted.
pub fn from_images(dockerfile: &str, args: &BTreeMap<String, String>) -> Vec<FromImage> {
    let mut vars = args.clone();
    let mut stages = HashSet::new();
    let mut out = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().map(|w| w.to_ascii_uppercase()) {
            Some(w) if w == "ARG" => {
                if let Some((k, v)) = words.get(1).and_then(|a| a.split_once('=')) {
                    vars.entry(k.to_owned())
                        .or_insert_with(|| v.trim_matches('"').to_owned());
                }
            }
            Some(w) if w == "FROM" => {
                let mut image = words
                    .iter()
                    .skip(1)
                    .find(|w| !w.starts_with("--"))
                    .copied()
                    .unwrap_or("")
                    .to_owned();
                for (k, v) in &vars {
                    image = image
                        .replace(&format!("${{{k}}}"), v)
                        .replace(&format!("${k}"), v);
                }
                if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case("as"))
                    && let Some(name) = words.get(i + 1)
                {
                    stages.insert(name.to_ascii_lowercase());
                }
                if image != "scratch"
                    && !stages.contains(&image.to_ascii_lowercase())
                    && !image.is_empty()
                {
                    let on_build_platform = words.iter().any(|w| {
                        matches!(
                            w.strip_prefix("--platform="),
                            Some("$BUILDPLATFORM" | "${BUILDPLATFORM}")
                        )
                    });
                    out.push(FromImage {
                        image,
                        on_build_platform,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// What every build of a `pkg build` run shares, from its flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFlags {
    /// `--force`: no step from the engine's layer cache either.
    pub force: bool,
    /// `--ssh` specs.
    pub ssh: Vec<String>,
}

/// The `docker build` of `p` for `platform` on an engine of `build_platform`, tagged `tag`.
pub fn build_request(
    p: &Package,
    platform: &Platform,
    build_platform: &Platform,
    tag: &str,
    build_args: BTreeMap<String, String>,
    flags: &RunFlags,
) -> BuildRequest {
    let mut labels = vec![(
        "org.opencontainers.image.source".to_owned(),
        p.info
            .gitrepo
            .clone()
            .unwrap_or_else(|| "https://github.com/linuxkit/linuxkit".into()),
    )];
    if let (false, Some(c)) = (p.dirty, &p.commit) {
        labels.push(("org.opencontainers.image.revision".into(), c.clone()));
    }
    if let Some(l) = p.info.config_label() {
        labels.push(("org.mobyproject.config".into(), l));
    }
    BuildRequest {
        platform: platform.to_string(),
        build_platform: build_platform.to_string(),
        tag: tag.to_owned(),
        dockerfile: p.dockerfile(),
        network: p.info.network.unwrap_or(false),
        no_cache: p.info.disable_cache.unwrap_or(false) || flags.force,
        ssh: flags.ssh.clone(),
        build_args,
        labels,
        context: p.dir.clone(),
    }
}

/// The package's index: the `built` platform manifests replace the entries of `old` for
/// the same platforms; `old`'s other platforms are kept, before the new ones.
pub fn package_index(old: Option<Index>, built: Vec<Descriptor>) -> Index {
    let mut index = Index {
        media_type: MEDIA_OCI_INDEX.into(),
        ..Index::default()
    };
    if let Some(old) = old {
        index.manifests = old
            .manifests
            .into_iter()
            .filter(|m| !built.iter().any(|d| d.platform == m.platform))
            .collect();
    }
    index.manifests.extend(built);
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(arch: &str, hex: char) -> Descriptor {
        let mut d = Descriptor::new(
            lk_oci::MEDIA_OCI_MANIFEST,
            format!("sha256:{}", hex.to_string().repeat(64))
                .parse()
                .unwrap(),
            1,
        );
        d.platform = Some(Platform::linux(arch));
        d
    }

    #[test]
    fn a_rebuilt_platform_replaces_its_entry_and_others_are_kept() {
        let old = package_index(None, vec![desc("amd64", 'a'), desc("arm64", 'b')]);
        let new = package_index(Some(old), vec![desc("amd64", 'c')]);
        let got: Vec<(String, String)> = new
            .manifests
            .iter()
            .map(|m| {
                (
                    m.platform.clone().unwrap().architecture,
                    m.digest.hex()[..1].to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("arm64".into(), "b".into()), ("amd64".into(), "c".into())]
        );
        assert_eq!(new.media_type, MEDIA_OCI_INDEX);
    }

    #[test]
    fn finds_from_images_with_args() {
        let mut args = BTreeMap::new();
        args.insert("BASE".to_owned(), "linuxkit/debian-base:abc".to_owned());
        let df = "ARG BASE=ignored\nARG TOOLS=linuxkit/tools:1\nFROM ${TOOLS} AS tools\nFROM --platform=linux/amd64 $BASE\nCOPY --from=tools /x /x\nFROM tools\nFROM --platform=$BUILDPLATFORM ${BASE} AS b\nFROM scratch\n";
        let from = from_images(df, &args);
        let got: Vec<(&str, bool)> = from
            .iter()
            .map(|f| (f.image.as_str(), f.on_build_platform))
            .collect();
        assert_eq!(
            got,
            [
                ("linuxkit/tools:1", false),
                ("linuxkit/debian-base:abc", false),
                ("linuxkit/debian-base:abc", true)
            ]
        );
    }
}
