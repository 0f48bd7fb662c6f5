#!/bin/sh
# SUMMARY: one VM with the package set under linuxkit.runtime=runc (the runc package) and containerd running: sysfs, modprobe, binfmt, dummy, ip, losetup, dm-crypt (LUKS on a disk), format+mount of the log disk, extend (a partition grown to its disk), swap on it, kmsg, logwrite (files on the log disk), openntpd, node_exporter (reached from the host), acpid, auditd (a watched file's change in the audit log on the disk), qemu-ga (guest-ping over its virtio-serial port), fdd (two net:none containers talk both ways), poweroff (ends the VM)
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap /usr/bin/python3 sfdisk mkfs.ext4

build_packages
make_scratch
# Three SCSI disks, told apart by size, never by name: the sd driver probes asynchronously, so
# under load Debian's kernel once named them out of the order QEMU attaches them (even with
# scsi_mod.scan=sync). dm-crypt finds its 64 MiB disk by size; format takes the first disk with
# neither a partition table nor a file system (the 256 MiB one, once dm-crypt has made the
# other LUKS); extend grows every disk's last partition (the 320 MiB disk's 64 MiB ext4
# partition; the log disk's partition already fills it).
truncate -s 64M "$SCRATCH/crypt.img"
truncate -s 256M "$SCRATCH/logs.img"
truncate -s 320M "$SCRATCH/grow.img"
printf 'start=2048, size=131072, type=83\n' | sfdisk -q "$SCRATCH/grow.img"
mkfs.ext4 -q -F -E offset=1048576 "$SCRATCH/grow.img" 64M

pkg="@pkg:$REPO_ROOT/pkg"
cat > "$SCRATCH/p.yml" <<YML
kernel:
  image: "$pkg/$KERNEL_PKG"
  cmdline: "console=ttyS0 linuxkit.runtime=runc"
init:
  - "$pkg/init"
  - "$pkg/memlogd"
  - "$pkg/runc"
  - "$pkg/containerd"
