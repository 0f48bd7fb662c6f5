#!/usr/bin/env python3
"""The runtime conformance table: container settings drawn from what LinuxKit's own
packages, examples and tests use, each run as an onboot container whose command is
probe.sh, once under runc and once under the embedded runtime (libcontainer).

  conformance.py yaml IMAGE PROBE          the onboot: section, one container per setting
  conformance.py compare RUNC.log LIBC.log what each container saw, compared; exit 1 on a
                                           difference not listed in DEPARTURES, or a
                                           setting that did not start under either

A future runtime bug gets a row in SETTINGS. Output: "conformance: N settings ..."."""

import json
import re
import sys

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NETNS = "/run/netns/lk-conformance"

# (name, LinuxKit YAML keys, PROBE_EXTRA or None). Order matters: netns-bind makes the
# network namespace netns-path joins.
SETTINGS = [
    ("default", {}, None),
    # LinuxKit's test/cases/040_packages/011_kmsg: a bind and a device node at one path.
    ("bind-and-device", {
        "binds": ["/dev/console:/dev/console"],
        "devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1, "mode": "0666"}],
    }, "echo console-ok > /dev/console && echo wrote-console"),
    # A read-only root and a bind whose target the image lacks.
    ("readonly-missing-target", {"readonly": True, "binds": ["/sys:/hostsys:ro"]},
     "ls -d /hostsys/kernel"),
    ("readonly-tmpfs-binds", {
        "readonly": True, "tmpfs": ["/tmp:size=1m", "/scratch"],
        "binds": ["/run:/run", "/etc/resolv.conf:/etc/resolv.conf"],
    }, "touch /scratch/x && echo scratch-writable"),
    ("devices-all-char", {"capabilities": ["CAP_MKNOD"], "devices": [{"path": "all", "type": "c"}]},
     "mknod /tmp/z c 1 5 && head -c 2 /tmp/z | od -An -tx1; mknod /tmp/l b 7 0 && head -c 1 /tmp/l | wc -c"),
    ("devices-all-block", {"capabilities": ["CAP_MKNOD"], "devices": [{"path": "all", "type": "b"}]},
     "mknod /tmp/z c 1 5 && head -c 2 /tmp/z | od -An -tx1; mknod /tmp/l b 7 0 && head -c 1 /tmp/l | wc -c"),
    ("devices-all", {"capabilities": ["CAP_MKNOD"], "devices": [{"path": "all", "type": "a"}]},
     "mknod /tmp/z c 1 5 && head -c 2 /tmp/z | od -An -tx1; mknod /tmp/l b 7 0 && head -c 1 /tmp/l | wc -c"),
    # getty, sshd, format, mount: the host's /dev, shared.
    ("dev-rshared", {"binds": ["/dev:/dev:rshared,rbind"], "rootfsPropagation": "shared"}, None),
    # The mount package: /var shared both ways.
    ("propagation-shared", {
        "binds": ["/var:/var:rshared,rbind"], "rootfsPropagation": "shared",
        "capabilities": ["CAP_SYS_ADMIN"],
    }, "mkdir -p /var/lk-conformance && mount -t tmpfs t /var/lk-conformance && echo mounted"),
    ("propagation-sees-shared", {"binds": ["/var:/var:rslave,rbind"], "rootfsPropagation": "slave"},
     "grep -c ' /var/lk-conformance ' /proc/self/mountinfo"),
    ("propagation-private", {"rootfsPropagation": "private"}, None),
    ("capabilities-all", {"capabilities": ["all"]}, None),
    ("capabilities-ambient", {
        "uid": 1000, "gid": 1000, "capabilities": ["CAP_NET_ADMIN", "CAP_NET_RAW"],
        "ambient": ["CAP_NET_ADMIN"],
    }, None),
    ("user-and-nonewprivs", {"uid": 1000, "gid": 1000, "additionalGids": [27, 100],
                             "noNewPrivileges": True, "cwd": "/tmp"}, None),
    ("host-namespaces", {"net": "host", "pid": "host", "ipc": "host", "uts": "host"}, None),
    ("new-namespaces", {"net": "new", "pid": "new", "ipc": "new", "uts": "new",
                        "hostname": "lk-conformance"}, None),
    ("netns-bind", {"net": "new", "runtime": {"bindNS": {"net": NETNS}}}, None),
    ("netns-path", {"net": NETNS}, None),
    ("interfaces", {"net": "new", "capabilities": ["CAP_NET_ADMIN"], "runtime": {
        "interfaces": [{"name": "lkc0", "add": "veth", "peer": "lkc1"}]}}, None),
    # LinuxKit's YAML decoder drops containerID/hostID (docs/compatibility.md), so a mapping
    # from YAML is 0 -> 0 of `size` ids: a user namespace mapping the first 65536 ids.
    ("user-mappings", {
        "userns": "new", "net": "new",
        "uidMappings": [{"size": 65536}], "gidMappings": [{"size": 65536}],
    }, None),
    ("oom-and-rlimits", {"oomScoreAdj": -500, "rlimits": ["nofile,1024,2048", "RLIMIT_NPROC,100,200"]},
     None),
    ("sysctl", {"net": "new", "ipc": "new",
                "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}}, None),
    ("cgroup-resources", {"resources": {"memory": {"limit": 67108864}, "pids": {"limit": 64},
                                        "cpu": {"shares": 512}}}, None),
    ("runtime-mounts-mkdir", {
        "runtime": {
            "mounts": [{"type": "tmpfs", "source": "tmpfs", "destination": "/run/lk-conformance-rt"}],
            "mkdir": ["/var/lk-conformance-mkdir"],
        },
        "binds": ["/run/lk-conformance-rt:/rt", "/var/lk-conformance-mkdir:/mk"],
    }, "touch /rt/x /mk/y && echo rt-and-mkdir-writable"),
    ("masked-readonly-paths", {"maskedPaths": ["/proc/kcore", "/sys/firmware"],
                               "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]},
     "wc -c < /proc/kcore; ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/drop_caches && echo sys-writable"),
]

# Known, explained differences: (setting or "*", regex, replacement or None to drop, why).
# Each rewrites the matching facts of both runtimes before they are compared; a fact it
# changed counts as a documented departure. Each is also a row of docs/compatibility.md
# ("Runtime conformance").
DEPARTURES = [
    ("*", r" shared,slave, root=", " slave, root=",
     "peer groups: runc's binds of shared host mounts also join a new peer group inside the "
     "container, libcontainer's are slaves only; both receive the host's mounts, neither "
     "propagates back"),
    ("*", r"^mount / overlay (\S+) \S+ root=/$", r"mount / overlay \1 <root-propagation> root=/",
     "the container's own root mount: runc leaves it private whatever rootfsPropagation says, "
     "libcontainer gives it the requested type; the mounts under it get the requested type "
     "under both"),
    ("*", r"^(mount \S+ \S+ ro,)nosuid,nodev,noexec,(relatime )", r"\1\2",
     "a read-only bind: runc 1.1 drops the source's nosuid,nodev,noexec when it remounts it "
     "read-only, libcontainer keeps them (stricter)"),
    ("dev-rshared", r"^open /dev/console ..$", "open /dev/console <default device rules>",
     "libcontainer's default device rules allow /dev/console (c 5:1), runc's do not: a "
     "container that binds the host's /dev can open the console under the embedded runtime"),
    ("dev-rshared", r"^mount /dev(/pts)? (tmpfs|devpts) \S+ private root=/$", None,
     "a /dev bind under libcontainer: the host's /dev is attached over the container's /dev "
     "tmpfs and its devpts, which stay listed in mountinfo beneath it, unreachable"),
    ("user-mappings", r"^(mount /sys/fs/cgroup cgroup2 \S+ \S+) root=\S+$", r"\1 root=<cgroup>",
     "a user namespace without a cgroup namespace: runc binds the whole cgroup hierarchy, "
     "libcontainer mounts the container's own cgroup (stricter)"),
]


def yaml_section(image, probe):
    """The onboot: section (YAML flow style is JSON)."""
    out = ["onboot:"]
    for i, (name, keys, extra) in enumerate(SETTINGS):
        c = {"name": name, "image": image}
        c.update(keys)
        env = [PATH, f"PROBE_EXTRA={extra}"] if extra else [PATH]
        c["env"] = env
        c["command"] = ["/bin/sh", "-c", probe, name]
        out.append("  - " + json.dumps(c))
    return "\n".join(out) + "\n"


def facts(log):
    """{setting: [fact...]} and what the VM's own init saw ({"ns <kind>": id, "hostname": name}),
    from a console log."""
    seen, host = {}, {}
    for line in log.replace("\r", "").splitlines():
        m = re.search(r"(?:^|\s)P (\S+) (.*)$", line)
        if m and m.group(1) in NAMES:
            seen.setdefault(m.group(1), []).append(m.group(2).rstrip())
        m = re.search(r"(?:^|\s)H (ns \S+|hostname) (\S+)", line)
        if m:
            host[m.group(1)] = m.group(2)
    return seen, host


def normalise(seen, host):
    """Facts that differ from boot to boot, not from runtime to runtime, made comparable: the
    VM's hostname becomes <host>; a namespace id becomes `host` (the init's), `as <setting>`
    (the one a bindNS of that setting keeps alive: ids of namespaces that are gone are
    reused, so only those are compared), else `new`."""
    kept = {}
    for name, keys, _ in SETTINGS:
        for kind in keys.get("runtime", {}).get("bindNS", {}):
            for f in seen.get(name, []):
                if f.startswith(f"ns {kind} "):
                    kept[f.split()[2]] = name
    out = {}
    for name, _, _ in SETTINGS:
        lines = []
        for f in seen.get(name, []):
            m = re.match(r"ns (\S+) (\S+)$", f)
            if m:
                kind, value = m.groups()
                if host.get(f"ns {kind}") == value:
                    f = f"ns {kind} host"
                elif kept.get(value, name) != name:
                    f = f"ns {kind} as {kept[value]}"
                else:
                    f = f"ns {kind} new"
            elif "hostname" in host:
                f = f.replace(host["hostname"], "<host>")
            lines.append(f)
        out[name] = lines
    return out


def apply_departures(name, facts_):
    """The facts with DEPARTURES applied, and {fact after: (why, fact before)} for those
    they changed."""
    out, why = [], {}
    for f in facts_:
        before = f
        changed = None
        for who, pattern, repl, reason in DEPARTURES:
            if who in ("*", name) and re.search(pattern, f):
                f = None if repl is None else re.sub(pattern, repl, f)
                changed = reason
                if f is None:
                    break
        if f is not None:
            out.append(f)
            if changed:
                why[f] = (changed, before)
    return out, why


def compare(runc_log, libc_log):
    runc = normalise(*facts(runc_log))
    libc = normalise(*facts(libc_log))
    unexplained = documented = same = 0
    for name, _, _ in SETTINGS:
        a, why_a = apply_departures(name, runc[name])
        b, why_b = apply_departures(name, libc[name])
        for who, lines in (("runc", a), ("libcontainer", b)):
            if "started" not in lines or "done" not in lines:
                print(f"conformance: {name}: did not run to its end under {who}")
                unexplained += 1
        common = set(a) & set(b)
        same += len(common)
        for f in sorted(common):
            (ra, oa), (rb, ob) = why_a.get(f, (None, f)), why_b.get(f, (None, f))
            if oa != ob:
                documented += 1
                print(f"conformance: {name}: runc {oa!r}, libcontainer {ob!r}  [departure: {ra or rb}]")
        for side, facts_ in (("runc only", set(a) - set(b)), ("libcontainer only", set(b) - set(a))):
            for f in sorted(facts_):
                unexplained += 1
                print(f"conformance: {name}: {side}: {f}  [UNEXPLAINED]")
    print(f"conformance: {len(SETTINGS)} settings, {same} facts compared equal under both runtimes "
          f"({documented} of them after a documented departure), {unexplained} unexplained differences")
    return 1 if unexplained else 0


NAMES = {n for n, _, _ in SETTINGS}

if __name__ == "__main__":
    if sys.argv[1] == "yaml":
        sys.stdout.write(yaml_section(sys.argv[2], open(sys.argv[3]).read()))
    elif sys.argv[1] == "compare":
        sys.exit(compare(open(sys.argv[2], errors="replace").read(),
                         open(sys.argv[3], errors="replace").read()))
    else:
        sys.exit(f"usage: {sys.argv[0]} yaml IMAGE PROBE | compare RUNC.log LIBC.log")
