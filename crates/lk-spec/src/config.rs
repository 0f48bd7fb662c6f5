//! The whole configuration: top-level keys, files, volumes, kernel; merging several files;
//! the checks that need the whole (merged) configuration.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::decode::{Ctx, PackageResolver, Source, Spanned, join};
use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::image::{Id, Image, decode_image, parse_octal_mode};
use crate::reference::ImageRef;
use crate::yaml::{self, Node};

mod check;

/// A parsed, validated configuration (one file, or several merged).
///
/// Lists keep LinuxKit's "absent vs empty" distinction (`None` vs `Some(vec![])`) because
/// it shows in the `metadata: json` dump.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Config {
    /// Kernel image and command line.
    pub kernel: Kernel,
    /// Images unpacked at `/`.
    #[serde(serialize_with = "ser_refs")]
    pub init: Option<Vec<Spanned<ImageRef>>>,
    /// Containers run once, in order, at boot.
    pub onboot: Option<Vec<Image>>,
    /// Containers run at shutdown.
    pub onshutdown: Option<Vec<Image>>,
    /// Long-running containers.
    pub services: Option<Vec<Image>>,
    /// Files added to the root filesystem.
    pub files: Option<Vec<File>>,
    /// Volumes shared between containers.
    pub volumes: Option<Vec<Volume>>,
    /// Warnings found while reading (ignored keys, no-op settings).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
}

fn ser_refs<S: serde::Serializer>(
    v: &Option<Vec<Spanned<ImageRef>>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        None => s.serialize_none(),
        Some(list) => s.collect_seq(list.iter().map(|r| r.value.canonical())),
    }
}

/// The `kernel` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Kernel {
    /// The kernel image; `None` when the configuration has no kernel.
    #[serde(serialize_with = "ser_opt_canonical")]
    pub image: Option<Spanned<ImageRef>>,
    /// Written verbatim to `boot/cmdline`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cmdline: String,
    /// The kernel's file name in the image (default `kernel`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binary: String,
    /// The modules tarball (default `kernel.tar`; `""` or `none`: no tarball).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tar: Option<String>,
    /// A CPU microcode cpio prepended to the initrd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucode: Option<String>,
    /// Our extension: modules the image carries besides the kernel package's own list
    /// (`modules.linuxkit` in its tar): module names, `kernel/...` directories ending in
    /// `/`, or `"*"` for every module (LinuxKit's behaviour). `None`: the package's list,
    /// or every module when the package has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<String>>,
    /// Where `cmdline` was set (for the warning when there is no image).
    #[serde(skip)]
    pub cmdline_pos: Option<Pos>,
}

fn ser_opt_canonical<S: serde::Serializer>(
    v: &Option<Spanned<ImageRef>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_ref().map_or("", |r| r.value.canonical()))
}

fn ser_opt_ref<S: serde::Serializer>(
    v: &Option<Spanned<ImageRef>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_ref().map_or("", |r| r.value.original()))
}

impl Kernel {
    /// The kernel binary's name inside the image.
    pub fn binary_name(&self) -> &str {
        if self.binary.is_empty() {
            "kernel"
        } else {
            &self.binary
        }
    }

    /// The modules tarball's name inside the image, if one is expected.
    pub fn tar_name(&self) -> Option<&str> {
        match self.tar.as_deref() {
            None => Some("kernel.tar"),
            Some("" | "none") => None,
            Some(t) => Some(t),
        }
    }
}

/// A `files` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    /// The path as written (a leading `/` is stripped when building).
    pub path: String,
    pub directory: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub symlink: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metadata: String,
    pub optional: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Spanned<Id>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<Spanned<Id>>,
    #[serde(skip)]
    pub pos: Pos,
}

impl File {
    /// The permission bits: `mode`, or 0600 for files and 0700 for directories.
    pub fn mode_bits(&self) -> u32 {
        parse_octal_mode(&self.mode).unwrap_or(if self.directory { 0o700 } else { 0o600 })
    }
}

/// A `volumes` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Volume {
    pub name: Spanned<String>,
    #[serde(
        serialize_with = "ser_opt_ref",
        skip_serializing_if = "Option::is_none"
    )]
    pub image: Option<Spanned<ImageRef>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<String>>,
}

