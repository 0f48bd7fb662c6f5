//! `build.yml`: a package's description for `linuxkit pkg` (spec/host.md §5.1). Unknown
//! keys are errors with `file:line:column`, as in LinuxKit (yaml.v3 `KnownFields`).

use crate::decode::{Ctx, Source, join};
use crate::diag::{Diagnostic, Diagnostics};
use crate::image::{ImageConfig, decode_config_at};
use crate::yaml;

/// A parsed build.yml.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildYml {
    /// Image name without the org (required).
    pub image: String,
    /// Registry org (default `linuxkit`).
    pub org: Option<String>,
    /// Tag template (default `{{.Hash}}`).
    pub tag: Option<String>,
    /// Dockerfile (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// Architectures to build (default amd64, arm64, riscv64).
    pub arches: Option<Vec<String>>,
    /// Extra build-context directories, `src:dst`.
    pub extra_sources: Vec<(String, String)>,
    /// Source repository (label and `SOURCE` build arg).
    pub gitrepo: Option<String>,
    /// Network during the build.
    pub network: Option<bool>,
    /// Build without cache.
    pub disable_cache: Option<bool>,
    /// Default container configuration (becomes the `org.mobyproject.config` label).
    pub config: Option<ImageConfig>,
    /// `K=V` build arguments.
    pub build_args: Vec<String>,
    /// `depends.docker-images`.
    pub depends: Depends,
}

/// `depends.docker-images`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Depends {
    /// `ref@digest` list.
    pub list: Vec<String>,
    /// A file listing them.
    pub from_file: Option<String>,
    /// One `docker save` tar of all.
    pub target: Option<String>,
    /// A directory of per-image tars.
    pub target_dir: Option<String>,
}

impl BuildYml {
    /// The `org.mobyproject.config` label value: Go's `json.Marshal` of `config`.
    pub fn config_label(&self) -> Option<String> {
        self.config.as_ref().map(crate::gojson::to_string_compact)
    }
}

