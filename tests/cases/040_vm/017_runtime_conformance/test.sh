#!/bin/sh
# SUMMARY: runtime conformance: every container setting of conformance.py's table (drawn from LinuxKit's packages, examples and tests: a bind and a device at one path, a read-only root with a bind target the image lacks, devices "all" per type, /dev binds rshared, read-only roots with tmpfs and binds, rootfsPropagation, capabilities all and ambient, host and new namespaces, a net namespace by path, uid/gid mappings, oomScoreAdj, rlimits, sysctl, cgroup resources, runtime mounts/mkdir/bindNS/interfaces, masked and read-only paths) runs as an onboot container in one VM under runc and one under the embedded runtime; what a probe inside sees (mounts, devices, capabilities, namespaces, limits, ids) must be the same or a documented departure
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap /usr/bin/python3

here="${RT_PROJECT_ROOT}/040_vm/017_runtime_conformance"
build_packages
make_scratch
pkg="@pkg:$REPO_ROOT/pkg"
{
    yml_head memlogd runc
    /usr/bin/python3 "$here/conformance.py" yaml "$pkg/httpd" "$here/probe.sh"
    cat <<'YML'
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      for x in cgroup ipc mnt net pid time user uts; do echo "H ns $x $(readlink /proc/self/ns/$x)"; done
      echo "H hostname $(hostname)"
      echo "CONFORMANCE-""DONE $(grep -o 'linuxkit.runtime=[a-z]*' /proc/cmdline)"
      poweroff
YML
} > "$SCRATCH/c.yml"
linuxkit build --dir "$SCRATCH" --name libcontainer "$SCRATCH/c.yml"
# The same image under runc: only the kernel command line differs.
ln "$SCRATCH/libcontainer-kernel" "$SCRATCH/runc-kernel"
ln "$SCRATCH/libcontainer-initrd.img" "$SCRATCH/runc-initrd.img"
printf '%s linuxkit.runtime=runc' "$(cat "$SCRATCH/libcontainer-cmdline")" > "$SCRATCH/runc-cmdline"
# Both VMs at once (a TCG guest is one thread; this machine has two cores).
for rt in runc libcontainer; do
    linuxkit run qemu --mem 512 --state "$SCRATCH/$rt-state" "$SCRATCH/$rt" < /dev/null > "$SCRATCH/$rt.log" 2>&1 &
    eval "pid_$rt=\$!"
done
st=0
wait "$pid_runc" || st=$?
wait "$pid_libcontainer" || st=$?
cp "$SCRATCH/runc.log" "$SCRATCH/libcontainer.log" "$RT_RESULTS/" 2> /dev/null || true
grep -E "CONFORMANCE-DONE|service: onboot" "$SCRATCH/runc.log" "$SCRATCH/libcontainer.log" | head -20
assert_true "the runc VM ended (status $st)" grep -q "CONFORMANCE-DONE linuxkit.runtime=runc" "$SCRATCH/runc.log"
assert_true "the libcontainer VM ended" grep -q "CONFORMANCE-DONE" "$SCRATCH/libcontainer.log"
assert_true "the libcontainer VM ran without linuxkit.runtime=" [ -z "$(grep -o "CONFORMANCE-DONE linuxkit" "$SCRATCH/libcontainer.log")" ]
/usr/bin/python3 "$here/conformance.py" compare "$SCRATCH/runc.log" "$SCRATCH/libcontainer.log" > "$SCRATCH/compare.txt" || st=$?
cat "$SCRATCH/compare.txt"
cp "$SCRATCH/compare.txt" "$RT_RESULTS/" 2> /dev/null || true
assert_true "no unexplained difference between the runtimes" [ "$st" = 0 ]
exit 0
