//! The allowed dependency edges between our crates, and external crates some layers must not use.

use std::path::{Path, PathBuf};

/// Network crates: only lk-registry (client), lk-serve (file server) and the guest's
/// metadata client (lk-metadata) may use them.
const NET: &[&str] = &[
    "ureq",
    "reqwest",
    "oci-client",
    "tokio",
    "hyper",
    "tiny_http",
];

/// Crates that print or draw progress: only the binaries may use them.
const UI: &[&str] = &["clap", "indicatif"];

/// Crates that must not reach another even through others: (crate, unreachable crate, why).
const NO_PATH: &[(&str, &str, &str)] = &[
    (
        "lk-rootfs",
        "lk-registry",
        "the rootfs stage reads pinned images from the cache only",
    ),
    ("lk-formats", "lk-spec", "output formats know no YAML"),
    ("lk-run", "lk-spec", "the hypervisor layer knows no YAML"),
    (
        "lk-service",
        "lk-spec",
        "guest crates share only the contract types with the host",
    ),
];

/// (crate, workspace crates it may depend on, whether it may use NET, whether it may use UI)
const RULES: &[(&str, &[&str], bool, bool)] = &[
    // The bundle contract (runtime.json), shared by the host build and the guest service.
    ("lk-bundle", &[], false, false),
    ("lk-spec", &["lk-bundle"], false, false),
    ("lk-oci", &[], false, false),
    ("lk-cache", &["lk-oci", "lk-util"], false, false),
    ("lk-util", &[], false, false),
    ("lk-formats", &["lk-util"], false, false),
    ("lk-image", &["lk-oci", "lk-cache", "lk-spec"], false, false),
    ("lk-run", &["lk-util", "lk-virtsock"], false, false),
    // Host<->guest sockets, shared by linuxkit run and the guest's vsock tools: std only.
    ("lk-virtsock", &[], false, false),
    ("lk-pkg", &["lk-oci", "lk-spec", "lk-util"], false, false),
    (
        "lk-rootfs",
        &["lk-formats", "lk-image", "lk-oci", "lk-cache", "lk-spec"],
        false,
        false,
    ),
    ("lk-registry", &["lk-oci"], true, false),
    ("lk-serve", &[], true, false),
    (
        "lk-resolve",
        &[
            "lk-oci",
            "lk-cache",
            "lk-image",
            "lk-registry",
            "lk-spec",
            "lk-util",
        ],
        false,
        false,
    ),
    (
        "lk-ops",
        &[
            "lk-spec",
            "lk-oci",
            "lk-cache",
            "lk-image",
            "lk-registry",
            "lk-resolve",
            "lk-rootfs",
            "lk-formats",
            "lk-pkg",
            "lk-run",
            "lk-serve",
            "lk-util",
        ],
        false,
        false,
    ),
    ("linuxkit", &["lk-ops", "lk-spec", "lk-oci"], false, true),
    ("xtask", &[], false, false),
    ("lk-guest-sys", &[], false, false),
    ("lk-init", &["lk-guest-sys"], false, false),
    ("lk-memlogd", &["lk-guest-sys"], false, false),
    ("lk-tools", &["lk-guest-sys", "lk-virtsock"], false, false),
    // The guest's cloud metadata client: HTTP(S) to the metadata services.
    ("lk-metadata", &["lk-guest-sys"], true, false),
    // clap only in its `service` binary (src/main.rs).
    (
        "lk-service",
        &["lk-bundle", "lk-guest-sys", "lk-memlogd"],
        false,
        true,
    ),
    ("lk-testutil", &["lk-oci", "lk-registry"], false, false),
    ("rtf", &[], false, true),
];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifests(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["crates", "tools", "guest"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let m = e.path().join("Cargo.toml");
            if m.is_file() {
                out.push(m);
            }
        }
    }
    out.sort();
    out
}

