//! Kernel module trees (`usr/lib/modules/<release>`): which modules an image carries and
//! the index files rewritten for that set.
//!
//! A selection is a list of module names (`virtio_net`, `-` and `_` alike), directories of
//! the tree ending in `/` (`kernel/net/netfilter/`) and `*` (every module), closed over
//! `modules.dep`. Our kernel packages name their default selection in `modules.linuxkit`
//! (one entry a line, `#` comments); YAML's `kernel.modules` adds to it.

use std::collections::{BTreeMap, BTreeSet};

/// The kernel package's own selection, a file of the modules directory.
pub const LIST: &str = "modules.linuxkit";

/// A module's name as the kernel knows it (`-` is `_`).
pub fn norm(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name of a `.ko` path (`kernel/fs/ext4/ext4.ko.xz` -> `ext4`).
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    norm(file.split('.').next().unwrap_or(file))
}

/// True for a loadable module file (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`).
pub fn is_module_file(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.ends_with(".ko") || file.contains(".ko.")
}

/// The modules directory of a path in a tree (`usr/lib/modules/<release>` or
/// `lib/modules/<release>`), if the path is inside one.
pub fn modules_dir_of(path: &str) -> Option<&str> {
    for root in ["usr/lib/modules/", "lib/modules/"] {
        if let Some(rest) = path.strip_prefix(root) {
            let release = rest.split('/').next().filter(|r| !r.is_empty())?;
            return Some(&path[..root.len() + release.len()]);
        }
    }
    None
}

/// The entries of a selection file (`modules.linuxkit`): one a line, `#` starts a comment.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `modules.dep`: module name -> (path in the tree, dependency paths); with
/// [`Deps::with_soft`], the soft dependencies (`modules.softdep`, resolved through the
/// plain names of `modules.alias`) that a module needs at load time but does not link to,
/// such as `libcrc32c`'s `crc32c` implementation.
#[derive(Debug, Default)]
pub struct Deps(
    BTreeMap<String, (String, Vec<String>)>,
    BTreeMap<String, Vec<String>>,
);

impl Deps {
    /// Parses the text of `modules.dep`.
    pub fn parse(text: &str) -> Deps {
        Deps(
            text.lines()
                .filter_map(|l| {
                    let (m, d) = l.split_once(':')?;
                    let m = m.trim().to_owned();
                    Some((
                        module_name(&m),
                        (m, d.split_whitespace().map(str::to_owned).collect()),
                    ))
                })
                .collect(),
            BTreeMap::new(),
        )
    }

    /// Adds the soft dependencies of `modules.softdep` (`softdep M pre: A post: B`), each
    /// name resolved as a module or, failing that, as a plain alias of `modules.alias`.
    #[must_use]
    pub fn with_soft(mut self, softdep: &str, alias: &str) -> Deps {
        let mut by_alias: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in alias.lines() {
            let mut w = l.split_whitespace();
            if let (Some("alias"), Some(a), Some(m)) = (w.next(), w.next(), w.next())
                && !a.contains(['*', '?', '['])
            {
                by_alias.entry(norm(a)).or_default().push(norm(m));
            }
        }
        for l in softdep.lines() {
            let mut w = l.split_whitespace();
            let (Some("softdep"), Some(m)) = (w.next(), w.next()) else {
                continue;
            };
            let soft = self.1.entry(norm(m)).or_default();
            for n in w.filter(|n| !n.ends_with(':')).map(norm) {
                if self.0.contains_key(&n) {
                    soft.push(n);
                } else if let Some(ms) = by_alias.get(&n) {
                    soft.extend(ms.iter().cloned());
                }
            }
        }
        self
    }

    /// Every module `modules.dep` knows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when `modules.dep` lists no module.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A module's path relative to the modules directory.
    pub fn path(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|(p, _)| p.as_str())
    }

    /// The modules `selection` names, with everything they depend on. Entries that
    /// match nothing are returned second (a misspelt name is worth a warning).
    pub fn select<S: AsRef<str>>(&self, selection: &[S]) -> (BTreeSet<String>, Vec<String>) {
        let mut want: Vec<String> = Vec::new();
        let mut unknown = Vec::new();
        for s in selection {
            let s = s.as_ref().trim();
            let before = want.len();
            if s == "*" {
                want.extend(self.0.keys().cloned());
            } else if s.ends_with('/') {
                want.extend(
                    self.0
                        .iter()
                        .filter(|(_, (p, _))| p.starts_with(s))
                        .map(|(n, _)| n.clone()),
                );
            } else if self.0.contains_key(&module_name(s)) {
                want.push(module_name(s));
            }
            if want.len() == before {
                unknown.push(s.to_owned());
            }
        }
        let mut keep = BTreeSet::new();
        while let Some(m) = want.pop() {
            if let Some((_, d)) = self.0.get(&m)
                && keep.insert(m.clone())
            {
                want.extend(d.iter().map(|p| module_name(p)));
                want.extend(self.1.get(&m).into_iter().flatten().cloned());
            }
        }
        (keep, unknown)
    }
}

/// What becomes of a file of the modules directory when only `keep` stays.
#[derive(Debug)]
pub enum Index {
    /// Written unchanged (`modules.builtin*`, binary indexes, anything unknown).
    Keep,
    /// Rewritten with only the kept modules' lines.
    Rewrite(String),
}

