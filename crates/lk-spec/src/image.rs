//! Image entries of `onboot`, `onshutdown` and `services`, and the `org.mobyproject.config` label.
//!
//! Every field is optional and "present even if empty": `binds: []` in the YAML replaces
//! the label's binds with nothing. Field order and JSON names follow LinuxKit's `Image`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::caps;
use crate::decode::{Ctx, Dropped, Fields, Spanned, join};
use crate::diag::Pos;
use crate::reference::ImageRef;
use crate::yaml::{Node, Value};

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
#[allow(missing_docs)]
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
#[allow(missing_docs)]
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
#[allow(missing_docs)]
pub struct Device {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub major: i64,
    pub minor: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
}

/// A uid/gid mapping. LinuxKit only ever reads `size` from YAML (see ARCHITECTURE.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

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
#[allow(missing_docs)]
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
#[allow(missing_docs)]
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
#[allow(missing_docs)]
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
#[allow(missing_docs)]
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
#[allow(missing_docs)]
pub struct Pids {
    pub limit: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct BlockIo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct Network {
    #[serde(skip_serializing_if = "none_or_empty")]
    pub priorities: Option<Vec<InterfacePriority>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct InterfacePriority {
    pub name: String,
    pub priority: u32,
}

/// Settings applied by the in-VM `service` tool, not part of the OCI spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
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
#[allow(missing_docs)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Interface {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub add: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub peer: String,
    pub create_in_root: bool,
}

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

const CAMEL_DROP: &str = "LinuxKit's YAML decoder only matches lower-case keys here";

const ID_MAPPING_DROPPED: [Dropped; 2] = [
    Dropped {
        key: "containerID",
        why: CAMEL_DROP,
    },
    Dropped {
        key: "hostID",
        why: CAMEL_DROP,
    },
];

/// Decodes an image entry (`name` and `image` required).
pub(crate) fn decode_image(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Image> {
    let fields = ctx.fields(node, path, &CONFIG_KEYS, &[])?;
    let before = ctx.diags.len();
    let name = required_string(ctx, &fields, path, "name");
    if let Some(n) = &name {
        if n.value.is_empty() {
            ctx.error(&n.pos, format!("`{path}.name` is empty"));
        } else if n.value.contains('/') || n.value == "." || n.value == ".." {
            ctx.error_hint(
                &n.pos,
                format!(
                    "`{path}.name` `{}` cannot be used as a directory name",
                    n.value
                ),
                "the name becomes containers/<section>/<name>; use letters, digits, `-`, `_`, `.`",
            );
        }
    }
    let image = required_string(ctx, &fields, path, "image").and_then(|s| {
        match ImageRef::parse(&s.value) {
            Ok(r) => Some(Spanned {
                value: r,
                pos: s.pos,
            }),
            Err(e) => {
                let hint = e.hint.clone();
                ctx.diags.push(
                    crate::diag::Diagnostic::at(&s.pos, format!("`{path}.image`: {e}"))
                        .with_hint_opt(hint),
                );
                None
            }
        }
    });
    let config = decode_config_fields(ctx, &fields, path);
    if ctx.diags.len() != before {
        return None;
    }
    Some(Image {
        name: name?,
        image: image?,
        config,
    })
}

fn required_string(
    ctx: &mut Ctx<'_>,
    fields: &Fields<'_>,
    path: &str,
    key: &str,
) -> Option<Spanned<String>> {
    match fields.get(key) {
        Some(n) => ctx.string(n, &join(path, key)).map(|value| Spanned {
            value,
            pos: n.pos.clone(),
        }),
        None => {
            ctx.error(&fields.pos, format!("`{path}` has no `{key}` (required)"));
            None
        }
    }
}

/// Decodes the `org.mobyproject.config` label's mapping.
pub(crate) fn decode_label(ctx: &mut Ctx<'_>, node: &Node) -> Option<ImageConfig> {
    if !matches!(node.value, Value::Map(_)) {
        ctx.error(
            &node.pos,
            format!("the label must be a mapping, found {}", node.value.kind()),
        );
        return None;
    }
    let fields = ctx.fields(node, "", &CONFIG_KEYS, &[])?;
    for key in ["name", "image"] {
        if let Some(p) = fields.key_pos(key) {
            ctx.error(
                p,
                format!("{key} cannot be set in the org.mobyproject.config label"),
            );
        }
    }
    let before = ctx.diags.len();
    let config = decode_config_fields(ctx, &fields, "");
    (ctx.diags.len() == before).then_some(config)
}

/// Decodes an image configuration mapping at `path` (build.yml `config`).
pub(crate) fn decode_config_at(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<ImageConfig> {
    let known: Vec<&'static str> = CONFIG_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "name" && *k != "image")
        .collect();
    let fields = ctx.fields(node, path, &known, &[])?;
    let before = ctx.diags.len();
    let config = decode_config_fields(ctx, &fields, path);
    (ctx.diags.len() == before).then_some(config)
}

fn decode_config_fields(ctx: &mut Ctx<'_>, f: &Fields<'_>, path: &str) -> ImageConfig {
    let p = |k: &str| join(path, k);
    let mut c = ImageConfig::default();
    if let Some(n) = f.get("capabilities") {
        c.capabilities = capabilities(ctx, n, &p("capabilities"));
    }
    if let Some(n) = f.get("capabilities.add") {
        c.capabilities_add = capabilities(ctx, n, &p("capabilities.add"));
    }
    if let Some(n) = f.get("ambient") {
        c.ambient = capabilities(ctx, n, &p("ambient"));
    }
    if let Some(n) = f.get("mounts") {
        c.mounts = mounts(ctx, n, &p("mounts"), true);
    }
    if let Some(n) = f.get("binds") {
        c.binds = binds(ctx, n, &p("binds"));
    }
    if let Some(n) = f.get("binds.add") {
        c.binds_add = binds(ctx, n, &p("binds.add"));
    }
    if let Some(n) = f.get("devices") {
        c.devices = devices(ctx, n, &p("devices"));
    }
    if let Some(n) = f.get("tmpfs") {
        c.tmpfs = ctx.strings(n, &p("tmpfs"));
        if let (Some(list), Value::Seq(items)) = (&c.tmpfs, &n.value) {
            for (t, item) in list.iter().zip(items) {
                if t.matches(':').count() > 1 {
                    let tp = p("tmpfs");
                    ctx.error_hint(
                        &item.pos,
                        format!("`{tp}`: cannot parse tmpfs `{t}`: too many `:`"),
                        "write destination[:option,option]",
                    );
                } else if t.split(':').next().is_none_or(str::is_empty) {
                    let tp = p("tmpfs");
                    ctx.error(
                        &item.pos,
                        format!("`{tp}`: tmpfs `{t}` has an empty destination"),
                    );
                }
            }
        }
    }
    for (key, slot) in [("command", &mut c.command), ("env", &mut c.env)] {
        if let Some(n) = f.get(key) {
            *slot = ctx.strings(n, &p(key));
        }
    }
    if let (Some(env), Some(Value::Seq(items))) = (&c.env, f.get("env").map(|n| &n.value)) {
        for (e, item) in env.iter().zip(items) {
            if !e.contains('=') {
                ctx.error_hint(
                    &item.pos,
                    format!("`{}` entry `{e}` has no `=`", p("env")),
                    "write NAME=value",
                );
            }
        }
    }
    if let Some(n) = f.get("cwd") {
        c.cwd = ctx.string(n, &p("cwd")).unwrap_or_default();
        if !c.cwd.is_empty() && !c.cwd.starts_with('/') {
            ctx.error(
                &n.pos,
                format!("`{}` must be an absolute path, found `{}`", p("cwd"), c.cwd),
            );
        }
    }
    for (key, slot) in [
        ("net", &mut c.net),
        ("pid", &mut c.pid),
        ("ipc", &mut c.ipc),
        ("uts", &mut c.uts),
        ("userns", &mut c.userns),
    ] {
        if let Some(n) = f.get(key) {
            let v = ctx.string(n, &p(key)).unwrap_or_default();
            let special: &[&str] = if key == "net" {
                &["host", "root", "new", "none"]
            } else {
                &["host", "root", "new"]
            };
            if !v.is_empty() && !special.contains(&v.as_str()) && !v.starts_with('/') {
                ctx.error_hint(
                    &n.pos,
                    format!("`{}` is `{v}`: not a namespace setting", p(key)),
                    format!(
                        "use one of {} or the absolute path of a namespace file",
                        special.join(", ")
                    ),
                );
            }
            *slot = v;
        }
    }
    if let Some(n) = f.get("hostname") {
        c.hostname = ctx.string(n, &p("hostname")).unwrap_or_default();
    }
    if let Some(n) = f.get("readonly") {
        c.readonly = ctx.boolean(n, &p("readonly"));
    }
    if let Some(n) = f.get("maskedPaths") {
        c.masked_paths = ctx.strings(n, &p("maskedPaths"));
    }
    if let Some(n) = f.get("readonlyPaths") {
        c.readonly_paths = ctx.strings(n, &p("readonlyPaths"));
    }
    if let Some(n) = f.get("uid") {
        c.uid = id(ctx, n, &p("uid"));
    }
    if let Some(n) = f.get("gid") {
        c.gid = id(ctx, n, &p("gid"));
    }
    if let Some(n) = f.get("additionalGids") {
        let path = p("additionalGids");
        if let Some(items) = ctx.list(n, &path, "a list of ids") {
            let v: Vec<_> = items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| id(ctx, n, &format!("{path}[{i}]")))
                .collect();
            c.additional_gids = (v.len() == items.len()).then_some(v);
        }
    }
    if let Some(n) = f.get("noNewPrivileges") {
        c.no_new_privileges = ctx.boolean(n, &p("noNewPrivileges"));
    }
    if let Some(n) = f.get("oomScoreAdj") {
        c.oom_score_adj = ctx.int(n, &p("oomScoreAdj"), -1000, 1000).map(|v| v as i64);
    }
    if let Some(n) = f.get("rootfsPropagation") {
        c.rootfs_propagation = ctx.string(n, &p("rootfsPropagation"));
        const MODES: [&str; 8] = [
            "shared",
            "slave",
            "private",
            "unbindable",
            "rshared",
            "rslave",
            "rprivate",
            "runbindable",
        ];
        if let Some(v) = &c.rootfs_propagation
            && !v.is_empty()
            && !MODES.contains(&v.as_str())
        {
            ctx.error_hint(
                &n.pos,
                format!(
                    "`{}` `{v}` is not a propagation mode",
                    p("rootfsPropagation")
                ),
                format!("use one of {}", MODES.join(", ")),
            );
        }
    }
    if let Some(n) = f.get("cgroupsPath") {
        c.cgroups_path = ctx.string(n, &p("cgroupsPath"));
    }
    if let Some(n) = f.get("resources") {
        c.resources = resources(ctx, n, &p("resources"));
    }
    if let Some(n) = f.get("sysctl") {
        c.sysctl = ctx.string_map(n, &p("sysctl"));
    }
    if let Some(n) = f.get("rlimits") {
        c.rlimits = rlimits(ctx, n, &p("rlimits"));
    }
    if let Some(n) = f.get("uidMappings") {
        c.uid_mappings = id_mappings(ctx, n, &p("uidMappings"));
    }
    if let Some(n) = f.get("gidMappings") {
        c.gid_mappings = id_mappings(ctx, n, &p("gidMappings"));
    }
    if let Some(n) = f.get("annotations") {
        c.annotations = ctx.string_map(n, &p("annotations"));
    }
    if let Some(n) = f.get("runtime") {
        c.runtime = runtime(ctx, n, &p("runtime"));
    }
    c
}

fn capabilities(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Vec<String>> {
    let list = ctx.strings(node, path)?;
    let Value::Seq(items) = &node.value else {
        return None;
    };
    let single = list.len() == 1;
    let mut ok = true;
    for (cap, item) in list.iter().zip(items) {
        let lower = cap.to_ascii_lowercase();
        if lower == "all" || lower == "none" {
            if !single {
                ok = false;
                ctx.error_hint(
                    &item.pos,
                    format!("`{path}`: `{cap}` must be the only entry of the list"),
                    format!("write `{path}: [{cap}]` on its own; LinuxKit rejects `{cap}` mixed with other names"),
                );
            }
        } else if !caps::is_known(cap) {
            ok = false;
            let d = crate::diag::Diagnostic::at(
                &item.pos,
                format!("`{path}`: unknown capability `{cap}`"),
            )
            .with_hint_opt(caps::suggest(cap));
            ctx.diags.push(d);
        }
    }
    ok.then_some(list)
}

fn binds(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Vec<Spanned<String>>> {
    let list = ctx.spanned_strings(node, path)?;
    let mut ok = true;
    for b in &list {
        let parts: Vec<&str> = b.value.split(':').collect();
        let problem = match parts.len() {
            0 | 1 => Some(format!("cannot parse bind `{}`: missing `:`", b.value)),
            2 | 3 if parts[0].is_empty() => Some(format!("bind `{}` has an empty source", b.value)),
            2 | 3 if parts[1].is_empty() => {
                Some(format!("bind `{}` has an empty destination", b.value))
            }
            2 | 3 => None,
            _ => Some(format!("cannot parse bind `{}`: too many `:`", b.value)),
        };
        if let Some(m) = problem {
            ok = false;
            ctx.error_hint(
                &b.pos,
                format!("`{path}`: {m}"),
                "write source:destination[:option,option]",
            );
        }
    }
    ok.then_some(list)
}

const MOUNT_KEYS: [&str; 6] = [
    "destination",
    "type",
    "source",
    "options",
    "uidmappings",
    "gidmappings",
];

/// The mount point a mount type gets when none is given.
pub fn default_mountpoint(kind: &str) -> Option<&'static str> {
    match kind {
        "proc" => Some("/proc"),
        "devpts" => Some("/dev/pts"),
        "sysfs" => Some("/sys"),
        "cgroup" => Some("/sys/fs/cgroup"),
        "mqueue" => Some("/dev/mqueue"),
        _ => None,
    }
}

/// Infers a missing `type` from the source (or `/dev`), as LinuxKit does.
pub fn infer_mount_type(m: &Mount) -> Option<String> {
    if !m.kind.is_empty() {
        return Some(m.kind.clone());
    }
    match m.source.as_str() {
        "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup" => Some(m.source.clone()),
        _ if m.destination == "/dev" => Some("tmpfs".to_owned()),
        _ => None,
    }
}

fn mounts(ctx: &mut Ctx<'_>, node: &Node, path: &str, infer: bool) -> Option<Vec<Mount>> {
    let items = ctx.list(node, path, "a list of mounts")?;
    let before = ctx.diags.len();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let Some(f) = ctx.fields(item, &ip, &MOUNT_KEYS, &[]) else {
            continue;
        };
        let mut m = Mount {
            destination: String::new(),
            kind: String::new(),
            source: String::new(),
            options: None,
            uid_mappings: None,
            gid_mappings: None,
            pos: Some(item.pos.clone()),
        };
        for (key, slot) in [
            ("destination", &mut m.destination),
            ("type", &mut m.kind),
            ("source", &mut m.source),
        ] {
            if let Some(n) = f.get(key) {
                *slot = ctx.string(n, &join(&ip, key)).unwrap_or_default();
            }
        }
        if let Some(n) = f.get("options") {
            m.options = ctx.strings(n, &join(&ip, "options"));
        }
        if let Some(n) = f.get("uidmappings") {
            m.uid_mappings = id_mappings(ctx, n, &join(&ip, "uidmappings"));
        }
        if let Some(n) = f.get("gidmappings") {
            m.gid_mappings = id_mappings(ctx, n, &join(&ip, "gidmappings"));
        }
        if infer {
            match infer_mount_type(&m) {
                None => ctx.error_hint(
                    &item.pos,
                    format!(
                        "`{ip}`: mount for destination `{}` is missing type",
                        m.destination
                    ),
                    "add `type:` (bind, tmpfs, proc, ...)",
                ),
                Some(kind) => {
                    if m.destination.is_empty() && default_mountpoint(&kind).is_none() {
                        ctx.error_hint(
                            &item.pos,
                            format!("`{ip}`: mount type {kind} is missing destination"),
                            "add `destination:`",
                        );
                    }
                }
            }
        }
        out.push(m);
    }
    (ctx.diags.len() == before).then_some(out)
}

fn devices(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Vec<Device>> {
    let items = ctx.list(node, path, "a list of devices")?;
    let before = ctx.diags.len();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let Some(f) = ctx.fields(item, &ip, &["path", "type", "major", "minor", "mode"], &[])
        else {
            continue;
        };
        let mut d = Device {
            path: String::new(),
            kind: String::new(),
            major: 0,
            minor: 0,
            mode: String::new(),
        };
        let typed = ctx.diags.len();
        for (key, slot) in [
            ("path", &mut d.path),
            ("type", &mut d.kind),
            ("mode", &mut d.mode),
        ] {
            if let Some(n) = f.get(key) {
                *slot = ctx.string(n, &join(&ip, key)).unwrap_or_default();
            }
        }
        if ctx.diags.len() != typed {
            continue;
        }
        for (key, slot) in [("major", &mut d.major), ("minor", &mut d.minor)] {
            if let Some(n) = f.get(key) {
                *slot = ctx
                    .int(n, &join(&ip, key), -1, i128::from(u32::MAX))
                    .unwrap_or_default() as i64;
            }
        }
        if d.path.is_empty() {
            ctx.error_hint(
                &item.pos,
                format!("`{ip}` has no `path`"),
                "give the device path, or `all` for a whole device class",
            );
        }
        let kinds: &[&str] = if d.path == "all" {
            &["a", "b", "c"]
        } else {
            &["b", "c", "u", "p"]
        };
        if !kinds.contains(&d.kind.as_str()) {
            ctx.error_hint(
                &item.pos,
                format!("`{ip}.type` `{}` is not a device type", d.kind),
                format!("use one of {}", kinds.join(", ")),
            );
        }
        if d.path != "all" && !d.path.is_empty() && parse_octal_mode(&d.mode).is_none() {
            let pos = f.get("mode").map_or(&item.pos, |n| &n.pos);
            ctx.error_hint(
                pos,
                format!(
                    "`{ip}.mode` `{}`: cannot parse device mode as octal value",
                    d.mode
                ),
                "write the mode as a quoted octal string, such as \"0666\"",
            );
        }
        out.push(d);
    }
    (ctx.diags.len() == before).then_some(out)
}

/// Parses an octal mode string as Go's `strconv.ParseInt(s, 8, 32)` does.
pub fn parse_octal_mode(s: &str) -> Option<u32> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|v| *v <= 0o7777)
}

