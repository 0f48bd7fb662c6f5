//! The host's `/dev` in a container under libcontainer. LinuxKit packages that need the
//! host's devices (getty, sshd, format, mount) bind `/dev:/dev`. runc tolerates the device
//! nodes and `/dev/fd`-style links it then finds already there; libcontainer fails on them
//! (EEXIST). So for libcontainer that bind is taken out of the spec, and once the container
//! is created (its root prepared, its process not yet started) the host's `/dev` tree is
//! cloned and attached on the container's `/dev` from inside its mount namespace. The
//! result is what runc gives: the host's devices, recursively.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::Error;

fn is_dev_bind(m: &oci_spec::runtime::Mount) -> bool {
    let bind = m.typ().as_deref() == Some("bind")
        || m.options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"));
    bind && m.destination() == Path::new("/dev")
}

/// Replaces a bind of something onto `/dev` in the spec by a tmpfs (where the runtime can
/// make its device nodes even when the root is read-only; the bind replaced LinuxKit's
/// default `/dev` tmpfs); returns the bind's source.
pub fn take(spec: &mut Spec) -> Option<PathBuf> {
    let mounts = spec.mounts().clone()?;
    let source = mounts
        .iter()
        .find(|m| is_dev_bind(m))
        .and_then(|m| m.source().clone())?;
    let has_tmpfs = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && !is_dev_bind(m));
    let mut out = Vec::with_capacity(mounts.len());
    for m in mounts {
        if !is_dev_bind(&m) {
            out.push(m);
        } else if !has_tmpfs {
            let mut t = m.clone();
            t.set_typ(Some("tmpfs".to_owned()));
            t.set_source(Some(PathBuf::from("tmpfs")));
            t.set_options(Some(
                ["nosuid", "strictatime", "mode=755", "size=65536k"]
                    .map(String::from)
                    .to_vec(),
            ));
            out.push(t);
        }
    }
    spec.set_mounts(Some(out));
    Some(source)
}

/// Rewrites `<bundle>/config.json` for libcontainer: without the `/dev` bind (its source is
/// returned) and without the device nodes a bind at the same path provides
/// ([`crate::boundnodes`]).
pub fn take_from_bundle(bundle: &Path) -> Result<Option<PathBuf>, Error> {
    let path = bundle.join("config.json");
    let mut spec = Spec::load(&path).map_err(|e| Error::Spec {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let taken = take(&mut spec);
    let bound = crate::boundnodes::take(&mut spec);
    if taken.is_some() || !bound.is_empty() {
        spec.save(&path).map_err(|e| Error::Spec {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(taken)
}

/// In a helper process (setns needs a single-threaded caller): attaches a clone of
/// `source` on `/dev` inside the mount namespace of `pid`.
pub fn attach(pid: i32, source: &Path) -> Result<(), Error> {
    let fail = |m: String| Error::Runtime {
        id: format!("pid {pid}"),
        message: format!("binding {} on /dev: {m}", source.display()),
    };
    let out = std::process::Command::new("/proc/self/exe")
        .arg("attach-dev")
        .arg(pid.to_string())
        .arg(source)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

/// The helper's side: clone `source` here, enter the namespace of `pid`, attach on `/dev`.
pub fn attach_here(pid: i32, source: &Path) -> std::io::Result<()> {
    let tree = lk_guest_sys::mountapi::clone_tree(source)?;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNS)?;
    // setns into a mount namespace puts our root and cwd at its root: the container's.
    lk_guest_sys::mountapi::attach_tree(tree.as_fd(), Path::new("/dev"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_the_dev_bind() {
        let mut spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
                "root":{"path":"rootfs"},
                "mounts":[{"destination":"/dev","type":"tmpfs","source":"tmpfs"},
                          {"destination":"/dev","type":"bind","source":"/dev","options":["rw","rbind","rshared"]},
                          {"destination":"/dev/pts","type":"devpts","source":"devpts"},
                          {"destination":"/sys","type":"bind","source":"/sys","options":["rbind"]}]}"#,
        )
        .unwrap();
        assert_eq!(take(&mut spec), Some(PathBuf::from("/dev")));
        let left: Vec<String> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m.destination().display(),
                    m.typ().clone().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(left, ["/dev:tmpfs", "/dev/pts:devpts", "/sys:bind"]);
        assert_eq!(take(&mut spec), None);
    }

    #[test]
    fn a_dev_bind_that_replaced_the_tmpfs_becomes_one() {
        let mut spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
                "root":{"path":"rootfs","readonly":true},
                "mounts":[{"destination":"/dev","type":"bind","source":"/dev","options":["rw","rbind","rshared"]},
                          {"destination":"/proc","type":"proc","source":"proc"}]}"#,
        )
        .unwrap();
        assert_eq!(take(&mut spec), Some(PathBuf::from("/dev")));
        let m = &spec.mounts().as_ref().unwrap()[0];
        assert_eq!(m.destination(), Path::new("/dev"));
        assert_eq!(m.typ().as_deref(), Some("tmpfs"));
        assert_eq!(spec.mounts().as_ref().unwrap().len(), 2);
    }
}
