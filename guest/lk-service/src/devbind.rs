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

/// What has to be done in a libcontainer container after create, before start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AfterCreate {
    /// The host tree to attach on `/dev` (the source of a `/dev` bind).
    pub dev_source: Option<PathBuf>,
    /// Remount `/dev` read-only: a read-only container's `/dev` tmpfs (LinuxKit adds `ro`
    /// to it; runc remounts it so once its nodes exist, libcontainer leaves it writable).
    pub dev_read_only: bool,
}

impl AfterCreate {
    /// Whether there is anything to do.
    pub fn any(&self) -> bool {
        self.dev_source.is_some() || self.dev_read_only
    }
}

/// Whether the spec's `/dev` is a tmpfs mounted with `ro`.
fn dev_tmpfs_read_only(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/dev")
            && !is_dev_bind(m)
            && m.options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o == "ro"))
    })
}

/// Rewrites `<bundle>/config.json` for libcontainer: without the `/dev` bind, without the
/// device nodes a bind at the same path provides ([`crate::boundnodes`]), with what runc
/// would have given ([`crate::asrunc`], for our `limits`); returns what is left to do after
/// create.
pub fn take_from_bundle(
    bundle: &Path,
    limits: crate::asrunc::Limits,
) -> Result<AfterCreate, Error> {
    let path = bundle.join("config.json");
    let mut spec = Spec::load(&path).map_err(|e| Error::Spec {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let dev_source = take(&mut spec);
    let dev_read_only = dev_tmpfs_read_only(&spec);
    crate::boundnodes::take(&mut spec);
    crate::asrunc::adjust(&mut spec, limits, crate::asrunc::cgroup_v2());
    spec.save(&path).map_err(|e| Error::Spec {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(AfterCreate {
        dev_source,
        dev_read_only,
    })
}

/// In a helper process, `helper attach-dev ...` (setns needs a single-threaded caller):
/// does `todo` inside the mount namespace of `pid`.
pub fn attach(helper: &Path, pid: i32, todo: &AfterCreate) -> Result<(), Error> {
    let what = todo
        .dev_source
        .as_ref()
        .map_or("/dev".to_owned(), |s| s.display().to_string());
    let fail = |m: String| Error::Runtime {
        id: format!("pid {pid}"),
        message: format!("preparing /dev ({what}): {m}"),
    };
    let mut cmd = std::process::Command::new(helper);
    cmd.arg("attach-dev").arg(pid.to_string());
    if let Some(source) = &todo.dev_source {
        cmd.arg(source);
    }
    if todo.dev_read_only {
        cmd.arg("--read-only");
    }
    let out = cmd.output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

/// The helper's side: clone `source` here (if any), enter the namespace of `pid`, attach it
/// on `/dev`; then remount `/dev` read-only if asked (keeping its other flags).
pub fn attach_here(pid: i32, source: Option<&Path>, read_only: bool) -> std::io::Result<()> {
    let tree = source.map(lk_guest_sys::mountapi::clone_tree).transpose()?;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNS)?;
    // setns into a mount namespace puts our root and cwd at its root: the container's.
    if let Some(tree) = tree {
        lk_guest_sys::mountapi::attach_tree(tree.as_fd(), Path::new("/dev"))?;
    }
    if read_only {
        remount_read_only(Path::new("/dev"))?;
    }
    Ok(())
}

/// `mount -o remount,bind,ro` keeping the mount's nosuid/nodev/noexec/atime flags.
fn remount_read_only(path: &Path) -> std::io::Result<()> {
    use nix::mount::MsFlags;
    use nix::sys::statvfs::FsFlags;
    let have = nix::sys::statvfs::statvfs(path)?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (f, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(f) {
            flags |= m;
        }
    }
    nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>)?;
    Ok(())
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
