//! `linuxkit pkg`.

use lk_ops::pkg::{PkgOptions, show_tags};

use crate::Exit;
use crate::cli::{Global, PkgCommand, PkgCommon};
use crate::output;

/// The `pkg` persistent flags as options.
pub fn options(c: &PkgCommon) -> PkgOptions {
    PkgOptions {
        org: c.org.clone(),
        build_yml: c.build_yml.clone(),
        hash: c.hash.clone(),
        tag: c.tag.clone(),
        hash_commit: c.hash_commit.clone().unwrap_or_else(|| "HEAD".into()),
        hash_path: c.hash_path.clone(),
        force_dirty: c.force_dirty,
        dev: c.dev,
    }
}

pub fn run(global: &Global, cmd: &PkgCommand) -> anyhow::Result<Exit> {
    let _ = global;
    match cmd {
        PkgCommand::ShowTag { common, canonical, dirs } => {
            for t in show_tags(dirs, &options(common), *canonical)? {
                output::data(&t);
            }
            Ok(Exit::Success)
        }
        PkgCommand::Build(_) => crate::not_implemented("pkg build", "the Packages issue"),
        PkgCommand::Push(_) => crate::not_implemented("pkg push", "the Packages issue"),
        PkgCommand::Manifest { .. } => crate::not_implemented("pkg manifest", "the Packages issue"),
        PkgCommand::RemoteTag { .. } => crate::not_implemented("pkg remote-tag", "the Packages issue"),
        PkgCommand::Builder { .. } => crate::not_implemented("pkg builder", "the Packages issue"),
    }
}