impl Volume {
    /// `/containers/volumes/<name>/merged`, the directory containers bind.
    pub fn merged_dir(&self) -> String {
        format!("/containers/volumes/{}/merged", self.name.value)
    }
}

const TOP_KEYS: [&str; 8] = [
    "kernel",
    "init",
    "onboot",
    "onshutdown",
    "services",
    "trust",
    "files",
    "volumes",
];

/// Parses one YAML text into a configuration, checking everything that one file can check.
pub fn parse_config(
    source: &Source,
    text: &str,
    resolver: Option<&dyn PackageResolver>,
) -> Result<Config, Diagnostics> {
    let node = yaml::parse(&source.name, text)?;
    let mut ctx = Ctx::new(source, resolver);
    let mut warnings = Vec::new();
    let config = decode_config(&mut ctx, &node, &mut warnings);
    warnings.append(&mut ctx.warnings);
    warnings.sort_by_key(|d| d.pos.as_ref().map(|p| (p.line, p.col)));
    let mut config = Diagnostics(ctx.diags).sorted().into_result(config)?;
    config.warnings = warnings;
    Ok(config)
}

fn decode_config(ctx: &mut Ctx<'_>, node: &Node, warnings: &mut Vec<Diagnostic>) -> Config {
    let mut c = Config::default();
    let Some(f) = ctx.fields(node, "", &TOP_KEYS, &[]) else {
        return c;
    };
    if let Some(n) = f.get("kernel") {
        c.kernel = decode_kernel(ctx, n);
    }
    if let Some(n) = f.get("init")
        && let Some(list) = ctx.spanned_strings(n, "init")
    {
        let mut refs = Vec::new();
        for (i, s) in list.into_iter().enumerate() {
            if let Some(r) = image_ref(ctx, &s, &format!("init[{i}]")) {
                refs.push(r);
            }
        }
        c.init = Some(refs);
    }
    for (key, slot) in [
        ("onboot", &mut c.onboot),
        ("onshutdown", &mut c.onshutdown),
        ("services", &mut c.services),
    ] {
        if let Some(n) = f.get(key)
            && let Some(items) = ctx.list(n, key, "a list of image entries")
        {
            *slot = Some(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| decode_image(ctx, item, &format!("{key}[{i}]")))
                    .collect(),
            );
        }
    }
    if let Some(n) = f.get("files")
        && let Some(items) = ctx.list(n, "files", "a list of file entries")
    {
        c.files = Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| decode_file(ctx, item, &format!("files[{i}]")))
                .collect(),
        );
    }
    if let Some(n) = f.get("volumes")
        && let Some(items) = ctx.list(n, "volumes", "a list of volume entries")
    {
        c.volumes = Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| decode_volume(ctx, item, &format!("volumes[{i}]")))
                .collect(),
        );
    }
    if let Some(n) = f.get("trust") {
        if let Some(tf) = ctx.fields(n, "trust", &["image", "org"], &[]) {
            for key in ["image", "org"] {
                if let Some(v) = tf.get(key) {
                    ctx.strings(v, &join("trust", key));
                }
            }
        }
        let pos = f.key_pos("trust").unwrap_or(&f.pos);
        warnings.push(
            Diagnostic::at(
                pos,
                "`trust` is ignored: LinuxKit removed content trust in 2021",
            )
            .with_hint("pin images by digest (image@sha256:...) to get the same guarantee"),
        );
    }
    check_single_file(ctx, &c, warnings);
    c
}

fn image_ref(ctx: &mut Ctx<'_>, s: &Spanned<String>, path: &str) -> Option<Spanned<ImageRef>> {
    match ImageRef::parse(&s.value) {
        Ok(r) => Some(Spanned {
            value: r,
            pos: s.pos.clone(),
        }),
        Err(e) => {
            let hint = e.hint.clone();
            ctx.diags
                .push(Diagnostic::at(&s.pos, format!("`{path}`: {e}")).with_hint_opt(hint));
            None
        }
    }
}

