//! The checks that need the whole (merged) configuration.

use std::collections::HashMap;

use crate::config::{Config, Section};
use crate::decode::Spanned;
use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::image::Id;

impl Config {
    /// Checks that need the whole configuration: unique service and volume names,
    /// volumes referenced by binds and mounts, names used as uid/gid.
    ///
    /// Unlike LinuxKit, a container can use volumes declared in any of the merged files.
    pub fn check(&self) -> Result<(), Diagnostics> {
        let mut diags = Vec::new();
        let mut names: HashMap<&str, &Pos> = HashMap::new();
        for s in self.section(Section::Services) {
            if let Some(first) = names.insert(&s.name.value, &s.name.pos) {
                diags.push(
                    Diagnostic::at(
                        &s.name.pos,
                        format!("duplicate service name: {}", s.name.value),
                    )
                    .with_hint(format!(
                        "first used at {first}; services run side by side and need distinct names"
                    )),
                );
            }
        }
        let mut volumes: HashMap<&str, &Pos> = HashMap::new();
        for v in self.volumes.iter().flatten() {
            if let Some(first) = volumes.insert(&v.name.value, &v.name.pos)
                && first.source != v.name.pos.source
            {
                diags.push(
                    Diagnostic::at(
                        &v.name.pos,
                        format!("duplicate volume name: {}", v.name.value),
                    )
                    .with_hint(format!("first declared at {first}")),
                );
            }
        }
        let ids = self.id_map();
        let check_id = |id: &Spanned<Id>, what: &str, diags: &mut Vec<Diagnostic>| {
            if let Id::Name(n) = &id.value
                && !n.is_empty()
                && n != "root"
                && !ids.contains_key(n)
            {
                let hint = crate::diag::did_you_mean(n, ids.keys().map(String::as_str))
                    .map_or_else(|| "use a number, `root`, or the name of an onboot, onshutdown or service container".to_owned(), |c| format!("did you mean `{c}`?"));
                diags.push(
                    Diagnostic::at(&id.pos, format!("`{what}`: cannot find id: {n}"))
                        .with_hint(hint),
                );
            }
        };
        for s in Section::ALL {
            for (i, image) in self.section(s).iter().enumerate() {
                let path = format!("{}[{i}]", s.name());
                let c = &image.config;
                if let Some(id) = &c.uid {
                    check_id(id, &format!("{path}.uid"), &mut diags);
                }
                if let Some(id) = &c.gid {
                    check_id(id, &format!("{path}.gid"), &mut diags);
                }
                for id in c.additional_gids.iter().flatten() {
                    check_id(id, &format!("{path}.additionalGids"), &mut diags);
                }
                for (key, list) in [("binds", &c.binds), ("binds.add", &c.binds_add)] {
                    for b in list.iter().flatten() {
                        if let Err(d) = self.bind_volume(b) {
                            diags.push(Diagnostic {
                                message: format!("`{path}.{key}`: {}", d.message),
                                ..d
                            });
                        }
                    }
                }
                for m in c.mounts.iter().flatten() {
                    if let Err(d) = self.mount_volume(m) {
                        diags.push(Diagnostic {
                            message: format!("`{path}.mounts`: {}", d.message),
                            ..d
                        });
                    }
                }
            }
        }
        for (i, f) in self.files.iter().flatten().enumerate() {
            for (key, id) in [("uid", &f.uid), ("gid", &f.gid)] {
                if let Some(id) = id {
                    check_id(id, &format!("files[{i}].{key}"), &mut diags);
                }
            }
        }
        Diagnostics(diags).sorted().into_result(())
    }

    /// Rewrites a bind whose source is a volume name to the volume's merged directory,
    /// checking read-only volumes are bound `ro`.
    pub fn bind_volume(&self, bind: &Spanned<String>) -> Result<String, Diagnostic> {
        let parts: Vec<&str> = bind.value.split(':').collect();
        if parts[0].starts_with('/') {
            return Ok(bind.value.clone());
        }
        let Some(v) = self.volume(parts[0]) else {
            return Err(self.unknown_volume(&bind.pos, parts[0]));
        };
        if v.readonly && (parts.len() < 3 || parts[2] != "ro") {
            return Err(Diagnostic::at(
                &bind.pos,
                format!(
                    "volume {} is read-only, but attempting to write into container read-write",
                    parts[0]
                ),
            )
            .with_hint(format!(
                "bind it read-only: {}:{}:ro",
                parts[0],
                parts.get(1).unwrap_or(&"")
            )));
        }
        let mut out = vec![v.merged_dir()];
        out.extend(parts[1..].iter().map(|s| (*s).to_owned()));
        Ok(out.join(":"))
    }

    /// The source a `type: bind` mount really uses (a volume's merged directory for a
    /// relative source), checking read-only volumes are mounted `ro`.
    pub fn mount_volume(&self, m: &crate::image::Mount) -> Result<String, Diagnostic> {
        if m.kind != "bind" || m.source.starts_with('/') {
            return Ok(m.source.clone());
        }
        let pos = m
            .pos
            .clone()
            .unwrap_or_else(|| Pos::new(&std::sync::Arc::from("<config>"), 0, 0));
        let Some(v) = self.volume(&m.source) else {
            return Err(self.unknown_volume(&pos, &m.source));
        };
        if v.readonly {
            let first = m
                .options
                .iter()
                .flatten()
                .find(|o| *o == "rw" || *o == "ro");
            if first.map(String::as_str) != Some("ro") {
                return Err(Diagnostic::at(
                    &pos,
                    format!(
                        "volume {} is read-only, but attempting to write into container read-write",
                        m.source
                    ),
                )
                .with_hint("add `ro` to the mount's options"));
            }
        }
        Ok(v.merged_dir())
    }

    fn unknown_volume(&self, pos: &Pos, name: &str) -> Diagnostic {
        let hint = crate::diag::did_you_mean(
            name,
            self.volumes.iter().flatten().map(|v| v.name.value.as_str()),
        )
        .map_or_else(
            || "declare it under `volumes:`, or use an absolute host path".to_owned(),
            |c| format!("did you mean `{c}`?"),
        );
        Diagnostic::at(pos, format!("volume {name} not found")).with_hint(hint)
    }
}
