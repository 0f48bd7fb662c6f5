//! The contract between the host, which writes each container bundle's `runtime.json` (and
//! `config.json`'s mounts), and the in-VM `service`, which reads it: the LinuxKit runtime
//! actions (cgroups, mounts, mkdir, interfaces, bindNS, namespace). Types only, serde only.
//!
//! Serialization is what LinuxKit writes (field order, names, omitted empties); reading is
//! lenient as LinuxKit's Go reader is: every key optional, `null` counts as absent.

use serde::{Deserialize, Deserializer, Serialize};

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The whole `runtime.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// A mount in `runtime.json` or `config.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Mount {
    /// Where.
    #[serde(deserialize_with = "null_default")]
    pub destination: String,
    /// Filesystem type (`bind`, `tmpfs`, `overlay`, ...).
    #[serde(
        rename = "type",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub kind: String,
    /// What.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub source: String,
    /// Mount options.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub options: Vec<String>,
    /// User namespace mappings of an idmapped mount.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub uid_mappings: Vec<IdMapping>,
    /// Group mappings of an idmapped mount.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub gid_mappings: Vec<IdMapping>,
}

impl Mount {
    /// A mount without id mappings.
    pub fn new(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            destination: destination.to_owned(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            options: options.iter().map(|s| (*s).to_owned()).collect(),
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        }
    }
}

/// A uid/gid mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdMapping {
    /// First id inside.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// First id outside.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// How many.
    pub size: u32,
}

/// A network interface to create (`add`) or move into the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Interface {
    /// Its name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub name: String,
    /// The link type to create (`veth`, `wireguard`, ...).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub add: String,
    /// A veth's other end.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub peer: String,
    /// Create it in the root namespace, then move it.
    #[serde(alias = "createinroot")]
    pub create_in_root: bool,
}

/// Namespace bind paths, each always written (empty = not bound).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BindNs {
    /// cgroup namespace.
    #[serde(deserialize_with = "null_default")]
    pub cgroup: String,
    /// IPC namespace.
    #[serde(deserialize_with = "null_default")]
    pub ipc: String,
    /// Mount namespace.
    #[serde(deserialize_with = "null_default")]
    pub mnt: String,
    /// Network namespace.
    #[serde(deserialize_with = "null_default")]
    pub net: String,
    /// PID namespace.
    #[serde(deserialize_with = "null_default")]
    pub pid: String,
    /// User namespace.
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    /// UTS namespace.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_host_writes_the_guest_reads_back() {
        let rt = RuntimeConfig {
            cgroups: vec!["/sys/fs/cgroup/x".into()],
            mounts: vec![Mount::new("/a", "bind", "/b", &["rbind"])],
            interfaces: vec![Interface {
                name: "wg0".into(),
                add: "wireguard".into(),
                create_in_root: true,
                ..Interface::default()
            }],
            bind_ns: BindNs {
                net: "/run/netns/wg0".into(),
                ..BindNs::default()
            },
            ..RuntimeConfig::default()
        };
        let text = serde_json::to_string(&rt).unwrap();
        assert!(text.contains(r#""bindNS":{"cgroup":"","#), "{text}");
        assert!(text.contains(r#""createInRoot":true"#), "{text}");
        assert!(!text.contains("uidMappings"), "{text}");
        let back: RuntimeConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rt);
    }

    #[test]
    fn reads_go_output_with_nulls_and_missing_keys() {
        let c: RuntimeConfig = serde_json::from_str(
            r#"{"cgroups": null, "mounts": [{"destination": "/x", "options": null}],
                "bindNS": {"net": "/run/netns/wg0"}, "interfaces": [{"name": "wg0", "add": "wireguard", "createInRoot": true}]}"#,
        )
        .unwrap();
        assert!(c.cgroups.is_empty());
        assert_eq!(c.mounts[0].destination, "/x");
        assert_eq!(c.bind_ns.entries(), [("net", "/run/netns/wg0")]);
        assert!(c.interfaces[0].create_in_root);
        let empty: RuntimeConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, RuntimeConfig::default());
    }
}
