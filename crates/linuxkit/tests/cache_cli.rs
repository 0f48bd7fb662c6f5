//! `linuxkit cache` against a real loopback registry: pull, ls, rm, push, a pull killed
//! mid-layer, concurrent pulls from two processes.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lk_cache::Cache;
use lk_oci::{Digest, Platform};
use lk_registry::{Client, ClientOptions, Repository};
use lk_testutil::TempDir;
use lk_testutil::image::{TestImage, layer, noise};
use lk_testutil::registry::Registry;

fn linuxkit(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .arg("cache")
        .arg("--cache")
        .arg(cache)
        .args(args)
        .env_remove("LINUXKIT_MIRROR")
        .output()
        .expect("run linuxkit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn push(reg: &Registry, path: &str, img: &TestImage) -> Digest {
    let repo = Repository {
        registry: reg.host.clone(),
        path: path.into(),
    };
    img.push(&Client::new(ClientOptions::default()), &repo, Some("v1"))
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn pull_ls_push_rm() {
    let reg = Registry::start();
    let img = TestImage::new("amd64", vec![layer(&[("a", b"a")])], &[], &["/bin/sh"]);
    let digest = push(&reg, "cli/one", &img);
    let dir = TempDir::new("cli-cache");
    let name = format!("{}/cli/one:v1", reg.host);
    let out = linuxkit(dir.path(), &["pull", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{name} {digest}\n"));
    let ls = text(&linuxkit(dir.path(), &["ls"]).stdout);
    assert!(ls.starts_with("image name"), "{ls}");
    assert!(ls.contains(&name) && ls.contains(digest.as_str()), "{ls}");
    let json: serde_json::Value =
        serde_json::from_slice(&linuxkit(dir.path(), &["ls", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["name"], name.as_str());
    // Export, then import into another cache.
    let tar = dir.path().join("export.tar");
    let out = linuxkit(
        dir.path(),
        &[
            "export",
            "--outfile",
            tar.to_str().unwrap(),
            "--name",
            "example.com/exported:1",
            &name,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let other_cache = TempDir::new("cli-import");
    let out = linuxkit(other_cache.path(), &["import", tar.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "imported example.com/exported:1\n");
    assert!(text(&linuxkit(other_cache.path(), &["ls"]).stdout).contains("example.com/exported:1"));
    // Push under another name (same registry: the layer is mounted, not re-uploaded).
    let other = format!("{}/cli/copy:v2", reg.host);
    let out = linuxkit(dir.path(), &["push", "--remote-name", &other, &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pushed"));
    let out = linuxkit(dir.path(), &["push", "--remote-name", &other, &name]);
    assert!(
        text(&out.stdout).contains("already in the registry"),
        "{}",
        text(&out.stdout)
    );
    let out = linuxkit(dir.path(), &["rm", &name]);
    assert!(out.status.success());
    assert!(!text(&linuxkit(dir.path(), &["ls"]).stdout).contains(&name));
    let out = linuxkit(dir.path(), &["rm", "docker.io/library/nope:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("image docker.io/library/nope:1 is not in the cache"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn a_pull_killed_mid_layer_leaves_a_valid_cache_and_the_next_pull_completes() {
    let reg = Registry::start();
    let big = TestImage::new(
        "amd64",
        vec![layer(&[("big", &noise(160 << 20, 3))])],
        &[],
        &[],
    );
    push(&reg, "cli/big", &big);
    let dir = TempDir::new("kill-cache");
    let name = format!("{}/cli/big:v1", reg.host);
    let mut child = spawn_pull(dir.path(), &name);
    // Wait until the layer download is under way, then kill -9.
    let blobs = dir.path().join("blobs/sha256");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut killed_mid_layer = false;
    while Instant::now() < deadline {
        let partial = std::fs::read_dir(&blobs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().starts_with(".partial-")
                    && e.metadata().is_ok_and(|m| m.len() > (1 << 20))
            });
        if partial {
            child.kill().unwrap();
            killed_mid_layer = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    assert!(
        killed_mid_layer,
        "the pull finished before it could be killed"
    );
    let cache = Cache::open(dir.path()).unwrap();
    assert!(
        cache.images().unwrap().is_empty(),
        "no name for an incomplete image"
    );
    assert!(
        !cache.blob_path(&Digest::of(&big.layers[0])).exists(),
        "no partial blob under its digest"
    );
    let out = linuxkit(dir.path(), &["pull", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    cache.resolve(&name, &Platform::linux("amd64")).unwrap();
    // The killed pull's partial download was resumed and published by the next pull.
    assert!(
        strays(&blobs).is_empty(),
        "left in the cache: {:?}",
        strays(&blobs)
    );
}

/// `linuxkit cache pull NAME` into `cache`, in the background, quiet.
fn spawn_pull(cache: &Path, name: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["cache", "--cache"])
        .arg(cache)
        .args(["pull", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Temp and partial files in a cache's blob directory.
fn strays(blobs: &Path) -> Vec<String> {
    std::fs::read_dir(blobs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn pulls_killed_again_and_again_resume_and_leave_nothing_behind() {
    use lk_testutil::faulty::{Fault, FaultyRegistry};
    // A 4 MiB layer trickled at ~800 KiB/s: each pull is killed with SIGKILL part way.
    let img = TestImage::new(
        "amd64",
        vec![layer(&[("big", &noise(4 << 20, 5))])],
        &[],
        &[],
    );
    let reg = FaultyRegistry::start("cli/slow", "v1", &img, &[], Fault::Slow);
    let dir = TempDir::new("kill-again");
    let blobs = dir.path().join("blobs/sha256");
    let name = format!("{}/cli/slow:v1", reg.host);
    for round in 0..6u64 {
        let mut child = spawn_pull(dir.path(), &name);
        std::thread::sleep(Duration::from_millis(400 + 150 * (round % 3)));
        child.kill().unwrap();
        let _ = child.wait();
        // One partial file per blob at most, however often the pull was killed.
        let left = strays(&blobs);
        assert!(left.len() <= 2, "round {round}: {left:?}");
        assert!(left.iter().all(|n| n.starts_with(".partial-")), "{left:?}");
        let cache = Cache::open(dir.path()).unwrap();
        assert!(
            cache.images().unwrap().is_empty(),
            "no name before all blobs are in"
        );
    }
    // Each later pull asked only for the rest of the layer.
    let layer = Digest::of(&img.layers[0]).to_string();
    let resumed = reg
        .requests()
        .iter()
        .filter(|r| r.digest == layer && r.from > 0)
        .count();
    assert!(resumed >= 3, "{:?}", reg.requests());
    reg.set_faults(&[], Fault::None);
    let out = linuxkit(dir.path(), &["pull", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cache = Cache::open(dir.path()).unwrap();
    let r = cache.resolve(&name, &Platform::linux("amd64")).unwrap();
    for d in std::iter::once(&r.manifest.config).chain(&r.manifest.layers) {
        cache.read_to_vec(&d.digest).unwrap();
    }
    assert!(
        strays(&blobs).is_empty(),
        "left in the cache: {:?}",
        strays(&blobs)
    );
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn two_processes_pull_overlapping_images_concurrently() {
    let reg = Registry::start();
    let shared = layer(&[("shared", &noise(8 << 20, 9))]);
    let a = TestImage::new(
        "amd64",
        vec![shared.clone(), layer(&[("a", &noise(4 << 20, 10))])],
        &[],
        &[],
    );
    let b = TestImage::new(
        "amd64",
        vec![shared, layer(&[("b", &noise(4 << 20, 11))])],
        &[],
        &[],
    );
    push(&reg, "cli/a", &a);
    push(&reg, "cli/b", &b);
    let dir = TempDir::new("concurrent-cache");
    let (na, nb) = (
        format!("{}/cli/a:v1", reg.host),
        format!("{}/cli/b:v1", reg.host),
    );
    let spawn = |names: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_linuxkit"))
            .args(["cache", "--cache"])
            .arg(dir.path())
            .arg("pull")
            .args(names)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let p1 = spawn(&[&na, &nb]);
    let p2 = spawn(&[&nb, &na]);
    for p in [p1, p2] {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.images().unwrap().len(), 2);
    for n in [&na, &nb] {
        let r = cache.resolve(n, &Platform::linux("amd64")).unwrap();
        for l in &r.manifest.layers {
            let mut reader = cache.open_blob(&l.digest).unwrap();
            std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        }
    }
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn pushing_an_index_merges_platforms_the_registry_already_has() {
    let reg = Registry::start();
    let c = Client::new(ClientOptions::default());
    let amd = TestImage::new("amd64", vec![layer(&[("x", b"amd64")])], &[], &[]);
    let arm = TestImage::new("arm64", vec![layer(&[("x", b"arm64")])], &[], &[]);
    let repo = |p: &str| Repository {
        registry: reg.host.clone(),
        path: p.into(),
    };
    lk_testutil::image::push_index(&c, &repo("merge/src"), "v1", std::slice::from_ref(&amd));
    lk_testutil::image::push_index(&c, &repo("merge/dst"), "v1", std::slice::from_ref(&arm));
    let dir = TempDir::new("merge-cache");
    let src = format!("{}/merge/src:v1", reg.host);
    let out = linuxkit(dir.path(), &["pull", &src]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = linuxkit(
        dir.path(),
        &[
            "push",
            "--remote-name",
            &format!("{}/merge/dst:v1", reg.host),
            &src,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let merged = c.get_manifest(&repo("merge/dst"), "v1").unwrap();
    let index: lk_oci::Index = serde_json::from_slice(&merged.bytes).unwrap();
    let mut archs: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|m| m.platform.as_ref().map(|p| p.architecture.clone()))
        .collect();
    archs.sort();
    assert_eq!(archs, ["amd64", "arm64"]);
}

#[test]
#[cfg_attr(
    not(has_docker_registry),
    ignore = "docker-registry is not installed (apt-get install docker-registry)"
)]
fn export_filesystem_flattens_layers() {
    let reg = Registry::start();
    let img = TestImage::new(
        "amd64",
        vec![
            layer(&[("etc/keep", b"old"), ("etc/gone", b"x"), ("opt/a", b"a")]),
            layer(&[
                ("etc/keep", b"new"),
                ("etc/.wh.gone", b""),
                ("opt/.wh..wh..opq", b""),
            ]),
        ],
        &[],
        &["/bin/sh"],
    );
    push(&reg, "cli/fs", &img);
    let dir = TempDir::new("cli-export-fs");
    let name = format!("{}/cli/fs:v1", reg.host);
    assert!(linuxkit(dir.path(), &["pull", &name]).status.success());
    let tar_path = dir.path().join("fs.tar");
    let out = linuxkit(
        dir.path(),
        &[
            "export",
            "--format",
            "filesystem",
            "--outfile",
            tar_path.to_str().unwrap(),
            &name,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut files = std::collections::BTreeMap::new();
    let mut a = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = String::new();
        std::io::Read::read_to_string(&mut e, &mut data).unwrap();
        files.insert(path.trim_end_matches('/').to_owned(), data);
    }
    assert_eq!(files.get("etc/keep").map(String::as_str), Some("new"));
    assert!(
        !files.contains_key("etc/gone"),
        "whiteout honoured: {files:?}"
    );
    assert!(
        !files.contains_key("opt/a"),
        "opaque directory honoured: {files:?}"
    );
    assert!(!files.keys().any(|k| k.contains(".wh.")), "{files:?}");
    // Not in the cache: an error naming the image, and no output file.
    let missing = dir.path().join("missing.tar");
    let out = linuxkit(
        dir.path(),
        &[
            "export",
            "--format",
            "filesystem",
            "--outfile",
            missing.to_str().unwrap(),
            "example.com/none:1",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("example.com/none:1"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists() && !missing.with_extension("partial").exists());
}
