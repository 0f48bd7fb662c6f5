//! Config -> OCI: `config.json` and `runtime.json` for one container, following LinuxKit's
//! `ConfigToOCI` (YAML over label over image config; "present, even if empty").
//!
//! The output types mirror runtime-spec v1.2.1's Go structs field for field, so that
//! [`crate::gojson`] writes the same bytes as LinuxKit.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::caps;
use crate::config::Config;
use crate::decode::{Ctx, Source, Spanned};
use crate::diag::{Diagnostic, Diagnostics};
use crate::image::{self, Device, DeviceCgroup, IdMapping, Image, ImageConfig, Resources};
use crate::yaml;

pub use lk_bundle::{BindNs, Mount, RuntimeConfig};

/// The OCI runtime-spec version LinuxKit writes.
pub const OCI_VERSION: &str = "1.2.1";

/// The label carrying a package's default configuration.
pub const CONFIG_LABEL: &str = "org.mobyproject.config";

/// What the build knows about an image from its OCI config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
}

/// Creating the OCI files for one container failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the OCI config for {name} ({image})")]
pub struct OciError {
    /// The container name.
    pub name: String,
    /// The image reference as written.
    pub image: String,
    /// What is wrong.
    #[source]
    pub problems: Diagnostics,
}

/// Parses and validates an `org.mobyproject.config` label (YAML or JSON).
pub fn parse_label(image: &str, text: &str) -> Result<ImageConfig, Diagnostics> {
    let source = Source::named(&format!("{image} label {CONFIG_LABEL}"));
    let node = yaml::parse(&source.name, text)?;
    let mut ctx = Ctx::new(&source, None);
    let config = image::decode_label(&mut ctx, &node);
    let config = Diagnostics(ctx.diags).sorted().into_result(config)?;
    Ok(config.unwrap_or_default())
}

/// `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spec {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub process: Process,
    pub root: Root,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub linux: Linux,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub user: User,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Capabilities,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<PosixRlimit>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_new_privileges: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Capabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bounding: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effective: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inheritable: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permitted: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambient: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PosixRlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Root {
    pub path: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
}

/// A mount of `runtime.json`'s shape from the YAML.
fn mount_from_yaml(m: &image::Mount) -> Mount {
    Mount {
        destination: m.destination.clone(),
        kind: m.kind.clone(),
        source: m.source.clone(),
        options: m.options.clone().unwrap_or_default(),
        uid_mappings: m.uid_mappings.clone().unwrap_or_default(),
        gid_mappings: m.gid_mappings.clone().unwrap_or_default(),
    }
}
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    pub resources: Resources,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroups_path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<LinuxDevice>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rootfs_propagation: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxDevice {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub major: i64,
    pub minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
}

/// Prepends to `runtime` the mounts that make the bundle's `rootfs`: an overlay of
/// `lower_root` with a tmpfs upper layer, or for a read-only container a bind of
/// `lower_root` (the bundle's own `rootfs`, or where an identical image was unpacked first).
/// Paths are relative.
pub fn prepend_rootfs(runtime: &mut RuntimeConfig, bundle: &str, lower_root: &str, readonly: bool) {
    {
        let rootfs = format!("/{bundle}/rootfs");
        let mut mounts = if readonly {
            vec![Mount::new(
                &rootfs,
                "",
                &format!("/{lower_root}"),
                &["bind"],
            )]
        } else {
            let tmp = format!("/{bundle}/tmp");
            vec![
                Mount::new(&tmp, "tmpfs", "tmpfs", &[]),
                Mount::new(&tmp, "", "", &["remount", "private"]),
                Mount::new(
                    &rootfs,
                    "overlay",
                    "overlay",
                    &[
                        &format!("lowerdir=/{lower_root}"),
                        &format!("upperdir={tmp}/upper"),
                        &format!("workdir={tmp}/work"),
                    ],
                ),
            ]
        };
        mounts.append(&mut runtime.mounts);
        runtime.mounts = mounts;
    }
}

/// `yaml` if set, else `label`.
fn pick<'a, T>(yaml: &'a Option<T>, label: &'a Option<T>) -> Option<&'a T> {
    yaml.as_ref().or(label.as_ref())
}

/// The first non-empty string.
fn first_set<'a>(values: &[&'a str]) -> &'a str {
    values.iter().copied().find(|s| !s.is_empty()).unwrap_or("")
}

