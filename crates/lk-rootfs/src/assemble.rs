//! The build order: kernel -> init -> volumes -> onboot -> onshutdown -> services -> files
//! -> SBOM, each entry carrying `LINUXKIT.source` and `LINUXKIT.location` PAX records
//! (spec/host.md §2).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;

use lk_formats::{Entry, Kind, Sink};
use lk_image::{PinnedImage, Resolved};
use lk_spec::{ImageInfo, ImageRef, Section, config_to_oci, gojson, oci::bundle_dir};

use crate::emit::{FsKind, ImageEmit};
use crate::error::AssembleError;
use crate::flatten::{Layer, flatten};
use crate::input::InputTar;
use crate::path::{join, normalize};

/// LinuxKit's fixed timestamp for generated entries: 2017-04-18T16:30:00Z.
pub const DEFAULT_MTIME: u64 = 1_492_533_000;

/// The settings of the rootfs stage besides the resolved configuration.
#[derive(Debug, Clone, Default)]
pub struct RootfsOptions {
    /// SOURCE_DATE_EPOCH: every timestamp, when set.
    pub source_date_epoch: Option<u64>,
    /// `--decompress-kernel`.
    pub decompress_kernel: bool,
    /// Path of the SBOM in the image; `None` for `--no-sbom`.
    pub sbom_path: Option<String>,
    /// `$HOME` for `~/` in `files[].source`.
    pub home: Option<PathBuf>,
    /// `--input-tar`: sections whose images and settings are unchanged are copied from it.
    pub input: Option<InputTar>,
}

/// Writes the root filesystem stream.
pub struct Assembler<'a, 's> {
    pub(crate) resolved: &'a Resolved,
    pub(crate) options: &'a RootfsOptions,
    pub(crate) sink: Parents<'s>,
    pub(crate) extracted: HashMap<String, String>,
}

/// Makes sure every entry's parent directories come before it in the stream (the kernel's
/// initramfs unpacker does not create missing parents: a modules tarball that starts at
/// `usr/lib/modules/` would otherwise be lost). Missing parents are emitted as 0755
/// directories with the entry's origin and time.
pub(crate) struct Parents<'s> {
    inner: &'s mut dyn Sink,
    dirs: HashSet<String>,
    /// Parents added for an image section's entries that the section has not named (yet:
    /// a directory present in several layers comes with its top layer).
    implied: Vec<ImpliedParent>,
}

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

/// What the rootfs stage noticed on the way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootfsReport {
    /// Image tars that rely on implicit parent directories (one per image section).
    pub implied_parents: Vec<ImpliedParent>,
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

impl Parents<'_> {
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
        if let Some((image, location)) = origin(e) {
            self.implied
                .retain(|i| !(i.parent == e.path && i.image == image && i.location == location));
        }
    }

    /// The first implied parent of each section.
    fn report(&mut self) -> Vec<ImpliedParent> {
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
}

impl Sink for Parents<'_> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        for a in crate::path::ancestors(&e.path) {
            if !self.dirs.contains(a) {
                self.note_implied(e, a);
                let mut d = Entry::dir(a, 0o755, e.mtime);
                d.pax = e.pax.clone();
                self.inner.add(&d, &mut io::empty())?;
                self.dirs.insert(a.to_owned());
            }
        }
        if matches!(e.kind, Kind::Dir) {
            self.named(e);
            self.dirs.insert(e.path.clone());
        } else {
            self.dirs.remove(&e.path);
        }
        self.inner.add(e, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }

    fn link_targets(&mut self, paths: &[String]) {
        self.inner.link_targets(paths);
    }
}

impl std::fmt::Debug for Assembler<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Assembler")
    }
}

impl<'a, 's> Assembler<'a, 's> {
    /// An assembler of `resolved` writing into `sink`.
    pub fn new(
        resolved: &'a Resolved,
        options: &'a RootfsOptions,
        sink: &'s mut dyn Sink,
    ) -> Assembler<'a, 's> {
        Assembler {
            resolved,
            options,
            sink: Parents {
                inner: sink,
                dirs: HashSet::new(),
                implied: Vec::new(),
            },
            extracted: HashMap::new(),
        }
    }

    pub(crate) fn mtime(&self) -> u64 {
        self.options.source_date_epoch.unwrap_or(DEFAULT_MTIME)
    }

    pub(crate) fn put(&mut self, mut e: Entry, data: &mut dyn Read) -> Result<(), AssembleError> {
        if let Some(t) = self.options.source_date_epoch {
            e.mtime = t;
        }
        self.sink.add(&e, data).map_err(AssembleError::Write)
    }

