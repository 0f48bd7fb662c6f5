//! `kernel+erofs`: `boot/*` split off, the rest as an EROFS image made by `mkfs.erofs` from a
//! staged directory. Owners and modes are staged for real, so a tree with files not owned by
//! root needs root (a tree owned entirely by root does not: `--all-root`). The image is
//! reproducible: `SOURCE_DATE_EPOCH` sets every timestamp to the build time (mkfs.erofs 1.5
//! cannot keep per-file times and a fixed build time together) and the UUID is derived from the
//! tree's listing.

use std::io;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::stage::{Fidelity, Stage, Target};
use crate::tree::TreeSink;

/// A UUID (version 4 layout) taken from a hash of the paths, kinds, owners, modes and data.
fn uuid(tree: &TreeSink) -> String {
    let mut h = Sha256::new();
    for (path, (e, data)) in &tree.entries {
        h.update(format!("{path}\0{:?}\0{}\0{}\0{:o}\0", e.kind, e.uid, e.gid, e.mode).as_bytes());
        h.update(Sha256::digest(data));
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Writes `tree` as an EROFS image at `dest` (staging next to it) with `mkfs_erofs` (the
/// program to run); `mtime` dates everything.
pub fn write(tree: &TreeSink, mtime: u64, dest: &Path, mkfs_erofs: &str) -> io::Result<()> {
    let t = Target::new(dest);
    let all_root = tree.entries.values().all(|(e, _)| e.uid == 0 && e.gid == 0);
    // With --all-root the owners need not be staged (and then no root is needed).
    let fidelity = if is_root() || !all_root {
        Fidelity::Owners
    } else {
        Fidelity::Modes
    };
    let stage = Stage::write(tree, &t.parent, &t.name, fidelity).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("kernel+erofs: {e} (hint: files owned by other users need a build as root)"),
        )
    })?;
    let mut cmd = Command::new(mkfs_erofs);
    cmd.env("SOURCE_DATE_EPOCH", mtime.to_string())
        .arg("--quiet")
        .arg(format!("-U{}", uuid(tree)));
    if all_root {
        cmd.arg("--all-root");
    }
    cmd.arg(&t.part).arg(stage.root());
    t.run(
        &mut cmd,
        "install erofs-utils (Debian: apt-get install erofs-utils)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, Sink};

    #[test]
    fn uuid_is_stable_and_content_derived() {
        let mut a = TreeSink::default();
        a.add(&Entry::file("f", 1, 0o644, 0), &mut &b"x"[..])
            .unwrap();
        let mut b = TreeSink::default();
        b.add(&Entry::file("f", 1, 0o644, 0), &mut &b"y"[..])
            .unwrap();
        assert_eq!(uuid(&a), uuid(&a));
        assert_ne!(uuid(&a), uuid(&b));
        assert_eq!(uuid(&a).len(), 36);
        assert_eq!(&uuid(&a)[14..15], "4");
    }
}
