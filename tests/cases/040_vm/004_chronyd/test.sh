#!/bin/sh
# SUMMARY: chronyd steps a wrong guest clock from an NTP server the test runs on the host side of QEMU's user network (10.0.2.2 is the host's loopback)
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap

build_packages
make_scratch
# The NTP server: chronyd from our own package, on the host network, serving its local clock
# and never touching the host's (-x).
cat > "$SCRATCH/server.conf" <<CONF
bindaddress 127.0.0.1
port 123
allow all
local stratum 8
cmdport 0
pidfile /tmp/lk-e2e-chronyd-server.pid
CONF
tag=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/chronyd")
docker_from_cache "$tag-amd64"
docker rm -f lk-e2e-ntp > /dev/null 2>&1 || true
docker run -d --rm --name lk-e2e-ntp --network host -v "$SCRATCH/server.conf:/server.conf:ro" \
    --entrypoint /usr/sbin/chronyd "$tag-amd64" -x -d -u root -f /server.conf > /dev/null
trap 'docker rm -f lk-e2e-ntp > /dev/null 2>&1 || true; _lk_cleanup' EXIT

cat > "$SCRATCH/ntp.yml" <<YML
kernel:
  image: "@pkg:$REPO_ROOT/pkg/$KERNEL_PKG"
  cmdline: "console=ttyS0"
init:
  - "@pkg:$REPO_ROOT/pkg/init"
  - "@pkg:$REPO_ROOT/pkg/memlogd"
onboot:
  - name: dhcpcd
    image: "@pkg:$REPO_ROOT/pkg/dhcpcd"
    command: ["/usr/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
  - name: skew
    image: "@pkg:$REPO_ROOT/pkg/sysctl"
    capabilities: [CAP_SYS_TIME]
    command: ["/bin/sh", "-c", "date -s '2001-02-03 04:05:06' > /dev/null && echo SKEWED-TO \$(date +%Y)"]
services:
  - name: getty
    image: "@pkg:$REPO_ROOT/pkg/getty"
    env:
      - INSECURE=true
  - name: chronyd
    image: "@pkg:$REPO_ROOT/pkg/chronyd"
    binds.add:
      - /etc/chrony.conf:/etc/chrony/chrony.conf
files:
  - path: etc/chrony.conf
    contents: |
      server 10.0.2.2 iburst minpoll 0 maxpoll 2
      makestep 1 -1
      port 0
      cmdport 0
YML
linuxkit build --dir "$SCRATCH" --name ntp "$SCRATCH/ntp.yml"
vm_start "$SCRATCH" "$SCRATCH/ntp" --mem 1024
vm_wait 'ns: getty\) [^ ]*# ' 180
vm_send 'i=0; while [ $(date +%Y) -lt 2020 ] && [ $i -lt 90 ]; do sleep 1; i=$((i+1)); done; echo "YEAR=$(date +%Y)"'
vm_wait '^YEAR=' 150
vm_send 'echo "STEPS=$(service logs chronyd | grep -c "System clock was stepped")"'
vm_wait '^STEPS=' 30
vm_send 'poweroff'
vm_end 300
console=$(cat "$VM_LOG")
echo "$console" | grep -E 'SKEWED|YEAR=|STEPS=|chronyd' | tail -10
echo "$console" | assert_contains 'SKEWED-TO 2001'
echo "$console" | assert_contains '^YEAR=20[2-9][0-9]'
echo "$console" | assert_contains '^STEPS=[1-9]'
assert_true "powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
exit 0
