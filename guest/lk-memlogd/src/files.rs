//! The `logwrite` package's program (LinuxKit's `pkg/logwrite`, not memlogd's `logwrite`):
//! follows memlogd and appends each source's lines to `<dir>/<source>.log`, rotating a file
//! past a size into `.0`, `.1`, ... and dropping the oldest past a count.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Entry;

/// One log file being written.
#[derive(Debug)]
struct LogFile {
    file: File,
    path: PathBuf,
    written: u64,
}

/// The files of every source.
#[derive(Debug)]
pub struct LogFiles {
    dir: PathBuf,
    max_size: u64,
    max_files: usize,
    open: HashMap<String, LogFile>,
}

/// A source name as a file name: `/` and NUL become `_`, a leading `.` too.
fn file_name(source: &str) -> String {
    let s: String = source
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    match s.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

impl LogFiles {
    /// Files under `dir`, rotated past `max_size` bytes, `max_files` old ones kept.
    pub fn new(dir: &Path, max_size: u64, max_files: usize) -> LogFiles {
        LogFiles {
            dir: dir.to_path_buf(),
            max_size,
            max_files,
            open: HashMap::new(),
        }
    }

    fn open(&self, source: &str) -> std::io::Result<LogFile> {
        let path = self.dir.join(format!("{}.log", file_name(source)));
        let file = OpenOptions::new().append(true).create(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            file,
            path,
            written,
        })
    }

    /// Appends `e` to its source's file (`time source msg`), rotating when it is full.
    /// memlogd's own `logwrite*` sources are skipped, as in LinuxKit.
    pub fn write(&mut self, e: &Entry) -> std::io::Result<()> {
        if e.source.starts_with("logwrite") {
            return Ok(());
        }
        if !self.open.contains_key(&e.source) {
            let f = self.open(&e.source)?;
            self.open.insert(e.source.clone(), f);
        }
        let line = format!("{} {} {}\n", e.time, e.source, e.msg);
        let Some(f) = self.open.get_mut(&e.source) else {
            return Ok(());
        };
        if let Err(err) = f.file.write_all(line.as_bytes()) {
            self.open.remove(&e.source);
            return Err(err);
        }
        f.written += line.len() as u64;
        if f.written > self.max_size {
            let path = f.path.clone();
            self.open.remove(&e.source);
            rotate(&path, self.max_files)?;
            let fresh = self.open(&e.source)?;
            self.open.insert(e.source.clone(), fresh);
        }
        Ok(())
    }
}

/// `x.log` -> `x.log.0`, `x.log.0` -> `x.log.1`, ...; the one past `max_files` is dropped.
fn rotate(path: &Path, max_files: usize) -> std::io::Result<()> {
    let numbered = |i: usize| PathBuf::from(format!("{}.{i}", path.display()));
    if max_files == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(max_files - 1));
    for i in (1..max_files).rev() {
        let _ = std::fs::rename(numbered(i - 1), numbered(i));
    }
    std::fs::rename(path, numbered(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_their_source_and_files_rotate() {
        let t = tempfile::tempdir().unwrap();
        let mut l = LogFiles::new(t.path(), 100, 2);
        for i in 0..12 {
            l.write(&Entry::now(
                "svc",
                &format!("line {i:02} {}", "x".repeat(20)),
            ))
            .unwrap();
        }
        l.write(&Entry::now("a/b", "other")).unwrap();
        l.write(&Entry::now("logwrite", "skipped")).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a_b.log", "svc.log", "svc.log.0", "svc.log.1"]);
        let last = std::fs::read_to_string(t.path().join("svc.log.0")).unwrap();
        assert!(last.contains("line 11"), "{last}");
        assert!(last.lines().next().unwrap().contains(" svc line "));
    }
}