/// Parses a build.yml.
pub fn parse_build_yml(source: &Source, text: &str) -> Result<BuildYml, Diagnostics> {
    let node = yaml::parse(&source.name, text)?;
    let mut ctx = Ctx::new(&Source::named(&source.name), None);
    ctx.lenient_strings = true;
    let known = [
        "image",
        "org",
        "tag",
        "dockerfile",
        "arches",
        "extra-sources",
        "gitrepo",
        "network",
        "disable-cache",
        "config",
        "buildArgs",
        "depends",
    ];
    let mut b = BuildYml::default();
    let Some(f) = ctx.fields(&node, "", &known, &[]) else {
        return Err(Diagnostics(ctx.diags));
    };
    match f.get("image") {
        Some(n) => b.image = ctx.string(n, "image").unwrap_or_default(),
        None => ctx.error(&f.pos, "Image field is required"),
    }
    if b.image.is_empty() && f.get("image").is_some() {
        ctx.error(&f.pos, "Image field is required (it is empty)");
    }
    for (key, slot) in [
        ("org", &mut b.org),
        ("tag", &mut b.tag),
        ("dockerfile", &mut b.dockerfile),
        ("gitrepo", &mut b.gitrepo),
    ] {
        if let Some(n) = f.get(key) {
            *slot = ctx.string(n, key);
        }
    }
    if let (Some(d), Some(n)) = (&b.dockerfile, f.get("dockerfile"))
        && (d.split('/').any(|c| c == "..") || d.starts_with('/'))
    {
        ctx.error(
            &n.pos,
            format!("dockerfile `{d}` must be a relative path inside the package"),
        );
    }
    if let Some(n) = f.get("arches") {
        b.arches = ctx.strings(n, "arches");
    }
    if let Some(n) = f.get("extra-sources")
        && let Some(list) = ctx.spanned_strings(n, "extra-sources")
    {
        for s in list {
            match s.value.split_once(':') {
                Some((src, dst)) if !src.is_empty() && !dst.is_empty() => {
                    b.extra_sources.push((src.to_owned(), dst.to_owned()))
                }
                _ => ctx.diags.push(Diagnostic::at(
                    &s.pos,
                    format!("extra-sources entry `{}` is not src:dst", s.value),
                )),
            }
        }
    }
    for (key, slot) in [
        ("network", &mut b.network),
        ("disable-cache", &mut b.disable_cache),
    ] {
        if let Some(n) = f.get(key) {
            *slot = ctx.boolean(n, key);
        }
    }
    if let Some(n) = f.get("config") {
        b.config = decode_config_at(&mut ctx, n, "config");
    }
    if let Some(n) = f.get("buildArgs") {
        b.build_args = ctx.strings(n, "buildArgs").unwrap_or_default();
    }
    if let Some(n) = f.get("depends")
        && let Some(df) = ctx.fields(n, "depends", &["docker-images"], &[])
        && let Some(di) = df.get("docker-images")
        && let Some(ff) = ctx.fields(
            di,
            "depends.docker-images",
            &["list", "from-file", "target", "target-dir"],
            &[],
        )
    {
        let p = |k: &str| join("depends.docker-images", k);
        if let Some(l) = ff.get("list") {
            b.depends.list = ctx.strings(l, &p("list")).unwrap_or_default();
            for (i, r) in b.depends.list.iter().enumerate() {
                match r.split_once('@') {
                    None => ctx.error(
                        &l.pos,
                        format!("image {r:?} lacks a digest ({}[{i}])", p("list")),
                    ),
                    Some((_, d)) if !is_digest(d) => {
                        ctx.error(&l.pos, format!("unable to validate digest in {r:?}"));
                    }
                    _ => {}
                }
            }
        }
        for (key, slot) in [
            ("from-file", &mut b.depends.from_file),
            ("target", &mut b.depends.target),
            ("target-dir", &mut b.depends.target_dir),
        ] {
            if let Some(n) = ff.get(key) {
                *slot = ctx.string(n, &p(key));
            }
        }
        if ff.get("list").is_some() && ff.get("from-file").is_some() {
            ctx.error(
                &ff.pos,
                "\"depends.images.list\" and \"depends.images.from-file\" are mutually exclusive",
            );
        }
        if ff.get("target").is_some() && ff.get("target-dir").is_some() {
            ctx.error(&ff.pos, "\"depends.images.target\" and \"depends.images.target-dir\" are mutually exclusive");
        }
    }
    Diagnostics(ctx.diags).sorted().into_result(b)
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BuildYml, Diagnostics> {
        parse_build_yml(&Source::named("build.yml"), text)
    }

    #[test]
    fn parses_every_field() {
        let b = parse(
            "image: getty\norg: linuxkit\ntag: \"6.6-{{.Hash}}\"\narches: [amd64, arm64]\nnetwork: true\nconfig:\n  pid: host\n  capabilities: [all]\n  devices:\n    - path: /dev/console\n      type: c\n      major: 5\n      minor: 1\n      mode: 0666\nbuildArgs: [A=1]\n",
        )
        .unwrap();
        assert_eq!(b.image, "getty");
        assert_eq!(
            b.arches.as_deref(),
            Some(&["amd64".to_owned(), "arm64".to_owned()][..])
        );
        assert_eq!(b.network, Some(true));
        let label = b.config_label().unwrap();
        assert_eq!(
            label,
            r#"{"capabilities":["all"],"devices":[{"path":"/dev/console","type":"c","major":5,"minor":1,"mode":"0666"}],"pid":"host"}"#
        );
    }

    #[test]
    fn unknown_keys_and_missing_image_are_errors() {
        let e = parse("imgae: x\n").unwrap_err().to_string();
        assert!(
            e.contains("build.yml:1:1: unknown key `imgae` at the top level"),
            "{e}"
        );
        assert!(e.contains("did you mean `image`?"), "{e}");
        assert!(e.contains("Image field is required"), "{e}");
    }

    #[test]
    fn depends_rules() {
        let e =
            parse("image: x\ndepends:\n  docker-images:\n    list: [alpine:3]\n    from-file: f\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("lacks a digest"), "{e}");
        assert!(e.contains("mutually exclusive"), "{e}");
    }
}
