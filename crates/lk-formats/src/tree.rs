//! The root filesystem minus `boot/`, collected in memory for formats whose layout needs the
//! whole tree before the first byte (squashfs, ISO 9660, EROFS). `boot/kernel`,
//! `boot/cmdline` and `boot/ucode.cpio` are split off; a later entry of a name replaces an
//! earlier one, as unpacking the stream would; hard links become copies of their target.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::entry::{Entry, Kind, Sink};
use crate::initrd::BootParts;

/// Collects the non-boot entries of the stream, sorted by path.
#[derive(Debug, Default)]
pub struct TreeSink {
    /// Path → entry and its data (empty for everything but files).
    pub entries: BTreeMap<String, (Entry, Vec<u8>)>,
    /// What was split off.
    pub boot: BootParts,
}

impl TreeSink {
    /// Directories that entries imply but the stream never named (sorted, parents first).
    pub fn implied_dirs(&self) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for path in self.entries.keys() {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                let dir = &path[..end];
                if !self.entries.contains_key(dir) {
                    out.insert(dir.to_owned());
                }
                end += 1;
            }
        }
        out.into_iter().collect()
    }
}

impl Sink for TreeSink {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let mut buf = Vec::new();
        data.take(e.size()).read_to_end(&mut buf)?;
        match e.path.as_str() {
            "boot/kernel" => self.boot.kernel = buf,
            "boot/cmdline" => self.boot.cmdline = String::from_utf8_lossy(&buf).into_owned(),
            "boot/ucode.cpio" => self.boot.ucode = buf,
            p if p.starts_with("boot/") => {}
            _ => {
                let mut entry = e.clone();
                if let Kind::Hardlink(t) = &e.kind {
                    let target = self.entries.get(t).map(|(te, d)| (te.mode, d.clone()));
                    let (mode, d) = target.ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("hard link {} -> {t}: no such earlier file", e.path),
                        )
                    })?;
                    entry.kind = Kind::File(d.len() as u64);
                    entry.mode = mode;
                    buf = d;
                }
                self.entries.insert(e.path.clone(), (entry, buf));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_boot_and_implies_parents() {
        let mut t = TreeSink::default();
        t.add(&Entry::file("boot/kernel", 2, 0o644, 0), &mut &b"KK"[..])
            .unwrap();
        t.add(&Entry::file("a/b/c", 1, 0o644, 0), &mut &b"x"[..])
            .unwrap();
        t.add(&Entry::dir("a", 0o700, 0), &mut &b""[..]).unwrap();
        assert_eq!(t.boot.kernel, b"KK");
        assert_eq!(t.implied_dirs(), vec!["a/b".to_owned()]);
        assert_eq!(t.entries.len(), 2);
    }

    #[test]
    fn hard_link_becomes_copy_and_missing_target_fails() {
        let mut t = TreeSink::default();
        t.add(&Entry::file("f", 1, 0o755, 0), &mut &b"x"[..])
            .unwrap();
        let mut l = Entry::file("g", 0, 0o644, 0);
        l.kind = Kind::Hardlink("f".into());
        t.add(&l, &mut &b""[..]).unwrap();
        assert_eq!(t.entries["g"].1, b"x");
        assert_eq!(t.entries["g"].0.mode, 0o755);
        l.kind = Kind::Hardlink("nope".into());
        let err = t.add(&l, &mut &b""[..]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
