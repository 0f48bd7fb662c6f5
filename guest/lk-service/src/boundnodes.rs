//! Device nodes that a bind mount at the same path provides. LinuxKit's own test images bind
//! `/dev/console` and list it under `devices:` too. runc makes the mounts first and the
//! nodes after, and leaves a node whose path already exists (EEXIST: the bind's target) as
//! it is, so the bind wins; libcontainer fails the container instead ("failed to prepare
//! rootfs"). So for libcontainer such a device leaves `linux.devices` before the container
//! is created (the bind gives the node) and keeps its cgroup rule, as runc allows every
//! listed device in the device cgroup.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceCgroup, Mount, Spec};

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

/// Takes out of `linux.devices` every device whose path is the destination of a bind mount,
/// adding an allow rule for it to `linux.resources.devices` where none is there yet; returns
/// the paths taken out.
pub fn take(spec: &mut Spec) -> Vec<PathBuf> {
    let targets: Vec<PathBuf> = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .map(|m| m.destination().clone())
        .collect();
    let Some(mut linux) = spec.linux().clone() else {
        return Vec::new();
    };
    let Some(devices) = linux.devices().clone() else {
        return Vec::new();
    };
    let (bound, kept): (Vec<_>, Vec<_>) = devices
        .into_iter()
        .partition(|d| targets.iter().any(|t| t == d.path()));
    if bound.is_empty() {
        return Vec::new();
    }
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    for d in &bound {
        let rule = LinuxDeviceCgroup::from(d);
        let allowed = rules.iter().any(|r| {
            r.allow()
                && r.typ() == rule.typ()
                && r.major() == rule.major()
                && r.minor() == rule.minor()
        });
        if !allowed {
            rules.push(rule);
        }
    }
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    linux.set_devices((!kept.is_empty()).then_some(kept));
    spec.set_linux(Some(linux));
    bound.into_iter().map(|d| d.path().clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_device_bound_at_its_path_is_left_to_the_bind() {
        // LinuxKit's 011_kmsg pattern: /dev/console bound and listed under devices.
        let mut s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
                "root":{"path":"rootfs"},
                "mounts":[{"destination":"/dev","type":"tmpfs","source":"tmpfs"},
                          {"destination":"/dev/console","type":"bind","source":"/dev/console","options":["rw","rbind"]}],
                "linux":{"devices":[{"path":"/dev/console","type":"c","major":5,"minor":1,"fileMode":438},
                                    {"path":"/dev/ttyS0","type":"c","major":4,"minor":64}],
                         "resources":{"devices":[{"allow":false,"access":"rwm"},
                                                 {"allow":true,"type":"c","major":4,"minor":64,"access":"rwm"}]}}}"#,
        );
        assert_eq!(take(&mut s), [PathBuf::from("/dev/console")]);
        let linux = s.linux().as_ref().unwrap();
        let left: Vec<_> = linux
            .devices()
            .as_ref()
            .unwrap()
            .iter()
            .map(|d| d.path().clone())
            .collect();
        assert_eq!(left, [PathBuf::from("/dev/ttyS0")]);
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(rules.len(), 3, "{rules:?}");
        let last = &rules[2];
        assert!(last.allow());
        assert_eq!((last.major(), last.minor()), (Some(5), Some(1)));
        assert_eq!(last.access().as_deref(), Some("rwm"));
        // Nothing more to take the second time.
        assert!(take(&mut s).is_empty());
    }

    #[test]
    fn an_existing_rule_is_not_repeated_and_other_mounts_do_not_count() {
        let mut s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
                "root":{"path":"rootfs"},
                "mounts":[{"destination":"/dev/console","source":"/dev/console","options":["bind"]},
                          {"destination":"/dev/null","type":"tmpfs","source":"tmpfs"}],
                "linux":{"devices":[{"path":"/dev/console","type":"c","major":5,"minor":1},
                                    {"path":"/dev/null","type":"c","major":1,"minor":3}],
                         "resources":{"devices":[{"allow":true,"type":"c","major":5,"minor":1,"access":"rwm"}]}}}"#,
        );
        assert_eq!(take(&mut s), [PathBuf::from("/dev/console")]);
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(linux.devices().as_ref().unwrap().len(), 1);
        assert_eq!(
            linux
                .resources()
                .as_ref()
                .unwrap()
                .devices()
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn without_devices_nothing_changes() {
        let mut s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
                "root":{"path":"rootfs"},
                "mounts":[{"destination":"/dev/console","type":"bind","source":"/dev/console"}],
                "linux":{}}"#,
        );
        let before = serde_json::to_string(&s).unwrap();
        assert!(take(&mut s).is_empty());
        assert_eq!(serde_json::to_string(&s).unwrap(), before);
    }
}
