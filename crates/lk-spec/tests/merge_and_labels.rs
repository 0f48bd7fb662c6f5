//! Merging several files, whole-configuration checks, labels, warnings.

use lk_spec::{ImageInfo, Source, config_to_oci, gojson, normalize, parse_and_merge, parse_label};

fn src(name: &str) -> Source {
    Source::named(name)
}

#[test]
fn files_merge_in_order_like_append_config() {
    let a = "kernel:\n  image: linuxkit/kernel:1\n  cmdline: a\ninit: [linuxkit/init:1]\nonboot:\n  - name: x\n    image: alpine\n";
    let b = "kernel:\n  image: linuxkit/kernel:2\n  tar: none\ninit: [linuxkit/runc:1]\nservices:\n  - name: y\n    image: alpine\n";
    let (sa, sb) = (src("a.yml"), src("b.yml"));
    let c = parse_and_merge([(&sa, a), (&sb, b)], None).unwrap();
    let k = &c.kernel;
    assert_eq!(
        k.image.as_ref().unwrap().value.canonical(),
        "docker.io/linuxkit/kernel:2"
    );
    assert_eq!(
        k.cmdline, "a",
        "an empty later cmdline keeps the earlier one"
    );
    assert_eq!(k.tar_name(), None);
    assert_eq!(k.binary_name(), "kernel");
    let init: Vec<_> = c
        .init
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.value.original().to_owned())
        .collect();
    assert_eq!(init, ["linuxkit/init:1", "linuxkit/runc:1"]);
    assert_eq!(c.onboot.as_ref().unwrap().len(), 1);
    assert_eq!(c.services.as_ref().unwrap().len(), 1);
}

#[test]
fn duplicate_service_names_across_files_are_rejected() {
    let a = "services:\n  - name: x\n    image: alpine\n";
    let (sa, sb) = (src("a.yml"), src("b.yml"));
    let e = parse_and_merge([(&sa, a), (&sb, a)], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.yml:2:11: duplicate service name: x\n  hint: first used at a.yml:2:11; services run side by side and need distinct names"
    );
}

#[test]
fn volumes_from_any_file_are_visible_unlike_linuxkit() {
    // LinuxKit keeps only the last file's volumes, so this fails there (see ARCHITECTURE.md).
    let a = "volumes:\n  - name: data\n";
    let b = "onboot:\n  - name: x\n    image: alpine\n    binds: [\"data:/data\"]\n";
    let (sa, sb) = (src("a.yml"), src("b.yml"));
    let c = parse_and_merge([(&sa, a), (&sb, b)], None).unwrap();
    let (spec, _) =
        config_to_oci(&c.onboot.as_ref().unwrap()[0], &ImageInfo::default(), &c).unwrap();
    let json = gojson::to_string_indent(&spec);
    assert!(
        json.contains("\"source\": \"/containers/volumes/data/merged\""),
        "{json}"
    );
}

#[test]
fn errors_from_several_files_are_all_reported() {
    let (sa, sb) = (src("a.yml"), src("b.yml"));
    let e = parse_and_merge([(&sa, "bogus: 1\n"), (&sb, "init: 3\n")], None).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("a.yml:1:1: unknown key `bogus`"), "{text}");
    assert!(
        text.contains("b.yml:1:7: `init` must be a list of strings, found an integer"),
        "{text}"
    );
}

#[test]
fn trust_is_accepted_with_a_warning() {
    let s = src("t.yml");
    let c = parse_and_merge(
        [(&s, "trust:\n  org: [linuxkit]\ninit: [linuxkit/init:1]\n")],
        None,
    )
    .unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0]
            .to_string()
            .starts_with("t.yml:1:1: `trust` is ignored"),
        "{}",
        c.warnings[0]
    );
}

#[test]
fn label_rejects_name_image_and_unknown_keys() {
    let e = parse_label(
        "example/x:1",
        "{\"name\":\"x\",\"image\":\"y\",\"capabilites\":[]}",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "example/x:1 label org.mobyproject.config:1:2: name cannot be set in the org.mobyproject.config label\n\
         example/x:1 label org.mobyproject.config:1:13: image cannot be set in the org.mobyproject.config label\n\
         example/x:1 label org.mobyproject.config:1:25: unknown key `capabilites` at the top level\n  hint: did you mean `capabilities`?"
    );
}

#[test]
fn a_bad_label_names_the_container_and_image() {
    let s = src("c.yml");
    let c = parse_and_merge(
        [(&s, "onboot:\n  - name: x\n    image: example/bad:1\n")],
        None,
    )
    .unwrap();
    let mut info = ImageInfo::default();
    info.labels.insert(
        "org.mobyproject.config".into(),
        "{\"capabilities\":[\"CAP_NOPE\"]}".into(),
    );
    let e = config_to_oci(&c.onboot.as_ref().unwrap()[0], &info, &c).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot create the OCI config for x (example/bad:1)"
    );
    assert!(
        e.problems
            .to_string()
            .contains("unknown capability `CAP_NOPE`"),
        "{}",
        e.problems
    );
}

#[test]
fn capabilities_add_all_after_label_caps_is_rejected_with_a_hint() {
    let s = src("c.yml");
    let c = parse_and_merge(
        [(
            &s,
            "onboot:\n  - name: x\n    image: example/l:1\n    capabilities.add: [all]\n",
        )],
        None,
    )
    .unwrap();
    let mut info = ImageInfo::default();
    info.labels.insert(
        "org.mobyproject.config".into(),
        "{\"capabilities\":[\"CAP_CHOWN\"]}".into(),
    );
    let e = config_to_oci(&c.onboot.as_ref().unwrap()[0], &info, &c).unwrap_err();
    let text = e.problems.to_string();
    assert!(
        text.starts_with("unknown capability: all\n  hint: `capabilities.add: [all]` is appended"),
        "{text}"
    );
}

