//! The config.json files our build writes (lk-spec's golden files, byte-identical to
//! LinuxKit's) run under both runtimes on this host: runc and the embedded libcontainer.
//! Each container's process is replaced by a busybox shell that prints a marker; the rest
//! of the spec (namespaces, mounts, capabilities, rlimits, devices, resources) is kept.
//! Left out: specs this host cannot grant (capability `all` and raised rlimits need a
//! bounding set this machine does not have; `net_prio` is not in its cgroup v1 set).

use std::io::Read;
use std::path::{Path, PathBuf};

use lk_service::runtime::{Io, Libcontainer, Runc, Runtime};
use oci_spec::runtime::Spec;

const CASES: &[&str] = &[
    "001-defaults/expected/onboot-0-plain",
    "004-capabilities/expected/onboot-3-none",
    "007-tmpfs/expected/onboot-0-tmpfs",
    "010-readonly/expected/services-0-ro",
    "012-rlimits/expected/services-2-rlimits-wipe",
    "014-resources/expected/services-3-resources-empty",
    "015-devices/expected/onboot-0-devices",
];

fn golden(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/lk-spec/tests/golden/oci")
        .join(format!("{case}.config.json"))
}

fn work(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lk-service-host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A root filesystem with a static busybox.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    // /work: the working directory the golden images declare (an image has it).
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "work"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    root
}

fn run(rt: &dyn Runtime, id: &str, case: &str) -> Result<(i32, String), String> {
    run_with(
        rt,
        id,
        case,
        &format!("echo marker-{id} uid=$(id -u)"),
        &|_| {},
    )
}

/// Runs `script` under busybox sh in the container of golden `case`, its spec changed by
/// `edit` first; returns the exit status and the output.
fn run_with(
    rt: &dyn Runtime,
    id: &str,
    case: &str,
    script: &str,
    edit: &dyn Fn(&mut Spec),
) -> Result<(i32, String), String> {
    let dir = work(&format!("{}-{id}", rt.name()));
    let root = rootfs(&dir);
    let text = std::fs::read_to_string(golden(case)).map_err(|e| format!("{case}: {e}"))?;
    let mut spec: Spec = serde_json::from_str(&text).map_err(|e| format!("{case}: {e}"))?;
    let mut r = spec.root().clone().unwrap();
    r.set_path(root);
    spec.set_root(Some(r));
    let mut p = spec.process().clone().unwrap();
    p.set_args(Some(vec!["/bin/sh".into(), "-c".into(), script.to_owned()]));
    spec.set_process(Some(p));
    edit(&mut spec);
    // What the supervisor does to a bundle's spec before running it.
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    spec.save(src.join("config.json")).unwrap();
    let spec = lk_service::bundle::spec_for(&src, "lkt", id).map_err(|e| e.to_string())?;
    let bundle =
        lk_service::bundle::write(&dir.join("state"), id, &spec).map_err(|e| e.to_string())?;
    let (mut out_r, out_w) = std::io::pipe().unwrap();
    let _ = rt.delete(id);
    let pid = rt
        .create(
            id,
            &bundle,
            Io {
                stdin: std::fs::File::open("/dev/null").unwrap().into(),
                stdout: out_w.into(),
                stderr: std::fs::File::create(dir.join("stderr")).unwrap().into(),
            },
        )
        .map_err(|e| format!("{case}: {e}"))?;
    rt.start(id).map_err(|e| format!("{case}: {e}"))?;
    let code = lk_service::reap::wait_for(pid).map_err(|e| e.to_string())?;
    let mut out = String::new();
    out_r.read_to_string(&mut out).unwrap();
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    rt.delete(id).map_err(|e| format!("{case}: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((code, format!("{out}{err}")))
}

/// The tests reap with waitpid(-1): one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(rt: &dyn Runtime) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .try_init();
    lk_service::reap::become_subreaper();
    let mut problems = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let id = format!("lkt-{}-{i}", rt.name());
        match run(rt, &id, case) {
            Ok((0, out)) if out.contains(&format!("marker-{id} uid=")) => {}
            Ok((code, out)) => problems.push(format!("{case}: status {code}: {out}")),
            Err(e) => problems.push(e),
        }
    }
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        rt.name(),
        problems.join("\n")
    );
}

#[test]
#[cfg_attr(
    not(can_run_containers),
    ignore = "needs root, runc and /bin/busybox (apt-get install runc busybox-static)"
)]
fn golden_configs_run_under_runc() {
    check(&Runc::default());
}

#[test]
#[cfg_attr(
    not(can_run_containers),
    ignore = "needs root, runc and /bin/busybox (apt-get install runc busybox-static)"
)]
fn golden_configs_run_under_libcontainer() {
    check(&Libcontainer {
        root: std::env::temp_dir().join("lk-service-youki-state"),
        helper: PathBuf::from(env!("CARGO_BIN_EXE_service")),
    });
}

/// A seccomp profile in the runtime config is applied: `mkdir` fails with EPERM under a
/// profile that denies it, and works without one.
fn seccomp(rt: &dyn Runtime) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    lk_service::reap::become_subreaper();
    let script = "mkdir /tmp/made && echo mkdir-worked || echo mkdir-refused";
    let deny: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }))
    .unwrap();
    let case = "001-defaults/expected/onboot-0-plain";
    let id = format!("lkt-{}-seccomp", rt.name());
    let (_, out) = run_with(rt, &id, case, script, &|spec| {
        let mut linux = spec.linux().clone().unwrap();
        linux.set_seccomp(Some(deny.clone()));
        spec.set_linux(Some(linux));
    })
    .unwrap();
    assert!(out.contains("mkdir-refused"), "{}: {out}", rt.name());
    let (_, out) = run_with(rt, &format!("{id}-none"), case, script, &|_| {}).unwrap();
    assert!(out.contains("mkdir-worked"), "{}: {out}", rt.name());
}

#[test]
#[cfg_attr(
    not(can_run_containers),
    ignore = "needs root, runc and /bin/busybox (apt-get install runc busybox-static)"
)]
fn a_seccomp_profile_blocks_a_call_under_runc() {
    seccomp(&Runc::default());
}

#[test]
#[cfg_attr(
    not(can_run_containers),
    ignore = "needs root, runc and /bin/busybox (apt-get install runc busybox-static)"
)]
fn a_seccomp_profile_blocks_a_call_under_libcontainer() {
    seccomp(&Libcontainer {
        root: std::env::temp_dir().join("lk-service-youki-state"),
        helper: PathBuf::from(env!("CARGO_BIN_EXE_service")),
    });
}
