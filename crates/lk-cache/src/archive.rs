//! Export to and import from tar archives: OCI image layouts (what LinuxKit's `cache
//! export` writes) and `docker save` archives (both the OCI-based format of Docker ≥ 25 and
//! the older `manifest.json` + `<id>/layer.tar` format).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use lk_oci::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Digest, Document, Index,
    MEDIA_DOCKER_CONFIG, MEDIA_OCI_MANIFEST, Manifest, Platform,
};

use crate::store::{Cache, CacheError};

/// `cache export --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// An OCI image layout tar.
    Oci,
    /// A `docker load`-able tar (OCI layout plus `manifest.json`).
    Docker,
}

/// What an import added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Names written.
    pub names: Vec<String>,
    /// Blobs stored.
    pub blobs: usize,
}

fn tar_err(path: &str) -> impl Fn(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        action: "writing archive entry",
        path: PathBuf::from(path),
        source,
    }
}

fn append(
    t: &mut tar::Builder<&mut dyn Write>,
    path: &str,
    size: u64,
    data: &mut dyn Read,
) -> Result<(), CacheError> {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    t.append_data(&mut h, path, data).map_err(tar_err(path))
}

impl Cache {
    /// Writes image `name` for `platform` as a tar; `ref_name` overrides the recorded name.
    pub fn export(
        &self,
        name: &str,
        platform: &Platform,
        format: ExportFormat,
        ref_name: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), CacheError> {
        let r = self.resolve(name, platform)?;
        let recorded = ref_name.unwrap_or(name);
        let mut t = tar::Builder::new(out);
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        append(&mut t, "oci-layout", layout.len() as u64, &mut &layout[..])?;
        let mut blobs: Vec<&Descriptor> = vec![&r.manifest_descriptor, &r.manifest.config];
        blobs.extend(&r.manifest.layers);
        for b in blobs {
            let mut reader = self.open_blob(&b.digest)?;
            append(
                &mut t,
                &format!("blobs/sha256/{}", b.digest.hex()),
                b.size,
                &mut reader,
            )?;
        }
        let mut root = r.manifest_descriptor.clone();
        root.platform = Some(platform.clone());
        root.annotations
            .insert(ANNOTATION_REF_NAME.to_owned(), recorded.to_owned());
        root.annotations
            .insert(ANNOTATION_CONTAINERD_NAME.to_owned(), recorded.to_owned());
        let index = Index {
            manifests: vec![root],
            ..Index::default()
        };
        let bytes = serde_json::to_vec(&index).unwrap_or_default();
        append(&mut t, "index.json", bytes.len() as u64, &mut &bytes[..])?;
        if format == ExportFormat::Docker {
            let manifest = serde_json::json!([{
                "Config": format!("blobs/sha256/{}", r.manifest.config.digest.hex()),
                "RepoTags": [recorded],
                "Layers": r.manifest.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
            }]);
            let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
            append(&mut t, "manifest.json", bytes.len() as u64, &mut &bytes[..])?;
        }
        t.into_inner()
            .and_then(|w| w.flush())
            .map_err(tar_err("end of archive"))
    }

