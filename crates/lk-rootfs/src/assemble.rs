//! The build order: kernel -> init -> volumes -> onboot -> onshutdown -> services -> files
//! -> SBOM, each entry carrying `LINUXKIT.source` and `LINUXKIT.location` PAX records
//! (spec/host.md §2).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;

use lk_formats::{Entry, Sink};
use lk_image::{PinnedImage, Resolved};
use lk_spec::{ImageInfo, ImageRef, Section, config_to_oci, gojson, oci::bundle_dir};

use crate::emit::{FsKind, ImageEmit};
use crate::error::AssembleError;
use crate::flatten::{Layer, flatten_with};
use crate::input::InputTar;
use crate::parents::{ImpliedParent, Parents};
use crate::path::{join, normalize};
use crate::segments;

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
    /// Where segment records are kept between builds (see [`lk_formats::segment`]).
    pub segments: Option<lk_formats::SegmentStore>,
}

/// Writes the root filesystem stream.
pub struct Assembler<'a, 's> {
    pub(crate) resolved: &'a Resolved,
    pub(crate) options: &'a RootfsOptions,
    pub(crate) sink: Parents<'s>,
    pub(crate) extracted: HashMap<String, String>,
    /// Segments skipped so far.
    pub(crate) skipped: usize,
    /// The kernel modules selection, when one applied.
    pub(crate) modules: Option<crate::modules::Report>,
}