fn decode_kernel(ctx: &mut Ctx<'_>, node: &Node) -> Kernel {
    let mut k = Kernel::default();
    let Some(f) = ctx.fields(
        node,
        "kernel",
        &["image", "cmdline", "binary", "tar", "ucode", "modules"],
        &[],
    ) else {
        return k;
    };
    if let Some(n) = f.get("image")
        && let Some(s) = ctx.string(n, "kernel.image")
        && !s.is_empty()
    {
        k.image = image_ref(
            ctx,
            &Spanned {
                value: s,
                pos: n.pos.clone(),
            },
            "kernel.image",
        );
    }
    for (key, slot) in [("cmdline", &mut k.cmdline), ("binary", &mut k.binary)] {
        if let Some(n) = f.get(key) {
            *slot = ctx.string(n, &join("kernel", key)).unwrap_or_default();
        }
    }
    k.cmdline_pos = f.get("cmdline").map(|n| n.pos.clone());
    for (key, slot) in [("tar", &mut k.tar), ("ucode", &mut k.ucode)] {
        if let Some(n) = f.get(key) {
            *slot = ctx.string(n, &join("kernel", key));
        }
    }
    if let Some(n) = f.get("modules") {
        k.modules = ctx.strings(n, "kernel.modules");
    }
    k
}

const FILE_KEYS: [&str; 10] = [
    "path",
    "directory",
    "symlink",
    "contents",
    "source",
    "metadata",
    "optional",
    "mode",
    "uid",
    "gid",
];