    /// Imports an OCI layout tar or a `docker save` tar. Blobs are verified against their
    /// names; images are named by `io.containerd.image.name` (or a full
    /// `org.opencontainers.image.ref.name`, or the docker `RepoTags`).
    pub fn import(&self, input: &mut dyn Read) -> Result<ImportReport, CacheError> {
        let mut report = ImportReport::default();
        let mut index: Option<Index> = None;
        let mut docker_manifest: Option<serde_json::Value> = None;
        // Legacy docker save: `<id>/layer.tar` and `<hex>.json` are not named by digest.
        let mut legacy: BTreeMap<String, (Digest, u64)> = BTreeMap::new();
        let mut a = tar::Archive::new(input);
        let entries = a.entries().map_err(tar_err("archive"))?;
        for entry in entries {
            let mut e = entry.map_err(tar_err("archive"))?;
            let path = e
                .path()
                .map_err(tar_err("archive"))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            if !e.header().entry_type().is_file() {
                continue;
            }
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                let digest: Digest =
                    format!("sha256:{hex}")
                        .parse()
                        .map_err(|_| CacheError::BadDocument {
                            path: PathBuf::from(&path),
                            source: "blob name is not a sha256 digest".into(),
                        })?;
                if !self.blob_path(&digest).exists() {
                    let mut w = self.blob_writer(&digest, None)?;
                    std::io::copy(&mut e, &mut w).map_err(tar_err(&path))?;
                    w.commit()?;
                    report.blobs += 1;
                }
                legacy.insert(path.clone(), (digest, e.header().size().unwrap_or(0)));
            } else if path == "index.json" || path == "manifest.json" {
                let mut data = Vec::new();
                e.read_to_end(&mut data).map_err(tar_err(&path))?;
                let bad = |source: serde_json::Error| CacheError::BadDocument {
                    path: PathBuf::from(&path),
                    source: Box::new(source),
                };
                if path == "index.json" {
                    let mut v: serde_json::Value = serde_json::from_slice(&data).map_err(bad)?;
                    if v.get("manifests").is_some_and(serde_json::Value::is_null) {
                        v["manifests"] = serde_json::Value::Array(Vec::new());
                    }
                    index = Some(serde_json::from_value(v).map_err(bad)?);
                } else {
                    docker_manifest = Some(serde_json::from_slice(&data).map_err(bad)?);
                }
            } else if path.ends_with(".tar")
                || (path.ends_with(".json") && !path.contains('/') && path != "repositories")
            {
                // Docker names layers `<id>/layer.tar`; containers/image (buildah, skopeo,
                // podman) `<hex>.tar` at the top.
                let (d, size) = self.put_stream(&mut e)?;
                report.blobs += 1;
                legacy.insert(path, (d, size));
            }
        }
        // Docker >= 25 writes both files: index.json names its own OCI manifests, and
        // manifest.json names every image by RepoTags. Images the index leaves out (25.0's
        // `manifests: null` for `IMAGE@DIGEST`, moby#47210; entries dropped for several
        // images saved by digest, moby#51389) are taken from manifest.json.
        if let Some(index) = index {
            self.name_entries(index, &mut report)?;
        }
        if let Some(serde_json::Value::Array(images)) = docker_manifest {
            for img in images {
                self.import_docker_entry(&img, &legacy, &mut report)?;
            }
        }
        Ok(report)
    }

    /// One entry of a `docker save` manifest.json: a manifest made from its config and
    /// layers (the archive's own paths), named by each RepoTag not named yet.
    fn import_docker_entry(
        &self,
        img: &serde_json::Value,
        legacy: &BTreeMap<String, (Digest, u64)>,
        report: &mut ImportReport,
    ) -> Result<(), CacheError> {
        let tags: Vec<String> = img["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .map(expand)
            .filter(|t| !report.names.contains(t))
            .collect();
        let config_path = img["Config"].as_str().unwrap_or_default();
        let Some((config, config_size)) = legacy.get(config_path).cloned() else {
            return Ok(());
        };
        if tags.is_empty() {
            return Ok(());
        }
        let mut layers = Vec::new();
        for l in img["Layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str())
        {
            let Some((d, size)) = legacy.get(l) else {
                return Err(CacheError::BadDocument {
                    path: PathBuf::from("manifest.json"),
                    source: format!("layer {l} of {config_path} is not in the archive").into(),
                });
            };
            layers.push(Descriptor::new(
                "application/vnd.docker.image.rootfs.diff.tar",
                d.clone(),
                *size,
            ));
        }
        let config_bytes = self.read_bytes(&config)?;
        let cfg: lk_oci::ImageConfig = serde_json::from_slice(&config_bytes).unwrap_or_default();
        let manifest = Manifest {
            schema_version: 2,
            media_type: MEDIA_OCI_MANIFEST.to_owned(),
            config: Descriptor::new(MEDIA_DOCKER_CONFIG, config, config_size),
            layers,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
        let md = self.put_bytes(&bytes)?;
        let mut desc = Descriptor::new(MEDIA_OCI_MANIFEST, md, bytes.len() as u64);
        desc.platform = Some(Platform::linux(&cfg.architecture));
        for name in tags {
            self.set_name(&name, &desc)?;
            report.names.push(name);
        }
        Ok(())
    }

    /// Names the entries of an imported `index.json` (`io.containerd.image.name`, or a full
    /// `org.opencontainers.image.ref.name`; others are kept unnamed, as LinuxKit does).
    fn name_entries(&self, index: Index, report: &mut ImportReport) -> Result<(), CacheError> {
        for d in index.manifests {
            let name = d
                .annotations
                .get(ANNOTATION_CONTAINERD_NAME)
                .or_else(|| {
                    d.annotations
                        .get(ANNOTATION_REF_NAME)
                        .filter(|n| n.contains('/') || n.contains(':'))
                })
                .cloned();
            match name {
                Some(n) => {
                    self.set_name(&n, &d)?;
                    report.names.push(n);
                }
                None => self.add_unnamed(&d)?,
            }
        }
        Ok(())
    }

    /// Imports an OCI image layout directory (every blob verified while copied).
    pub fn import_dir(&self, dir: &std::path::Path) -> Result<ImportReport, CacheError> {
        let mut report = ImportReport::default();
        let blobs = dir.join("blobs/sha256");
        let io = |action: &'static str, path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Io {
                action,
                path,
                source,
            }
        };
        for e in std::fs::read_dir(&blobs).map_err(io("reading", &blobs))? {
            let e = e.map_err(io("reading", &blobs))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            if self.blob_path(&digest).exists() {
                continue;
            }
            let mut f = std::fs::File::open(e.path()).map_err(io("opening", &e.path()))?;
            let mut w = self.blob_writer(&digest, None)?;
            std::io::copy(&mut f, &mut w).map_err(io("copying", &e.path()))?;
            w.commit()?;
            report.blobs += 1;
        }
        let index_path = dir.join("index.json");
        let data = std::fs::read(&index_path).map_err(io("reading", &index_path))?;
        let index: Index = serde_json::from_slice(&data).map_err(|e| CacheError::BadDocument {
            path: index_path,
            source: Box::new(e),
        })?;
        self.name_entries(index, &mut report)?;
        Ok(report)
    }

    /// Parses the root of a named image (for `cache export` of an index, etc.).
    pub fn root_document(&self, name: &str) -> Result<Document, CacheError> {
        let d = self.find(name)?.ok_or_else(|| CacheError::NotFound {
            name: name.to_owned(),
        })?;
        self.document(&d)
    }
}

/// `alpine:3` -> `docker.io/library/alpine:3` (LinuxKit's expansion for docker tags).
fn expand(tag: &str) -> String {
    let parts: Vec<&str> = tag.split('/').collect();
    match parts.len() {
        1 => format!("docker.io/library/{tag}"),
        2 if !parts[0].contains('.') && !parts[0].contains(':') && parts[0] != "localhost" => {
            format!("docker.io/{tag}")
        }
        _ => tag.to_owned(),
    }
}