#[test]
fn normalized_json_matches_linuxkit_metadata_layout() {
    let s = src("c.yml");
    let c = parse_and_merge(
        [(
            &s,
            "init: [linuxkit/init:1]\nfiles:\n  - path: etc/x\n    contents: hi\n",
        )],
        None,
    )
    .unwrap();
    assert_eq!(
        normalize::to_json(&c),
        "{\n    \"kernel\": {\n        \"image\": \"\"\n    },\n    \"init\": [\n        \"docker.io/linuxkit/init:1\"\n    ],\n    \"onboot\": null,\n    \"onshutdown\": null,\n    \"services\": null,\n    \"files\": [\n        {\n            \"path\": \"etc/x\",\n            \"directory\": false,\n            \"contents\": \"hi\",\n            \"optional\": false\n        }\n    ],\n    \"volumes\": null\n}"
    );
}

#[test]
fn templates_are_left_alone_for_stdin() {
    // LinuxKit does not process `@` templates for stdin or URLs.
    let s = src("<stdin>");
    let c = parse_and_merge(
        [(
            &s,
            "onboot:\n  - name: x\n    image: alpine\n    command: [\"@literal\"]\n",
        )],
        None,
    )
    .unwrap();
    assert_eq!(
        c.onboot.unwrap()[0].config.command.as_deref(),
        Some(&["@literal".to_owned()][..])
    );
}

struct Fixed;
impl lk_spec::PackageResolver for Fixed {
    fn resolve(&self, base: &std::path::Path, path: &str) -> Result<String, String> {
        if path == "../pkg/init" {
            Ok(format!(
                "linuxkit/init:{}",
                base.display().to_string().len()
            ))
        } else {
            Err(format!("no package at {path}"))
        }
    }
}

#[test]
fn pkg_templates_go_through_the_resolver() {
    let s = Source {
        name: "examples/a.yml".into(),
        dir: Some("examples".into()),
    };
    let c = parse_and_merge([(&s, "init: [\"@pkg:../pkg/init\"]\n")], Some(&Fixed)).unwrap();
    assert_eq!(c.init.unwrap()[0].value.original(), "linuxkit/init:8");
    let e = parse_and_merge([(&s, "init: [\"@pkg:../pkg/nope\"]\n")], Some(&Fixed)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "examples/a.yml:1:8: `init[0]`: cannot resolve `@pkg:../pkg/nope`: no package at ../pkg/nope"
    );
}

#[test]
fn a_kernel_cmdline_without_an_image_warns_after_merging() {
    let (a, b) = (src("cmdline.yml"), src("kernel.yml"));
    let cmdline = "kernel:\n  cmdline: console=ttyS0\n";
    let alone = parse_and_merge([(&a, cmdline)], None).unwrap();
    let w: Vec<String> = alone.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter().any(|d| d.starts_with(
            "cmdline.yml:2:12: `kernel.cmdline` is set but there is no `kernel.image`"
        )),
        "{w:?}"
    );
    let merged = parse_and_merge([(&a, cmdline), (&b, "kernel:\n  image: k:1\n")], None).unwrap();
    assert!(
        !merged
            .warnings
            .iter()
            .any(|d| d.to_string().contains("no `kernel.image`")),
        "{:?}",
        merged.warnings
    );
}

#[test]
fn an_add_next_to_its_list_is_ignored_with_a_warning() {
    let a = src("add.yml");
    let yaml = "services:\n  - name: s\n    image: i:1\n    capabilities: [CAP_KILL]\n    capabilities.add: [CAP_SYS_TIME]\n    binds: [\"/x:/y\"]\n    binds.add: [\"/a:/b\"]\n";
    let c = parse_and_merge([(&a, yaml)], None).unwrap();
    let w: Vec<String> = c.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("add.yml:5:23: `services[0].capabilities.add` is ignored"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("add.yml:7:16: `services[0].binds.add` is ignored"),
        "{w:?}"
    );
}

#[test]
fn a_hostname_without_a_private_uts_namespace_is_warned_at_its_line() {
    let a = src("uts.yml");
    let yaml = "services:\n  - name: s\n    image: i:1\n    hostname: web\n  - name: t\n    image: i:1\n    uts: new\n    hostname: ok\n  - name: u\n    image: i:1\n    uts: /proc/1/ns/uts\n    hostname: ok\n";
    let c = parse_and_merge([(&a, yaml)], None).unwrap();
    let w: Vec<String> = c.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("uts.yml:4:15: `services[0].hostname` is set but the container shares the host's UTS namespace"),
        "{w:?}"
    );
}

#[test]
fn kernel_modules_add_up_across_files_and_must_be_a_list() {
    let (a, b, c) = (src("a.yml"), src("b.yml"), src("c.yml"));
    let one = "kernel:\n  image: k:1\n  modules: [xfs, \"kernel/net/\"]\n";
    let two = "kernel:\n  modules: [dummy]\n";
    let merged = parse_and_merge([(&a, one), (&b, two)], None).unwrap();
    assert_eq!(
        merged.kernel.modules.as_deref(),
        Some(
            &[
                "xfs".to_owned(),
                "kernel/net/".to_owned(),
                "dummy".to_owned()
            ][..]
        )
    );
    let none = parse_and_merge([(&a, "kernel:\n  image: k:1\n")], None).unwrap();
    assert_eq!(none.kernel.modules, None, "no key: the package's own list");
    let err = parse_and_merge([(&c, "kernel:\n  image: k:1\n  modules: xfs\n")], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("c.yml:3:") && err.contains("kernel.modules"),
        "{err}"
    );
}