fn decode_file(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<File> {
    let f = ctx.fields(node, path, &FILE_KEYS, &[])?;
    let before = ctx.diags.len();
    let mut file = File {
        path: String::new(),
        directory: false,
        symlink: String::new(),
        contents: None,
        source: String::new(),
        metadata: String::new(),
        optional: false,
        mode: String::new(),
        uid: None,
        gid: None,
        pos: node.pos.clone(),
    };
    for (key, slot) in [
        ("path", &mut file.path),
        ("symlink", &mut file.symlink),
        ("source", &mut file.source),
        ("metadata", &mut file.metadata),
        ("mode", &mut file.mode),
    ] {
        if let Some(n) = f.get(key) {
            *slot = ctx.string(n, &join(path, key)).unwrap_or_default();
        }
    }
    if let Some(n) = f.get("contents") {
        file.contents = ctx.string(n, &join(path, "contents"));
    }
    for (key, slot) in [
        ("directory", &mut file.directory),
        ("optional", &mut file.optional),
    ] {
        if let Some(n) = f.get(key) {
            *slot = ctx.boolean(n, &join(path, key)).unwrap_or_default();
        }
    }
    for (key, slot) in [("uid", &mut file.uid), ("gid", &mut file.gid)] {
        if let Some(n) = f.get(key) {
            *slot = match &n.value {
                yaml::Value::Int(_) => {
                    ctx.int(n, &join(path, key), 0, i128::from(u32::MAX))
                        .map(|v| Spanned {
                            value: Id::Num(v as u32),
                            pos: n.pos.clone(),
                        })
                }
                _ => ctx.string(n, &join(path, key)).map(|s| Spanned {
                    value: Id::Name(s),
                    pos: n.pos.clone(),
                }),
            };
        }
    }
    if ctx.diags.len() != before {
        return None;
    }
    let p = &node.pos;
    if file.path.is_empty() || file.path == "/" {
        ctx.error_hint(
            p,
            format!("`{path}`: did not specify path for file"),
            "add `path:`, such as etc/motd",
        );
        return None;
    }
    if file.path.split('/').any(|c| c == "..") {
        ctx.error(
            p,
            format!("`{path}`: path `{}` must not contain `..`", file.path),
        );
    }
    let mut kinds = Vec::new();
    if file.directory {
        kinds.push("directory");
    }
    if !file.symlink.is_empty() {
        kinds.push("symlink");
    }
    if file.contents.is_some() {
        kinds.push("contents");
    }
    if !file.source.is_empty() {
        kinds.push("source");
    }
    if !file.metadata.is_empty() {
        kinds.push("metadata");
    }
    match kinds.len() {
        0 => ctx.error_hint(
            p,
            format!("`{path}`: contents of file ({}) not specified", file.path),
            "give one of contents, source, metadata, symlink, or directory: true",
        ),
        1 => {}
        _ => ctx.error_hint(
            p,
            format!(
                "`{path}`: file ({}) sets {} together",
                file.path,
                kinds.join(" and ")
            ),
            "a file entry takes exactly one of contents, source, metadata, symlink, directory",
        ),
    }
    if !file.metadata.is_empty() && file.metadata != "yaml" && file.metadata != "json" {
        let pos = f.get("metadata").map_or(p, |n| &n.pos);
        ctx.error_hint(
            pos,
            format!(
                "`{path}.metadata` `{}` is not a metadata format",
                file.metadata
            ),
            "use yaml or json",
        );
    }
    if !file.mode.is_empty() && parse_octal_mode(&file.mode).is_none() {
        let pos = f.get("mode").map_or(p, |n| &n.pos);
        ctx.error_hint(
            pos,
            format!(
                "`{path}.mode` `{}`: cannot parse file mode as octal value",
                file.mode
            ),
            "write the mode as a quoted octal string, such as \"0644\"",
        );
    }
    (ctx.diags.len() == before).then_some(file)
}

fn decode_volume(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Volume> {
    let f = ctx.fields(
        node,
        path,
        &["name", "image", "readonly", "format", "platforms"],
        &[],
    )?;
    let before = ctx.diags.len();
    let name = match f.get("name") {
        Some(n) => ctx.string(n, &join(path, "name")).map(|value| Spanned {
            value,
            pos: n.pos.clone(),
        }),
        None => {
            ctx.error(&f.pos, format!("`{path}` has no `name` (required)"));
            None
        }
    };
    if let Some(n) = &name
        && (n.value.is_empty()
            || !n
                .value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'))
    {
        ctx.error_hint(
            &n.pos,
            format!("invalid volume name: `{}`", n.value),
            "volume names use a-z, 0-9, `_` and `-`, and cannot be empty",
        );
    }
    let mut image = None;
    if let Some(n) = f.get("image")
        && let Some(s) = ctx.string(n, &join(path, "image"))
        && !s.is_empty()
    {
        image = image_ref(
            ctx,
            &Spanned {
                value: s,
                pos: n.pos.clone(),
            },
            &join(path, "image"),
        );
    }
    let readonly = f
        .get("readonly")
        .and_then(|n| ctx.boolean(n, &join(path, "readonly")))
        .unwrap_or(false);
    let format = f
        .get("format")
        .and_then(|n| ctx.string(n, &join(path, "format")))
        .unwrap_or_default();
    if !format.is_empty() && format != "oci" && format != "filesystem" {
        let pos = f.get("format").map_or(&f.pos, |n| &n.pos);
        ctx.error_hint(
            pos,
            format!("`{path}.format` `{format}` is not a volume format"),
            "use filesystem (default) or oci",
        );
    }
    let platforms = f
        .get("platforms")
        .and_then(|n| ctx.spanned_strings(n, &join(path, "platforms")));
    for p in platforms.iter().flatten() {
        let parts: Vec<&str> = p.value.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|s| s.is_empty()) {
            ctx.error_hint(
                &p.pos,
                format!("`{path}.platforms`: `{}` is not a platform", p.value),
                "write os/arch[/variant], such as linux/arm64",
            );
        }
    }
    if ctx.diags.len() != before {
        return None;
    }
    Some(Volume {
        name: name?,
        image,
        readonly,
        format,
        platforms: platforms.map(|v| v.into_iter().map(|s| s.value).collect()),
    })
}

/// Checks that concern one file: unique service and volume names.
fn check_single_file(ctx: &mut Ctx<'_>, c: &Config, _warnings: &mut [Diagnostic]) {
    let mut volumes: HashMap<&str, &Pos> = HashMap::new();
    for v in c.volumes.iter().flatten() {
        if let Some(first) = volumes.insert(&v.name.value, &v.name.pos) {
            let hint = format!("first declared at {first}");
            ctx.error_hint(
                &v.name.pos,
                format!("duplicate volume name: {}", v.name.value),
                hint,
            );
        }
    }
}

impl Config {
    /// Images of a section, or an empty slice.
    pub fn section(&self, section: Section) -> &[Image] {
        match section {
            Section::Onboot => self.onboot.as_deref(),
            Section::Onshutdown => self.onshutdown.as_deref(),
            Section::Services => self.services.as_deref(),
        }
        .unwrap_or(&[])
    }

    /// Looks up a volume by name.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().flatten().find(|v| v.name.value == name)
    }

    /// The id every container name maps to, allocated from 100 in the order onboot,
    /// onshutdown, services (a later duplicate name overwrites), as LinuxKit does.
    pub fn id_map(&self) -> BTreeMap<String, u32> {
        let mut map = BTreeMap::new();
        let mut id = 100u32;
        for s in Section::ALL {
            for image in self.section(s) {
                map.insert(image.name.value.clone(), id);
                id += 1;
            }
        }
        map
    }

    /// Every image the configuration uses, once each (by canonical reference), in build
    /// order: kernel, init, volumes, onboot, onshutdown, services.
    pub fn images(&self) -> Vec<&ImageRef> {
        let mut seen = std::collections::HashSet::new();
        let kernel = self.kernel.image.iter().map(|r| &r.value);
        let init = self.init.iter().flatten().map(|r| &r.value);
        let volumes = self
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.image.as_ref());
        let containers = Section::ALL
            .into_iter()
            .flat_map(|s| self.section(s))
            .map(|e| &e.image.value);
        kernel
            .chain(init)
            .chain(volumes.map(|r| &r.value))
            .chain(containers)
            .filter(|r| seen.insert(r.canonical()))
            .collect()
    }

    /// Appends `next` to `self` as LinuxKit's `AppendConfig` does: kernel fields are
    /// overwritten by later non-empty values, lists are concatenated.
    pub fn append(&mut self, next: Config) {
        let k = next.kernel;
        if k.image.is_some() {
            self.kernel.image = k.image;
        }
        if !k.cmdline.is_empty() {
            self.kernel.cmdline = k.cmdline;
            self.kernel.cmdline_pos = k.cmdline_pos;
        }
        if !k.binary.is_empty() {
            self.kernel.binary = k.binary;
        }
        if k.tar.is_some() {
            self.kernel.tar = k.tar;
        }
        if k.ucode.is_some() {
            self.kernel.ucode = k.ucode;
        }
        if let Some(m) = k.modules {
            self.kernel.modules.get_or_insert_with(Vec::new).extend(m);
        }
        append_list(&mut self.init, next.init);
        append_list(&mut self.onboot, next.onboot);
        append_list(&mut self.onshutdown, next.onshutdown);
        append_list(&mut self.services, next.services);
        append_list(&mut self.files, next.files);
        append_list(&mut self.volumes, next.volumes);
        self.warnings.extend(next.warnings);
    }
}

