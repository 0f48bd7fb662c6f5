#!/bin/sh
# SUMMARY: arm64: examples/minimal-arm64.yml built with --arch arm64 from our cross-built arm64 packages (Debian's arm64 kernel) boots under qemu-system-aarch64 -M virt (TCG) as kernel+initrd (direct kernel boot, the arch read from the kernel) and as raw-efi under EDK2 (systemd-boot and a UKI for aa64), starts getty on ttyAMA0 and powers off cleanly
# LABELS:
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-aarch64 aarch64-linux-gnu-gcc buildah mmdebstrap
[ -f /usr/share/AAVMF/AAVMF_CODE.fd ] || rt_skip "no /usr/share/AAVMF/AAVMF_CODE.fd (qemu-efi-aarch64)"

build_packages --arm64 "debian-base kernel-debian init memlogd getty bootloaders"
make_scratch
# examples/minimal-arm64.yml: Debian's arm64 kernel, the PL011 console (ttyAMA0).
pkg_paths < "$REPO_ROOT/examples/minimal-arm64.yml" > "$SCRATCH/a.yml"
linuxkit build --arch arm64 --format kernel+initrd,raw-efi --dir "$SCRATCH" --name a "$SCRATCH/a.yml"
for how in kernel+initrd raw-efi; do
    mkdir -p "$SCRATCH/$how"
    t0=$(date +%s)
    case $how in
    # The arch is read from the kernel file.
    kernel+initrd) vm_start "$SCRATCH/$how" "$SCRATCH/a" --mem 1024 ;;
    raw-efi) vm_start "$SCRATCH/$how" "$SCRATCH/a-efi.img" --arch aarch64 --uefi --mem 1024 ;;
    esac
    vm_wait 'ns: getty\) [^ ]*# ' 300
    prompt=$(($(date +%s) - t0))
    vm_send 'echo "ARM64-MARKER machine=$(uname -m) $(cat /proc/cmdline)"; poweroff'
    vm_wait '^ARM64-MARKER' 60
    vm_end 120
    console=$(tr -d '\r' < "$VM_LOG")
    echo "$console" | grep -E 'ARM64-MARKER|started getty|power off|Power down|EFI stub|systemd-boot'
    echo "$how: the getty prompt after $prompt s"
    echo "$console" | assert_contains "^ARM64-MARKER machine=aarch64 .*console=ttyAMA0"
    echo "$console" | assert_contains "service: started getty \(pid [0-9]+"
    echo "$console" | assert_contains "init: power off"
    echo "$console" | assert_contains "reboot: Power down"
    assert_true "$how powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
    first=$(echo "$console" | sed -n 's/.*first service running \([0-9]*\) ms after \/init started.*/\1/p')
    echo "RT_BENCHMARK_RESULT: arm64 $how: getty prompt ${prompt} s after run started, first service ${first} ms after /init (TCG)"
done
exit 0
