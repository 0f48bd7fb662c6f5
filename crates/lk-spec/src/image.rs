//! Image entries of `onboot`, `onshutdown` and `services`, and the `org.mobyproject.config` label.
//!
//! Every field is optional and "present even if empty": `binds: []` in the YAML replaces
//! the label's binds with nothing. Field order and JSON names follow LinuxKit's `Image`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decode::Spanned;
use crate::diag::Pos;
use crate::reference::ImageRef;

/// One container entry: its name, its image and its configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Image {
    /// Bundle directory name and container id.
    pub name: Spanned<String>,
    /// The image reference (after `@pkg:` resolution); serialized in canonical form, as
    /// LinuxKit's metadata dump does.
    #[serde(serialize_with = "ser_ref")]
    pub image: Spanned<ImageRef>,
    /// Everything else.
    #[serde(flatten)]
    pub config: ImageConfig,
}

fn ser_ref<S: serde::Serializer>(r: &Spanned<ImageRef>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.value.canonical())
}

pub(crate) fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// A user or group: a number, or the name of a container (mapped to its allocated id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id.
    Num(u32),
    /// `root`, `""`, or a container name.
    Name(String),
}

/// The configuration part of an entry: what may also come from the image label.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    #[serde(rename = "capabilities.add", skip_serializing_if = "Option::is_none")]
    pub capabilities_add: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binds: Option<Vec<Spanned<String>>>,
    #[serde(rename = "binds.add", skip_serializing_if = "Option::is_none")]
    pub binds_add: Option<Vec<Spanned<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Empty means unset (as in LinuxKit).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cwd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub net: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipc: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uts: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub userns: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Spanned<Id>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<Spanned<Id>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_gids: Option<Vec<Spanned<Id>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctl: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rlimits: Option<Vec<Rlimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
}

/// A mount as written (`type`/`source`/`destination` may be inferred later).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid_mappings: Option<Vec<IdMapping>>,
    #[serde(skip)]
    pub pos: Option<Pos>,
}

/// A device node made available to the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Device {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub major: i64,
    pub minor: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
}

/// A uid/gid mapping (the bundle contract's). LinuxKit only ever reads `size` from YAML
/// (see ARCHITECTURE.md).
pub use lk_bundle::IdMapping;

/// `name,soft,hard`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// The string as written.
    pub raw: String,
    /// `RLIMIT_*`.
    pub kind: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

impl Serialize for Rlimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

/// The resource keys LinuxKit really applies (single-word keys; see ARCHITECTURE.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "none_or_empty")]
    pub devices: Option<Vec<DeviceCgroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    #[serde(rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub blockio: Option<BlockIo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// A device cgroup rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeviceCgroup {
    pub allow: bool,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cpu {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cpus: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mems: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pids {
    pub limit: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlockIo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    #[serde(skip_serializing_if = "none_or_empty")]
    pub priorities: Option<Vec<InterfacePriority>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InterfacePriority {
    pub name: String,
    pub priority: u32,
}

/// Settings applied by the in-VM `service` tool, not part of the OCI spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Runtime {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mkdir: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<Interface>>,
    #[serde(rename = "bindNS")]
    pub bind_ns: BindNs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Paths to bind-mount a container's namespaces to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BindNs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
}

/// A network interface to move into or create for the container.
pub use lk_bundle::Interface;

/// Keys valid in an image entry besides `name` and `image` (and in the label).
pub const CONFIG_KEYS: [&str; 36] = [
    "capabilities",
    "capabilities.add",
    "ambient",
    "mounts",
    "binds",
    "binds.add",
    "devices",
    "tmpfs",
    "command",
    "env",
    "cwd",
    "net",
    "pid",
    "ipc",
    "uts",
    "userns",
    "hostname",
    "readonly",
    "maskedPaths",
    "readonlyPaths",
    "uid",
    "gid",
    "additionalGids",
    "noNewPrivileges",
    "oomScoreAdj",
    "rootfsPropagation",
    "cgroupsPath",
    "resources",
    "sysctl",
    "rlimits",
    "uidMappings",
    "gidMappings",
    "annotations",
    "runtime",
    "name",
    "image",
];

mod fields;
mod resources;

pub(crate) use fields::{decode_config_at, decode_image, decode_label};
pub use fields::{default_mountpoint, infer_mount_type, parse_octal_mode, parse_rlimit};
