#!/bin/sh
# SUMMARY: run qemu --machine microvm (virtio-mmio, no PCI, no firmware) boots the same image as q35: a data disk formatted and mounted as /dev/sda, the metadata CD-ROM as /dev/sr0, the vsock device, poweroff exits 0; under TCG the kernel is told the TSC rate (tsc_early_khz); /init -> first service on both machine types reported side by side
# LABELS: amd64
# TIMEOUT: 600
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap vhost-device-vsock

build_packages
make_scratch
pkg="@pkg:$REPO_ROOT/pkg"
{
    yml_head
    cat <<YML
onboot:
  - name: format
    image: "$pkg/format"
  - name: mount
    image: "$pkg/mount"
    command: ["/usr/bin/mountie", "/var/lib/data"]
services:
  - name: getty
    image: "$pkg/getty"
    env:
      - INSECURE=true
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      echo "R disks \$(ls /dev/sd? /dev/sr? 2>&1 | tr '\n' ' ')"
      echo "R mounted \$(grep /var/lib/data /proc/mounts | cut -d' ' -f1)"
      mkdir -p /run/cd && mount -t iso9660 -o ro /dev/sr0 /run/cd && echo "R data \$(cat /run/cd/config)"
      echo "R vsock \$(ls /dev/vsock 2>&1)"
      echo "R pci \$(ls /sys/bus/pci/devices 2>/dev/null | wc -l)"
      echo "R tsc \$(grep -o 'tsc_early_khz=[0-9]*' /proc/cmdline)"
      sleep 2
      echo "MACHINE""-DONE"
      poweroff
YML
} > "$SCRATCH/t.yml"
linuxkit build --dir "$SCRATCH" --name t "$SCRATCH/t.yml"
first() { sed -n 's/.*first service running \([0-9]*\) ms after \/init.*/\1/p' | head -1; }
# The kernel's clock when /init logged first (kernel start -> /init), in ms.
init_at() { sed -n 's/^\[ *\([0-9]*\)\.\([0-9]*\)\] init: .*/\1\2/p' | head -1 | sed 's/^0*//'; }
for m in microvm q35; do
    rm -rf "$SCRATCH/t-state"
    out=$(linuxkit run qemu --machine "$m" --disk size=256M --data "hello-$m" --vsock "$SCRATCH/t" < /dev/null 2>&1) && st=0 || st=$?
    out=$(echo "$out" | tr -d '\r')
    echo "$out" > "$RT_RESULTS/$m-console.log"
    echo "$out" | grep -E "^R " | sed "s/^/$m: /"
    assert_equals "$m powered off" 0 "$st"
    echo "$out" | assert_contains "R disks /dev/sda /dev/sr0"
    echo "$out" | assert_contains "R mounted /dev/sda1"
    echo "$out" | assert_contains "R data hello-$m"
    echo "$out" | assert_contains "R vsock /dev/vsock"
    echo "$out" | assert_contains "MACHINE-DONE"
    if [ "$m" = microvm ]; then
        echo "$out" | assert_contains "R pci 0$"
        # Under TCG run tells the kernel the TSC rate (microvm has no timer to calibrate it against).
        if grep -q 'constant_tsc\|tsc_known_freq' /proc/cpuinfo && echo "$out" | grep -q "accel=tcg"; then
            echo "$out" | assert_contains "R tsc tsc_early_khz=[1-9][0-9]*"
        fi
    else
        echo "$out" | assert_contains "R pci [1-9]"
    fi
    eval "first_$m=\$(echo \"\$out\" | first) init_$m=\$(echo \"\$out\" | init_at)"
done
# shellcheck disable=SC2154
echo "RT_BENCHMARK_RESULT: kernel to /init: microvm ${init_microvm} ms, q35 ${init_q35} ms; /init to first service (after onboot format+mount): microvm ${first_microvm} ms, q35 ${first_q35} ms (TCG)"
exit 0
