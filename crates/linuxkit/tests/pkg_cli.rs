//! `linuxkit pkg` with the real Docker engine and a loopback registry.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use lk_testutil::TempDir;
use lk_testutil::registry::Registry;

use lk_testutil::git;

fn lk(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `pkg show-tag pkg/hello`.
fn hello_tag(dir: &Path) -> String {
    text(&lk(dir, &["pkg", "show-tag", "pkg/hello"]).stdout)
        .trim()
        .to_owned()
}

/// Builds a `tar` image with `pkg/hello` (through `@pkg:`) as its onboot container, from
/// the cache at `cache`; returns each entry's path and contents.
fn hello_image_entries(dir: &Path, cache: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::write(
        dir.join("lk.yml"),
        "onboot:\n  - name: hello\n    image: \"@pkg:pkg/hello\"\n",
    )
    .unwrap();
    let out = lk(
        dir,
        &["build", "--cache", cache, "--format", "tar", "lk.yml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut a = tar::Archive::new(std::fs::File::open(dir.join("lk.tar")).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (path, data)
        })
        .collect()
}

/// A git repository with `pkg/hello` (org = the registry, so pushes go there).
fn repo(org: &str) -> TempDir {
    let t = TempDir::new("pkg-repo");
    let pkg = t.path().join("pkg/hello");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("build.yml"),
        format!(
            "image: hello\norg: {org}\narches: [amd64]\nconfig:\n  capabilities: [CAP_NET_ADMIN]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        pkg.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    std::fs::write(pkg.join("hello.txt"), "hello\n").unwrap();
    git(t.path(), &["init", "-q"]);
    git(t.path(), &["add", "."]);
    git(t.path(), &["commit", "-qm", "hello"]);
    t
}

#[test]
#[cfg_attr(
    not(all(has_docker_engine, has_docker_registry)),
    ignore = "needs a Docker engine (scripts/dockerd.sh) and docker-registry"
)]
fn build_cache_use_skip_and_force() {
    let reg = Registry::start();
    let r = repo(&format!("{}/lk", reg.host));
    let dir = r.path();
    let cache = dir.join("cache");
    let cache_s = cache.to_str().unwrap();
    let tag = hello_tag(dir);
    assert!(tag.starts_with(&format!("{}/lk/hello:", reg.host)), "{tag}");
    // Stored with Docker's plain layers first (as before layers were compressed)...
    let out = lk(
        dir,
        &[
            "pkg",
            "build",
            "--layer-compression",
            "none",
            "--cache",
            cache_s,
            "pkg/hello",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{tag} built for amd64\n"));
    let layer_types = || {
        let c = lk_cache::Cache::open(&cache).unwrap();
        let r = c.resolve(&tag, &lk_oci::Platform::linux("amd64")).unwrap();
        r.manifest
            .layers
            .iter()
            .map(|l| l.media_type.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        layer_types().iter().all(|m| !m.ends_with("gzip")),
        "{:?}",
        layer_types()
    );
    // ...then the next build finds it in the cache and compresses its layers in place.
    let out = lk(dir, &["pkg", "build", "--cache", cache_s, "pkg/hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{tag} skipped (in the local cache)\n")
    );
    assert!(
        text(&out.stderr).contains("stored 1 layer gzip"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        layer_types().iter().all(|m| m.ends_with("tar+gzip")),
        "{:?}",
        layer_types()
    );
    // The package feeds `linuxkit build` through @pkg:, with its label applied.
    let entries = hello_image_entries(dir, cache_s);
    let has_file = entries.contains_key("containers/onboot/000-hello/lower/hello.txt");
    let config = entries
        .get("containers/onboot/000-hello/config.json")
        .map(|c| text(c))
        .unwrap_or_default();
    assert!(has_file);
    assert!(
        config.contains("CAP_NET_ADMIN") && config.contains("\"/hello\""),
        "{config}"
    );
    // Unchanged: skipped, fast.
    let t = Instant::now();
    let out = lk(dir, &["pkg", "build", "--cache", cache_s, "pkg/hello"]);
    assert!(
        t.elapsed().as_secs_f64() < 1.0,
        "skip took {:?}",
        t.elapsed()
    );
    assert_eq!(
        text(&out.stdout),
        format!("{tag} skipped (in the local cache)\n")
    );
    // --force rebuilds.
    let out = lk(
        dir,
        &["pkg", "build", "--force", "--cache", cache_s, "pkg/hello"],
    );
    assert_eq!(
        text(&out.stdout),
        format!("{tag} built for amd64\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(all(has_docker_engine, has_docker_registry)),
    ignore = "needs a Docker engine (scripts/dockerd.sh) and docker-registry"
)]
fn push_refuses_dirty_and_pushes_release_tags() {
    let reg = Registry::start();
    let r = repo(&format!("{}/lk", reg.host));
    let dir = r.path();
    let cache = dir.join("cache");
    let cache_s = cache.to_str().unwrap();
    std::fs::write(dir.join("pkg/hello/hello.txt"), "changed\n").unwrap();
    let out = lk(dir, &["pkg", "push", "--cache", cache_s, "pkg/hello"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refusing to push dirty package"),
        "{}",
        text(&out.stderr)
    );
    git(dir, &["checkout", "-q", "--", "."]);
    git(dir, &["tag", "v1.2.3"]);
    let out = lk(dir, &["pkg", "push", "--cache", cache_s, "pkg/hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("pushed as {}/lk/hello:v1.2.3", reg.host)),
        "{stdout}"
    );
    // pkg manifest: an index from the per-arch tags, also under a release name.
    let out = lk(dir, &["pkg", "manifest", "--release", "v9", "pkg/hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("{}/lk/hello:v9 sha256:", reg.host)),
        "{}",
        text(&out.stdout)
    );
    // pkg remote-tag into another repository.
    let out = lk(
        dir,
        &[
            "pkg",
            "remote-tag",
            &format!("{}/lk/hello:v1.2.3", reg.host),
            &format!("{}/lk/copy:c1", reg.host),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = dir.join("copy-cache");
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args([
            "cache",
            "--cache",
            copy.to_str().unwrap(),
            "pull",
            &format!("{}/lk/copy:c1", reg.host),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Both tags are in the registry.
    let fresh = dir.join("fresh");
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args([
            "cache",
            "--cache",
            fresh.to_str().unwrap(),
            "pull",
            &format!("{}/lk/hello:v1.2.3", reg.host),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn without_docker_or_buildah_the_error_names_both_and_how_to_get_either() {
    let r = repo("example");
    let dir = r.path();
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .args([
            "pkg",
            "build",
            "--force",
            "--cache",
            dir.join("c").to_str().unwrap(),
            "pkg/hello",
        ])
        .env("LINUXKIT_DOCKER", "/nonexistent/docker")
        .env("LINUXKIT_BUILDAH", "/nonexistent/buildah")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no package builder: no Docker engine answers")
            && err.contains("apt-get install buildah")
            && err.contains("hint: start a Docker engine"),
        "{err}"
    );
    let ls = lk(
        dir,
        &["cache", "--cache", dir.join("c").to_str().unwrap(), "ls"],
    );
    assert!(!text(&ls.stdout).contains("hello"), "{}", text(&ls.stdout));
}

#[test]
#[cfg_attr(
    not(all(has_docker_engine, has_docker_registry)),
    ignore = "needs a Docker engine (scripts/dockerd.sh) and docker-registry"
)]
fn depends_docker_images_are_pulled_and_saved_into_the_package() {
    let reg = Registry::start();
    let client = lk_registry::Client::new(lk_registry::ClientOptions::default());
    let img = lk_testutil::image::TestImage::new(
        "amd64",
        vec![lk_testutil::image::layer(&[("dep.txt", b"dep")])],
        &[],
        &["/dep"],
    );
    let digest = img.push(
        &client,
        &lk_registry::Repository {
            registry: reg.host.clone(),
            path: "deps/one".into(),
        },
        Some("v1"),
    );
    let r = repo("example");
    let dir = r.path();
    let dep = format!("{}/deps/one@{digest}", reg.host);
    std::fs::write(dir.join("pkg/hello/build.yml"), format!("image: hello\norg: example\narches: [amd64]\ndepends:\n  docker-images:\n    list: [\"{dep}\"]\n    target-dir: deps\n")).unwrap();
    std::fs::write(dir.join(".gitignore"), "deps/\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "depends"]);
    let out = lk(
        dir,
        &[
            "pkg",
            "build",
            "--cache",
            dir.join("cache").to_str().unwrap(),
            "pkg/hello",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = dir.join(format!("pkg/hello/deps/one@{digest}.tar"));
    assert!(saved.is_file(), "{} missing", saved.display());
}

/// `--platforms` / `--skip-platforms` are decided before any engine is needed: nothing
/// left to build is a skip with LinuxKit's message; a bad item or both flags fail.
#[test]
fn platform_flags_need_no_engine() {
    let r = repo("example");
    let dir = r.path();
    let cache = dir.join("c");
    let run = |extra: &[&str]| {
        let mut args = vec!["pkg", "build", "--cache", cache.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push("pkg/hello");
        Command::new(env!("CARGO_BIN_EXE_linuxkit"))
            .current_dir(dir)
            .args(&args)
            .env("LINUXKIT_DOCKER", "/nonexistent/docker")
            .output()
            .unwrap()
    };
    let out = run(&["--skip-platforms", "linux/amd64"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("skipped (no architectures to build)"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("with no architectures to build"));
    let out = run(&["--platforms", "amd64"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--platforms amd64: expected os/arch"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "--platforms",
        "linux/amd64",
        "--skip-platforms",
        "linux/arm64",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot be used with"));
}

/// `--nobuild` builds nothing (and with `--push` and an empty cache, pushes nothing, as
/// LinuxKit says); `--dockerfile` builds with another Dockerfile of the package.
#[test]
#[cfg_attr(
    not(has_docker_engine),
    ignore = "needs a Docker engine (scripts/dockerd.sh)"
)]
fn nobuild_builds_nothing_and_dockerfile_picks_another() {
    let r = repo("example");
    let dir = r.path();
    let cache = dir.join("c");
    let cache_s = cache.to_str().unwrap();
    let tag = hello_tag(dir);
    let out = lk(
        dir,
        &[
            "pkg",
            "build",
            "--nobuild",
            "--push",
            "--cache",
            cache_s,
            "pkg/hello",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{tag} skipped (--nobuild)\n"));
    let err = text(&out.stderr);
    assert!(
        err.contains("--nobuild: not building")
            && err.contains("No new platforms to push, skipping."),
        "{err}"
    );
    let out = lk(dir, &["pkg", "build", "--nobuild", "--force", "pkg/hello"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    std::fs::write(
        dir.join("pkg/hello/Dockerfile.alt"),
        "FROM scratch\nCOPY hello.txt /alt.txt\n",
    )
    .unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "alt"]);
    let args = [
        "--dockerfile",
        "Dockerfile.alt",
        "--cache",
        cache_s,
        "pkg/hello",
    ];
    let out = lk(dir, &[&["pkg", "build"][..], &args[..]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tag = hello_tag(dir);
    assert_eq!(text(&out.stdout), format!("{tag} built for amd64\n"));
    let names: Vec<String> = hello_image_entries(dir, cache_s).into_keys().collect();
    let lower = "containers/onboot/000-hello/lower/";
    assert!(names.contains(&format!("{lower}alt.txt")), "{names:?}");
    assert!(!names.contains(&format!("{lower}hello.txt")), "{names:?}");
}

/// LinuxKit's BuildKit-container flags are refused before any work, naming the flag.
#[test]
fn buildkit_only_flags_are_refused_by_name() {
    let r = repo("example");
    let dir = r.path();
    for (flag, value) in [
        ("--builder-image", Some("moby/buildkit:v0.26.3")),
        ("--builder-restart", None),
        ("--sbom-scanner", Some("false")),
    ] {
        let mut args = vec!["pkg", "build", flag];
        args.extend(value);
        args.push("pkg/hello");
        let out = lk(dir, &args);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("{flag} is not supported: ")), "{err}");
    }
}

/// Bad `--builder` / `--builders` input fails with the reason before anything is built,
/// and leaves nothing in the cache; no engine is needed to say so.
#[test]
fn bad_builders_are_refused_naming_the_entry() {
    let r = repo("example");
    let dir = r.path();
    let cache = dir.join("c");
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "pkg",
            "build",
            "--force",
            "--cache",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push("pkg/hello");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_linuxkit"));
        cmd.current_dir(dir).args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&["--builder", "podman"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown builder \"podman\": use docker, buildah or auto"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--builders", "arm64=somewhere"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--builders entry \"arm64=somewhere\" is not PLATFORM=TARGET"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[], &[("LINUXKIT_BUILDERS", "linux/amd64")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not PLATFORM=TARGET"));
    let dead = "unix:///nonexistent/lk-remote.sock";
    let out = run(&["--builders", &format!("linux/amd64={dead}")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "the builder {dead} for linux/amd64 does not answer"
        )),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "--builder",
            "buildah",
            "--builders",
            &format!("linux/amd64={dead}"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot be used with --builder buildah"),
        "{}",
        text(&out.stderr)
    );
    let ls = lk(dir, &["cache", "--cache", cache.to_str().unwrap(), "ls"]);
    assert!(!text(&ls.stdout).contains("hello"), "{}", text(&ls.stdout));
}

/// `--dry-run` prints the back end's command for each platform (with `--network`,
/// `--disable-cache` and `--ssh` in it) and needs no engine that runs; nothing is cached.
#[test]
fn dry_run_prints_the_build_command_and_builds_nothing() {
    let r = repo("example");
    let dir = r.path();
    let cache = dir.join("c");
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .args([
            "pkg",
            "build",
            "--dry-run",
            "--force",
            "--builder",
            "buildah",
        ])
        .args(["--network", "--disable-cache", "--ssh", "default"])
        .args(["--cache", cache.to_str().unwrap(), "pkg/hello"])
        .env("LINUXKIT_BUILDAH", "/nonexistent/buildah")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tag = hello_tag(dir);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let line = lines[0];
    assert!(
        line.starts_with(&format!(
            "/nonexistent/buildah build '--format=docker' --platform linux/amd64 -t docker.io/{tag}-amd64 -f "
        )),
        "{line}"
    );
    for part in [
        "'--network=host'",
        " --no-cache ",
        "'--ssh=default'",
        "'--label=org.mobyproject.config={\"capabilities\":[\"CAP_NET_ADMIN\"]}'",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    let ls = lk(dir, &["cache", "--cache", cache.to_str().unwrap(), "ls"]);
    assert!(!text(&ls.stdout).contains("hello"), "{}", text(&ls.stdout));
    // --nonetwork wins over build.yml's network: true.
    let yml = dir.join("pkg/hello/build.yml");
    let with_net = std::fs::read_to_string(&yml).unwrap() + "network: true\n";
    std::fs::write(&yml, with_net).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .args([
            "pkg",
            "build",
            "--dry-run",
            "--force",
            "--builder",
            "buildah",
        ])
        .args([
            "--nonetwork",
            "--cache",
            cache.to_str().unwrap(),
            "pkg/hello",
        ])
        .env("LINUXKIT_BUILDAH", "/nonexistent/buildah")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("--network=none"),
        "{}",
        text(&out.stdout)
    );
}

/// LinuxKit's flag rules: `--force` excludes `--pull`; the pairs exclude each other; a bad
/// `--registry-creds` or `--progress` is named.
#[test]
fn pkg_flag_conflicts_and_bad_values_are_named() {
    let r = repo("example");
    let dir = r.path();
    let run = |args: &[&str]| {
        let mut all = vec!["pkg", "build", "--dry-run"];
        all.extend_from_slice(args);
        all.push("pkg/hello");
        lk(dir, &all)
    };
    for (args, says) in [
        (&["--force", "--pull"][..], "--pull"),
        (&["--network", "--nonetwork"][..], "--nonetwork"),
        (&["--disable-cache", "--enable-cache"][..], "--enable-cache"),
        (&["--progress", "fancy"][..], "use auto, plain or tty"),
        (
            &["--registry-creds", "ghcr.io"][..],
            "is not REGISTRY=USER:PASSWORD",
        ),
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// `--pull` takes what the registry has instead of building (no engine is asked), and
/// `--docker` (which implies it) loads the result into the Docker engine under LinuxKit's
/// names; `--registry-creds` for a registry that needs none changes nothing.
#[test]
#[cfg_attr(
    not(all(has_docker_engine, has_docker_registry)),
    ignore = "needs a Docker engine (scripts/dockerd.sh) and docker-registry"
)]
fn pull_and_docker_take_the_registry_image() {
    let reg = Registry::start();
    let r = repo(&format!("{}/lk", reg.host));
    let dir = r.path();
    let tag = hello_tag(dir);
    let client = lk_registry::Client::new(lk_registry::ClientOptions::default());
    let img = lk_testutil::image::TestImage::new(
        "amd64",
        vec![lk_testutil::image::layer(&[(
            "pulled.txt",
            b"from the registry",
        )])],
        &[],
        &["/hello"],
    );
    let (_, hash) = tag.rsplit_once(':').unwrap();
    let repo_ref = lk_registry::Repository {
        registry: reg.host.clone(),
        path: "lk/hello".into(),
    };
    lk_testutil::image::push_index(&client, &repo_ref, hash, &[img]);
    let cache = dir.join("cache");
    let creds = format!("{}=nobody:nothing", reg.host);
    let out = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(dir)
        .args(["pkg", "build", "--pull", "--registry-creds", &creds])
        .args(["--cache", cache.to_str().unwrap(), "pkg/hello"])
        .env("LINUXKIT_DOCKER", "/nonexistent/docker")
        .env("LINUXKIT_BUILDAH", "/nonexistent/buildah")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{tag} skipped (pulled from the registry)\n")
    );
    let entries = hello_image_entries(dir, cache.to_str().unwrap());
    assert!(
        entries.keys().any(|k| k.ends_with("pulled.txt")),
        "{:?}",
        entries.keys()
    );
    // --docker: from the cache into the engine, as <tag>-amd64 and <tag>.
    let out = lk(
        dir,
        &[
            "pkg",
            "build",
            "--docker",
            "--cache",
            cache.to_str().unwrap(),
            "pkg/hello",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in [format!("{tag}-amd64"), tag.clone()] {
        let inspect = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Architecture}}", &name])
            .output()
            .unwrap();
        assert_eq!(
            text(&inspect.stdout).trim(),
            "amd64",
            "{name}: {}",
            text(&inspect.stderr)
        );
    }
    let _ = Command::new("docker")
        .args(["image", "rm", &format!("{tag}-amd64"), &tag])
        .output();
}

/// Two platforms on two engines (`--builders` names the same engine by its socket URL, a
/// second engine as far as the run can tell) build at the same time, each line of their
/// output marked with its arch, and are joined into one index.
#[test]
#[cfg_attr(
    not(has_docker_engine),
    ignore = "needs a Docker engine (scripts/dockerd.sh)"
)]
fn platforms_on_their_own_builders_build_at_once_into_one_index() {
    let r = repo("example");
    let dir = r.path();
    let cache = dir.join("cache");
    let out = lk(
        dir,
        &[
            "pkg",
            "build",
            "--force",
            "--platforms",
            "linux/amd64,linux/arm64",
            "--builders",
            "linux/arm64=unix:///var/run/docker.sock",
            "--cache",
            cache.to_str().unwrap(),
            "pkg/hello",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let tag = hello_tag(dir);
    assert_eq!(text(&out.stdout), format!("{tag} built for amd64, arm64\n"));
    let at = |needle: &str| {
        stderr
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {stderr}"))
    };
    // Both builds started before either's output came back.
    let started = at("Building for arch amd64").max(at("Building for arch arm64"));
    let first_output = at("  [amd64] ").min(at("  [arm64] "));
    assert!(started < first_output, "{stderr}");
    assert!(
        stderr.contains("(docker at unix:///var/run/docker.sock)"),
        "{stderr}"
    );
    let c = lk_cache::Cache::open(&cache).unwrap();
    for arch in ["amd64", "arm64"] {
        let img = c
            .resolve(&format!("docker.io/{tag}"), &lk_oci::Platform::linux(arch))
            .unwrap();
        assert_eq!(img.config.architecture, arch);
    }
}
