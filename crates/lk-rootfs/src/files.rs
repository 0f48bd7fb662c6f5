//! The `files` section: contents, host sources (`~/` is `$HOME`), symlinks, directories,
//! the configuration itself (`metadata`), with parents made and owners mapped.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;

use lk_formats::{Entry, Kind};

use crate::assemble::Assembler;
use crate::error::AssembleError;
use crate::path::join;

impl Assembler<'_, '_> {
    pub(crate) fn files(&mut self) -> Result<(), AssembleError> {
        let config = self.resolved.config();
        let ids = config.id_map();
        let id = |v: &Option<lk_spec::Spanned<lk_spec::image::Id>>| -> u64 {
            match v.as_ref().map(|s| &s.value) {
                Some(lk_spec::image::Id::Num(n)) => u64::from(*n),
                Some(lk_spec::image::Id::Name(n)) => ids.get(n).copied().map_or(0, u64::from),
                None => 0,
            }
        };
        let mut added: HashSet<String> = HashSet::new();
        for (i, f) in config.files.iter().flatten().enumerate() {
            let location = format!("files[{i}]");
            let path = f.path.trim_start_matches('/').to_owned();
            let mode = f.mode_bits();
            let mut dir_mode = mode;
            if dir_mode & 0o700 != 0 {
                dir_mode |= 0o100;
            }
            if dir_mode & 0o070 != 0 {
                dir_mode |= 0o010;
            }
            if dir_mode & 0o007 != 0 {
                dir_mode |= 0o001;
            }
            let (uid, gid) = (id(&f.uid), id(&f.gid));
            let contents: Option<Vec<u8>> = if f.directory || !f.symlink.is_empty() {
                None
            } else if let Some(c) = &f.contents {
                Some(c.clone().into_bytes())
            } else if !f.source.is_empty() {
                let source = match (f.source.strip_prefix("~/"), &self.options.home) {
                    (Some(rest), Some(home)) => home.join(rest),
                    _ => PathBuf::from(&f.source),
                };
                match std::fs::read(&source) {
                    Ok(d) => Some(d),
                    Err(_) if f.optional => continue,
                    Err(e) => {
                        return Err(AssembleError::FileSource {
                            index: i,
                            path: f.path.clone(),
                            source_path: source.display().to_string(),
                            source: e,
                        });
                    }
                }
            } else {
                Some(match f.metadata.as_str() {
                    "json" => lk_spec::normalize::to_json(config).into_bytes(),
                    _ => lk_spec::normalize::to_yaml(config).into_bytes(),
                })
            };
            let mt = self.mtime();
            let parent = crate::path::parent(&path).to_owned();
            let mut acc = String::new();
            for c in parent.split('/').filter(|c| !c.is_empty()) {
                acc = join(&acc, c);
                if added.insert(acc.clone()) {
                    let mut e =
                        Entry::dir(&acc, dir_mode, mt).with_origin("linuxkit.files", &location);
                    e.uid = uid;
                    e.gid = gid;
                    self.put(e, &mut io::empty())?;
                }
            }
            added.insert(path.clone());
            let kind = if f.directory {
                Kind::Dir
            } else if !f.symlink.is_empty() {
                Kind::Symlink(f.symlink.clone())
            } else {
                Kind::File(contents.as_ref().map_or(0, |c| c.len() as u64))
            };
            let e = Entry {
                path,
                kind,
                mode,
                uid,
                gid,
                mtime: mt,
                xattrs: Vec::new(),
                pax: Vec::new(),
            }
            .with_origin("linuxkit.files", &location);
            let data = contents.unwrap_or_default();
            self.put(e, &mut &data[..])?;
        }
        Ok(())
    }
}
