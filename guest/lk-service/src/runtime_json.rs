//! `runtime.json`: the LinuxKit runtime actions the host writes next to each bundle's
//! `config.json` (cgroups, mounts, mkdir, interfaces, bindNS, namespace). Every key is
//! optional and `null` counts as absent (Go writes `null` for nil slices).

use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::Error;

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    /// Cgroup directories to create (no limits are written).
    #[serde(deserialize_with = "null_default")]
    pub cgroups: Vec<String>,
    /// Mounts made in the root mount namespace before the container is created.
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<Mount>,
    /// Directories to create (absolute, or relative to the bundle's rootfs).
    #[serde(deserialize_with = "null_default")]
    pub mkdir: Vec<String>,
    /// Network interfaces to create or move into the container.
    #[serde(deserialize_with = "null_default")]
    pub interfaces: Vec<Interface>,
    /// Where to bind-mount the container's namespaces.
    #[serde(rename = "bindNS", alias = "bindns", deserialize_with = "null_default")]
    pub bind_ns: BindNs,
    /// containerd namespace of a service (kept for `service list`).
    #[serde(deserialize_with = "null_default")]
    pub namespace: String,
}

/// One mount.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Mount {
    #[serde(deserialize_with = "null_default")]
    pub destination: String,
    #[serde(rename = "type", deserialize_with = "null_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_default")]
    pub source: String,
    #[serde(deserialize_with = "null_default")]
    pub options: Vec<String>,
}

/// One interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Interface {
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub add: String,
    #[serde(deserialize_with = "null_default")]
    pub peer: String,
    #[serde(rename = "createInRoot", alias = "createinroot")]
    pub create_in_root: bool,
}

/// Namespace bind paths (empty = not bound).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct BindNs {
    #[serde(deserialize_with = "null_default")]
    pub cgroup: String,
    #[serde(deserialize_with = "null_default")]
    pub ipc: String,
    #[serde(deserialize_with = "null_default")]
    pub mnt: String,
    #[serde(deserialize_with = "null_default")]
    pub net: String,
    #[serde(deserialize_with = "null_default")]
    pub pid: String,
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    #[serde(deserialize_with = "null_default")]
    pub uts: String,
}

impl BindNs {
    /// `(namespace type, path)` for every bound namespace, in LinuxKit's order.
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        [
            ("cgroup", &self.cgroup),
            ("ipc", &self.ipc),
            ("mnt", &self.mnt),
            ("net", &self.net),
            ("pid", &self.pid),
            ("user", &self.user),
            ("uts", &self.uts),
        ]
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(n, p)| (n, p.as_str()))
        .collect()
    }
}

impl RuntimeConfig {
    /// Parses the text of a `runtime.json`.
    pub fn parse(text: &str) -> Result<RuntimeConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads `<bundle>/runtime.json`; a missing file is the empty configuration.
    pub fn load(bundle: &Path) -> Result<RuntimeConfig, Error> {
        let path = bundle.join("runtime.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => RuntimeConfig::parse(&text).map_err(|e| Error::Json {
                path: path.clone(),
                source: e,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RuntimeConfig::default()),
            Err(e) => Err(Error::Io { path, source: e }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_output_with_nulls_and_missing_keys() {
        let c = RuntimeConfig::parse(
            r#"{"cgroups": null, "mounts": [{"destination": "/x", "options": null}],
                "bindNS": {"net": "/run/netns/wg0"}, "interfaces": [{"name": "wg0", "add": "wireguard", "createInRoot": true}]}"#,
        )
        .unwrap();
        assert!(c.cgroups.is_empty());
        assert_eq!(c.mounts[0].destination, "/x");
        assert_eq!(c.bind_ns.entries(), [("net", "/run/netns/wg0")]);
        assert!(c.interfaces[0].create_in_root);
        assert_eq!(
            RuntimeConfig::parse("{}").unwrap(),
            RuntimeConfig::default()
        );
    }

    #[test]
    fn a_missing_file_is_empty_and_a_bad_one_names_its_path() {
        let dir = std::env::temp_dir().join(format!("lk-service-rj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(RuntimeConfig::load(&dir).unwrap(), RuntimeConfig::default());
        std::fs::write(dir.join("runtime.json"), "{bad").unwrap();
        let e = RuntimeConfig::load(&dir).unwrap_err().to_string();
        assert!(e.contains("runtime.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_every_runtime_json_our_build_writes() {
        // The host side (lk-spec's golden files) and this reader agree on every key.
        let mut n = 0;
        for (path, text) in crate::testdata::golden("runtime.json") {
            let c = RuntimeConfig::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(c.mounts.iter().all(|m| !m.destination.is_empty()), "{path}");
            n += 1;
        }
        assert!(n > 10, "only {n} golden runtime.json files");
    }
}
