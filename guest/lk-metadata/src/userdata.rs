//! Userdata: always kept raw in `/run/config/userdata`; when it is a JSON object it is also
//! expanded into directories and files, as LinuxKit does:
//!
//! ```json
//! { "ssh": { "entries": { "sshd_config": { "perm": "0600", "content": "..." } } },
//!   "motd": { "content": "hello" } }
//! ```
//!
//! An entry with `content` (and no `entries`) is a file (mode 0644 unless `perm`), one with
//! `entries` (and no `content`) a directory (0755 unless `perm`). Unlike LinuxKit, names
//! that are not plain file names (`..`, `a/b`, NUL) are refused with a log line, the tree
//! is bounded (depth, entries, bytes) and set-id mode bits are dropped.

use serde_json::{Map, Value};

use crate::config::{ConfigDir, check_name};

/// Bounds on the expanded tree.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Directory levels below `/run/config`.
    pub depth: usize,
    /// Files and directories in all.
    pub entries: usize,
    /// Bytes of file content in all.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            depth: 16,
            entries: 10_000,
            bytes: 64 << 20,
        }
    }
}

/// What came of the expansion.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files written.
    pub files: usize,
    /// Directories made.
    pub dirs: usize,
    /// Entries skipped (each logged).
    pub skipped: usize,
    /// The userdata is a JSON object (the tree was expanded).
    pub json: bool,
}

struct Walk<'a> {
    dir: &'a ConfigDir,
    limits: Limits,
    out: Outcome,
    bytes: usize,
    log: &'a mut dyn FnMut(String),
}

/// Writes `userdata` raw, then expands it when it is a JSON object.
pub fn process(
    dir: &ConfigDir,
    data: &[u8],
    limits: Limits,
    log: &mut dyn FnMut(String),
) -> Outcome {
    if let Err(e) = dir.write("userdata", data, 0o644) {
        log(format!("Could not write userdata: {e}"));
    }
    let root = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            log("Userdata is JSON but not an object: kept as it is".to_owned());
            return Outcome::default();
        }
        Err(e) => {
            log(format!("Userdata is not JSON ({e}): kept as it is"));
            return Outcome::default();
        }
    };
    let mut w = Walk {
        dir,
        limits,
        out: Outcome {
            json: true,
            ..Outcome::default()
        },
        bytes: 0,
        log,
    };
    w.entries("", &root, 1);
    w.out
}

