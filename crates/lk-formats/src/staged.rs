//! Output files written under a temporary name and renamed into place when complete.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A file written under a temporary name and renamed into place by [`Staged::commit`];
/// dropped uncommitted, it is removed (no partial output is left behind).
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    dest: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Staged {
    /// Starts writing `dest` (as `dest.partial`).
    pub fn create(dest: &Path) -> io::Result<Staged> {
        let temp = dest.with_file_name(format!(
            "{}.partial",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let file = File::create(&temp)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", temp.display())))?;
        Ok(Staged {
            temp,
            dest: dest.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Appends `len` bytes of `src` from its position (`copy_file_range` where the kernel
    /// can: no copy through user space).
    pub fn copy_from_file(&mut self, src: &mut File, len: u64) -> io::Result<u64> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("already committed"))?;
        io::copy(&mut Read::by_ref(src).take(len), f)
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> io::Result<u64> {
        let f = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("already committed"))?;
        let f = f.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        let size = f.metadata()?.len();
        std::fs::rename(&self.temp, &self.dest)?;
        Ok(size)
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("already committed"))?
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl std::io::Seek for Staged {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("already committed"))?
            .seek(pos)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
