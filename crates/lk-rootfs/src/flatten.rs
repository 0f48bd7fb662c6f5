//! Layer flattening: the union of an image's layers as the container would see it.
//!
//! Pass 1 reads the layers top-most first and decides, for every name, which entry wins:
//! an upper layer's entry shadows lower ones; `.wh.<name>` hides `<name>` and everything
//! under it in lower layers; `.wh..wh..opq` hides everything a lower layer has under that
//! directory (LinuxKit ignores opaque markers); a non-directory hides lower entries under
//! its path; within one layer the last entry of a name wins (as the kernel's initramfs
//! unpacker would apply it); what pass 1 learns of a layer can be kept by layer digest
//! ([`IndexCache`]), so a warm build reads each layer only in pass 2. Pass 2 reads the layers bottom-up and emits the winners in
//! layer order, so parents come before children. Names are normalized and may not escape
//! the root; hard links whose target did not survive become regular files; names that pass
//! through a symlink of the image are rejected (they would escape the bundle on unpack).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use lk_formats::{Entry, Kind};

use crate::path::{ancestors, normalize, parent};

/// An uncompressed layer stream; [`Layer::finish`] reads to the end so the blob's digest
/// is checked even when the tar reader stops early.
pub trait Layer: Read {
    /// Drains and verifies.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

impl Layer for lk_image::LayerReader {
    fn finish(self: Box<Self>) -> io::Result<()> {
        lk_image::LayerReader::finish(*self)
    }
}

impl Layer for io::Cursor<Vec<u8>> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Opens layer `i` (0 = bottom) as an uncompressed tar stream.
pub type OpenLayer<'a> = dyn Fn(usize) -> io::Result<Box<dyn Layer + 'a>> + 'a;

/// A flattening problem, naming the layer and entry.
#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    /// Reading a layer failed (including a digest mismatch from the cache).
    #[error("layer {layer}")]
    Read {
        /// Layer index (0 = bottom).
        layer: usize,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The layer is not a tar archive.
    #[error("layer {layer} is not a valid tar archive: {reason}")]
    NotTar {
        /// Layer index.
        layer: usize,
        /// Why.
        reason: String,
    },
    /// An entry name or link leaves the image root, or passes through a symlink.
    #[error("layer {layer}: entry `{name}` {reason}")]
    Unsafe {
        /// Layer index.
        layer: usize,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Writing to the output failed.
    #[error("writing the root filesystem")]
    Write(#[source] io::Error),
}

impl FlattenError {
    /// The index of the layer at fault (0 = bottom), if one is.
    pub fn layer(&self) -> Option<usize> {
        match self {
            FlattenError::Read { layer, .. }
            | FlattenError::NotTar { layer, .. }
            | FlattenError::Unsafe { layer, .. } => Some(*layer),
            FlattenError::Write(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct At {
    layer: usize,
    index: usize,
}

struct Claim {
    at: At,
    is_dir: bool,
}

/// Receives the winning entries, in order.
pub trait Emit {
    /// Paths that hard links will point at (called once, before any entry).
    fn link_targets(&mut self, paths: &[String]);
    /// One entry with its data.
    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()>;
}

fn convert<R: Read>(
    layer: usize,
    e: &mut tar::Entry<'_, R>,
) -> Result<Option<(String, Entry)>, FlattenError> {
    let xattrs = xattrs(e).map_err(|err| FlattenError::NotTar {
        layer,
        reason: err.to_string(),
    })?;
    let raw_name = e
        .path()
        .map_err(|err| FlattenError::NotTar {
            layer,
            reason: err.to_string(),
        })?
        .to_string_lossy()
        .into_owned();
    let h = e.header();
    let bad = |reason: String| FlattenError::NotTar { layer, reason };
    let link = || -> Result<String, FlattenError> {
        Ok(e.link_name()
            .map_err(|err| bad(err.to_string()))?
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default())
    };
    let kind = match h.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            Kind::File(e.size())
        }
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink(link()?),
        tar::EntryType::Link => Kind::Hardlink(link()?),
        tar::EntryType::Char => Kind::Char(
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        ),
        tar::EntryType::Block => Kind::Block(
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        ),
        tar::EntryType::Fifo => Kind::Fifo,
        // PAX/GNU metadata entries are folded into the next entry by the reader.
        _ => return Ok(None),
    };
    let Some(name) = normalize(&raw_name) else {
        if raw_name.split('/').any(|c| c == "..") {
            return Err(FlattenError::Unsafe {
                layer,
                name: raw_name,
                reason: "leaves the image root",
            });
        }
        return Ok(None); // the root directory itself
    };
    Ok(Some((
        raw_name,
        Entry {
            path: name,
            kind,
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
            xattrs,
            pax: Vec::new(),
        },
    )))
}

/// The `SCHILY.xattr.*` PAX records of an entry.
fn xattrs<R: Read>(e: &mut tar::Entry<'_, R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = e.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            if let Ok(k) = ext.key()
                && let Some(name) = k.strip_prefix("SCHILY.xattr.")
            {
                out.push((name.to_owned(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// Converts one tar entry of an already flattened stream (e.g. a previous build's tar).
pub(crate) fn convert_entry<R: Read>(
    e: &mut tar::Entry<'_, R>,
) -> io::Result<Option<(String, Entry)>> {
    convert(0, e).map_err(io::Error::other)
}

/// What pass 1 found.
struct Plan {
    winners: HashSet<At>,
    /// Hard links whose target survives as an earlier entry of the same layer.
    good_links: HashSet<At>,
    /// Hard links to materialize as files, with their target name.
    orphan_links: HashMap<At, String>,
    /// Names whose data to keep while reading a layer (targets of orphan links).
    keep: HashMap<usize, HashSet<String>>,
    link_targets: Vec<String>,
}

/// What pass 1 needs of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Indexed {
    index: usize,
    path: String,
    kind: IndexKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum IndexKind {
    Dir,
    Symlink,
    Hardlink(String),
    Other,
}

/// Where pass 1 keeps what it learnt of each layer (the names and kinds of its entries), so
/// a warm build reads each layer once: `keys[i]` is the record of layer `i` (derived from its
/// digest). Pass 2 still reads every byte, so a layer's digest is always checked.
#[derive(Debug)]
pub struct IndexCache<'a> {
    /// The store.
    pub store: &'a lk_formats::SegmentStore,
    /// One key per layer, bottom first.
    pub keys: Vec<lk_formats::SegmentId>,
}

/// Record kind of a layer index in the store.
const INDEX_RECORD: &str = "index";

fn encode(entries: &[Indexed]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    for e in entries {
        let (tag, target): (&[u8], &str) = match &e.kind {
            IndexKind::Dir => (b"d", ""),
            IndexKind::Symlink => (b"s", ""),
            IndexKind::Hardlink(t) => (b"h", t),
            IndexKind::Other => (b"o", ""),
        };
        put(&(e.index as u64).to_le_bytes());
        put(tag);
        put(e.path.as_bytes());
        put(target.as_bytes());
    }
    out
}

fn decode(mut b: &[u8]) -> Option<Vec<Indexed>> {
    let mut take = || -> Option<&[u8]> {
        let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let v = b.get(4..4 + n)?;
        b = &b[4 + n..];
        Some(v)
    };
    let mut out = Vec::new();
    while let Some(index) = take() {
        let index = usize::try_from(u64::from_le_bytes(index.try_into().ok()?)).ok()?;
        let tag = take()?;
        let path = String::from_utf8(take()?.to_vec()).ok()?;
        let target = String::from_utf8(take()?.to_vec()).ok()?;
        let kind = match tag {
            b"d" => IndexKind::Dir,
            b"s" => IndexKind::Symlink,
            b"h" => IndexKind::Hardlink(target),
            b"o" => IndexKind::Other,
            _ => return None,
        };
        out.push(Indexed { index, path, kind });
    }
    b.is_empty().then_some(out)
}

/// The entries of layer `layer` as pass 1 sees them: from the index cache, or read.
fn index_layer(
    layer: usize,
    open: &OpenLayer<'_>,
    cache: Option<&IndexCache<'_>>,
) -> Result<Vec<Indexed>, FlattenError> {
    let key = cache.and_then(|c| Some((c.store, c.keys.get(layer)?)));
    if let Some((store, key)) = key
        && let Some(v) = store.read(key, INDEX_RECORD).and_then(|r| decode(&r))
    {
        return Ok(v);
    }
    let mut v = Vec::new();
    each_entry(layer, open, |index, _entry, e| {
        let kind = match e.kind {
            Kind::Dir => IndexKind::Dir,
            Kind::Symlink(_) => IndexKind::Symlink,
            Kind::Hardlink(t) => IndexKind::Hardlink(t),
            _ => IndexKind::Other,
        };
        v.push(Indexed {
            index,
            path: e.path,
            kind,
        });
        Ok(())
    })?;
    if let Some((store, key)) = key {
        // A cache: not being able to keep it only costs a later build a read.
        let _ = store.write(key, INDEX_RECORD, &encode(&v));
    }
    Ok(v)
}

fn plan(
    layers: usize,
    open: &OpenLayer<'_>,
    cache: Option<&IndexCache<'_>>,
) -> Result<Plan, FlattenError> {
    let mut claimed: HashMap<String, Claim> = HashMap::new();
    let mut whiteouts: HashMap<String, usize> = HashMap::new();
    let mut opaque: HashMap<String, usize> = HashMap::new();
    let mut links: Vec<(At, String, String)> = Vec::new(); // (at, name, target)
    let mut symlinks: HashSet<String> = HashSet::new();
    for layer in (0..layers).rev() {
        let mut layer_whiteouts = Vec::new();
        let mut layer_opaque = Vec::new();
        for e in index_layer(layer, open, cache)? {
            let index = e.index;
            let base = e.path.rsplit('/').next().unwrap_or("");
            if base == ".wh..wh..opq" {
                layer_opaque.push(parent(&e.path).to_owned());
                continue;
            }
            if let Some(hidden) = base.strip_prefix(".wh.") {
                let dir = parent(&e.path);
                layer_whiteouts.push(if dir.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{dir}/{hidden}")
                });
                continue;
            }
            let at = At { layer, index };
            let hidden_by_upper = ancestors(&e.path)
                .chain(std::iter::once(e.path.as_str()))
                .any(|a| {
                    whiteouts.get(a).is_some_and(|&l| l > layer)
                        || (a != e.path
                            && claimed
                                .get(a)
                                .is_some_and(|c| c.at.layer > layer && !c.is_dir))
                })
                || ancestors(&e.path).any(|a| opaque.get(a).is_some_and(|&l| l > layer))
                || opaque.get("").is_some_and(|&l| l > layer);
            if hidden_by_upper {
                continue;
            }
            if let Some(c) = claimed.get(&e.path)
                && c.at.layer > layer
            {
                continue;
            }
            // Within one layer, the last entry of a name wins (it replaces the claim).
            claimed.insert(
                e.path.clone(),
                Claim {
                    at,
                    is_dir: matches!(e.kind, IndexKind::Dir),
                },
            );
            match &e.kind {
                IndexKind::Hardlink(t) => {
                    links.push((at, e.path.clone(), normalize(t).unwrap_or_default()))
                }
                IndexKind::Symlink => {
                    symlinks.insert(e.path.clone());
                }
                _ => {}
            }
        }
        for w in layer_whiteouts {
            whiteouts.entry(w).or_insert(layer);
        }
        for o in layer_opaque {
            opaque.entry(o).or_insert(layer);
        }
    }
    // A name under a directory that is a symlink of this image would be written through the
    // link when unpacked; refuse it instead of following the link out of the bundle.
    for name in claimed.keys() {
        if let Some(a) = ancestors(name)
            .find(|a| symlinks.contains(*a) && claimed.get(*a).is_some_and(|c| !c.is_dir))
        {
            let layer = claimed.get(name).map_or(0, |c| c.at.layer);
            let _ = a;
            return Err(FlattenError::Unsafe {
                layer,
                name: name.clone(),
                reason: "is below a symlink of the same image",
            });
        }
    }
    let winners: HashSet<At> = claimed.values().map(|c| c.at).collect();
    let mut plan = Plan {
        winners,
        good_links: HashSet::new(),
        orphan_links: HashMap::new(),
        keep: HashMap::new(),
        link_targets: Vec::new(),
    };
    for (at, _name, target) in links {
        if !plan.winners.contains(&at) {
            continue;
        }
        if target.is_empty() {
            return Err(FlattenError::Unsafe {
                layer: at.layer,
                name: _name,
                reason: "is a hard link out of the image root",
            });
        }
        match claimed.get(&target) {
            Some(c) if c.at.layer == at.layer && c.at.index < at.index && !c.is_dir => {
                plan.good_links.insert(at);
                plan.link_targets.push(target);
            }
            _ => {
                plan.keep
                    .entry(at.layer)
                    .or_default()
                    .insert(target.clone());
                plan.orphan_links.insert(at, target);
            }
        }
    }
    Ok(plan)
}

fn classify(layer: usize, e: io::Error) -> FlattenError {
    if e.kind() == io::ErrorKind::InvalidData && e.to_string().contains("corrupt") {
        FlattenError::Read { layer, source: e }
    } else {
        FlattenError::NotTar {
            layer,
            reason: e.to_string(),
        }
    }
}

/// Reads layer `layer` entry by entry (normalized), then drains it so its digest is checked.
fn each_entry(
    layer: usize,
    open: &OpenLayer<'_>,
    mut f: impl FnMut(
        usize,
        &mut tar::Entry<'_, Box<dyn Layer + '_>>,
        Entry,
    ) -> Result<(), FlattenError>,
) -> Result<(), FlattenError> {
    let r = open(layer).map_err(|source| FlattenError::Read { layer, source })?;
    let mut a = tar::Archive::new(r);
    let entries = a.entries().map_err(|e| FlattenError::NotTar {
        layer,
        reason: e.to_string(),
    })?;
    for (index, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| classify(layer, e))?;
        if let Some((_, e)) = convert(layer, &mut entry)? {
            f(index, &mut entry, e)?;
        }
    }
    a.into_inner()
        .finish()
        .map_err(|source| FlattenError::Read { layer, source })
}

/// Flattens `layers` (bottom first) into `out`.
pub fn flatten(
    layers: usize,
    open: &OpenLayer<'_>,
    out: &mut dyn Emit,
) -> Result<(), FlattenError> {
    flatten_with(layers, open, out, None)
}

/// [`flatten`], with pass 1's findings kept in (and taken from) `cache`.
pub fn flatten_with(
    layers: usize,
    open: &OpenLayer<'_>,
    out: &mut dyn Emit,
    cache: Option<&IndexCache<'_>>,
) -> Result<(), FlattenError> {
    let plan = plan(layers, open, cache)?;
    out.link_targets(&plan.link_targets);
    for layer in 0..layers {
        let keep = plan.keep.get(&layer);
        let mut kept: HashMap<String, (Entry, Vec<u8>)> = HashMap::new();
        each_entry(layer, open, |index, entry, e| {
            let at = At { layer, index };
            if keep.is_some_and(|k| k.contains(&e.path)) && matches!(e.kind, Kind::File(_)) {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|source| FlattenError::Read { layer, source })?;
                if plan.winners.contains(&at) {
                    out.entry(e.clone(), &mut &data[..])
                        .map_err(FlattenError::Write)?;
                }
                kept.insert(e.path.clone(), (e, data));
                return Ok(());
            }
            if !plan.winners.contains(&at) {
                return Ok(());
            }
            if let Some(target) = plan.orphan_links.get(&at) {
                let Some((t, data)) = kept.get(target) else {
                    return Err(FlattenError::Unsafe {
                        layer,
                        name: e.path,
                        reason: "is a hard link to a name that is not an earlier file of its layer",
                    });
                };
                let file = Entry {
                    kind: Kind::File(data.len() as u64),
                    mode: t.mode,
                    ..e
                };
                out.entry(file, &mut &data[..])
                    .map_err(FlattenError::Write)?;
                return Ok(());
            }
            if let Kind::Hardlink(t) = &e.kind {
                let target = normalize(t).unwrap_or_default();
                debug_assert!(plan.good_links.contains(&at));
                let e = Entry {
                    kind: Kind::Hardlink(target),
                    ..e
                };
                out.entry(e, &mut io::empty())
                    .map_err(FlattenError::Write)?;
                return Ok(());
            }
            out.entry(e, entry).map_err(|source| match source.kind() {
                io::ErrorKind::InvalidData => FlattenError::Read { layer, source },
                _ => FlattenError::Write(source),
            })?;
            Ok(())
        })?;
    }
    Ok(())
}