/// Rewrites the text indexes depmod writes (`modules.dep`, `.alias`, `.symbols`,
/// `.softdep`, `.order`, `.devname`) for the modules in `keep`. The binary `.bin` indexes
/// stay as they are: kmod's `modprobe` still finds every kept module through them, and a
/// dropped one fails to load with the file's absence.
pub fn filter_index(file: &str, text: &str, keep: &BTreeSet<String>) -> Index {
    let module_of = |line: &str| -> Option<String> {
        let mut w = line.split_whitespace();
        match file {
            "modules.dep" => line.split_once(':').map(|(m, _)| module_name(m)),
            "modules.alias" | "modules.symbols" => w.nth(2).map(norm),
            "modules.softdep" => w.nth(1).map(norm),
            "modules.order" => Some(module_name(line.trim())),
            "modules.devname" => w.next().map(norm),
            _ => None,
        }
    };
    if !matches!(
        file,
        "modules.dep"
            | "modules.alias"
            | "modules.symbols"
            | "modules.softdep"
            | "modules.order"
            | "modules.devname"
    ) {
        return Index::Keep;
    }
    let mut out = String::new();
    for l in text.lines() {
        let comment = l.trim_start().starts_with('#') || l.trim().is_empty();
        if comment || module_of(l).is_some_and(|m| keep.contains(&m)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Index::Rewrite(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/squashfs/squashfs.ko:\n\
        kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
        kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n\
        kernel/drivers/virtio/virtio.ko:\n\
        kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko\n\
        kernel/net/netfilter/xt-conntrack.ko: kernel/net/netfilter/nf_conntrack.ko\n\
        kernel/lib/libcrc32c.ko:\n\
        kernel/sound/snd.ko.xz:\n";

    #[test]
    fn names_directories_and_all_close_over_dependencies() {
        let d = Deps::parse(DEP);
        assert_eq!(d.len(), 8);
        let (keep, unknown) = d.select(&["virtio-blk", "kernel/net/netfilter/", "nope"]);
        assert_eq!(
            keep.into_iter().collect::<Vec<_>>(),
            [
                "libcrc32c",
                "nf_conntrack",
                "virtio",
                "virtio_blk",
                "virtio_ring",
                "xt_conntrack"
            ]
        );
        assert_eq!(unknown, ["nope"]);
        assert_eq!(d.select(&["*"]).0.len(), 8);
        assert_eq!(d.path("snd"), Some("kernel/sound/snd.ko.xz"));
    }

    #[test]
    fn soft_dependencies_come_along_by_name_or_plain_alias() {
        let d = Deps::parse(&format!(
            "{DEP}kernel/crypto/crc32c_generic.ko:\nkernel/arch/x86/crypto/crc32c-intel.ko:\n"
        ))
        .with_soft(
            "# Soft dependencies\nsoftdep libcrc32c pre: crc32c\nsoftdep virtio_blk post: snd\n",
            "alias crc32c crc32c_generic\nalias crc32c crc32c_intel\nalias crypto-crc32c* nope\n",
        );
        let (keep, _) = d.select(&["xt_conntrack"]);
        assert!(
            keep.contains("crc32c_generic") && keep.contains("crc32c_intel"),
            "{keep:?}"
        );
        assert!(d.select(&["virtio_blk"]).0.contains("snd"));
        assert!(!d.select(&["virtio"]).0.contains("snd"));
    }

    #[test]
    fn text_indexes_keep_only_kept_lines() {
        let keep: BTreeSet<String> = ["virtio".to_owned(), "xt_conntrack".to_owned()].into();
        let alias = "# Aliases extracted from modules themselves.\nalias virtio:d* virtio\nalias pci:v* snd\nalias ipt_conntrack xt_conntrack\n";
        let Index::Rewrite(a) = filter_index("modules.alias", alias, &keep) else {
            panic!("alias is rewritten")
        };
        assert_eq!(
            a,
            "# Aliases extracted from modules themselves.\nalias virtio:d* virtio\nalias ipt_conntrack xt_conntrack\n"
        );
        let Index::Rewrite(dep) = filter_index("modules.dep", DEP, &keep) else {
            panic!("dep is rewritten")
        };
        assert_eq!(dep.lines().count(), 2);
        let Index::Rewrite(o) = filter_index(
            "modules.order",
            "kernel/sound/snd.ko\nkernel/drivers/virtio/virtio.ko\n",
            &keep,
        ) else {
            panic!("order is rewritten")
        };
        assert_eq!(o, "kernel/drivers/virtio/virtio.ko\n");
        assert!(matches!(
            filter_index("modules.builtin", "kernel/fs/ext4/ext4.ko\n", &keep),
            Index::Keep
        ));
        assert!(matches!(
            filter_index("modules.dep.bin", "", &keep),
            Index::Keep
        ));
    }

    #[test]
    fn paths_and_lists() {
        assert_eq!(
            modules_dir_of("usr/lib/modules/6.1.0-1-amd64/kernel/fs/x.ko"),
            Some("usr/lib/modules/6.1.0-1-amd64")
        );
        assert_eq!(
            modules_dir_of("lib/modules/6.1/modules.dep"),
            Some("lib/modules/6.1")
        );
        assert_eq!(modules_dir_of("usr/lib/modules"), None);
        assert_eq!(modules_dir_of("etc/modules/x"), None);
        assert!(is_module_file("a/b/ext4.ko") && is_module_file("a/snd.ko.xz"));
        assert!(!is_module_file("a/modules.dep"));
        assert_eq!(
            parse_list("# VM modules\nvirtio_net\n\n kernel/fs/ # all file systems\n"),
            ["virtio_net", "kernel/fs/"]
        );
    }
}