/// Dependency names listed in a manifest's [dependencies] / [build-dependencies] tables.
fn dependencies(text: &str) -> (String, Vec<String>) {
    let mut name = String::new();
    let mut deps = Vec::new();
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if table == "package" && key == "name" {
            name = value.trim().trim_matches('"').to_owned();
        }
        if table == "dependencies" || table == "build-dependencies" {
            deps.push(key.split('.').next().unwrap_or(key).to_owned());
        }
    }
    (name, deps)
}

pub fn check(root: &Path) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let all = manifests(root);
    let ours: Vec<String> = all
        .iter()
        .filter_map(|m| std::fs::read_to_string(m).ok())
        .map(|t| dependencies(&t).0)
        .collect();
    let mut graph: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for manifest in &all {
        if let Ok(text) = std::fs::read_to_string(manifest) {
            let (name, deps) = dependencies(&text);
            graph.insert(name, deps);
        }
    }
    problems.extend(unreachable_violations(&graph));
    for manifest in &all {
        let Ok(text) = std::fs::read_to_string(manifest) else {
            problems.push(format!("cannot read {}", manifest.display()));
            continue;
        };
        let (name, deps) = dependencies(&text);
        let Some((_, allowed, net, ui)) = RULES.iter().find(|(n, _, _, _)| *n == name) else {
            problems.push(format!(
                "{name} ({}) has no layering rule in tools/xtask/src/layers.rs",
                manifest.display()
            ));
            continue;
        };
        for d in &deps {
            if ours.contains(d) && !allowed.contains(&d.as_str()) {
                problems.push(format!("{name} must not depend on {d}"));
            }
            if (!net && NET.contains(&d.as_str())) || (!ui && UI.contains(&d.as_str())) {
                problems.push(format!("{name} must not use {d}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Every crate `from` reaches through the graph of workspace edges.
fn reachable(graph: &std::collections::BTreeMap<String, Vec<String>>, from: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut todo = vec![from.to_owned()];
    while let Some(c) = todo.pop() {
        for d in graph.get(&c).into_iter().flatten() {
            if graph.contains_key(d) && !seen.contains(d) {
                seen.push(d.clone());
                todo.push(d.clone());
            }
        }
    }
    seen
}

fn unreachable_violations(graph: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<String> {
    NO_PATH
        .iter()
        .filter(|(from, to, _)| reachable(graph, from).iter().any(|c| c == to))
        .map(|(from, to, why)| format!("{from} must have no path to {to}: {why}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_registry_client_the_file_server_and_the_metadata_client_may_use_network_crates() {
        let net: Vec<&str> = RULES.iter().filter(|r| r.2).map(|r| r.0).collect();
        assert_eq!(net, ["lk-registry", "lk-serve", "lk-metadata"]);
    }

    use super::*;

    #[test]
    fn workspace_respects_layering() {
        if let Err(p) = check(&workspace_root()) {
            panic!("layering violations:\n{}", p.join("\n"));
        }
    }

    #[test]
    fn detects_a_path_through_another_crate() {
        let mut g = std::collections::BTreeMap::new();
        g.insert("lk-rootfs".to_owned(), vec!["lk-resolve".to_owned()]);
        g.insert("lk-resolve".to_owned(), vec!["lk-registry".to_owned()]);
        g.insert("lk-registry".to_owned(), vec![]);
        let v = unreachable_violations(&g);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].starts_with("lk-rootfs must have no path to lk-registry"));
        g.insert("lk-rootfs".to_owned(), vec![]);
        assert!(unreachable_violations(&g).is_empty());
    }

    #[test]
    fn detects_a_forbidden_edge() {
        let (name, deps) = dependencies(
            "[package]\nname = \"lk-spec\"\n[dependencies]\nlk-ops.workspace = true\ntokio = \"1\"\n",
        );
        assert_eq!(name, "lk-spec");
        assert_eq!(deps, ["lk-ops", "tokio"]);
    }
}
