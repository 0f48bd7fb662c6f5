//! Module coldplug: every device's `modalias` under /sys/bus (and /sys/class) is matched against the kernel's
//! `modules.alias` (shell globs), and matching modules are loaded with their dependencies
//! from `modules.dep`, dependencies first — what udev/mdev do at boot, without a hard-coded
//! module list. Repeated until no new module loads (virtio_pci makes virtio devices appear).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use lk_guest_sys::Sys;

/// `*`, `?` and `[...]` globbing as fnmatch(3) without flags.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(&pattern[p..], text[t])
                        && matched
                    {
                        p += next;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against a `[...]` class at the start of `pat`; returns (matched, class length).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = pat.get(i).is_some_and(|&x| x == b'!' || x == b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let start = i;
    while i < pat.len() && (pat[i] != b']' || i == start) {
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            matched |= pat[i] <= c && c <= pat[i + 2];
            i += 3;
        } else {
            matched |= pat[i] == c;
            i += 1;
        }
    }
    (i < pat.len()).then_some((matched != negate, i + 1))
}

fn norm(name: &str) -> String {
    name.replace('-', "_")
}

/// The kernel's module index.
#[derive(Debug, Default)]
pub struct ModuleIndex {
    dir: PathBuf,
    aliases: Vec<(String, String)>,
    /// module name -> (path relative to dir, dependency paths)
    deps: HashMap<String, (String, Vec<String>)>,
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    norm(file.split('.').next().unwrap_or(file))
}

impl ModuleIndex {
    /// Reads `modules.alias` and `modules.dep` under `dir`.
    pub fn load(sys: &dyn Sys, dir: &Path) -> std::io::Result<ModuleIndex> {
        let alias_text = sys.read(&dir.join("modules.alias").display().to_string())?;
        let dep_text = sys.read(&dir.join("modules.dep").display().to_string())?;
        let aliases = alias_text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("alias")).then_some(())?;
                Some((w.next()?.to_owned(), norm(w.next()?)))
            })
            .collect();
        let deps = dep_text
            .lines()
            .filter_map(|l| {
                let (m, d) = l.split_once(':')?;
                Some((
                    module_name(m),
                    (
                        m.trim().to_owned(),
                        d.split_whitespace().map(str::to_owned).collect(),
                    ),
                ))
            })
            .collect();
        Ok(ModuleIndex {
            dir: dir.to_path_buf(),
            aliases,
            deps,
        })
    }

    /// Modules whose alias pattern matches `modalias`.
    pub fn matching(&self, modalias: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .aliases
            .iter()
            .filter(|(pat, _)| glob(pat.as_bytes(), modalias.as_bytes()))
            .map(|(_, m)| m.clone())
            .collect();
        v.dedup();
        v
    }

    /// Loads `module` after its dependencies; `loaded` tracks what is in the kernel.
    pub fn load_module(
        &self,
        sys: &dyn Sys,
        module: &str,
        loaded: &mut BTreeSet<String>,
        log: &mut dyn FnMut(String),
    ) {
        let name = norm(module);
        if loaded.contains(&name) {
            return;
        }
        let Some((path, deps)) = self.deps.get(&name) else {
            return;
        };
        loaded.insert(name.clone());
        // modules.dep lists dependencies so that the last must load first.
        for d in deps.iter().rev() {
            self.load_module(sys, &module_name(d), loaded, log);
        }
        match sys.load_module(&self.dir.join(path), "") {
            Ok(()) => log(format!("loaded module {name}")),
            // A driver whose alias matched but whose hardware is absent (cpufreq in a VM).
            Err(e) if e.raw_os_error() == Some(19) => {}
            Err(e) => log(format!("module {name}: {e}")),
        }
    }
}

