//! The environment variables the use cases honour, read once by the binary and passed
//! down, so each has one parsing rule.

use std::path::PathBuf;

/// What the process environment says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    /// `SOURCE_DATE_EPOCH`: every timestamp of an output, when set.
    pub source_date_epoch: Option<u64>,
    /// `HOME`: `~/` in `files[].source`, the default cache.
    pub home: Option<PathBuf>,
    /// `LINUXKIT_MIRROR` (space or comma separated), before any `--mirror`.
    pub mirrors: Vec<String>,
    /// `LINUXKIT_DOCKER`: the docker CLI to run.
    pub docker: Option<String>,
    /// `LINUXKIT_BUILDAH`: the buildah program `pkg build` runs.
    pub buildah: Option<String>,
    /// `LINUXKIT_BUILDERS`: `pkg build`'s remote builders when `--builders` is not given.
    pub builders: Option<String>,
    /// `LINUXKIT_XORRISO`, `LINUXKIT_MKFS_EROFS`, `LINUXKIT_MKFS_EXT4`, `LINUXKIT_DEBUGFS`,
    /// `LINUXKIT_QEMU_IMG`: the image makers of the tree and bootable formats.
    pub tools: lk_formats::Tools,
    /// `USER`: the org of `pkg build --dev`.
    pub user: Option<String>,
    /// `LINUXKIT_SEGMENTS_MAX`: the bound of the initrd segment store in bytes (`K`, `M`,
    /// `G` suffixes; `0` keeps no segments). `None`: 2 GiB.
    pub segments_max: Option<u64>,
}

/// `123`, `64K`, `500M`, `2G` (powers of 1024).
fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (digits, shift) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 10),
        (i, 'm' | 'M') => (&v[..i], 20),
        (i, 'g' | 'G') => (&v[..i], 30),
        _ => (v, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A variable is set to something we cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value} is not {expected}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

impl Env {
    /// Reads the variables through `get` (`|k| std::env::var(k).ok()` in the binary).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Env, EnvError> {
        let source_date_epoch = match get("SOURCE_DATE_EPOCH") {
            Some(v) if !v.trim().is_empty() => {
                Some(v.trim().parse::<u64>().map_err(|_| EnvError {
                    name: "SOURCE_DATE_EPOCH",
                    value: v.clone(),
                    expected: "a number of seconds",
                })?)
            }
            _ => None,
        };
        let segments_max = match get("LINUXKIT_SEGMENTS_MAX") {
            Some(v) if !v.trim().is_empty() => Some(parse_size(&v).ok_or_else(|| EnvError {
                name: "LINUXKIT_SEGMENTS_MAX",
                value: v.clone(),
                expected: "a size in bytes (K, M or G suffixes allowed)",
            })?),
            _ => None,
        };
        Ok(Env {
            segments_max,
            source_date_epoch,
            home: get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
            mirrors: get("LINUXKIT_MIRROR")
                .unwrap_or_default()
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            docker: get("LINUXKIT_DOCKER").filter(|d| !d.is_empty()),
            buildah: get("LINUXKIT_BUILDAH").filter(|d| !d.is_empty()),
            builders: get("LINUXKIT_BUILDERS").filter(|d| !d.trim().is_empty()),
            tools: {
                let default = lk_formats::Tools::default();
                lk_formats::Tools {
                    xorriso: get("LINUXKIT_XORRISO").unwrap_or(default.xorriso),
                    mkfs_erofs: get("LINUXKIT_MKFS_EROFS").unwrap_or(default.mkfs_erofs),
                    mkfs_ext4: get("LINUXKIT_MKFS_EXT4").unwrap_or(default.mkfs_ext4),
                    debugfs: get("LINUXKIT_DEBUGFS").unwrap_or(default.debugfs),
                    qemu_img: get("LINUXKIT_QEMU_IMG").unwrap_or(default.qemu_img),
                }
            },
            user: get("USER").filter(|u| !u.is_empty()),
        })
    }

    /// The initrd segment store of a cache directory, unless `LINUXKIT_SEGMENTS_MAX=0`.
    pub fn segment_store(&self, cache_dir: &std::path::Path) -> Option<lk_formats::SegmentStore> {
        let max = self
            .segments_max
            .unwrap_or(lk_formats::segment::DEFAULT_MAX_BYTES);
        (max > 0)
            .then(|| lk_formats::SegmentStore::new(cache_dir.join(lk_cache::SEGMENTS_DIR), max))
    }

    /// The time outputs are dated when nothing in them fixes it: `SOURCE_DATE_EPOCH`, else now.
    pub fn now_or_epoch(&self) -> u64 {
        self.source_date_epoch.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Env, EnvError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_vars(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn source_date_epoch_has_one_rule() {
        assert_eq!(env(&[]).unwrap().source_date_epoch, None);
        assert_eq!(
            env(&[("SOURCE_DATE_EPOCH", "")]).unwrap().source_date_epoch,
            None
        );
        let e = env(&[("SOURCE_DATE_EPOCH", " 1700000000 ")]).unwrap();
        assert_eq!(e.source_date_epoch, Some(1_700_000_000));
        assert_eq!(e.now_or_epoch(), 1_700_000_000);
        let err = env(&[("SOURCE_DATE_EPOCH", "yesterday")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SOURCE_DATE_EPOCH=yesterday is not a number of seconds"
        );
    }

    #[test]
    fn the_segment_bound_takes_suffixes() {
        let max = |v: &str| env(&[("LINUXKIT_SEGMENTS_MAX", v)]).map(|e| e.segments_max);
        assert_eq!(max("").unwrap(), None);
        assert_eq!(max("0").unwrap(), Some(0));
        assert_eq!(max("64K").unwrap(), Some(64 << 10));
        assert_eq!(max("500m").unwrap(), Some(500 << 20));
        assert_eq!(max(" 3G ").unwrap(), Some(3 << 30));
        assert!(max("lots").is_err());
        assert!(max("99999999999G").is_err());
    }

    #[test]
    fn mirrors_split_on_spaces_and_commas() {
        let e = env(&[("LINUXKIT_MIRROR", "a=b, c=d e=f")]).unwrap();
        assert_eq!(e.mirrors, ["a=b", "c=d", "e=f"]);
    }
}
