//! Golden tests: config.json and runtime.json for every entry of every case under
//! tests/golden/oci, compared byte for byte with the files LinuxKit's own ConfigToOCI
//! wrote for the same input (see docs/testing.md for how they were produced).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lk_spec::oci::bundle_dir;
use lk_spec::{ImageInfo, Section, Source, config_to_oci, gojson, parse_and_merge};

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct GoImageConfig {
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    working_dir: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/oci");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Runs one case; returns (entries checked, mismatches).
fn run_case(dir: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(dir.join("case.yml")).expect("case.yml");
    let images: HashMap<String, GoImageConfig> =
        match std::fs::read_to_string(dir.join("images.json")) {
            Ok(t) => serde_json::from_str(&t).expect("images.json"),
            Err(_) => HashMap::new(),
        };
    let source = Source::named("case.yml");
    let config = parse_and_merge([(&source, text.as_str())], None)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let expected = dir.join("expected");
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut dedup: HashMap<String, String> = HashMap::new();
    for section in Section::ALL {
        for (i, entry) in config.section(section).iter().enumerate() {
            checked += 1;
            let base = format!("{}-{i}-{}", section.name(), entry.name.value);
            let info = images
                .get(entry.image.value.original())
                .map(|g| ImageInfo {
                    entrypoint: g.entrypoint.clone(),
                    cmd: g.cmd.clone(),
                    env: g.env.clone(),
                    working_dir: g.working_dir.clone(),
                    labels: g.labels.clone(),
                })
                .unwrap_or_default();
            let (spec, mut runtime) = match config_to_oci(entry, &info, &config) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{base}: unexpected error: {e}: {}", e.problems));
                    continue;
                }
            };
            let bundle = bundle_dir(section, i, &entry.name.value);
            let own_root = format!(
                "{bundle}/{}",
                if spec.root.readonly {
                    "rootfs"
                } else {
                    "lower"
                }
            );
            let root = dedup
                .entry(entry.image.value.canonical().to_owned())
                .or_insert(own_root)
                .clone();
            lk_spec::oci::prepend_rootfs(&mut runtime, &bundle, &root, spec.root.readonly);
            for (kind, ours) in [
                ("config", gojson::to_string_indent(&spec)),
                ("runtime", gojson::to_string_indent(&runtime)),
            ] {
                let path = expected.join(format!("{base}.{kind}.json"));
                let theirs = std::fs::read_to_string(&path)
                    .unwrap_or_else(|_| panic!("missing {}", path.display()));
                if ours != theirs {
                    problems.push(format!(
                        "{}: {base}.{kind}.json differs\n--- expected\n{theirs}\n--- ours\n{ours}",
                        dir.display()
                    ));
                }
            }
        }
    }
    (checked, problems)
}

#[test]
fn config_and_runtime_json_match_linuxkit_byte_for_byte() {
    let mut total = 0;
    let mut problems = Vec::new();
    for dir in cases() {
        let (n, p) = run_case(&dir);
        total += n;
        problems.extend(p);
    }
    assert!(total >= 40, "only {total} golden entries");
    assert!(
        problems.is_empty(),
        "{} mismatches of {total} entries:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
