//! Parent directories: every entry's parents come before it in the stream (the kernel's
//! initramfs unpacker does not create missing parents: a modules tarball that starts at
//! `usr/lib/modules/` would otherwise be lost). Missing parents are emitted as 0755
//! directories with the entry's origin and time.
//!
//! Which parents are missing depends on the directories the stream has named so far, so
//! for segments (see [`lk_formats::segment`]) the set is part of a segment's id (the part
//! under its prefix) and a segment's effect on it is recorded, to be replayed when the
//! segment is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use lk_formats::{Entry, Kind, SegmentId, Sink};
use serde_json::{Value, json};

/// An image's tar has an entry whose parent directory it never names. We add the parent
/// (0755); LinuxKit does not, and the kernel's initramfs unpacker then drops the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpliedParent {
    /// Canonical reference of the image.
    pub image: String,
    /// `kernel`, `init[0]`, `services[1]`, ...
    pub location: String,
    /// The entry.
    pub entry: String,
    /// The directory that was missing.
    pub parent: String,
}

/// The parent-directory filter in front of the outputs.
pub(crate) struct Parents<'s> {
    pub(crate) inner: &'s mut dyn Sink,
    dirs: BTreeSet<String>,
    /// Parents added for an image section's entries that the section has not named (yet:
    /// a directory present in several layers comes with its top layer).
    implied: Vec<ImpliedParent>,
    /// Changes to `dirs` during the open segment (`true`: now a directory).
    journal: Option<BTreeMap<String, bool>>,
    /// Where the open segment's implied parents start in `implied`.
    implied_from: usize,
}

fn origin(e: &Entry) -> Option<(&str, &str)> {
    let get = |k: &str| {
        e.pax
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let (image, location) = (get("LINUXKIT.source")?, get("LINUXKIT.location")?);
    (!image.starts_with("linuxkit.")).then_some((image, location))
}

impl<'s> Parents<'s> {
    pub(crate) fn new(inner: &'s mut dyn Sink) -> Parents<'s> {
        Parents {
            inner,
            dirs: BTreeSet::new(),
            implied: Vec::new(),
            journal: None,
            implied_from: 0,
        }
    }

    fn note_implied(&mut self, e: &Entry, parent: &str) {
        if let Some((image, location)) = origin(e) {
            self.implied.push(ImpliedParent {
                image: image.to_owned(),
                location: location.to_owned(),
                entry: e.path.clone(),
                parent: parent.to_owned(),
            });
        }
    }

    /// The section named the directory after all.
    fn named(&mut self, e: &Entry) {
        let Some((image, location)) = origin(e) else {
            return;
        };
        let mut i = 0;
        while i < self.implied.len() {
            let x = &self.implied[i];
            if x.parent == e.path && x.image == image && x.location == location {
                self.implied.remove(i);
                if i < self.implied_from {
                    self.implied_from -= 1;
                }
            } else {
                i += 1;
            }
        }
    }

    fn set_dir(&mut self, path: &str, is_dir: bool) {
        if is_dir {
            self.dirs.insert(path.to_owned());
        } else {
            self.dirs.remove(path);
        }
        if let Some(j) = &mut self.journal {
            j.insert(path.to_owned(), is_dir);
        }
    }

    /// The first implied parent of each section.
    pub(crate) fn report(&mut self) -> Vec<ImpliedParent> {
        let mut out: Vec<ImpliedParent> = Vec::new();
        for i in std::mem::take(&mut self.implied) {
            if !out
                .iter()
                .any(|o| o.image == i.image && o.location == i.location)
            {
                out.push(i);
            }
        }
        out
    }

    /// The directories a segment under `prefix` can see: those that are `prefix` or one of
    /// its ancestors, and those under it (everything for the root).
    pub(crate) fn visible(&self, prefix: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut add = |d: &str| {
            out.extend_from_slice(d.as_bytes());
            out.push(0);
        };
        if prefix.is_empty() {
            self.dirs.iter().for_each(|d| add(d));
            return out;
        }
        for a in crate::path::ancestors(prefix).chain([prefix]) {
            if self.dirs.contains(a) {
                add(a);
            }
        }
        let from = format!("{prefix}/");
        let to = format!("{prefix}0"); // '0' follows '/'
        self.dirs.range(from..to).for_each(|d| add(d));
        out
    }

    /// Starts recording a segment's effect.
    pub(crate) fn begin_journal(&mut self) {
        self.journal = Some(BTreeMap::new());
        self.implied_from = self.implied.len();
    }

    /// The open segment's effect, as the record replayed by [`Parents::replay`].
    pub(crate) fn end_journal(&mut self) -> Vec<u8> {
        let dirs: Vec<Value> = self
            .journal
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|(p, d)| json!([p, d]))
            .collect();
        let implied: Vec<Value> = self.implied[self.implied_from.min(self.implied.len())..]
            .iter()
            .map(|i| json!([i.image, i.location, i.entry, i.parent]))
            .collect();
        serde_json::to_vec(&json!({ "dirs": dirs, "implied": implied })).unwrap_or_default()
    }

    /// Applies a recorded segment effect; `false` (and nothing applied) if it is malformed.
    pub(crate) fn replay(&mut self, record: &[u8]) -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(record) else {
            return false;
        };
        let strs = |x: &Value, n: usize| -> Option<Vec<String>> {
            let a = x.as_array()?;
            (a.len() == n)
                .then(|| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
                .flatten()
        };
        let dirs: Option<Vec<(String, bool)>> = v["dirs"].as_array().and_then(|a| {
            a.iter()
                .map(|d| Some((d.get(0)?.as_str()?.to_owned(), d.get(1)?.as_bool()?)))
                .collect()
        });
        let implied: Option<Vec<Vec<String>>> = v["implied"]
            .as_array()
            .and_then(|a| a.iter().map(|i| strs(i, 4)).collect());
        let (Some(dirs), Some(implied)) = (dirs, implied) else {
            return false;
        };
        for (p, d) in dirs {
            self.set_dir(&p, d);
        }
        for mut i in implied {
            let parent = i.pop().unwrap_or_default();
            let entry = i.pop().unwrap_or_default();
            let location = i.pop().unwrap_or_default();
            let image = i.pop().unwrap_or_default();
            self.implied.push(ImpliedParent {
                image,
                location,
                entry,
                parent,
            });
        }
        true
    }
}

impl Sink for Parents<'_> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        for a in crate::path::ancestors(&e.path) {
            if !self.dirs.contains(a) {
                self.note_implied(e, a);
                let mut d = Entry::dir(a, 0o755, e.mtime);
                d.pax = e.pax.clone();
                self.inner.add(&d, &mut io::empty())?;
                self.set_dir(a, true);
            }
        }
        if matches!(e.kind, Kind::Dir) {
            self.named(e);
            self.set_dir(&e.path, true);
        } else if self.dirs.contains(&e.path) {
            self.set_dir(&e.path, false);
        }
        self.inner.add(e, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }

    fn link_targets(&mut self, paths: &[String]) {
        self.inner.link_targets(paths);
    }

    fn begin_segment(&mut self, id: Option<&SegmentId>) -> io::Result<bool> {
        self.inner.begin_segment(id)
    }

    fn end_segment(&mut self) -> io::Result<()> {
        self.inner.end_segment()
    }
}