/// What the rootfs stage noticed on the way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootfsReport {
    /// Image tars that rely on implicit parent directories (one per image section).
    pub implied_parents: Vec<ImpliedParent>,
    /// Segments whose entries were not produced because every output already had them.
    pub segments_skipped: usize,
    /// The kernel modules the image carries of those in the kernel image (when a list
    /// selected them and the kernel segment was written, not reused).
    pub kernel_modules: Option<crate::modules::Report>,
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
            sink: Parents::new(sink),
            extracted: HashMap::new(),
            skipped: 0,
            modules: None,
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
        let resolved = self.resolved;
        let open = |i: usize| -> io::Result<Box<dyn Layer>> {
            Ok(Box::new(resolved.open_layer(&image.image, i)?))
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
        let wrap = |source| AssembleError::image(location, image, source);
        let index = segments::index_cache(self.options, image);
        let layers = image.image.manifest.layers.len();
        flatten_with(layers, &open, &mut emit, index.as_ref()).map_err(wrap)?;
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
                self.segment(None, "", |a| a.copy_input(n, "kernel").map(drop))?;
            }
            _ => {
                if let Some(r) = &config.kernel.image {
                    let image = self.image(&r.value, "kernel")?;
                    let id = segments::id("kernel", Some(image))
                        .field(
                            "kernel",
                            &serde_json::to_vec(&config.kernel).unwrap_or_default(),
                        )
                        .field("decompress", &[u8::from(self.options.decompress_kernel)]);
                    self.segment(Some(id), "", |a| a.kernel())?;
                }
            }
        }
        for (i, r) in config.init.iter().flatten().enumerate() {
            let location = format!("init[{i}]");
            let same = old
                .and_then(|o| o.init.as_ref())
                .and_then(|l| l.get(i))
                .is_some_and(|o| o.value.canonical() == r.value.canonical());
            if same {
                let canonical = r.value.canonical();
                self.segment(None, "", |a| a.copy_input(canonical, &location).map(drop))?;
                continue;
            }
            let image = self.image(&r.value, &location)?;
            let id = segments::id("init", Some(image)).field("location", location.as_bytes());
            self.segment(Some(id), "", |a| {
                a.image_fs(image, "", &location, FsKind::Init)
            })?;
        }
        for (i, v) in config.volumes.iter().flatten().enumerate() {
            self.volume(i, v)?;
        }
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
                    self.segment(None, "", |a| {
                        if let Some(root) = a.copy_input(&canonical, &location)? {
                            a.extracted.entry(canonical.clone()).or_insert(root);
                        }
                        Ok(())
                    })?;
                    continue;
                }
                self.container(section, i, entry)?;
            }
        }
        self.segment(None, "", |a| {
            a.files()?;
            if let Some(path) = a.options.sbom_path.clone() {
                let doc = crate::sbom::document(a.resolved, a.mtime());
                let path = normalize(&path).unwrap_or_else(|| "sbom.spdx.json".into());
                a.put(
                    Entry::file(&path, doc.len() as u64, 0o644, a.mtime()),
                    &mut doc.as_bytes(),
                )?;
            }
            Ok(())
        })?;
        self.sink.finish().map_err(AssembleError::Write)?;
        Ok(RootfsReport {
            implied_parents: self.sink.report(),
            segments_skipped: self.skipped,
            kernel_modules: self.modules.clone(),
        })
    }

    fn volume(&mut self, i: usize, v: &lk_spec::Volume) -> Result<(), AssembleError> {
        let base = format!("containers/volumes/{}", v.name.value);
        let location = format!("volume[{i}]");
        let source = v.image.as_ref().map_or_else(
            || "linuxkit.volumes".to_owned(),
            |r| r.value.canonical().to_owned(),
        );
        let image = match &v.image {
            Some(r) => Some(self.image(&r.value, &location)?),
            None => None,
        };
        let id = segments::id("volume", image)
            .field("location", location.as_bytes())
            .field("name", v.name.value.as_bytes())
            .field("format", v.format.as_bytes());
        self.segment(Some(id), &base, |a| {
            let lower = format!("{base}/lower");
            match image {
                Some(image) if v.format != "oci" => {
                    a.image_fs(image, &lower, &location, FsKind::Container)?;
                }
                Some(image) => {
                    a.prefix_dirs(&lower, &source, &location)?;
                    a.oci_layout(image, &lower, &location)?;
                }
                None => a.prefix_dirs(&lower, &source, &location)?,
            }
            for d in ["tmp", "merged"] {
                let e = Entry::dir(&format!("{base}/{d}"), 0o755, a.mtime())
                    .with_origin(&source, &location);
                a.put(e, &mut io::empty())?;
            }
            Ok(())
        })
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
            self.resolved
                .wait_blob(&b.digest)
                .map_err(AssembleError::Write)?;
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
        // An image used before is unpacked once; later bundles use the first root.
        let shared = self.extracted.get(&canonical).cloned();
        let fs_id = segments::id("container-fs", Some(image))
            .field("location", location.as_bytes())
            .field("root", own_root.as_bytes())
            .field("shared", shared.as_deref().unwrap_or("").as_bytes());
        self.segment(Some(fs_id), &bundle, |a| match &shared {
            Some(_) => a.prefix_dirs(&bundle, &canonical, &location),
            None => a.image_fs(image, &own_root, &location, FsKind::Container),
        })?;
        let root = shared.unwrap_or_else(|| {
            self.extracted.insert(canonical.clone(), own_root.clone());
            own_root.clone()
        });
        let config_json = gojson::to_string_indent(&spec);
        lk_spec::oci::prepend_rootfs(&mut runtime, &bundle, &root, readonly);
        let runtime_json = gojson::to_string_indent(&runtime);
        let rootfs_dir = !readonly || root != own_root;
        let files_id = segments::id("bundle", None)
            .field("source", canonical.as_bytes())
            .field("location", location.as_bytes())
            .field("config", config_json.as_bytes())
            .field("runtime", runtime_json.as_bytes())
            .field("dirs", &[u8::from(!readonly), u8::from(rootfs_dir)]);
        self.segment(Some(files_id), &bundle, |a| {
            let mt = a.mtime();
            let file = |name: &str, text: &str| {
                Entry::file(&format!("{bundle}/{name}"), text.len() as u64, 0o644, mt)
                    .with_origin(&canonical, &location)
            };
            let dir = |name: &str| {
                Entry::dir(&format!("{bundle}/{name}"), 0o755, mt)
                    .with_origin(&canonical, &location)
            };
            a.put(
                file("config.json", &config_json),
                &mut config_json.as_bytes(),
            )?;
            if !readonly {
                a.put(dir("tmp"), &mut io::empty())?;
            }
            if rootfs_dir {
                a.put(dir("rootfs"), &mut io::empty())?;
            }
            a.put(
                file("runtime.json", &runtime_json),
                &mut runtime_json.as_bytes(),
            )
        })
    }
}
