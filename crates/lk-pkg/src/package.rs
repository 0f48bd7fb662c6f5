//! A package and its tag (spec/host.md §5.2).

use std::path::{Path, PathBuf};

use lk_oci::Hasher;
use lk_spec::pkg::{BuildYml, parse_build_yml};
use lk_spec::{Diagnostics, Source};

use crate::git::{Git, GitError};

/// Settings shared by the `pkg` commands (`pkg` persistent flags).
#[derive(Clone, Debug)]
pub struct PkgOptions {
    /// `--org` (default: build.yml `org`, else `linuxkit`).
    pub org: Option<String>,
    /// `--build-yml`.
    pub build_yml: String,
    /// `--hash`.
    pub hash: Option<String>,
    /// `--tag` template.
    pub tag: Option<String>,
    /// `--hash-commit`.
    pub hash_commit: String,
    /// `--hash-path`.
    pub hash_path: Option<PathBuf>,
    /// `--force-dirty`.
    pub force_dirty: bool,
    /// `--dev`.
    pub dev: bool,
    /// `$USER`: the org of `--dev` builds (`dev` when unset).
    pub user: Option<String>,
    /// `--network` (true) / `--nonetwork` (false): wins over build.yml's `network`.
    pub network: Option<bool>,
    /// `--disable-cache` (true) / `--enable-cache` (false): wins over build.yml's
    /// `disable-cache`.
    pub disable_cache: Option<bool>,
}

impl Default for PkgOptions {
    fn default() -> PkgOptions {
        PkgOptions {
            org: None,
            build_yml: "build.yml".into(),
            hash: None,
            tag: None,
            hash_commit: "HEAD".into(),
            hash_path: None,
            force_dirty: false,
            dev: false,
            user: None,
            network: None,
            disable_cache: None,
        }
    }
}

/// Loading a package failed.
#[derive(Debug, thiserror::Error)]
pub enum PkgError {
    /// build.yml is missing or unreadable.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// build.yml is invalid.
    #[error("invalid {path}")]
    Invalid {
        /// The file.
        path: String,
        /// The problems.
        #[source]
        problems: Diagnostics,
    },
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The directory is not tracked by git.
    #[error("package {0} is not in git (commit it, or pass --hash)")]
    NotInGit(String),
    /// An `extra-sources` directory is not tracked in the package's git repository.
    #[error(
        "package {package}: extra source {path} is not in the package's git repository (commit it, or fix build.yml's extra-sources)"
    )]
    ExtraSource {
        /// The package.
        package: String,
        /// The extra source's directory.
        path: String,
    },
    /// `--hash-path` is not a prefix of the package path.
    #[error("--hash-path {hash_path} must contain the package directory {package}")]
    HashPath {
        /// The flag value.
        hash_path: String,
        /// The package.
        package: String,
    },
    /// The Dockerfile is missing.
    #[error("package {package}: dockerfile {dockerfile} does not exist")]
    Dockerfile {
        /// The package.
        package: String,
        /// The file.
        dockerfile: String,
    },
}

/// A loaded package.
#[derive(Clone, Debug)]
pub struct Package {
    /// Its directory.
    pub dir: PathBuf,
    /// build.yml.
    pub info: BuildYml,
    /// Registry org.
    pub org: String,
    /// The content hash (tree hash, or `--hash`).
    pub hash: String,
    /// Uncommitted changes (the tag carries `-dirty-<hash>`).
    pub dirty: bool,
    /// Tracked by git.
    pub git: bool,
    /// The commit the hash is from.
    pub commit: Option<String>,
    tag: String,
}