fn id(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Spanned<Id>> {
    let value = match &node.value {
        Value::Int(_) => Id::Num(ctx.int(node, path, 0, i128::from(u32::MAX))? as u32),
        Value::Str { .. } => Id::Name(ctx.string(node, path)?),
        _ => {
            ctx.error(
                &node.pos,
                format!(
                    "`{path}` must be a number or a container name, found {}",
                    node.value.kind()
                ),
            );
            return None;
        }
    };
    Some(Spanned {
        value,
        pos: node.pos.clone(),
    })
}

const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// Parses `name,soft,hard` as LinuxKit does.
pub fn parse_rlimit(s: &str) -> Result<Rlimit, (String, Option<String>)> {
    let parts: Vec<&str> = s.splitn(3, ',').collect();
    let [name, soft, hard] = parts[..] else {
        return Err((
            format!("cannot parse rlimit `{s}`"),
            Some("write name,soft,hard such as nofile,1024,4096".to_owned()),
        ));
    };
    let mut kind = name.trim().to_ascii_uppercase();
    if !kind.starts_with("RLIMIT_") {
        kind = format!("RLIMIT_{kind}");
    }
    if !RLIMITS.contains(&kind.as_str()) {
        let hint =
            crate::diag::did_you_mean(&kind, RLIMITS).map(|c| format!("did you mean `{c}`?"));
        return Err((
            format!("unknown limit `{}` in rlimit `{s}`", name.trim()),
            hint,
        ));
    }
    let number = |t: &str| -> Result<u64, (String, Option<String>)> {
        let t = t.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(u64::MAX);
        }
        t.parse::<u64>().map_err(|_| {
            (
                format!("cannot parse `{t}` in rlimit `{s}` as a number"),
                Some("use a non-negative number or `unlimited`".to_owned()),
            )
        })
    };
    Ok(Rlimit {
        raw: s.to_owned(),
        kind,
        soft: number(soft)?,
        hard: number(hard)?,
    })
}

