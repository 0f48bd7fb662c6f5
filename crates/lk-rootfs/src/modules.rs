//! The lean modules tree: of the kernel image's modules tar only the modules the image
//! can use go into the image — the kernel package's own list (`modules.linuxkit`) plus
//! YAML's `kernel.modules`, with their dependencies — and depmod's text indexes are
//! rewritten to match. A kernel image without a list (LinuxKit's) keeps every module, as
//! LinuxKit does, unless `kernel.modules` names some.

use std::collections::{BTreeMap, BTreeSet};

use lk_formats::modules::{self as m, Deps, Index};
use lk_formats::{Entry, Kind};

/// What the selection did, for the build's report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Modules kept and modules in the tar.
    pub kept: usize,
    pub total: usize,
    /// Bytes of module files kept and in the tar.
    pub kept_bytes: u64,
    pub total_bytes: u64,
    /// Selection entries that matched no module (a warning each).
    pub unknown: Vec<String>,
}

/// The kept entries of a modules tar and, when a selection applied, its report.
#[derive(Debug)]
pub struct Selected {
    pub entries: Vec<(Entry, Vec<u8>)>,
    pub report: Option<Report>,
}

fn text(entries: &[(Entry, Vec<u8>)], path: &str) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|(e, _)| e.path == path)
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
}