/// Builds `config.json` and `runtime.json` (without the rootfs mounts) for `entry`.
///
/// `config` supplies the container-name ids and the volumes that binds may name.
pub fn config_to_oci(
    entry: &Image,
    info: &ImageInfo,
    config: &Config,
) -> Result<(Spec, RuntimeConfig), OciError> {
    let fail = |problems: Diagnostics| OciError {
        name: entry.name.value.clone(),
        image: entry.image.value.original().to_owned(),
        problems,
    };
    let label = match info.labels.get(CONFIG_LABEL).filter(|l| !l.is_empty()) {
        Some(text) => parse_label(entry.image.value.original(), text).map_err(fail)?,
        None => ImageConfig::default(),
    };
    let mut diags = Vec::new();
    let yaml = with_volume_paths(&entry.config, config, &mut diags);
    let spec = build_spec(&yaml, &label, info, &config.id_map(), &mut diags);
    Diagnostics(diags).into_result(()).map_err(fail)?;
    Ok((
        spec,
        build_runtime(yaml.runtime.as_ref(), label.runtime.as_ref()),
    ))
}

/// Rewrites binds and bind mounts that name a volume to the volume's merged directory.
fn with_volume_paths(c: &ImageConfig, config: &Config, diags: &mut Vec<Diagnostic>) -> ImageConfig {
    let mut out = c.clone();
    for list in [&mut out.binds, &mut out.binds_add].into_iter().flatten() {
        for b in list.iter_mut() {
            match config.bind_volume(b) {
                Ok(v) => b.value = v,
                Err(d) => diags.push(d),
            }
        }
    }
    for m in out.mounts.iter_mut().flatten() {
        match config.mount_volume(m) {
            Ok(source) => m.source = source,
            Err(d) => diags.push(d),
        }
    }
    out
}

fn build_spec(
    yaml: &ImageConfig,
    label: &ImageConfig,
    info: &ImageInfo,
    ids: &BTreeMap<String, u32>,
    diags: &mut Vec<Diagnostic>,
) -> Spec {
    let args = pick(&yaml.command, &label.command)
        .cloned()
        .unwrap_or_else(|| [info.entrypoint.clone(), info.cmd.clone()].concat());
    let env = pick(&yaml.env, &label.env)
        .cloned()
        .unwrap_or_else(|| info.env.clone());
    let cwd = first_set(&[&yaml.cwd, &label.cwd, &info.working_dir, "/"]).to_owned();
    let readonly = pick(&yaml.readonly, &label.readonly)
        .copied()
        .unwrap_or(false);

    let mut capabilities = Capabilities::default();
    let effective = match &yaml.capabilities {
        Some(c) => c.clone(),
        None => [
            label.capabilities.clone().unwrap_or_default(),
            yaml.capabilities_add.clone().unwrap_or_default(),
        ]
        .concat(),
    };
    let effective = checked_caps(
        caps::expand(&effective),
        yaml.capabilities.is_none() && yaml.capabilities_add.is_some(),
        diags,
    );
    let ambient = checked_caps(
        caps::expand(pick(&yaml.ambient, &label.ambient).map_or(&[][..], Vec::as_slice)),
        false,
        diags,
    );
    let mut bounding: Vec<String> = effective.iter().chain(&ambient).cloned().collect();
    bounding.sort();
    bounding.dedup();
    capabilities.effective = effective;
    capabilities.ambient = ambient;
    capabilities.inheritable = bounding.clone();
    capabilities.permitted = bounding.clone();
    capabilities.bounding = bounding;

    let rlimits = pick(&yaml.rlimits, &label.rlimits)
        .map(|list| {
            list.iter()
                .map(|r| PosixRlimit {
                    kind: r.kind.clone(),
                    hard: r.hard,
                    soft: r.soft,
                })
                .collect()
        })
        .unwrap_or_default();

    let id = |v: Option<&Spanned<image::Id>>, diags: &mut Vec<Diagnostic>| -> u32 {
        match v.map(|s| (&s.value, &s.pos)) {
            None => 0,
            Some((image::Id::Num(n), _)) => *n,
            Some((image::Id::Name(n), _)) if n.is_empty() || n == "root" => 0,
            Some((image::Id::Name(n), pos)) => ids.get(n).copied().unwrap_or_else(|| {
                diags.push(Diagnostic::at(pos, format!("cannot find id: {n}")));
                0
            }),
        }
    };
    let uid = id(pick(&yaml.uid, &label.uid), diags);
    let gid = id(pick(&yaml.gid, &label.gid), diags);
    let additional_gids = pick(&yaml.additional_gids, &label.additional_gids)
        .map(|l| l.iter().map(|g| id(Some(g), diags)).collect())
        .unwrap_or_default();

    let mut resources = pick(&yaml.resources, &label.resources)
        .cloned()
        .unwrap_or_default();
    let mut devices = Vec::new();
    for d in pick(&yaml.devices, &label.devices).map_or(&[][..], Vec::as_slice) {
        device(d, &mut devices, &mut resources);
    }

    Spec {
        oci_version: OCI_VERSION,
        process: Process {
            user: User {
                uid,
                gid,
                additional_gids,
            },
            args,
            env,
            cwd,
            capabilities,
            rlimits,
            no_new_privileges: pick(&yaml.no_new_privileges, &label.no_new_privileges)
                .copied()
                .unwrap_or(false),
            oom_score_adj: pick(&yaml.oom_score_adj, &label.oom_score_adj).copied(),
        },
        root: Root {
            path: "rootfs",
            readonly,
        },
        hostname: first_set(&[&yaml.hostname, &label.hostname]).to_owned(),
        mounts: mounts(yaml, label, readonly),
        annotations: pick(&yaml.annotations, &label.annotations)
            .cloned()
            .unwrap_or_default(),
        linux: Linux {
            uid_mappings: pick(&yaml.uid_mappings, &label.uid_mappings)
                .cloned()
                .unwrap_or_default(),
            gid_mappings: pick(&yaml.gid_mappings, &label.gid_mappings)
                .cloned()
                .unwrap_or_default(),
            sysctl: pick(&yaml.sysctl, &label.sysctl)
                .cloned()
                .unwrap_or_default(),
            resources,
            cgroups_path: pick(&yaml.cgroups_path, &label.cgroups_path)
                .cloned()
                .unwrap_or_default(),
            namespaces: namespaces(yaml, label),
            devices,
            rootfs_propagation: pick(&yaml.rootfs_propagation, &label.rootfs_propagation)
                .cloned()
                .unwrap_or_default(),
            masked_paths: pick(&yaml.masked_paths, &label.masked_paths)
                .cloned()
                .unwrap_or_default(),
            readonly_paths: pick(&yaml.readonly_paths, &label.readonly_paths)
                .cloned()
                .unwrap_or_default(),
        },
    }
}

