//! `kernel+iso`: `boot/*` split off, the rest as a plain data ISO 9660 image with Rock Ridge
//! (owners, modes, symlinks, devices, mtimes), made by `xorriso` from a staged directory.
//! Owners, modes and mtimes come from the entries through an options file, not from the staged
//! files, so no root is needed unless the tree has device nodes. The image is reproducible:
//! `SOURCE_DATE_EPOCH` fixes the volume dates and UUID, hard-link detection (which records
//! inode numbers) is off because [`TreeSink`] already made hard links into copies.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::process::Command;

use crate::entry::Kind;
use crate::stage::{Fidelity, Stage, Target, remove_leftovers};
use crate::tree::TreeSink;

/// One path as an xorriso dialog word (xorriso quotes with `'` or `"`, without escapes).
fn quote(path: &str) -> io::Result<String> {
    if path.contains('\n') {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "kernel+iso: path {path:?} has a newline, which an ISO options file cannot carry"
            ),
        ))
    } else if !path.contains('\'') {
        Ok(format!("'{path}'"))
    } else if !path.contains('"') {
        Ok(format!("\"{path}\""))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("kernel+iso: path {path:?} has both quote characters"),
        ))
    }
}

/// The per-entry metadata commands.
fn options(tree: &TreeSink, mtime: u64) -> io::Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "-chown_r 0 / --");
    let _ = writeln!(s, "-chgrp_r 0 / --");
    let _ = writeln!(s, "-chmod_r 0755 / --");
    for d in tree.implied_dirs() {
        let _ = writeln!(s, "-alter_date b ={mtime} {} --", quote(&format!("/{d}"))?);
    }
    for (path, (e, _)) in &tree.entries {
        let q = quote(&format!("/{path}"))?;
        if e.uid != 0 {
            let _ = writeln!(s, "-chown {} {q} --", e.uid);
        }
        if e.gid != 0 {
            let _ = writeln!(s, "-chgrp {} {q} --", e.gid);
        }
        if !matches!(e.kind, Kind::Symlink(_)) {
            let _ = writeln!(s, "-chmod {:04o} {q} --", e.mode & 0o7777);
        }
        let _ = writeln!(s, "-alter_date b ={} {q} --", e.mtime);
    }
    let _ = writeln!(s, "-alter_date b ={mtime} / --");
    Ok(s)
}

/// Writes `tree` as an ISO image at `dest` (staging next to it) with `xorriso` (the program
/// to run); `mtime` dates the volume, the root directory and parents the stream never named.
pub fn write(tree: &TreeSink, mtime: u64, dest: &Path, xorriso: &str) -> io::Result<()> {
    let t = Target::new(dest);
    let stage = Stage::write(tree, &t.parent, &t.name, Fidelity::Contents)?;
    let opts = t
        .parent
        .join(format!(".{}.xorriso-{}", t.name, std::process::id()));
    remove_leftovers(&t.parent, &format!(".{}.xorriso-", t.name));
    std::fs::write(&opts, options(tree, mtime)?)?;
    let result = t.run(
        Command::new(xorriso)
            .env("SOURCE_DATE_EPOCH", mtime.to_string())
            .args(["-no_rc", "-report_about", "FAILURE", "-abort_on", "FAILURE"])
            .args(["-iso_rr_pattern", "off", "-disk_pattern", "off"])
            .arg("-outdev")
            .arg(&t.part)
            .args(["-volid", "LINUXKIT", "-rockridge", "on", "-joliet", "off"])
            .args(["-hardlinks", "off", "-acl", "off", "-xattr", "off"])
            .args(["-md5", "off", "-map"])
            .arg(stage.root())
            .arg("/")
            .arg("-options_from_file")
            .arg(&opts),
        "install xorriso (Debian: apt-get install xorriso)",
    );
    let _ = std::fs::remove_file(&opts);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, Sink};

    #[test]
    fn quoting_picks_a_quote_the_path_lacks() {
        assert_eq!(quote("/a b").unwrap(), "'/a b'");
        assert_eq!(quote("/it's").unwrap(), "\"/it's\"");
        assert!(quote("/a'\"b").is_err());
        assert!(quote("/a\nb").is_err());
    }

    #[test]
    fn options_carry_owner_mode_and_time() {
        let mut t = TreeSink::default();
        let mut e = Entry::file("etc/shadow", 1, 0o640, 7);
        e.gid = 42;
        t.add(&e, &mut &b"x"[..]).unwrap();
        t.add(&Entry::symlink("bin/sh", "busybox", 9), &mut &b""[..])
            .unwrap();
        let o = options(&t, 5).unwrap();
        assert!(o.contains("-chgrp 42 '/etc/shadow' --\n"), "{o}");
        assert!(o.contains("-chmod 0640 '/etc/shadow' --\n"), "{o}");
        assert!(o.contains("-alter_date b =7 '/etc/shadow' --\n"), "{o}");
        assert!(!o.contains("-chmod 0777 '/bin/sh'"), "{o}");
        assert!(o.contains("-alter_date b =5 '/bin' --\n"), "{o}");
        assert!(!o.contains("-chown 0 '/etc"), "{o}");
    }
}
