//! The spec a bundle runs with. The bundle under `/containers` is read-only and its
//! `config.json` says `root.path: "rootfs"`; like LinuxKit's `service start`, we make the root
//! absolute and run from a copy in `/run/lk-service/bundles/<id>` (also what `--dump-spec`
//! shows). A missing `cgroupsPath` becomes `/<group>/<id>` (containerd's `/<namespace>/<id>`
//! for services, so cgroups look the same as under LinuxKit), and a process without `PATH`
//! gets [`DEFAULT_PATH`].

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::Error;

/// The PATH a process gets when its image sets none (Docker's default; libcontainer
/// refuses to start a process without PATH, runc does not care).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the runnable copies live.
pub const STATE: &str = "/run/lk-service/bundles";

/// The bundles in a section directory (subdirectories with a `config.json`), by name.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("config.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Reads `<bundle>/config.json` and returns the spec to run.
pub fn spec_for(bundle: &Path, cgroup_group: &str, id: &str) -> Result<Spec, Error> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    // serde_json directly (not Spec::load) for errors with line, column and field.
    let mut spec: Spec = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.clone(),
        source: e,
    })?;
    let mut root = spec.root().clone().unwrap_or_default();
    let rel = if root.path().as_os_str().is_empty() {
        PathBuf::from("rootfs")
    } else {
        root.path().clone()
    };
    root.set_path(bundle.join(rel));
    spec.set_root(Some(root));
    if let Some(mut process) = spec.process().clone() {
        let mut env = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.to_owned());
            process.set_env(Some(env));
            spec.set_process(Some(process));
        }
    }
    if let Some(linux) = spec.linux_mut() {
        let unset = linux
            .cgroups_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty());
        if unset {
            linux.set_cgroups_path(Some(PathBuf::from(format!("/{cgroup_group}/{id}"))));
        }
    }
    Ok(spec)
}

/// Writes the spec as `<state>/<id>/config.json` and returns that directory (the bundle
/// the runtime is given).
pub fn write(state: &Path, id: &str, spec: &Spec) -> Result<PathBuf, Error> {
    let dir = state.join(id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let path = dir.join("config.json");
    let tmp = dir.join(".config.json.tmp");
    spec.save(&tmp).map_err(|e| Error::Spec {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_our_build_writes_loads_and_gets_an_absolute_root() {
        let dir = std::env::temp_dir().join(format!("lk-service-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = 0;
        for (path, text) in crate::testdata::golden("config.json") {
            std::fs::write(dir.join("config.json"), &text).unwrap();
            let spec = spec_for(&dir, "services.linuxkit", "web")
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(spec.root().as_ref().unwrap().path(), &dir.join("rootfs"));
            let cg = spec
                .linux()
                .as_ref()
                .unwrap()
                .cgroups_path()
                .clone()
                .unwrap();
            assert!(!cg.as_os_str().is_empty(), "{path}");
            n += 1;
        }
        assert!(n > 10, "only {n} golden config.json files");
        let spec = spec_for(&dir, "services.linuxkit", "web").unwrap();
        let out = write(&dir.join("state"), "web", &spec).unwrap();
        assert!(out.join("config.json").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