fn append_list<T>(into: &mut Option<Vec<T>>, from: Option<Vec<T>>) {
    match (into.as_mut(), from) {
        (_, None) => {}
        (Some(list), Some(more)) => list.extend(more),
        (None, Some(more)) if more.is_empty() => {}
        (None, Some(more)) => *into = Some(more),
    }
}

/// The container sections, in build order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    /// `onboot`
    Onboot,
    /// `onshutdown`
    Onshutdown,
    /// `services`
    Services,
}

impl Section {
    /// All sections in the order LinuxKit allocates ids and writes bundles.
    pub const ALL: [Section; 3] = [Section::Onboot, Section::Onshutdown, Section::Services];

    /// The YAML key.
    pub fn name(self) -> &'static str {
        match self {
            Section::Onboot => "onboot",
            Section::Onshutdown => "onshutdown",
            Section::Services => "services",
        }
    }
}

/// Parses and merges several YAML texts in order, then runs the whole-configuration checks.
pub fn parse_and_merge<'a>(
    inputs: impl IntoIterator<Item = (&'a Source, &'a str)>,
    resolver: Option<&dyn PackageResolver>,
) -> Result<Config, Diagnostics> {
    let mut merged: Option<Config> = None;
    let mut diags = Vec::new();
    for (source, text) in inputs {
        match parse_config(source, text, resolver) {
            Ok(c) => match merged.as_mut() {
                None => merged = Some(c),
                Some(m) => m.append(c),
            },
            Err(d) => diags.extend(d.0),
        }
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    let mut config = merged
        .ok_or_else(|| Diagnostics::one(Diagnostic::global("no configuration file given")))?;
    config.check()?;
    if config.kernel.image.is_none()
        && !config.kernel.cmdline.is_empty()
        && let Some(pos) = &config.kernel.cmdline_pos
    {
        let w = Diagnostic::at(
            pos,
            "`kernel.cmdline` is set but there is no `kernel.image`: no kernel is built and the command line is unused",
        )
        .with_hint("add `kernel: image: ...`, or merge this file with one that has it");
        config.warnings.push(w);
    }
    Ok(config)
}
