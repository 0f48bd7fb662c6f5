//! Mount points a read-only container root lacks. runc and libcontainer both create a
//! missing mount destination (a directory, or an empty file for a file bind) in the
//! container's root before they remount that root read-only. Under LinuxKit the root
//! filesystem is itself read-only by then (`/` is remounted `ro` at boot), so for a
//! `readonly: true` container, whose root is only a self-bind of the image directory, that
//! creation fails with EROFS and the container never starts (`binds: ["/sys:/hostsys:ro"]`
//! on an image without `/hostsys`).
//!
//! When a read-only container needs such a mount point, its root gets a writable layer
//! first: an overlay whose lower layer is the image root and whose upper layer lives in
//! `/run` (a tmpfs). The runtime then creates the mount points there, mounts, and makes the
//! root read-only as the spec says, so the container sees what runc gives on a writable
//! host root: its image, the new (empty) mount points, nothing writable. The layer goes with
//! the container ([`release`]).

use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use crate::prepare::Step;

/// Where the writable layers live: `<BASE>/<container id>/{upper,work}`.
pub const BASE: &str = "/run/lk-service/mountpoints";

/// The mount destinations of a read-only `spec` that its root (an absolute path) does not
/// have and that no earlier mount of the spec provides (a destination under an earlier
/// destination is made inside that mount). Empty for a writable root.
pub fn missing(spec: &Spec) -> Vec<PathBuf> {
    let Some(root) = spec.root() else {
        return Vec::new();
    };
    if !root.readonly().unwrap_or(false) {
        return Vec::new();
    }
    let dests: Vec<PathBuf> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().clone())
        .collect();
    missing_in(root.path(), &dests, |p| p.symlink_metadata().is_ok())
}

/// [`missing`] over a list of destinations, with `exists` telling whether a host path is
/// there (pure: tests pass a set).
pub fn missing_in(root: &Path, dests: &[PathBuf], exists: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    // A destination relative to the root: its normal components only.
    let relative = |p: &Path| -> PathBuf {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect()
    };
    let mut out = Vec::new();
    for (i, d) in dests.iter().enumerate() {
        let rel = relative(d);
        if rel.as_os_str().is_empty() {
            continue;
        }
        let under_earlier = dests[..i]
            .iter()
            .map(|e| relative(e))
            .any(|e| !e.as_os_str().is_empty() && rel.starts_with(&e) && rel != e);
        if !under_earlier && !exists(&root.join(&rel)) && !out.contains(d) {
            out.push(d.clone());
        }
    }
    out
}

/// The writable layer over `root` for container `id`: the upper and work directories in
/// `/run`, then the overlay on `root` itself (its lower layer is what `root` shows now).
pub fn plan(root: &Path, id: &str) -> Vec<Step> {
    let base = Path::new(BASE).join(id);
    let (upper, work) = (base.join("upper"), base.join("work"));
    vec![
        Step::Mkdir(upper.clone()),
        Step::Mkdir(work.clone()),
        Step::Mount {
            source: "overlay".to_owned(),
            target: root.to_path_buf(),
            fstype: "overlay".to_owned(),
            flags: MsFlags::empty(),
            data: format!(
                "lowerdir={},upperdir={},workdir={}",
                root.display(),
                upper.display(),
                work.display()
            ),
        },
    ]
}

/// Gives a read-only `spec` (its root an absolute path, as [`crate::bundle::spec_for`]
/// makes it) for container `id` the writable layer when it lacks a mount point; says so
/// through `log`.
pub fn provide(spec: &Spec, id: &str, log: &mut dyn FnMut(String)) -> Result<(), crate::Error> {
    let missing = missing(spec);
    let Some(root) = spec.root().as_ref().filter(|_| !missing.is_empty()) else {
        return Ok(());
    };
    let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
    log(format!(
        "{id}: its read-only root has no {}: a writable layer in {BASE} for the runtime to make them",
        names.join(", ")
    ));
    crate::prepare::apply(&plan(root.path(), id), log)
}

/// Whether container `id` was given a writable layer (and not yet released).
pub fn has_layer(id: &str) -> bool {
    Path::new(BASE).join(id).exists()
}

/// Removes the writable layer's directories of container `id` (after its overlay is
/// unmounted; nothing to do when it had none).
pub fn release(id: &str) {
    let _ = std::fs::remove_dir_all(Path::new(BASE).join(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn only_destinations_neither_in_the_image_nor_under_an_earlier_mount() {
        let have: HashSet<PathBuf> = paths(&["/r/proc", "/r/dev", "/r/sys", "/r/etc/resolv.conf"])
            .into_iter()
            .collect();
        let dests = paths(&[
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/console",
            "/sys",
            "/hostsys",
            "/etc/resolv.conf",
            "/var/lib/x/",
            "/hostsys",
        ]);
        let got = missing_in(Path::new("/r"), &dests, |p| have.contains(p));
        assert_eq!(got, paths(&["/hostsys", "/var/lib/x/"]));
    }

    #[test]
    fn a_writable_root_needs_no_layer() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"/nonexistent/rootfs"},
                "mounts":[{"destination":"/hostsys","type":"bind","source":"/sys"}]}"#,
        )
        .unwrap();
        assert!(missing(&spec).is_empty());
        let ro: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"/nonexistent/rootfs","readonly":true},
                "mounts":[{"destination":"/hostsys","type":"bind","source":"/sys"}]}"#,
        )
        .unwrap();
        assert_eq!(missing(&ro), paths(&["/hostsys"]));
    }

    #[test]
    fn the_layer_is_an_overlay_of_the_root_on_itself_with_its_upper_in_run() {
        let steps = plan(Path::new("/containers/onboot/000-x/rootfs"), "000-x");
        assert_eq!(
            steps[..2],
            [
                Step::Mkdir("/run/lk-service/mountpoints/000-x/upper".into()),
                Step::Mkdir("/run/lk-service/mountpoints/000-x/work".into()),
            ]
        );
        let Step::Mount { target, data, .. } = &steps[2] else {
            panic!("not a mount: {:?}", steps[2]);
        };
        assert_eq!(target, Path::new("/containers/onboot/000-x/rootfs"));
        assert_eq!(
            data,
            "lowerdir=/containers/onboot/000-x/rootfs,upperdir=/run/lk-service/mountpoints/000-x/upper,workdir=/run/lk-service/mountpoints/000-x/work"
        );
    }
}
