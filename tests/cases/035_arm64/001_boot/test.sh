#!/bin/sh
# SUMMARY: arm64: examples/minimal.yml built with --arch arm64 from our cross-built arm64 packages (Debian's arm64 kernel) boots under qemu-system-aarch64 -M virt (TCG) as kernel+initrd (direct kernel boot, the arch read from the kernel) and as raw-efi under EDK2 (systemd-boot and a UKI for aa64), starts getty on ttyAMA0 and powers off cleanly
# LABELS:
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-aarch64 aarch64-linux-gnu-gcc buildah mmdebstrap
[ -f /usr/share/AAVMF/AAVMF_CODE.fd ] || rt_skip "no /usr/share/AAVMF/AAVMF_CODE.fd (qemu-efi-aarch64)"

build_packages --arm64 "debian-base kernel-debian init memlogd getty bootloaders"
make_scratch
# examples/minimal.yml for arm64: Debian's kernel, the PL011 console, and a script that
# waits for getty to run, reports the machine and powers off.
minimal_with_script "$SCRATCH/a.yml" <<'SH'
#!/bin/sh
i=0
until pidof getty > /dev/null || [ $i -ge 60 ]; do sleep 1; i=$((i+1)); done
echo "ARM64-MARKER machine=$(uname -m) getty-after=${i}s"
poweroff
SH
sed -i -e "s|@pkg:$REPO_ROOT/pkg/kernel\"|@pkg:$REPO_ROOT/pkg/kernel-debian\"|" -e 's/console=ttyS0/console=ttyAMA0/' "$SCRATCH/a.yml"
linuxkit build --arch arm64 --format kernel+initrd,raw-efi --dir "$SCRATCH" --name a "$SCRATCH/a.yml"
for how in kernel+initrd raw-efi; do
    case $how in
    kernel+initrd) t0=$(date +%s); console=$(linuxkit run qemu --mem 1024 --state "$SCRATCH/k-state" "$SCRATCH/a" < /dev/null) ;;
    raw-efi) t0=$(date +%s); console=$(linuxkit run qemu --arch aarch64 --uefi --mem 1024 --state "$SCRATCH/e-state" "$SCRATCH/a-efi.img" < /dev/null) ;;
    esac
    echo "$how: $(($(date +%s) - t0)) s"
    echo "$console" | tail -8
    echo "$console" | assert_contains "ARM64-MARKER machine=aarch64"
    echo "$console" | assert_contains "service: started getty \(pid [0-9]+"
    echo "$console" | assert_contains "init: power off"
    echo "$console" | assert_contains "reboot: Power down"
    first=$(echo "$console" | sed -n 's/.*first service running \([0-9]*\) ms after \/init started.*/\1/p')
    echo "RT_BENCHMARK_RESULT: arm64 $how: first service ${first} ms after /init started (TCG)"
done
exit 0
