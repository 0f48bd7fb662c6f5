//! `--input-tar`: a previous build's tar output. Sections whose images and settings are
//! unchanged since the configuration recorded in it are copied from it, entry by entry.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use lk_formats::Sink;
use lk_spec::Config;

use crate::assemble::Assembler;
use crate::error::AssembleError;

/// A previous build's tar and the configuration it was built from.
#[derive(Debug, Clone)]
pub struct InputTar {
    /// The tar.
    pub path: PathBuf,
    /// The configuration read from it.
    pub config: Config,
}

impl InputTar {
    /// Opens `path`, reading the previous configuration from the file the new
    /// configuration's `files` entry with `metadata: yaml` names.
    pub fn open(path: &Path, config: &Config) -> Result<InputTar, AssembleError> {
        let shown = path.display().to_string();
        let problem = |p: String| AssembleError::InputConfig {
            path: shown.clone(),
            problem: p,
        };
        let meta = config
            .files
            .iter()
            .flatten()
            .find(|f| !f.metadata.is_empty())
            .ok_or_else(|| problem("it needs a `files` entry with `metadata: yaml` (the previous build's configuration is read from it)".into()))?;
        if meta.metadata == "json" {
            return Err(problem(
                "it reads `metadata: yaml` files; json is not supported yet".into(),
            ));
        }
        let want = meta.path.trim_start_matches('/').to_owned();
        let err = |source| AssembleError::InputTar {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(err)?;
        let mut a = tar::Archive::new(BufReader::new(file));
        for e in a.entries().map_err(err)? {
            let mut e = e.map_err(err)?;
            let name = e.path().map_err(err)?.to_string_lossy().into_owned();
            if name.trim_start_matches("./") != want {
                continue;
            }
            let mut text = String::new();
            e.read_to_string(&mut text).map_err(err)?;
            let source = lk_spec::Source::named(&format!("{shown}:{want}"));
            let old = lk_spec::parse_config(&source, &text, None).map_err(|source| {
                AssembleError::InputInvalid {
                    path: shown.clone(),
                    source,
                }
            })?;
            return Ok(InputTar {
                path: path.to_path_buf(),
                config: old,
            });
        }
        Err(problem(format!(
            "it has no {want} (the metadata file of the previous build)"
        )))
    }
}

impl Assembler<'_, '_> {
    /// Copies the entries of the input tar with these origin records; returns where an
    /// image filesystem was unpacked among them (`.../lower` or `.../rootfs`), if any.
    pub(crate) fn copy_input(
        &mut self,
        source: &str,
        location: &str,
    ) -> Result<Option<String>, AssembleError> {
        let Some(input) = self.options.input.as_ref() else {
            return Ok(None);
        };
        let read_err = |e: io::Error| AssembleError::InputTar {
            path: input.path.display().to_string(),
            source: e,
        };
        let file = std::fs::File::open(&input.path).map_err(read_err)?;
        let mut a = tar::Archive::new(BufReader::new(file));
        let mut root = None;
        for entry in a.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let mut origin = (String::new(), String::new());
            if let Some(exts) = entry.pax_extensions().map_err(read_err)? {
                for x in exts.flatten() {
                    match (x.key(), x.value()) {
                        (Ok("LINUXKIT.source"), Ok(v)) => origin.0 = v.to_owned(),
                        (Ok("LINUXKIT.location"), Ok(v)) => origin.1 = v.to_owned(),
                        _ => {}
                    }
                }
            }
            if origin.0 != source || origin.1 != location {
                continue;
            }
            let Some((_, mut e)) = crate::flatten::convert_entry(&mut entry).map_err(read_err)?
            else {
                continue;
            };
            e.pax = vec![
                ("LINUXKIT.source".into(), origin.0),
                ("LINUXKIT.location".into(), origin.1),
            ];
            if root.is_none()
                && let Some(i) = e.path.find("/lower/").or_else(|| e.path.find("/rootfs/"))
                && e.path.starts_with("containers/")
            {
                let end = e.path[i + 1..]
                    .find('/')
                    .map_or(e.path.len(), |j| i + 1 + j);
                root = Some(e.path[..end].to_owned());
            }
            self.sink
                .add(&e, &mut entry)
                .map_err(AssembleError::Write)?;
        }
        Ok(root)
    }
}