impl Walk<'_> {
    fn skip(&mut self, what: String) {
        self.out.skipped += 1;
        (self.log)(format!("userdata: {what}: skipped"));
    }

    fn entries(&mut self, parent: &str, map: &Map<String, Value>, depth: usize) {
        for (name, entry) in map {
            let rel = if parent.is_empty() {
                name.clone()
            } else {
                format!("{parent}/{name}")
            };
            if let Err(e) = check_name(name) {
                self.skip(format!("{rel:?}: {e}"));
                continue;
            }
            if depth > self.limits.depth {
                self.skip(format!("{rel}: deeper than {} levels", self.limits.depth));
                continue;
            }
            if self.out.files + self.out.dirs >= self.limits.entries {
                self.skip(format!("{rel}: more than {} entries", self.limits.entries));
                continue;
            }
            self.entry(&rel, entry, depth);
        }
    }

    fn entry(&mut self, rel: &str, entry: &Value, depth: usize) {
        let Value::Object(e) = entry else {
            self.skip(format!("{rel} is invalid (not an object)"));
            return;
        };
        let content = e.get("content").filter(|v| !v.is_null());
        let entries = e.get("entries").filter(|v| !v.is_null());
        let (default, is_file) = match (content, entries) {
            (Some(_), None) => (0o644, true),
            (None, Some(_)) => (0o755, false),
            _ => {
                self.skip(format!("{rel} is invalid (needs content or entries)"));
                return;
            }
        };
        let mode = match e.get("perm") {
            None | Some(Value::Null) => default,
            Some(Value::String(s)) if s.is_empty() => default,
            Some(Value::String(s)) => match u32::from_str_radix(s, 8) {
                Ok(m) if m <= 0o7777 => {
                    if m & 0o6000 != 0 {
                        (self.log)(format!("userdata: {rel}: set-id bits of {s} dropped"));
                    }
                    m & 0o1777
                }
                _ => {
                    self.skip(format!("{rel}: perm {s:?} is not an octal mode"));
                    return;
                }
            },
            Some(v) => {
                self.skip(format!("{rel}: perm {v} is not a string"));
                return;
            }
        };
        if is_file {
            let Some(Value::String(text)) = content else {
                self.skip(format!("{rel}: content is not a string"));
                return;
            };
            if self.bytes + text.len() > self.limits.bytes {
                self.skip(format!("{rel}: content beyond {} bytes", self.limits.bytes));
                return;
            }
            match self.dir.write(rel, text.as_bytes(), mode) {
                Ok(_) => {
                    self.bytes += text.len();
                    self.out.files += 1;
                }
                Err(err) => self.skip(format!("writing {rel}: {err}")),
            }
        } else {
            let Some(Value::Object(children)) = entries else {
                self.skip(format!("{rel}: entries is not an object"));
                return;
            };
            match self.dir.mkdir(rel, mode) {
                Ok(_) => {
                    self.out.dirs += 1;
                    self.entries(rel, children, depth + 1);
                }
                Err(err) => self.skip(format!("creating {rel}: {err}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn run(data: &str, limits: Limits) -> (tempfile::TempDir, ConfigDir, Outcome, Vec<String>) {
        let t = tempfile::tempdir().unwrap();
        let c = ConfigDir::create(&t.path().join("config")).unwrap();
        let mut logs = Vec::new();
        let o = process(&c, data.as_bytes(), limits, &mut |l| logs.push(l));
        (t, c, o, logs)
    }

    fn mode(p: &std::path::Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_json_tree_becomes_files_and_directories() {
        let (_t, c, o, logs) = run(
            r#"{"ssh":{"entries":{"sshd_config":{"perm":"0600","content":"Port 22\n"},
                 "keys":{"perm":"0700","entries":{"a":{"content":"A"}}}}},
               "motd":{"content":"hi"}}"#,
            Limits::default(),
        );
        assert_eq!(
            (o.files, o.dirs, o.skipped, o.json),
            (3, 2, 0, true),
            "{logs:?}"
        );
        let r = c.root();
        assert_eq!(fs::read(r.join("ssh/sshd_config")).unwrap(), b"Port 22\n");
        assert_eq!(mode(&r.join("ssh/sshd_config")), 0o600);
        assert_eq!(mode(&r.join("ssh")), 0o755);
        assert_eq!(mode(&r.join("ssh/keys")), 0o700);
        assert_eq!(fs::read(r.join("ssh/keys/a")).unwrap(), b"A");
        assert_eq!(mode(&r.join("motd")), 0o644);
        assert!(
            fs::read(r.join("userdata"))
                .unwrap()
                .starts_with(b"{\"ssh\"")
        );
    }

    #[test]
    fn hostile_names_and_entries_are_refused_and_logged() {
        let (t, c, o, logs) = run(
            r#"{"..":{"content":"x"},"a/b":{"content":"x"},"../../etc":{"entries":{}},
               "ok":{"entries":{"..":{"content":"x"},"f":{"content":"fine"}}},
               "both":{"content":"x","entries":{}},"neither":{"perm":"0644"},
               "badperm":{"perm":"9z","content":"x"},"suid":{"perm":"4755","content":"x"},
               "notobj":"text","num":{"content":5}}"#,
            Limits::default(),
        );
        assert_eq!(o.files, 2, "{logs:?}"); // ok/f and suid
        assert_eq!(o.skipped, 9, "{logs:?}");
        assert_eq!(mode(&c.root().join("suid")), 0o755);
        assert!(logs.iter().any(|l| l.contains("\"..\"")));
        assert!(logs.iter().any(|l| l.contains("set-id")));
        // Nothing outside the directory.
        let mut outside: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        outside.sort();
        assert_eq!(outside, ["config"]);
    }

    #[test]
    fn limits_bound_depth_entries_and_bytes() {
        let deep = (0..20).fold(r#"{"content":"x"}"#.to_owned(), |acc, i| {
            format!(r#"{{"entries":{{"d{i}":{acc}}}}}"#)
        });
        let (_t, _c, o, logs) = run(&format!(r#"{{"top":{deep}}}"#), Limits::default());
        assert!(
            o.dirs <= 16 && o.files == 0 && o.skipped == 1,
            "{o:?} {logs:?}"
        );
        let many: Vec<String> = (0..50)
            .map(|i| format!(r#""f{i}":{{"content":"1234"}}"#))
            .collect();
        let limits = Limits {
            depth: 4,
            entries: 10,
            bytes: 20,
        };
        let (_t, _c, o, _) = run(&format!("{{{}}}", many.join(",")), limits);
        assert_eq!((o.files, o.skipped), (5, 45));
    }

    #[test]
    fn other_userdata_is_kept_raw_only() {
        for data in ["#!/bin/sh\necho hi\n", "[1,2]", "{bad json", ""] {
            let (_t, c, o, logs) = run(data, Limits::default());
            assert_eq!(o, Outcome::default());
            assert_eq!(
                fs::read(c.root().join("userdata")).unwrap(),
                data.as_bytes()
            );
            assert_eq!(logs.len(), 1, "{logs:?}");
        }
    }
}