/// Checks capability names after the label/YAML merge (e.g. `all` next to label names).
fn checked_caps(list: Vec<String>, merged_add: bool, diags: &mut Vec<Diagnostic>) -> Vec<String> {
    for c in &list {
        if !caps::is_known(c) {
            let mut d = Diagnostic::global(format!("unknown capability: {c}"));
            if merged_add && (c.eq_ignore_ascii_case("all") || c.eq_ignore_ascii_case("none")) {
                d = d.with_hint(format!("`capabilities.add: [{c}]` is appended to the label's capabilities; write `capabilities: [{c}]` to replace them"));
            }
            diags.push(d);
        }
    }
    list
}

fn device(d: &Device, devices: &mut Vec<LinuxDevice>, resources: &mut Resources) {
    let rules = resources.devices.get_or_insert_with(Vec::new);
    if d.path == "all" {
        rules.push(DeviceCgroup {
            allow: true,
            kind: d.kind.clone(),
            major: None,
            minor: None,
            access: "rwm".to_owned(),
        });
        return;
    }
    devices.push(LinuxDevice {
        path: d.path.clone(),
        kind: d.kind.clone(),
        major: d.major,
        minor: d.minor,
        file_mode: image::parse_octal_mode(&d.mode),
    });
    rules.push(DeviceCgroup {
        allow: true,
        kind: d.kind.clone(),
        major: Some(d.major),
        minor: Some(d.minor),
        access: "rwm".to_owned(),
    });
}

