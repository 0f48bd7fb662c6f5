//! `depends.docker-images` as a plan (pure): which `ref@digest` images a package's build
//! needs saved into its directory, and the archive files they go to. Executing it (pull,
//! save) is the builder's.

use std::path::{Path, PathBuf};

use lk_spec::pkg::Depends;

/// The images and where their archives go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DependsPlan {
    /// Every image, `ref@digest`, in order (`list`, then `from-file`'s lines).
    pub images: Vec<String>,
    /// `target`: one archive of all of them.
    pub target: Option<PathBuf>,
    /// `target-dir`: the directory (emptied first), and one archive per image in it.
    pub target_dir: Option<(PathBuf, Vec<(String, PathBuf)>)>,
}

/// A `depends` entry that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependsError {
    /// A target outside the package directory (or the directory itself).
    #[error(
        "depends target `{0}` must be inside the package directory (and not the directory itself)"
    )]
    Outside(String),
    /// An image without `@sha256:...`.
    #[error("depends image {0:?} lacks a digest")]
    NoDigest(String),
}

/// The plan for `d` in package directory `dir`; `from_file` is the text of `d.from_file`
/// (read by the caller): one image per line, blank lines and `#` comments skipped.
pub fn plan(dir: &Path, d: &Depends, from_file: Option<&str>) -> Result<DependsPlan, DependsError> {
    let mut images = d.list.clone();
    if let Some(text) = from_file {
        images.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if images.is_empty() {
        return Ok(DependsPlan::default());
    }
    if let Some(bad) = images.iter().find(|i| i.split_once('@').is_none()) {
        return Err(DependsError::NoDigest(bad.clone()));
    }
    let target = d.target.as_deref().map(|t| inside(dir, t)).transpose()?;
    let target_dir = match d.target_dir.as_deref() {
        Some(t) => {
            let td = inside(dir, t)?;
            let files = images
                .iter()
                .map(|image| {
                    let (name, digest) = image.split_once('@').unwrap_or((image, ""));
                    let base = name.rsplit('/').next().unwrap_or(name);
                    (image.clone(), td.join(format!("{base}@{digest}.tar")))
                })
                .collect();
            Some((td, files))
        }
        None => None,
    };
    Ok(DependsPlan {
        images,
        target,
        target_dir,
    })
}

/// `rel` under `dir`, refused when it leaves it or names the directory itself.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf, DependsError> {
    let ok = !rel.split('/').any(|c| c == "..")
        && !rel.starts_with('/')
        && !rel.trim_matches('/').is_empty()
        && rel != ".";
    if ok {
        Ok(dir.join(rel))
    } else {
        Err(DependsError::Outside(rel.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depends(list: &[&str]) -> Depends {
        Depends {
            list: list.iter().map(|s| s.to_string()).collect(),
            ..Depends::default()
        }
    }

    #[test]
    fn images_from_the_list_and_the_file_with_their_archives() {
        let mut d = depends(&["docker.io/library/alpine@sha256:aa"]);
        d.target_dir = Some("deps".into());
        d.target = Some("all/images.tar".into());
        let p = plan(Path::new("/p"), &d, Some("# c\n\nquay.io/x/y@sha256:bb\n")).unwrap();
        assert_eq!(
            p.images,
            [
                "docker.io/library/alpine@sha256:aa",
                "quay.io/x/y@sha256:bb"
            ]
        );
        assert_eq!(p.target.as_deref(), Some(Path::new("/p/all/images.tar")));
        let (dir, files) = p.target_dir.unwrap();
        assert_eq!(dir, Path::new("/p/deps"));
        assert_eq!(files[1].1, Path::new("/p/deps/y@sha256:bb.tar"));
    }

    #[test]
    fn targets_outside_and_images_without_digest_are_refused() {
        for t in ["../x.tar", "/etc/x.tar", ".", "/", "a/../../b"] {
            let mut d = depends(&["a@sha256:1"]);
            d.target = Some(t.into());
            assert_eq!(
                plan(Path::new("/p"), &d, None),
                Err(DependsError::Outside(t.into())),
                "{t}"
            );
        }
        let d = depends(&["alpine:3.20"]);
        assert_eq!(
            plan(Path::new("/p"), &d, None),
            Err(DependsError::NoDigest("alpine:3.20".into()))
        );
        assert_eq!(
            plan(Path::new("/p"), &Depends::default(), None),
            Ok(DependsPlan::default())
        );
    }
}