impl Package {
    /// Loads the package in `dir`.
    pub fn load(dir: &Path, opts: &PkgOptions) -> Result<Package, PkgError> {
        let dir = std::path::absolute(dir).map_err(|source| PkgError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        let yml = dir.join(&opts.build_yml);
        let text = std::fs::read_to_string(&yml).map_err(|source| PkgError::Read {
            path: yml.display().to_string(),
            source,
        })?;
        let mut info = parse_build_yml(&Source::named(&yml.display().to_string()), &text).map_err(
            |problems| PkgError::Invalid {
                path: yml.display().to_string(),
                problems,
            },
        )?;
        info.network = opts.network.or(info.network);
        info.disable_cache = opts.disable_cache.or(info.disable_cache);
        let dockerfile = dir.join(info.dockerfile.as_deref().unwrap_or("Dockerfile"));
        if !dockerfile.is_file() {
            return Err(PkgError::Dockerfile {
                package: dir.display().to_string(),
                dockerfile: dockerfile.display().to_string(),
            });
        }
        let mut org = opts
            .org
            .clone()
            .or_else(|| info.org.clone())
            .unwrap_or_else(|| "linuxkit".into());
        if opts.dev {
            org = opts.user.clone().unwrap_or_else(|| "dev".into());
        }
        let hash_path = match &opts.hash_path {
            Some(p) => {
                let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                if !dir.starts_with(&p) {
                    return Err(PkgError::HashPath {
                        hash_path: p.display().to_string(),
                        package: dir.display().to_string(),
                    });
                }
                p
            }
            None => dir.clone(),
        };
        let git = Git::new(&dir);
        let in_git = git.in_work_tree();
        let mut hash = opts.hash.clone().unwrap_or_default();
        let mut dirty = false;
        let mut commit = None;
        if in_git {
            let top = git.toplevel()?;
            let rel = hash_path
                .strip_prefix(&top)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let c = git.commit(&opts.hash_commit)?;
            dirty = opts.force_dirty
                || (opts.hash_commit == "HEAD"
                    && Git::new(&top).is_dirty(if rel.is_empty() { "." } else { &rel })?);
            if opts.hash.is_none() {
                hash = if rel.is_empty() {
                    git.root_tree(&c)?
                } else {
                    Git::new(&top)
                        .tree_hash(&c, &rel)?
                        .ok_or_else(|| PkgError::NotInGit(dir.display().to_string()))?
                };
                if !info.extra_sources.is_empty() {
                    let mut h = hash.clone();
                    for (src, _) in &info.extra_sources {
                        let src_dir =
                            std::path::absolute(dir.join(src)).unwrap_or_else(|_| dir.join(src));
                        // LinuxKit's rule: an extra source is a tracked directory of the
                        // same repository (a missing one changed the tag without a word).
                        let not_in_git = || PkgError::ExtraSource {
                            package: dir.display().to_string(),
                            path: src_dir.display().to_string(),
                        };
                        let srel = src_dir
                            .strip_prefix(&top)
                            .map(|p| p.display().to_string())
                            .map_err(|_| not_in_git())?;
                        let tree = Git::new(&top).tree_hash(&c, &srel)?;
                        h.push_str(&tree.ok_or_else(not_in_git)?);
                    }
                    hash = sha1_hex(h.as_bytes());
                }
            }
            if dirty {
                hash = format!("{hash}-dirty-{}", &content_hash(&dir, &git)?[..7]);
            }
            commit = Some(c);
        }
        if opts.dev && opts.hash.is_none() {
            hash = "dev".into();
        }
        let template = opts
            .tag
            .clone()
            .or_else(|| info.tag.clone())
            .unwrap_or_else(|| "{{.Hash}}".into());
        let tag = template
            .replace("{{.Hash}}", &hash)
            .replace("{{ .Hash }}", &hash);
        Ok(Package {
            dir,
            info,
            org,
            hash,
            dirty,
            git: in_git,
            commit,
            tag,
        })
    }

    /// `org/image:tag` (`latest` when the tag is empty).
    pub fn tag(&self) -> String {
        let t = if self.tag.is_empty() {
            "latest"
        } else {
            &self.tag
        };
        format!("{}/{}:{t}", self.org, self.info.image)
    }

    /// The canonical form (`docker.io/org/image:tag`).
    pub fn full_tag(&self) -> String {
        lk_spec::reference::reference_expand(&self.tag())
    }

    /// The Dockerfile path.
    pub fn dockerfile(&self) -> PathBuf {
        self.dir
            .join(self.info.dockerfile.as_deref().unwrap_or("Dockerfile"))
    }
}

/// sha256 over the bytes of every tracked and untracked file (git's order).
fn content_hash(dir: &Path, git: &Git) -> Result<String, PkgError> {
    let mut h = Hasher::new();
    for f in git.files()? {
        let p = dir.join(&f);
        if p.is_file()
            && !p.is_symlink()
            && let Ok(data) = std::fs::read(&p)
        {
            h.update(&data);
        }
    }
    Ok(h.finish().hex().to_owned())
}

/// Hex SHA-1, as LinuxKit combines extra-source tree hashes.
fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Resolves `@pkg:<path>` in YAML files to the package's `org/image:tag`.
#[derive(Clone, Debug, Default)]
pub struct PkgResolver {
    /// Options (org, tag template, ...).
    pub options: PkgOptions,
}

impl lk_spec::PackageResolver for PkgResolver {
    fn resolve(&self, base_dir: &Path, path: &str) -> Result<String, String> {
        Package::load(&base_dir.join(path), &self.options)
            .map(|p| p.tag())
            .map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                msg
            })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_matches_known_vectors() {
        assert_eq!(
            super::sha1_hex(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            super::sha1_hex(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
