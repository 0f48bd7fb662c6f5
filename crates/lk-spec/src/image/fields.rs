//! Decoding an image entry and its `org.mobyproject.config` label, field by field.

use crate::caps;
use crate::decode::{Ctx, Dropped, Fields, Spanned, join};
use crate::reference::ImageRef;
use crate::yaml::{Node, Value};

use super::resources::{resources, runtime};
use super::*;

pub(super) const CAMEL_DROP: &str = "LinuxKit's YAML decoder only matches lower-case keys here";

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
        both_set(ctx, f, "capabilities", n, path);
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
        both_set(ctx, f, "binds", n, path);
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
                } else if let Some((_, opts)) = t.split_once(':')
                    && opts.split(',').any(str::is_empty)
                {
                    let tp = p("tmpfs");
                    ctx.error_hint(
                        &item.pos,
                        format!("`{tp}`: tmpfs `{t}` has an empty option"),
                        "drop the `:` for no options, or write destination:option,option",
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
    if let (Some(cmd), Some(n)) = (&c.command, f.get("command"))
        && cmd.is_empty()
    {
        ctx.error_hint(
            &n.pos,
            format!(
                "`{}: []` leaves the container with nothing to run",
                p("command")
            ),
            "remove `command` to run the image's entrypoint and command",
        );
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
        let private_uts = c.uts == "new" || c.uts.starts_with('/');
        if !c.hostname.is_empty() && !private_uts {
            // LinuxKit writes it into config.json and runc refuses to start the container
            // ("unable to set hostname without a private UTS namespace"), unless the image's
            // label asks for `uts: new`; LinuxKit's own test files rely on being accepted.
            let w = crate::diag::Diagnostic::at(
                &n.pos,
                format!(
                    "`{}` is set but the container shares the host's UTS namespace: it will not start unless its image's label sets `uts: new`",
                    p("hostname")
                ),
            )
            .with_hint("add `uts: new` to the entry");
            ctx.warnings.push(w);
        }
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

pub(super) fn mounts(
    ctx: &mut Ctx<'_>,
    node: &Node,
    path: &str,
    infer: bool,
) -> Option<Vec<Mount>> {
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
    let (soft, hard) = (number(soft)?, number(hard)?);
    if soft > hard {
        return Err((
            format!("rlimit `{s}`: the soft limit is above the hard limit"),
            Some("the kernel refuses it when the container starts; make soft <= hard".to_owned()),
        ));
    }
    Ok(Rlimit {
        raw: s.to_owned(),
        kind,
        soft,
        hard,
    })
}

/// `key.add` next to `key` in one entry: LinuxKit applies only `key` and drops the `.add`
/// (its own tests rely on that), so we do the same and say so.
fn both_set(ctx: &mut Ctx<'_>, f: &Fields<'_>, key: &str, add: &Node, path: &str) {
    if f.get(key).is_some() {
        let w = crate::diag::Diagnostic::at(
            &add.pos,
            format!(
                "`{}` is ignored because `{}` is set in the same entry (as LinuxKit does)",
                join(path, &format!("{key}.add")),
                join(path, key)
            ),
        )
        .with_hint(format!(
            "list everything under `{key}`, or use only `{key}.add` to add to the image's"
        ));
        ctx.warnings.push(w);
    }
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
