#!/bin/sh
# SUMMARY: examples/minimal.yml from our packages boots in QEMU (TCG here), has virtio (built in, or coldplugged with Debian's kernel), runs init.d, starts the getty service, logs through memlogd, reads run --data from the metadata CD and powers off, in the foreground and --detached
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap

build_packages
make_scratch
# The example plus an init.d script that reports and powers off.
minimal_with_script "$SCRATCH/boot.yml" <<'SH'
#!/bin/sh
echo "E2E-MARKER modules=$(wc -l < /proc/modules) virtio=$(ls /sys/bus/virtio/drivers | tr '\n' ,) host=$(hostname)"
/usr/bin/logwrite -n e2e echo memlogd-line > /dev/null
for i in 1 2 3 4 5; do n=$(/usr/bin/logread | grep -c ';e2e.out;memlogd-line'); [ "$n" = 1 ] && break; sleep 1; done
echo "LOG-MARKER $n"
mkdir -p /run/cd && mount -t iso9660 -o ro /dev/sr0 /run/cd && echo "DATA-MARKER $(cat /run/cd/config)"
poweroff
SH
linuxkit build --dir "$SCRATCH" --name boot "$SCRATCH/boot.yml"
size=$(stat -c %s "$SCRATCH/boot-initrd.img")
echo "initrd size: $size bytes"
assert_true "initrd under 60 MB" [ "$size" -lt 62914560 ]
console=$(linuxkit run qemu --mem 1024 --networking user --data '{"e2e":"metadata"}' "$SCRATCH/boot" < /dev/null)
echo "$console" | tail -20
echo "$console" | assert_contains "init: coldplug: [0-9]+ modules loaded"
echo "$console" | assert_contains "E2E-MARKER modules=[0-9]+ virtio=.*virtio_net.* host=linuxkit-"
# The entropy device rngd reads (003_base_packages reads it with our kernel; a module in Debian's).
echo "$console" | assert_contains "E2E-MARKER .*virtio=.*virtio_rng"
if [ "$KERNEL_PKG" = kernel-debian ]; then
    # Debian's kernel has virtio as modules: coldplug loads them.
    echo "$console" | assert_contains "loaded module virtio_net"
    echo "$console" | assert_contains "E2E-MARKER modules=[1-9][0-9]* "
fi
echo "$console" | assert_contains "LOG-MARKER 1"
echo "$console" | assert_contains 'DATA-MARKER \{"e2e":"metadata"\}'
echo "$console" | assert_contains "service: started getty \(pid [0-9]+"
echo "$console" | assert_contains "service: getty stopped"
echo "$console" | assert_contains "init: power off"
# The same image in the background: --detached returns at once with the pid; the console
# goes to the state directory.
started=$(linuxkit run qemu --mem 1024 --detached --state "$SCRATCH/bg-state" --data bg "$SCRATCH/boot" < /dev/null)
echo "$started" | assert_contains "started in the background: pid [0-9]+"
pid=$(cat "$SCRATCH/bg-state/qemu.pid")
waited=0
while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 300 ]; do sleep 1; waited=$((waited + 1)); done
assert_true "detached VM powered off" [ "$waited" -lt 300 ]
assert_contains "DATA-MARKER bg" < "$SCRATCH/bg-state/console.log"
assert_contains "init: power off" < "$SCRATCH/bg-state/console.log"
boot_ms=$(echo "$console" | sed -n 's/.*init: boot complete in \([0-9]*\) ms.*/\1/p')
first=$(echo "$console" | sed -n 's/.*first service running \([0-9]*\) ms after \/init started.*/\1/p')
echo "RT_BENCHMARK_RESULT: init boot ${boot_ms} ms, first service running ${first} ms after /init started (TCG)"
exit 0