fn mounts(yaml: &ImageConfig, label: &ImageConfig, readonly: bool) -> Vec<Mount> {
    let ro = |mut v: Vec<&'static str>| {
        if readonly {
            v.push("ro");
        }
        v
    };
    let mut map: BTreeMap<String, Mount> = BTreeMap::new();
    for m in [
        Mount::new(
            "/proc",
            "proc",
            "proc",
            &["nosuid", "nodev", "noexec", "relatime"],
        ),
        Mount::new(
            "/dev",
            "tmpfs",
            "tmpfs",
            &ro(vec!["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ),
        Mount::new(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ],
        ),
        Mount::new(
            "/sys",
            "sysfs",
            "sysfs",
            &ro(vec!["nosuid", "noexec", "nodev"]),
        ),
        Mount::new(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ] {
        map.insert(m.destination.clone(), m);
    }
    for t in pick(&yaml.tmpfs, &label.tmpfs).map_or(&[][..], Vec::as_slice) {
        let (dest, opts) = match t.split_once(':') {
            Some((d, o)) => (d, o.split(',').collect::<Vec<_>>()),
            None => (t.as_str(), Vec::new()),
        };
        map.insert(dest.to_owned(), Mount::new(dest, "tmpfs", "tmpfs", &opts));
    }
    let binds: Vec<&Spanned<String>> = match &yaml.binds {
        Some(b) => b.iter().collect(),
        None => label
            .binds
            .iter()
            .flatten()
            .chain(yaml.binds_add.iter().flatten())
            .collect(),
    };
    for b in binds {
        let parts: Vec<&str> = b.value.split(':').collect();
        let (src, dest) = (parts[0], parts.get(1).copied().unwrap_or_default());
        let opts: Vec<&str> = match parts.get(2) {
            Some(o) => o.split(',').chain(["rbind"]).collect(),
            None => vec!["rw", "rbind", "rshared"],
        };
        map.insert(dest.to_owned(), Mount::new(dest, "bind", src, &opts));
    }
    for m in pick(&yaml.mounts, &label.mounts).map_or(&[][..], Vec::as_slice) {
        let mut out = mount_from_yaml(m);
        out.kind = image::infer_mount_type(m).unwrap_or_default();
        if out.source.is_empty() {
            out.source = out.kind.clone();
        }
        if out.destination.is_empty() {
            out.destination = image::default_mountpoint(&out.kind)
                .unwrap_or_default()
                .to_owned();
        }
        map.insert(out.destination.clone(), out);
    }
    map.into_values().collect()
}

fn namespaces(yaml: &ImageConfig, label: &ImageConfig) -> Vec<Namespace> {
    let mut out = Vec::new();
    let mut add = |kind: &'static str, value: &str, new_words: &[&str]| {
        if value == "host" || value == "root" {
            return;
        }
        let path = if new_words.contains(&value) {
            String::new()
        } else {
            value.to_owned()
        };
        out.push(Namespace { kind, path });
    };
    add(
        "network",
        first_set(&[&yaml.net, &label.net, "root"]),
        &["none", "new"],
    );
    add("ipc", first_set(&[&yaml.ipc, &label.ipc, "root"]), &["new"]);
    add("uts", first_set(&[&yaml.uts, &label.uts, "root"]), &["new"]);
    add("pid", first_set(&[&yaml.pid, &label.pid]), &["new", ""]);
    add(
        "user",
        first_set(&[&yaml.userns, &label.userns, "root"]),
        &["new"],
    );
    out.push(Namespace {
        kind: "mount",
        path: String::new(),
    });
    out
}

fn build_runtime(yaml: Option<&image::Runtime>, label: Option<&image::Runtime>) -> RuntimeConfig {
    let empty = image::Runtime::default();
    let (y, l) = (yaml.unwrap_or(&empty), label.unwrap_or(&empty));
    let s = |a: &Option<String>, b: &Option<String>| pick(a, b).cloned().unwrap_or_default();
    RuntimeConfig {
        cgroups: pick(&y.cgroups, &l.cgroups).cloned().unwrap_or_default(),
        mounts: pick(&y.mounts, &l.mounts)
            .map(|m| m.iter().map(mount_from_yaml).collect())
            .unwrap_or_default(),
        mkdir: pick(&y.mkdir, &l.mkdir).cloned().unwrap_or_default(),
        interfaces: pick(&y.interfaces, &l.interfaces)
            .cloned()
            .unwrap_or_default(),
        bind_ns: BindNs {
            cgroup: s(&y.bind_ns.cgroup, &l.bind_ns.cgroup),
            ipc: s(&y.bind_ns.ipc, &l.bind_ns.ipc),
            mnt: s(&y.bind_ns.mnt, &l.bind_ns.mnt),
            net: s(&y.bind_ns.net, &l.bind_ns.net),
            pid: s(&y.bind_ns.pid, &l.bind_ns.pid),
            user: s(&y.bind_ns.user, &l.bind_ns.user),
            uts: s(&y.bind_ns.uts, &l.bind_ns.uts),
        },
        namespace: s(&y.namespace, &l.namespace),
    }
}

/// The bundle directory of a container inside the root filesystem:
/// `containers/onboot/000-name`, `containers/onshutdown/001-name`, `containers/services/name`.
pub fn bundle_dir(section: crate::config::Section, index: usize, name: &str) -> String {
    match section {
        crate::config::Section::Services => format!("containers/services/{name}"),
        s => format!("containers/{}/{index:03}-{name}", s.name()),
    }
}