onboot:
  - name: dhcpcd
    image: "$pkg/dhcpcd"
    command: ["/usr/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
  - name: sysfs
    image: "$pkg/sysfs"
  - name: modprobe
    image: "$pkg/modprobe"
    command: ["modprobe", "-a", "dummy"]
  - name: binfmt
    image: "$pkg/binfmt"
  - name: dummy
    image: "$pkg/dummy"
    command: ["sh", "-c", "echo DUMMY-INFILE \$(cat /infile)"]
  - name: ip
    image: "$pkg/ip"
    command: ["ip", "link", "add", "lkdummy0", "type", "dummy"]
  - name: losetup
    image: "$pkg/losetup"
    command: ["/usr/bin/loopy", "--create", "--size", "16", "/var/lk/loop.img"]
  - name: dm-crypt
    image: "$pkg/dm-crypt"
    command: ["/bin/sh", "-c", "for d in /sys/block/sd*; do [ \$(cat \$d/size) = 131072 ] && exec /usr/bin/crypto --luks lkcrypt /dev/\${d##*/}; done; echo crypto: no 64 MiB disk; exit 1"]
  - name: format
    image: "$pkg/format"
    command: ["/usr/bin/format", "-type", "ext4", "-label", "LKLOGS"]
  - name: mount
    image: "$pkg/mount"
    command: ["/usr/bin/mountie", "-label", "LKLOGS", "/var/log"]
  - name: extend
    image: "$pkg/extend"
    command: ["/usr/bin/extend"]
  - name: swap
    image: "$pkg/swap"
    command: ["/swap.sh", "--path", "/var/log/swapfile", "--size", "32M"]
services:
  - name: kmsg
    image: "$pkg/kmsg"
  - name: logwrite
    image: "$pkg/logwrite"
  - name: openntpd
    image: "$pkg/openntpd"
  - name: node_exporter
    image: "$pkg/node_exporter"
  - name: acpid
    image: "$pkg/acpid"
  - name: auditd
    image: "$pkg/auditd"
    binds.add:
      - /etc/lk-audit.rules:/etc/audit/audit.rules
  - name: qemu-ga
    image: "$pkg/qemu-ga"
  - name: fdd
    image: "$pkg/fdd"
    command: ["/usr/bin/fdd", "init", "-s", "/run/fdd/fdd.sock", "--share", "/run/fdd/chan"]
  - name: ping
    image: "$pkg/fdd"
    command: ["/usr/bin/fdd", "exec", "/run/fdd/chan", "--", "/bin/sh", "-c", "echo ping; read r; echo \"ping got \$r\" >&2; trap 'exit 0' TERM; while :; do sleep 1; done"]
  - name: pong
    image: "$pkg/fdd"
    command: ["/usr/bin/fdd", "exec", "/run/fdd/chan", "--", "/bin/sh", "-c", "read r; echo \"pong got \$r\" >&2; echo pong; trap 'exit 0' TERM; while :; do sleep 1; done"]
  # Powers off 45 s after the checks below printed PACKAGES-READY (they touch
  # /run/lk-ready): the host's scrape and guest-agent calls come right after it. A timer from
  # the poweroff's own start (~35 s into the boot) was too short when CI's load slowed the boot.
  # The bind's target is missing from the read-only image (the service makes the mount point).
  - name: poweroff
    image: "$pkg/poweroff"
    binds.add:
      - /run:/hostrun
    command: ["/bin/sh", "-c", "until [ -e /hostrun/lk-ready ]; do sleep 1; done; exec /bin/sh /poweroff.sh 45"]
files:
  - path: etc/dm-crypt/key
    contents: "lk-test-key"
    mode: "0600"
  - path: etc/lk-audit.rules
    contents: |
      -D
      -b 8192
      -w /var/log/lk-watched -p wa -k lktest
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      sleep 5
      for d in /sys/block/sd*; do
        case \$(cat \$d/size) in 131072) crypt=\${d##*/} ;; 524288) logs=\${d##*/} ;; 655360) grow=\${d##*/} ;; esac
      done
      echo "R disks crypt=\$crypt logs=\$logs grow=\$grow"
      echo "R runtime \$(grep -o 'linuxkit.runtime=[a-z]*' /proc/cmdline) \$(runc --version | head -1)"
      echo "R ctr \$(ctr --address /run/containerd/containerd.sock version 2>&1 | grep -A1 '^Server' | tail -1 | tr -s ' ')"
      echo "R thp \$(cat /sys/kernel/mm/transparent_hugepage/enabled)"
      echo "R modules dummy=\$([ -d /sys/module/dummy ] && echo loaded) link=\$(cat /sys/class/net/lkdummy0/type 2>&1)"
      b=/proc/sys/fs/binfmt_misc/qemu-aarch64
      echo "R binfmt \$(head -1 \$b 2>&1) \$(grep interpreter \$b 2>&1) \$(grep flags \$b 2>&1)"
      echo "R loop \$(cat /sys/block/loop*/loop/backing_file 2>/dev/null | tr '\n' ' ')"
      echo "R crypt name=\$(cat /sys/block/dm-0/dm/name) luks=\$(head -c 4 /dev/\$crypt) ext4=\$(dd if=/dev/dm-0 bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')"
      echo "R logs \$(grep ' /var/log ' /proc/mounts | cut -d' ' -f1,3 | sed "s|^/dev/\${logs}1 |LOGDISK1 |")"
      echo "R extend sectors=\$(cat /sys/class/block/\${grow}1/size) "
      echo "R swap \$(tail -n +2 /proc/swaps | awk '{print \$1, \$2}')"
      echo hello > /var/log/lk-watched
      sleep 3
      echo "R audit \$(grep -c 'key=\"lktest\"' /var/log/audit/audit.log 2>&1)"
      echo "R kmsg \$(service logs kmsg 2>&1 | grep -c ') - ')"
      echo "R logwrite \$(ls /var/log | grep -E '^(kmsg|openntpd)\.log' | tr '\n' ' ')"
      echo "R fdd \$(service logs ping 2>&1 | grep -o 'ping got pong') / \$(service logs pong 2>&1 | grep -o 'pong got ping')"
      service logs auditd 2>&1 | tail -5 | sed 's/^/R auditd-log /'
      service logs openntpd 2>&1 | tail -5 | sed 's/^/R ntpd-log /'
      service list | sed 's/^/R list /'
      echo "PACKAGES""-READY"
      touch /run/lk-ready
YML
linuxkit build --dir "$SCRATCH" --name p "$SCRATCH/p.yml"
port=$(free_port)
mkdir -p "$SCRATCH/vm"
vm_start "$SCRATCH/vm" "$SCRATCH/p" --mem 1536 --qemu-ga --publish "$port:9100" \
    --disk "file=$SCRATCH/crypt.img,format=raw" --disk "file=$SCRATCH/logs.img,format=raw" \
    --disk "file=$SCRATCH/grow.img,format=raw"
vm_wait "PACKAGES-READY" 600
# node_exporter's first scrape runs every collector: give it time under TCG.
scrape=$(/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=90).read().decode())" 2>&1 || true)
echo "$scrape" | grep -E '^node_boot_time_seconds|rror' | head -3
metrics=$(echo "$scrape" | grep -c '^node_boot_time_seconds' || true)
qga=$(/usr/bin/python3 - "$SCRATCH/p-state/qga.sock" <<'PY'
import json, socket, sys
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.settimeout(20)
    f = s.makefile("rw")
    f.write(json.dumps({"execute": "guest-sync", "arguments": {"id": 4242}}) + "\n"); f.flush()
    print("sync", f.readline().strip())
    f.write(json.dumps({"execute": "guest-ping"}) + "\n"); f.flush()
    print("ping", f.readline().strip())
except Exception as e:
    print("qga error:", e)
PY
)
echo "$qga"
vm_end 240
cp "$VM_LOG" "$RT_RESULTS/packages-console.log"
c=$(tr -d '\r' < "$VM_LOG")
echo "$c" | grep -E "^R |DUMMY|poweroff:|crypto:|extend:|swap:|sysfs:|binfmt:|loopy:" | head -80
echo "$c" | assert_contains "R runtime linuxkit.runtime=runc runc version"
echo "$c" | assert_contains "R ctr +Version: 1\."
echo "$c" | assert_contains "R thp always \[madvise\] never"
echo "$c" | assert_contains "R modules dummy=loaded link=1"
echo "$c" | assert_contains "R binfmt enabled interpreter /usr/bin/qemu-aarch64-static flags: F"
echo "$c" | assert_contains "DUMMY-INFILE This is a silly input file for testing."
echo "$c" | assert_contains "R loop [/a-z]*/lk/loop.img"
echo "$c" | assert_contains "R crypt name=lkcrypt luks=LUKS ext4=53ef"
echo "$c" | assert_contains "R disks crypt=sd[a-c] logs=sd[a-c] grow=sd[a-c]$"
echo "$c" | assert_contains "R logs LOGDISK1 ext4"
echo "$c" | assert_contains "R extend sectors=653[0-9][0-9][0-9] "
echo "$c" | assert_contains "R swap [/a-z]*swapfile file"
echo "$c" | assert_contains "R audit 1"
echo "$c" | assert_not_contains "R kmsg 0"
echo "$c" | assert_contains "R logwrite kmsg.log"
echo "$c" | assert_contains "R fdd ping got pong / pong got ping"
for s in openntpd node_exporter acpid auditd qemu-ga kmsg logwrite fdd; do
    echo "$c" | assert_contains "R list $s +running"
done
assert_equals "node_exporter answered on its port" 1 "$metrics"
echo "$qga" | assert_contains 'sync \{"return": 4242\}'
echo "$qga" | assert_contains 'ping \{"return": \{\}\}'
echo "$c" | assert_contains "init: shutting down \(power off\)"
assert_true "the poweroff package ended the VM (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
exit 0