/// Applies the selection to the entries of a kernel image's modules tar.
pub fn select(entries: Vec<(Entry, Vec<u8>)>, yaml: Option<&[String]>) -> Selected {
    let dirs: BTreeSet<String> = entries
        .iter()
        .filter(|(e, _)| e.path.ends_with("/modules.dep"))
        .filter_map(|(e, _)| m::modules_dir_of(&e.path).map(str::to_owned))
        .collect();
    let mut keep_by_dir: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut report = Report::default();
    for dir in &dirs {
        let package = text(&entries, &format!("{dir}/{}", m::LIST)).map(|t| m::parse_list(&t));
        let selection: Vec<String> = match (package, yaml) {
            (_, Some(y)) if y.iter().any(|s| s.trim() == "*") => continue,
            (None, None) => continue,
            (p, y) => p
                .into_iter()
                .flatten()
                .chain(y.iter().copied().flatten().cloned())
                .collect(),
        };
        let file = |name: &str| text(&entries, &format!("{dir}/{name}")).unwrap_or_default();
        let deps = Deps::parse(&file("modules.dep"))
            .with_soft(&file("modules.softdep"), &file("modules.alias"));
        let (keep, unknown) = deps.select(&selection);
        report.unknown.extend(unknown);
        keep_by_dir.insert(dir.clone(), keep);
    }
    if keep_by_dir.is_empty() {
        return Selected {
            entries,
            report: None,
        };
    }
    let kept_module = |path: &str| -> Option<bool> {
        let dir = m::modules_dir_of(path)?;
        let keep = keep_by_dir.get(dir)?;
        m::is_module_file(path).then(|| keep.contains(&m::module_name(path)))
    };
    // Directories inside a filtered tree stay only if something kept is under them.
    let mut needed: BTreeSet<&str> = BTreeSet::new();
    for (e, _) in &entries {
        if matches!(e.kind, Kind::Dir) || kept_module(&e.path) == Some(false) {
            continue;
        }
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            needed.insert(parent);
            p = parent;
        }
    }
    let mut out = Vec::with_capacity(entries.len());
    for (e, body) in &entries {
        let filtered_dir = m::modules_dir_of(&e.path).filter(|d| keep_by_dir.contains_key(*d));
        if let Some(dir) = filtered_dir {
            if let Some(kept) = kept_module(&e.path) {
                report.total += 1;
                report.total_bytes += body.len() as u64;
                if !kept {
                    continue;
                }
                report.kept += 1;
                report.kept_bytes += body.len() as u64;
            } else if matches!(e.kind, Kind::Dir) && e.path.len() > dir.len() {
                if !needed.contains(e.path.as_str()) {
                    continue;
                }
            } else if let Some(file) = e.path.strip_prefix(dir).and_then(|f| f.strip_prefix('/'))
                && let Index::Rewrite(t) =
                    m::filter_index(file, &String::from_utf8_lossy(body), &keep_by_dir[dir])
            {
                let mut e = e.clone();
                e.kind = Kind::File(t.len() as u64);
                out.push((e, t.into_bytes()));
                continue;
            }
        }
        out.push((e.clone(), body.clone()));
    }
    Selected {
        entries: out,
        report: Some(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(list: Option<&str>) -> Vec<(Entry, Vec<u8>)> {
        let d = "usr/lib/modules/6.1.0";
        let mut v: Vec<(Entry, Vec<u8>)> = ["usr", "usr/lib", "usr/lib/modules", d]
            .iter()
            .chain(&[
                "usr/lib/modules/6.1.0/kernel",
                "usr/lib/modules/6.1.0/kernel/drivers",
                "usr/lib/modules/6.1.0/kernel/drivers/net",
                "usr/lib/modules/6.1.0/kernel/sound",
            ])
            .map(|p| (Entry::dir(p, 0o755, 0), Vec::new()))
            .collect();
        let mut file = |p: &str, body: &str| {
            v.push((
                Entry::file(&format!("{d}/{p}"), body.len() as u64, 0o644, 0),
                body.as_bytes().to_vec(),
            ));
        };
        file("kernel/drivers/net/dummy.ko", "DUMMY");
        file("kernel/drivers/net/virtio_net.ko", "VNET");
        file("kernel/drivers/net/failover.ko", "FO");
        file("kernel/sound/snd.ko", "SOUND!");
        file(
            "modules.dep",
            "kernel/drivers/net/dummy.ko:\nkernel/drivers/net/virtio_net.ko: kernel/drivers/net/failover.ko\nkernel/drivers/net/failover.ko:\nkernel/sound/snd.ko:\n",
        );
        file(
            "modules.alias",
            "alias virtio:d00000001v* virtio_net\nalias pci:v* snd\nalias rtnl-link-dummy dummy\n",
        );
        file("modules.builtin", "kernel/fs/ext4/ext4.ko\n");
        if let Some(l) = list {
            file(m::LIST, l);
        }
        v
    }

    fn paths(s: &Selected) -> Vec<&str> {
        s.entries.iter().map(|(e, _)| e.path.as_str()).collect()
    }

    fn body<'s>(s: &'s Selected, suffix: &str) -> &'s str {
        let (_, b) = s
            .entries
            .iter()
            .find(|(e, _)| e.path.ends_with(suffix))
            .unwrap();
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn without_a_list_every_module_stays() {
        let s = select(tar(None), None);
        assert_eq!(s.report, None);
        assert_eq!(s.entries, tar(None));
        let all = select(tar(Some("virtio_net\n")), Some(&["*".to_owned()]));
        assert_eq!(all.report, None);
    }

    #[test]
    fn the_package_list_and_yaml_pick_modules_with_their_dependencies() {
        let s = select(
            tar(Some("# VM\nvirtio_net\n")),
            Some(&["dummy".to_owned(), "nope".to_owned()]),
        );
        let p = paths(&s);
        assert!(p.contains(&"usr/lib/modules/6.1.0/kernel/drivers/net/failover.ko"));
        assert!(p.contains(&"usr/lib/modules/6.1.0/kernel/drivers/net/dummy.ko"));
        assert!(!p.iter().any(|p| p.contains("sound")), "{p:?}");
        let r = s.report.clone().unwrap();
        assert_eq!(
            (r.kept, r.total, r.kept_bytes, r.total_bytes),
            (3, 4, 11, 17)
        );
        assert_eq!(r.unknown, ["nope"]);
        assert_eq!(
            body(&s, "/modules.alias"),
            "alias virtio:d00000001v* virtio_net\nalias rtnl-link-dummy dummy\n"
        );
        assert_eq!(body(&s, "/modules.dep").lines().count(), 3);
        assert_eq!(body(&s, "/modules.builtin"), "kernel/fs/ext4/ext4.ko\n");
        let (e, b) = s
            .entries
            .iter()
            .find(|(e, _)| e.path.ends_with("/modules.dep"))
            .unwrap();
        assert_eq!(e.kind, Kind::File(b.len() as u64));
    }

    #[test]
    fn yaml_alone_selects_from_a_list_less_package() {
        let s = select(tar(None), Some(&["kernel/drivers/".to_owned()]));
        assert_eq!(s.report.as_ref().unwrap().kept, 3);
        assert!(!paths(&s).iter().any(|p| p.contains("sound")));
    }
}
