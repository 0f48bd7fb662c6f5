//! `/run/config`: where everything the metadata program learns is written. Every write
//! goes through [`ConfigDir`], which only takes plain names (no `..`, no `/`, no NUL),
//! never follows a symbolic link and replaces files atomically (temporary file, rename),
//! so neither a provider's answer nor the userdata can write outside the directory.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// LinuxKit's location.
pub const CONFIG_PATH: &str = "/run/config";

/// The configuration directory.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    root: PathBuf,
}

/// Why a name is refused.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("{name:?} is not a file name"));
    }
    if name.contains('/') || name.contains('\0') {
        return Err(format!("{name:?} contains '/' or NUL"));
    }
    if name.len() > 255 {
        return Err(format!("a name of {} bytes is longer than 255", name.len()));
    }
    Ok(())
}

impl ConfigDir {
    /// Creates `root` (mode 0755) if needed.
    pub fn create(root: &Path) -> io::Result<ConfigDir> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(root)?;
        Ok(ConfigDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rel` (names joined by `/`) under the root, each name checked and each existing
    /// parent a real directory (not a link).
    fn resolve(&self, rel: &str) -> io::Result<PathBuf> {
        let mut p = self.root.clone();
        let names: Vec<&str> = rel.split('/').collect();
        for (i, n) in names.iter().enumerate() {
            check_name(n).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            p.push(n);
            if i + 1 < names.len() {
                let md = fs::symlink_metadata(&p)?;
                if !md.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} is not a directory", p.display()),
                    ));
                }
            }
        }
        Ok(p)
    }

    /// Writes `data` to `rel` with `mode`, atomically; a link in its place is replaced,
    /// not followed.
    pub fn write(&self, rel: &str, data: &[u8], mode: u32) -> io::Result<PathBuf> {
        let path = self.resolve(rel)?;
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a directory", path.display()),
            ));
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.lk-tmp"));
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let done = f
            .write_all(data)
            .and_then(|()| f.set_permissions(fs::Permissions::from_mode(mode)))
            .and_then(|()| fs::rename(&tmp, &path));
        if done.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        done.map(|()| path)
    }

    /// Creates the directory `rel` with `mode`; an existing directory is kept (its mode
    /// set), anything else in its place is an error.
    pub fn mkdir(&self, rel: &str, mode: u32) -> io::Result<PathBuf> {
        let path = self.resolve(rel)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", path.display()),
                ));
            }
            Err(_) => fs::DirBuilder::new().mode(mode).create(&path)?,
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        Ok(path)
    }

    /// Reads `rel` if it exists.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let path = self.resolve(rel).ok()?;
        fs::symlink_metadata(&path).ok()?.is_file().then_some(())?;
        fs::read(path).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_dots_slashes_or_nul_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\0", &"x".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["ssh", "authorized_keys", "..hidden", "a.b"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn writes_are_atomic_with_their_mode_and_never_follow_links() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        let c = ConfigDir::create(&t.path().join("config")).unwrap();
        c.mkdir("ssh", 0o755).unwrap();
        let p = c.write("ssh/authorized_keys", b"key\n", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"key\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A link in the file's place is replaced, not written through.
        std::os::unix::fs::symlink(&outside, c.root().join("hostname")).unwrap();
        c.write("hostname", b"h", 0o644).unwrap();
        assert!(!outside.exists());
        assert!(
            fs::symlink_metadata(c.root().join("hostname"))
                .unwrap()
                .is_file()
        );
        // A link as a parent directory is refused.
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, c.root().join("evil")).unwrap();
        assert!(c.write("evil/x", b"x", 0o644).is_err());
        assert!(c.mkdir("evil/y", 0o755).is_err());
        assert!(fs::read_dir(&outside).unwrap().next().is_none());
        assert!(c.write("../escape", b"x", 0o644).is_err());
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(c.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.to_string_lossy().contains("lk-tmp"))
        );
    }
}
