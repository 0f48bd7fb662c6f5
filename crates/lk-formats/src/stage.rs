//! Writes a [`TreeSink`] out as a real directory for the external image makers (`xorriso`,
//! `mkfs.erofs`) that only read directories. The directory is removed when the [`Stage`] is
//! dropped, also on error.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::entry::Kind;
use crate::tree::TreeSink;

/// A staged tree under a temporary directory.
#[derive(Debug)]
pub struct Stage {
    root: PathBuf,
}

impl Drop for Stage {
    fn drop(&mut self) {
        // Directories may have been made read-only by their recorded modes.
        let _ = make_writable(&self.root);
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn make_writable(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            make_writable(&e.path())?;
        }
    }
    Ok(())
}

/// Removes `<parent>/<prefix><pid>` entries whose process is gone (or is us).
pub(crate) fn remove_leftovers(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists() {
            continue; // another build is running
        }
        let p = e.path();
        if p.is_dir() {
            let _ = make_writable(&p);
            let _ = fs::remove_dir_all(&p);
        } else {
            let _ = fs::remove_file(&p);
        }
    }
}

/// How much of the metadata the directory itself must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fidelity {
    /// Contents and types only; owners, modes and times are applied by the image maker.
    Contents,
    /// Also modes.
    Modes,
    /// Also owners (needs root unless every entry is owned by the caller) and modes.
    Owners,
}

fn ctx(path: &Path, what: &str) -> impl FnOnce(io::Error) -> io::Error + use<> {
    let path = path.display().to_string();
    let what = what.to_owned();
    move |e| io::Error::new(e.kind(), format!("{what} {path}: {e}"))
}

impl Stage {
    /// Writes `tree` into a new directory `<parent>/.<name>.stage-<pid>`.
    pub fn write(
        tree: &TreeSink,
        parent: &Path,
        name: &str,
        fidelity: Fidelity,
    ) -> io::Result<Stage> {
        let root = parent.join(format!(".{name}.stage-{}", std::process::id()));
        // What a killed build of the same output left behind (it would be overwritten anyway).
        remove_leftovers(parent, &format!(".{name}.stage-"));
        fs::create_dir(&root).map_err(ctx(&root, "create staging dir"))?;
        let stage = Stage { root };
        for d in tree.implied_dirs() {
            let p = stage.root.join(&d);
            fs::create_dir(&p).map_err(ctx(&p, "create"))?;
        }
        for (path, (e, data)) in &tree.entries {
            let p = stage.root.join(path);
            match &e.kind {
                Kind::Dir => match fs::create_dir(&p) {
                    Err(err) if err.kind() != io::ErrorKind::AlreadyExists => {
                        return Err(ctx(&p, "create")(err));
                    }
                    _ => {}
                },
                Kind::File(_) | Kind::Hardlink(_) => {
                    fs::write(&p, data).map_err(ctx(&p, "write"))?;
                }
                Kind::Symlink(t) => {
                    std::os::unix::fs::symlink(t, &p).map_err(ctx(&p, "symlink"))?;
                }
                Kind::Char(ma, mi) | Kind::Block(ma, mi) => {
                    let ty = if matches!(e.kind, Kind::Char(..)) {
                        rustix::fs::FileType::CharacterDevice
                    } else {
                        rustix::fs::FileType::BlockDevice
                    };
                    rustix::fs::mknodat(
                        rustix::fs::CWD,
                        &p,
                        ty,
                        rustix::fs::Mode::from_raw_mode(0o600),
                        rustix::fs::makedev(*ma, *mi),
                    )
                    .map_err(|err| {
                        ctx(&p, "create device node (needs root)")(io::Error::from(err))
                    })?;
                }
                Kind::Fifo => {
                    rustix::fs::mknodat(
                        rustix::fs::CWD,
                        &p,
                        rustix::fs::FileType::Fifo,
                        rustix::fs::Mode::from_raw_mode(0o600),
                        0,
                    )
                    .map_err(|err| ctx(&p, "create fifo")(io::Error::from(err)))?;
                }
            }
        }
        if fidelity != Fidelity::Contents {
            // Owners first (chown clears set-id bits), then modes, deepest first so read-only
            // directories do not stop the rest.
            for (path, (e, _)) in tree.entries.iter().rev() {
                let p = stage.root.join(path);
                let (uid, gid) = (e.uid as u32, e.gid as u32);
                if fidelity == Fidelity::Owners {
                    std::os::unix::fs::lchown(&p, Some(uid), Some(gid))
                        .map_err(ctx(&p, "set owner (needs root)"))?;
                }
                if !matches!(e.kind, Kind::Symlink(_)) {
                    fs::set_permissions(&p, fs::Permissions::from_mode(e.mode & 0o7777))
                        .map_err(ctx(&p, "set mode"))?;
                }
            }
        }
        Ok(stage)
    }

    /// The staged directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Where an external image maker writes: a hidden name next to the destination, renamed into
/// place only when the maker succeeded (a killed build leaves no partial image).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) parent: PathBuf,
    pub(crate) name: String,
    pub(crate) part: PathBuf,
    dest: PathBuf,
}

impl Target {
    pub(crate) fn new(dest: &Path) -> Target {
        let parent = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let part = parent.join(format!(".{name}.part-{}", std::process::id()));
        remove_leftovers(&parent, &format!(".{name}.part-"));
        Target {
            parent,
            name,
            part,
            dest: dest.to_path_buf(),
        }
    }

    /// Runs the maker (which writes `self.part`) and renames the result into place.
    pub(crate) fn run(&self, cmd: &mut Command, hint: &str) -> io::Result<()> {
        match run(cmd, hint).and_then(|()| fs::rename(&self.part, &self.dest)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = fs::remove_file(&self.part);
                Err(e)
            }
        }
    }
}

/// Runs an image maker; a missing program or a failure is the shared [`ToolError`]
/// (carried in the I/O error), with the install hint when the program is missing.
pub(crate) fn run(cmd: &mut Command, hint: &str) -> io::Result<()> {
    match lk_util::tool::output(cmd) {
        Ok(_) => Ok(()),
        Err(e) if e.not_installed() => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{e} (hint: {hint})"),
        )),
        Err(e) => Err(io::Error::other(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_dead_builds_are_removed_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("lk-stage-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // pid 1 is alive; u32::MAX - 1 is not a process.
        let dead = dir.join(format!(".x.iso.stage-{}", u32::MAX - 1));
        let live = dir.join(".x.iso.stage-1");
        let other = dir.join(".y.iso.stage-4294967294");
        for d in [&dead, &live, &other] {
            fs::create_dir_all(d.join("sub")).unwrap();
        }
        fs::set_permissions(dead.join("sub"), fs::Permissions::from_mode(0o500)).unwrap();
        remove_leftovers(&dir, ".x.iso.stage-");
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
