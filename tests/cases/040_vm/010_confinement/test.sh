#!/bin/sh
# SUMMARY: containers under the embedded runtime are confined as runc confines them: without a devices entry a container cannot read the data disk (its node missing, and a node made with mknod refused by the cgroup v2 device rules), with one it can; a seccomp profile in a container's config.json blocks the call it names
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap python3 tar

build_packages
make_scratch
busybox="@pkg:$REPO_ROOT/pkg/httpd"
# Three onboot containers on the image with a static busybox; the test script prints what
# they reported and powers off.
minimal_with_script "$SCRATCH/boot.yml" <<'SH'
#!/bin/sh
echo "CONFINEMENT-DONE"
poweroff
SH
cat >> "$SCRATCH/boot.yml" <<YML
onboot:
  - name: nodev
    image: "$busybox"
    capabilities: [CAP_MKNOD, CAP_DAC_OVERRIDE]
    command: ["/bin/sh", "-c", "ls /dev/sda > /dev/null 2>&1 && echo NODEV-NODE-PRESENT || echo NODEV-NODE-ABSENT; mknod /tmp/sda b 8 0 && echo NODEV-MKNOD-OK || echo NODEV-MKNOD-REFUSED; dd if=/tmp/sda of=/dev/null bs=512 count=1 2> /tmp/err && echo NODEV-READ-OK || echo NODEV-READ-REFUSED \$(cat /tmp/err)"]
  - name: withdev
    image: "$busybox"
    capabilities: [CAP_DAC_OVERRIDE]
    devices:
      - path: /dev/sda
        type: b
        major: 8
        minor: 0
        mode: "0660"
    command: ["/bin/sh", "-c", "dd if=/dev/sda of=/dev/null bs=512 count=1 && echo WITHDEV-READ-OK || echo WITHDEV-READ-FAILED"]
  - name: seccomp
    image: "$busybox"
    command: ["/bin/sh", "-c", "mkdir /tmp/made && echo SECCOMP-MKDIR-OK || echo SECCOMP-MKDIR-REFUSED"]
YML
# LinuxKit's YAML has no seccomp key: the profile goes into the runtime config itself. Take
# the config.json the build writes for the seccomp container, add a profile that denies
# mkdir, and give it back as a files: entry (written after the bundles, so it replaces it).
linuxkit build --dir "$SCRATCH/first" --name c --format tar "$SCRATCH/boot.yml"
path=$(tar -tf "$SCRATCH/first/c.tar" | grep -E '^containers/onboot/[0-9]+-seccomp/config.json$')
tar -xOf "$SCRATCH/first/c.tar" "$path" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["linux"]["seccomp"] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
print("  - path: " + sys.argv[1])
print("    contents: " + json.dumps(json.dumps(c)))
' "$path" > "$SCRATCH/files.yml"
python3 - "$SCRATCH/boot.yml" "$SCRATCH/files.yml" <<'PY'
import sys
boot, extra = sys.argv[1], open(sys.argv[2]).read()
text = open(boot).read().replace("files:\n", "files:\n" + extra, 1)
open(boot, "w").write(text)
PY
linuxkit build --dir "$SCRATCH" --name boot "$SCRATCH/boot.yml"
console=$(linuxkit run qemu --mem 1024 --disk "file=$SCRATCH/data.img,size=64M,format=raw" "$SCRATCH/boot" < /dev/null)
echo "$console" | grep -E "NODEV|WITHDEV|SECCOMP|CONFINEMENT|error" | head -20
echo "$console" | assert_contains "CONFINEMENT-DONE"
echo "$console" | assert_contains "NODEV-NODE-ABSENT"
# runc's default rules allow mknod of any node ("b *:* m") but not reading it; refusing the
# mknod itself would confine as well.
echo "$console" | assert_contains "NODEV-READ-REFUSED"
echo "$console" | assert_not_contains "NODEV-READ-OK"
echo "$console" | assert_contains "WITHDEV-READ-OK"
echo "$console" | assert_contains "SECCOMP-MKDIR-REFUSED"
echo "$console" | assert_not_contains "SECCOMP-MKDIR-OK"
exit 0