/// Modules already in the kernel (/proc/modules).
pub fn loaded_modules(sys: &dyn Sys) -> BTreeSet<String> {
    sys.read("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(norm)
        .collect()
}

/// Every device modalias under /sys/bus/*/devices/* and, for devices on no bus (input
/// devices, whose handlers such as evdev are modules), /sys/class/*/*.
pub fn modaliases(sys: &dyn Sys) -> Vec<String> {
    let mut out = Vec::new();
    let dirs = sys
        .list("/sys/bus")
        .unwrap_or_default()
        .into_iter()
        .map(|bus| format!("/sys/bus/{bus}/devices"))
        .chain(
            sys.list("/sys/class")
                .unwrap_or_default()
                .into_iter()
                .map(|class| format!("/sys/class/{class}")),
        );
    for devices in dirs {
        for dev in sys.list(&devices).unwrap_or_default() {
            if let Ok(a) = sys.read(&format!("{devices}/{dev}/modalias")) {
                let a = a.trim();
                if !a.is_empty() {
                    out.push(a.to_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Coldplug: load modules for every present device until nothing new appears.
pub fn coldplug(sys: &dyn Sys, index: &ModuleIndex, log: &mut dyn FnMut(String)) -> usize {
    let mut loaded = loaded_modules(sys);
    let before = loaded.len();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for _ in 0..5 {
        let fresh: Vec<String> = modaliases(sys)
            .into_iter()
            .filter(|a| seen.insert(a.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for a in fresh {
            for m in index.matching(&a) {
                index.load_module(sys, &m, &mut loaded, log);
            }
        }
    }
    loaded.len() - before
}

#[cfg(test)]
mod tests {
    use super::*;
    use lk_guest_sys::{Call, Fake};

    #[test]
    fn globs_like_fnmatch() {
        assert!(glob(
            b"pci:v00001AF4d00001000sv*sd*bc*sc*i*",
            b"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        assert!(!glob(
            b"pci:v00001AF4d00001001sv*",
            b"pci:v00001AF4d00001000sv00001AF4"
        ));
        assert!(glob(b"virtio:d00000001v*", b"virtio:d00000001v00001AF4"));
        assert!(glob(b"a?c[0-9]x[!y]", b"abc5xz"));
        assert!(!glob(b"a?c[0-9]x[!y]", b"abc5xy"));
    }

    fn fake() -> Fake {
        let sys = Fake::default();
        sys.file("/m/modules.alias", "alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci\nalias virtio:d00000001v* virtio_net\nalias fs-ext4 ext4\n");
        sys.file(
            "/m/modules.dep",
            "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci_legacy_dev.ko:\nkernel/drivers/virtio/virtio_pci_modern_dev.ko:\nkernel/drivers/virtio/virtio_ring.ko:\nkernel/drivers/virtio/virtio.ko:\nkernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\nkernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\nkernel/net/core/failover.ko:\n",
        );
        sys.file(
            "/sys/bus/pci/devices/0000:00:03.0/modalias",
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n",
        );
        sys.file(
            "/sys/bus/virtio/devices/virtio0/modalias",
            "virtio:d00000001v00001AF4\n",
        );
        sys.file("/proc/modules", "");
        sys
    }

    #[test]
    fn class_devices_count_too() {
        // The ACPI power button's input device is on no bus; evdev matches it by class.
        let sys = fake();
        sys.file(
            "/sys/class/input/input0/modalias",
            "input:b0019v0000p0001e0000-e0,1,k74,ramlsfw\n",
        );
        assert!(
            modaliases(&sys).contains(&"input:b0019v0000p0001e0000-e0,1,k74,ramlsfw".to_owned())
        );
    }

    #[test]
    fn coldplug_loads_matching_modules_dependencies_first() {
        let sys = fake();
        let index = ModuleIndex::load(&sys, Path::new("/m")).unwrap();
        let mut log = Vec::new();
        let n = coldplug(&sys, &index, &mut |l| log.push(l));
        let order: Vec<String> = sys
            .calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::LoadModule { path, .. } => Some(module_name(path)),
                _ => None,
            })
            .collect();
        assert_eq!(
            order,
            [
                "virtio",
                "virtio_ring",
                "virtio_pci_modern_dev",
                "virtio_pci_legacy_dev",
                "virtio_pci",
                "failover",
                "net_failover",
                "virtio_net"
            ]
        );
        assert_eq!(n, 8);
    }

    #[test]
    fn already_loaded_modules_are_skipped() {
        let sys = fake();
        sys.file(
            "/proc/modules",
            "virtio 16384 0 - Live 0x0\nvirtio_ring 40960 0 - Live 0x0\n",
        );
        let index = ModuleIndex::load(&sys, Path::new("/m")).unwrap();
        coldplug(&sys, &index, &mut |_| {});
        assert!(
            !sys.calls.borrow().iter().any(
                |c| matches!(c, Call::LoadModule { path, .. } if path.ends_with("/virtio.ko"))
            )
        );
    }
}
