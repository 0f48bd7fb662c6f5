//! Each package in pkg/ declares in build.yml the configuration it needs to run (its
//! `org.mobyproject.config` label). Golden test: the label of every package gives the
//! config.json/runtime.json checked in under tests/golden/packages (regenerate with
//! UPDATE_GOLDEN=1 and review the diff), and the properties each package relies on hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lk_spec::oci::CONFIG_LABEL;
use lk_spec::pkg::parse_build_yml;
use lk_spec::{ImageInfo, Section, Source, config_to_oci, gojson, parse_and_merge};

fn packages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pkg");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("pkg directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("build.yml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// (config.json, runtime.json) for a service using the package's image and label.
fn oci_for(dir: &Path) -> Option<(String, String)> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(dir.join("build.yml")).ok()?;
    let source = Source::named(&format!("pkg/{name}/build.yml"));
    let build = parse_build_yml(&source, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let label = build.config_label()?;
    let yml = format!("services:\n  - name: {name}\n    image: linuxkit/{name}:test\n");
    let src = Source::named("test.yml");
    let config = parse_and_merge([(&src, yml.as_str())], None).expect("config");
    let entry = &config.section(Section::Services)[0];
    let info = ImageInfo {
        labels: BTreeMap::from([(CONFIG_LABEL.to_owned(), label)]),
        ..ImageInfo::default()
    };
    let (spec, runtime) =
        config_to_oci(entry, &info, &config).unwrap_or_else(|e| panic!("{name}: {e}"));
    Some((
        gojson::to_string_indent(&spec),
        gojson::to_string_indent(&runtime),
    ))
}

#[test]
fn every_package_label_gives_its_golden_config() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/packages");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut problems = Vec::new();
    let mut checked = 0;
    for dir in packages() {
        let Some((config, runtime)) = oci_for(&dir) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for (kind, ours) in [("config", config), ("runtime", runtime)] {
            let path = golden.join(format!("{name}.{kind}.json"));
            if update {
                std::fs::write(&path, &ours).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(theirs) if theirs == ours => {}
                Ok(theirs) => problems.push(format!(
                    "{name}.{kind}.json differs\n--- golden\n{theirs}\n--- now\n{ours}"
                )),
                Err(_) => problems.push(format!("missing {} (UPDATE_GOLDEN=1)", path.display())),
            }
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} packages with a config label");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

fn config(name: &str) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../pkg")
        .join(name);
    let (config, _) = oci_for(&dir).expect("a config label");
    serde_json::from_str(&config).unwrap()
}

fn namespaces(c: &serde_json::Value) -> Vec<String> {
    c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_owned())
        .collect()
}

fn mounts(c: &serde_json::Value) -> Vec<String> {
    c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["source"].as_str().unwrap_or(""),
                m["destination"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn packages_get_what_they_rely_on() {
    // getty and sshd: the host's pid and network namespaces, /run and the service CLI.
    for name in ["getty", "sshd"] {
        let c = config(name);
        assert_eq!(namespaces(&c), ["mount"], "{name}");
        let m = mounts(&c);
        for bind in [
            "/run:/run",
            "/usr/bin/service:/usr/bin/service",
            "/etc:/hostroot/etc",
            "/dev:/dev",
        ] {
            assert!(m.iter().any(|x| x == bind), "{name} lacks {bind}: {m:?}");
        }
    }
    // dhcpcd: host network, writes the host's resolv.conf, network capabilities.
    let c = config("dhcpcd");
    assert!(!namespaces(&c).contains(&"network".to_owned()));
    assert!(mounts(&c).contains(&"/run/resolvconf/resolv.conf:/etc/resolv.conf".to_owned()));
    let caps = c["process"]["capabilities"]["bounding"].to_string();
    assert!(
        caps.contains("CAP_NET_ADMIN") && caps.contains("CAP_NET_RAW"),
        "{caps}"
    );
    // mount: shared propagation so its mounts reach the host.
    let c = config("mount");
    assert_eq!(c["linux"]["rootfsPropagation"], "shared");
    assert!(mounts(&c).contains(&"/var:/var".to_owned()));
    // format: block devices.
    let c = config("format");
    assert!(
        c["linux"]["resources"]["devices"]
            .to_string()
            .contains("\"type\":\"b\"")
    );
    // sysctl: read-only root, host pid namespace.
    let c = config("sysctl");
    assert_eq!(c["root"]["readonly"], true);
    assert_eq!(namespaces(&c), ["mount"]);
}