fn rlimits(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Vec<Rlimit>> {
    let list = ctx.spanned_strings(node, path)?;
    let mut out = Vec::new();
    let mut ok = true;
    for s in list {
        match parse_rlimit(&s.value) {
            Ok(r) => out.push(r),
            Err((m, hint)) => {
                ok = false;
                ctx.diags.push(
                    crate::diag::Diagnostic::at(&s.pos, format!("`{path}`: {m}"))
                        .with_hint_opt(hint),
                );
            }
        }
    }
    ok.then_some(out)
}

fn id_mappings(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Vec<IdMapping>> {
    let items = ctx.list(node, path, "a list of id mappings")?;
    let before = ctx.diags.len();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let Some(f) = ctx.fields(item, &ip, &["size"], &ID_MAPPING_DROPPED) else {
            continue;
        };
        let size = f
            .get("size")
            .and_then(|n| ctx.int(n, &join(&ip, "size"), 0, i128::from(u32::MAX)))
            .unwrap_or(0) as u32;
        out.push(IdMapping {
            container_id: 0,
            host_id: 0,
            size,
        });
    }
    (ctx.diags.len() == before).then_some(out)
}

fn opt_int(
    ctx: &mut Ctx<'_>,
    f: &Fields<'_>,
    path: &str,
    key: &str,
    min: i128,
    max: i128,
) -> Option<i128> {
    f.get(key)
        .and_then(|n| ctx.int(n, &join(path, key), min, max))
}

fn resources(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Resources> {
    const I64: (i128, i128) = (i64::MIN as i128, i64::MAX as i128);
    const U64: (i128, i128) = (0, u64::MAX as i128);
    let before = ctx.diags.len();
    let f = ctx.fields(
        node,
        path,
        &["devices", "memory", "cpu", "pids", "blockio", "network"],
        &[Dropped {
            key: "hugepageLimits",
            why: CAMEL_DROP,
        }],
    )?;
    let mut r = Resources::default();
    if let Some(n) = f.get("devices") {
        let dp = join(path, "devices");
        if let Some(items) = ctx.list(n, &dp, "a list of device rules") {
            let mut rules = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ip = format!("{dp}[{i}]");
                let Some(df) = ctx.fields(
                    item,
                    &ip,
                    &["allow", "type", "major", "minor", "access"],
                    &[],
                ) else {
                    continue;
                };
                let mut rule = DeviceCgroup::default();
                if let Some(n) = df.get("allow") {
                    rule.allow = ctx.boolean(n, &join(&ip, "allow")).unwrap_or_default();
                }
                for (key, slot) in [("type", &mut rule.kind), ("access", &mut rule.access)] {
                    if let Some(n) = df.get(key) {
                        *slot = ctx.string(n, &join(&ip, key)).unwrap_or_default();
                    }
                }
                rule.major = opt_int(ctx, &df, &ip, "major", I64.0, I64.1).map(|v| v as i64);
                rule.minor = opt_int(ctx, &df, &ip, "minor", I64.0, I64.1).map(|v| v as i64);
                rules.push(rule);
            }
            r.devices = Some(rules);
        }
    }
    if let Some(n) = f.get("memory") {
        let mp = join(path, "memory");
        let dropped = [
            Dropped {
                key: "kernelTCP",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "disableOOMKiller",
                why: CAMEL_DROP,
            },
        ];
        if let Some(mf) = ctx.fields(
            n,
            &mp,
            &["limit", "reservation", "swap", "kernel", "swappiness"],
            &dropped,
        ) {
            r.memory = Some(Memory {
                limit: opt_int(ctx, &mf, &mp, "limit", I64.0, I64.1).map(|v| v as i64),
                reservation: opt_int(ctx, &mf, &mp, "reservation", I64.0, I64.1).map(|v| v as i64),
                swap: opt_int(ctx, &mf, &mp, "swap", I64.0, I64.1).map(|v| v as i64),
                kernel: opt_int(ctx, &mf, &mp, "kernel", I64.0, I64.1).map(|v| v as i64),
                swappiness: opt_int(ctx, &mf, &mp, "swappiness", U64.0, U64.1).map(|v| v as u64),
            });
        }
    }
    if let Some(n) = f.get("cpu") {
        let cp = join(path, "cpu");
        let dropped = [
            Dropped {
                key: "realtimeRuntime",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "realtimePeriod",
                why: CAMEL_DROP,
            },
        ];
        if let Some(cf) = ctx.fields(
            n,
            &cp,
            &["shares", "quota", "period", "cpus", "mems"],
            &dropped,
        ) {
            let mut cpu = Cpu {
                shares: opt_int(ctx, &cf, &cp, "shares", U64.0, U64.1).map(|v| v as u64),
                quota: opt_int(ctx, &cf, &cp, "quota", I64.0, I64.1).map(|v| v as i64),
                period: opt_int(ctx, &cf, &cp, "period", U64.0, U64.1).map(|v| v as u64),
                ..Cpu::default()
            };
            for (key, slot) in [("cpus", &mut cpu.cpus), ("mems", &mut cpu.mems)] {
                if let Some(n) = cf.get(key) {
                    *slot = ctx.string(n, &join(&cp, key)).unwrap_or_default();
                }
            }
            r.cpu = Some(cpu);
        }
    }
    if let Some(n) = f.get("pids") {
        let pp = join(path, "pids");
        if let Some(pf) = ctx.fields(n, &pp, &["limit"], &[]) {
            r.pids = Some(Pids {
                limit: opt_int(ctx, &pf, &pp, "limit", I64.0, I64.1).unwrap_or(0) as i64,
            });
        }
    }
    if let Some(n) = f.get("blockio") {
        let bp = join(path, "blockio");
        let dropped = [
            Dropped {
                key: "leafWeight",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "weightDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleReadBpsDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleWriteBpsDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleReadIOPSDevice",
                why: CAMEL_DROP,
            },
            Dropped {
                key: "throttleWriteIOPSDevice",
                why: CAMEL_DROP,
            },
        ];
        if let Some(bf) = ctx.fields(n, &bp, &["weight"], &dropped) {
            r.blockio = Some(BlockIo {
                weight: opt_int(ctx, &bf, &bp, "weight", 0, i128::from(u16::MAX)).map(|v| v as u16),
            });
        }
    }
    if let Some(n) = f.get("network") {
        let np = join(path, "network");
        let dropped = [Dropped {
            key: "classID",
            why: CAMEL_DROP,
        }];
        if let Some(nf) = ctx.fields(n, &np, &["priorities"], &dropped) {
            let mut net = Network::default();
            if let Some(pn) = nf.get("priorities") {
                let pp = join(&np, "priorities");
                if let Some(items) = ctx.list(pn, &pp, "a list of interface priorities") {
                    let mut v = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{pp}[{i}]");
                        if let Some(pf) = ctx.fields(item, &ip, &["name", "priority"], &[]) {
                            let name = pf
                                .get("name")
                                .and_then(|n| ctx.string(n, &join(&ip, "name")))
                                .unwrap_or_default();
                            let priority =
                                opt_int(ctx, &pf, &ip, "priority", 0, i128::from(u32::MAX))
                                    .unwrap_or(0) as u32;
                            v.push(InterfacePriority { name, priority });
                        }
                    }
                    net.priorities = Some(v);
                }
            }
            r.network = Some(net);
        }
    }
    (ctx.diags.len() == before).then_some(r)
}