    /// Each component of `prefix` as a 0755 directory (LinuxKit's `tarPrefix`).
    pub(crate) fn prefix_dirs(
        &mut self,
        prefix: &str,
        source: &str,
        location: &str,
    ) -> Result<(), AssembleError> {
        let mut acc = String::new();
        for c in prefix.split('/').filter(|c| !c.is_empty()) {
            acc = join(&acc, c);
            let e = Entry::dir(&acc, 0o755, self.mtime()).with_origin(source, location);
            self.put(e, &mut io::empty())?;
        }
        Ok(())
    }

    pub(crate) fn image(
        &self,
        r: &ImageRef,
        location: &str,
    ) -> Result<&'a PinnedImage, AssembleError> {
        self.resolved.image(r).map_err(|u| AssembleError::Missing {
            location: location.to_owned(),
            image: u.image,
        })
    }

    fn image_fs(
        &mut self,
        image: &PinnedImage,
        prefix: &str,
        location: &str,
        kind: FsKind,
    ) -> Result<(), AssembleError> {
        if let Some(m) = lk_image::unsupported_layer(&image.image) {
            return Err(AssembleError::LayerType {
                image: image.canonical().to_owned(),
                media_type: m.to_owned(),
            });
        }
        self.prefix_dirs(prefix, image.canonical(), location)?;
        let cache = self.resolved.cache();
        let open = |i: usize| -> io::Result<Box<dyn Layer>> {
            Ok(Box::new(lk_image::open_layer(cache, &image.image, i)?))
        };
        let mut emit = ImageEmit {
            sink: &mut self.sink,
            prefix: prefix.to_owned(),
            source: image.canonical().to_owned(),
            location: location.to_owned(),
            kind,
            seen: HashSet::new(),
            mtime_override: self.options.source_date_epoch,
        };
        let wrap = |source| AssembleError::Image {
            location: location.to_owned(),
            image: image.canonical().to_owned(),
            source,
        };
        flatten(image.image.manifest.layers.len(), &open, &mut emit).map_err(wrap)?;
        emit.touch().map_err(AssembleError::Write)
    }

    /// Writes the whole root filesystem.
    pub fn run(mut self) -> Result<RootfsReport, AssembleError> {
        let config = self.resolved.config();
        let old = self.options.input.as_ref().map(|i| &i.config);
        let new_kernel = config
            .kernel
            .image
            .as_ref()
            .map(|r| r.value.canonical().to_owned());
        match (
            &new_kernel,
            old.and_then(|o| o.kernel.image.as_ref())
                .map(|r| r.value.canonical().to_owned()),
        ) {
            (Some(n), Some(o))
                if *n == o
                    && old.is_some_and(|o| {
                        serde_json::to_value(&o.kernel).ok()
                            == serde_json::to_value(&config.kernel).ok()
                    }) =>
            {
                self.copy_input(n, "kernel")?;
            }
            _ => self.kernel()?,
        }
        for (i, r) in config.init.iter().flatten().enumerate() {
            let location = format!("init[{i}]");
            let same = old
                .and_then(|o| o.init.as_ref())
                .and_then(|l| l.get(i))
                .is_some_and(|o| o.value.canonical() == r.value.canonical());
            if same {
                self.copy_input(r.value.canonical(), &location)?;
                continue;
            }
            let image = self.image(&r.value, &location)?;
            self.image_fs(image, "", &location, FsKind::Init)?;
        }
        self.volumes()?;
        for section in Section::ALL {
            for (i, entry) in config.section(section).iter().enumerate() {
                let unchanged = old
                    .and_then(|o| o.section(section).get(i))
                    .is_some_and(|o| {
                        serde_json::to_value(o).ok() == serde_json::to_value(entry).ok()
                    });
                if unchanged {
                    let location = format!("{}[{i}]", section.name());
                    let canonical = entry.image.value.canonical().to_owned();
                    let root = self.copy_input(&canonical, &location)?;
                    if let Some(root) = root {
                        self.extracted.entry(canonical).or_insert(root);
                    }
                    continue;
                }
                self.container(section, i, entry)?;
            }
        }
        self.files()?;
        if let Some(path) = self.options.sbom_path.clone() {
            let doc = crate::sbom::document(self.resolved, self.mtime());
            let path = normalize(&path).unwrap_or_else(|| "sbom.spdx.json".into());
            self.put(
                Entry::file(&path, doc.len() as u64, 0o644, self.mtime()),
                &mut doc.as_bytes(),
            )?;
        }
        self.sink.finish().map_err(AssembleError::Write)?;
        Ok(RootfsReport {
            implied_parents: self.sink.report(),
        })
    }

    fn volumes(&mut self) -> Result<(), AssembleError> {
        for (i, v) in self.resolved.config().volumes.iter().flatten().enumerate() {
            let base = format!("containers/volumes/{}", v.name.value);
            let location = format!("volume[{i}]");
            let source = v.image.as_ref().map_or_else(
                || "linuxkit.volumes".to_owned(),
                |r| r.value.canonical().to_owned(),
            );
            match &v.image {
                Some(r) if v.format != "oci" => {
                    let image = self.image(&r.value, &location)?;
                    self.image_fs(
                        image,
                        &format!("{base}/lower"),
                        &location,
                        FsKind::Container,
                    )?;
                }
                Some(r) => {
                    let image = self.image(&r.value, &location)?;
                    self.prefix_dirs(&format!("{base}/lower"), &source, &location)?;
                    self.oci_layout(image, &format!("{base}/lower"), &location)?;
                }
                None => self.prefix_dirs(&format!("{base}/lower"), &source, &location)?,
            }
            for d in ["tmp", "merged"] {
                let e = Entry::dir(&format!("{base}/{d}"), 0o755, self.mtime())
                    .with_origin(&source, &location);
                self.put(e, &mut io::empty())?;
            }
        }
        Ok(())
    }

    /// A volume with `format: oci`: the image as an OCI layout under `prefix`.
    fn oci_layout(
        &mut self,
        image: &PinnedImage,
        prefix: &str,
        location: &str,
    ) -> Result<(), AssembleError> {
        let src = image.canonical().to_owned();
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let mt = self.mtime();
        self.put(
            Entry::file(
                &format!("{prefix}/oci-layout"),
                layout.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&src, location),
            &mut &layout[..],
        )?;
        self.prefix_dirs(&format!("{prefix}/blobs/sha256"), &src, location)?;
        let r = &image.image;
        let mut blobs = vec![&r.manifest_descriptor, &r.manifest.config];
        blobs.extend(&r.manifest.layers);
        for b in blobs {
            let mut reader = self
                .resolved
                .cache()
                .open_blob(&b.digest)
                .map_err(|e| AssembleError::Write(io::Error::other(e)))?;
            self.put(
                Entry::file(
                    &format!("{prefix}/blobs/sha256/{}", b.digest.hex()),
                    b.size,
                    0o644,
                    mt,
                )
                .with_origin(&src, location),
                &mut reader,
            )?;
        }
        let mut root = r.manifest_descriptor.clone();
        root.annotations
            .insert(lk_oci::ANNOTATION_REF_NAME.into(), src.clone());
        let index = serde_json::to_vec(&lk_oci::Index {
            manifests: vec![root],
            ..lk_oci::Index::default()
        })
        .unwrap_or_default();
        self.put(
            Entry::file(
                &format!("{prefix}/index.json"),
                index.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&src, location),
            &mut &index[..],
        )
    }

    fn container(
        &mut self,
        section: Section,
        index: usize,
        entry: &lk_spec::Image,
    ) -> Result<(), AssembleError> {
        let canonical = entry.image.value.canonical().to_owned();
        let location = format!("{}[{index}]", section.name());
        let image = self.image(&entry.image.value, &location)?;
        let run = image.image.config.config.clone().unwrap_or_default();
        let info = ImageInfo {
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            env: run.env.unwrap_or_default(),
            working_dir: run.working_dir,
            labels: run.labels.unwrap_or_default(),
        };
        let (spec, mut runtime) = config_to_oci(entry, &info, self.resolved.config())?;
        let bundle = bundle_dir(section, index, &entry.name.value);
        let readonly = spec.root.readonly;
        let own_root = format!("{bundle}/{}", if readonly { "rootfs" } else { "lower" });
        let root = match self.extracted.get(&canonical).cloned() {
            Some(first) => {
                self.prefix_dirs(&bundle, &canonical, &location)?;
                first
            }
            None => {
                self.image_fs(image, &own_root, &location, FsKind::Container)?;
                self.extracted.insert(canonical.clone(), own_root.clone());
                own_root.clone()
            }
        };
        let config_json = gojson::to_string_indent(&spec);
        let mt = self.mtime();
        self.put(
            Entry::file(
                &format!("{bundle}/config.json"),
                config_json.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&canonical, &location),
            &mut config_json.as_bytes(),
        )?;
        if !readonly {
            self.put(
                Entry::dir(&format!("{bundle}/tmp"), 0o755, mt).with_origin(&canonical, &location),
                &mut io::empty(),
            )?;
            self.put(
                Entry::dir(&format!("{bundle}/rootfs"), 0o755, mt)
                    .with_origin(&canonical, &location),
                &mut io::empty(),
            )?;
        } else if root != own_root {
            self.put(
                Entry::dir(&format!("{bundle}/rootfs"), 0o755, mt)
                    .with_origin(&canonical, &location),
                &mut io::empty(),
            )?;
        }
        lk_spec::oci::prepend_rootfs(&mut runtime, &bundle, &root, readonly);
        let runtime_json = gojson::to_string_indent(&runtime);
        self.put(
            Entry::file(
                &format!("{bundle}/runtime.json"),
                runtime_json.len() as u64,
                0o644,
                mt,
            )
            .with_origin(&canonical, &location),
            &mut runtime_json.as_bytes(),
        )
    }
}
