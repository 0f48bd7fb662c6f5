#!/bin/sh
# SUMMARY: kernel+squashfs and kernel+erofs of examples/minimal.yml boot through the generated boot initrd (with Debian's modular kernel it carries the storage modules) (run qemu --squashfs / --erofs: the root image as /dev/sda), mount read-only and start the getty service; the boot initrd is reproducible and carries only storage modules
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap mkfs.erofs unsquashfs

build_packages
make_scratch
export SOURCE_DATE_EPOCH=1700000000
minimal_with_script "$SCRATCH/boot.yml" <<'SH'
#!/bin/sh
sleep 2
echo "ROOT-MARKER $(awk '$2 == "/" {print $3}' /proc/mounts | tail -1) $(service list | grep -c getty)"
poweroff
SH
for d in a b; do
    linuxkit build --dir "$SCRATCH/$d" --name m --format kernel+squashfs,kernel+erofs "$SCRATCH/boot.yml"
done
ls -l "$SCRATCH/a"
cmp "$SCRATCH/a/m-boot-initrd.img" "$SCRATCH/b/m-boot-initrd.img"
size=$(stat -c %s "$SCRATCH/a/m-boot-initrd.img")
echo "boot initrd: $size bytes"
assert_true "boot initrd under 8 MB" [ "$size" -lt 8388608 ]
zcat "$SCRATCH/a/m-boot-initrd.img" | cpio -t 2>/dev/null > "$SCRATCH/list"
assert_contains "^init$" < "$SCRATCH/list"
assert_contains "^\.lk-mount-root$" < "$SCRATCH/list"
if [ "$KERNEL_PKG" = kernel-debian ]; then
    assert_contains "/squashfs\.ko$" < "$SCRATCH/list"
    assert_contains "/virtio_blk\.ko$" < "$SCRATCH/list"
else
    # Our kernel has QEMU's storage drivers and the file systems built in (only drivers for
    # other clouds' disks, e.g. Hyper-V's, may be modules).
    if grep -q '/squashfs\.ko$\|/erofs\.ko$\|/virtio_blk\.ko$\|/ahci\.ko$' "$SCRATCH/list"; then _rt_fail "the boot initrd carries modules our kernel has built in"; fi
fi
if grep -q "/snd\.ko$\|/e1000\.ko$" "$SCRATCH/list"; then _rt_fail "the boot initrd carries modules no root device needs"; fi
unsquashfs -l "$SCRATCH/a/m-squashfs.img" | assert_contains "squashfs-root/run$"
for kind in squashfs erofs; do
    console=$(timeout 300 "$LINUXKIT" run qemu --mem 1024 --state "$SCRATCH/state-$kind" "--$kind" "$SCRATCH/a/m" < /dev/null 2>&1) || true
    echo "$console" | grep -q "ROOT-MARKER" || { echo "$console" | tail -30; _rt_fail "$kind did not boot"; }
    echo "$console" | assert_contains "mount-root: /dev/sda \\($kind\\) mounted"
    echo "$console" | assert_contains "ROOT-MARKER $kind 1"
    echo "$console" | assert_contains "service: started getty"
    echo "$console" | assert_contains "init: power off"
    ms=$(echo "$console" | sed -n 's/.*mounted in \([0-9]*\) ms.*/\1/p')
    echo "RT_BENCHMARK_RESULT: $kind root mounted by the boot initrd in ${ms} ms (TCG)"
done
exit 0