fn runtime(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Runtime> {
    let before = ctx.diags.len();
    let f = ctx.fields(
        node,
        path,
        &[
            "cgroups",
            "mounts",
            "mkdir",
            "interfaces",
            "bindNS",
            "namespace",
        ],
        &[],
    )?;
    let mut r = Runtime::default();
    if let Some(n) = f.get("cgroups") {
        r.cgroups = ctx.strings(n, &join(path, "cgroups"));
    }
    if let Some(n) = f.get("mounts") {
        r.mounts = mounts(ctx, n, &join(path, "mounts"), false);
    }
    if let Some(n) = f.get("mkdir") {
        r.mkdir = ctx.strings(n, &join(path, "mkdir"));
    }
    if let Some(n) = f.get("interfaces") {
        let ip = join(path, "interfaces");
        if let Some(items) = ctx.list(n, &ip, "a list of interfaces") {
            let mut v = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ep = format!("{ip}[{i}]");
                let Some(inf) =
                    ctx.fields(item, &ep, &["name", "add", "peer", "createInRoot"], &[])
                else {
                    continue;
                };
                let mut iface = Interface::default();
                for (key, slot) in [
                    ("name", &mut iface.name),
                    ("add", &mut iface.add),
                    ("peer", &mut iface.peer),
                ] {
                    if let Some(n) = inf.get(key) {
                        *slot = ctx.string(n, &join(&ep, key)).unwrap_or_default();
                    }
                }
                if let Some(n) = inf.get("createInRoot") {
                    iface.create_in_root = ctx
                        .boolean(n, &join(&ep, "createInRoot"))
                        .unwrap_or_default();
                }
                if iface.name.is_empty() {
                    ctx.error_hint(
                        &item.pos,
                        format!("`{ep}` has no `name`"),
                        "name the interface to move or create",
                    );
                }
                v.push(iface);
            }
            r.interfaces = Some(v);
        }
    }
    if let Some(n) = f.get("bindNS") {
        let bp = join(path, "bindNS");
        if let Some(bf) = ctx.fields(
            n,
            &bp,
            &["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"],
            &[],
        ) {
            let b = &mut r.bind_ns;
            for (key, slot) in [
                ("cgroup", &mut b.cgroup),
                ("ipc", &mut b.ipc),
                ("mnt", &mut b.mnt),
                ("net", &mut b.net),
                ("pid", &mut b.pid),
                ("user", &mut b.user),
                ("uts", &mut b.uts),
            ] {
                if let Some(n) = bf.get(key) {
                    *slot = ctx.string(n, &join(&bp, key));
                }
            }
        }
    }
    if let Some(n) = f.get("namespace") {
        r.namespace = ctx.string(n, &join(path, "namespace"));
    }
    (ctx.diags.len() == before).then_some(r)
}
