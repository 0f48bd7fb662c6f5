#!/bin/sh
# SUMMARY: every bootable format (iso-bios, iso-efi, iso-efi-initrd, raw-bios, raw-efi, qcow2-efi, aws, qcow2-bios, vhd, dynamic-vhd, vmdk, gcp) built from our packages, identical when built twice and when built as nobody, checked with the independent tools, and booted serially under SeaBIOS or OVMF to a marker; the failure paths leave no file
# LABELS: amd64
# TIMEOUT: 1500
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap xorriso mkfs.ext4 debugfs e2fsck qemu-img sgdisk sfdisk fsck.vfat
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || rt_skip "OVMF is not installed (apt-get install ovmf)"

build_packages
make_scratch
export SOURCE_DATE_EPOCH=1700000000
minimal_with_script "$SCRATCH/boot.yml" <<'SH'
#!/bin/sh
echo "BOOT-MARKER $(cat /proc/cmdline)"
poweroff
SH
FORMATS=iso-bios,iso-efi,iso-efi-initrd,raw-bios,raw-efi,qcow2-efi,aws,qcow2-bios,vhd,vmdk,gcp
for d in a b; do
    mkdir -p "$SCRATCH/$d"
    start=$(date +%s)
    linuxkit build --dir "$SCRATCH/$d" --name m --format "$FORMATS" "$SCRATCH/boot.yml"
    # dynamic-vhd writes m.vhd as vhd does, so it gets its own name.
    linuxkit build --dir "$SCRATCH/$d" --name dyn --format dynamic-vhd "$SCRATCH/boot.yml"
    echo "RT_BENCHMARK_RESULT: build $d of 12 bootable formats: $(( $(date +%s) - start )) s"
done
A=$SCRATCH/a
ls -l "$A"
for f in "$A"/*; do
    n=$(basename "$f")
    cmp "$f" "$SCRATCH/b/$n" || _rt_fail "$n differs between two builds"
done
rm -rf "$SCRATCH/b"
[ -z "$(ls -A "$A" | grep '^\.')" ] || _rt_fail "temporary files left: $(ls -A "$A")"

# Without root: the same formats built as `nobody` from a cache of the image's images are
# the same bytes as built as root.
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
    R=$(mktemp -d "${TMPDIR:-/tmp}/lk-rootless.XXXXXX")
    chmod 755 "$R"
    linuxkit build --dry-run "$SCRATCH/boot.yml" > "$R/m.yml"
    for i in $(grep -o 'linuxkit/[a-z-]*:[0-9a-f]*' "$R/m.yml" | sort -u) "$(cat "$REPO_ROOT/crates/lk-ops/src/bootloaders.ref")"; do
        linuxkit cache export --format oci --outfile "$R/x.tar" "$i"
        linuxkit cache import --cache "$R/cache" "$R/x.tar" > /dev/null
    done
    rm "$R/x.tar"
    cp "$LINUXKIT" "$R/linuxkit"
    chown -R nobody:nogroup "$R"
    (cd "$R" && setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$R" \
        ./linuxkit -q build --cache "$R/cache" --dir "$R/user" --name m --format "$FORMATS" m.yml)
    linuxkit -q build --cache "$R/cache" --dir "$R/root" --name m --format "$FORMATS" "$R/m.yml"
    for f in "$R/root"/*; do
        cmp "$f" "$R/user/$(basename "$f")" || { rm -rf "$R"; _rt_fail "$(basename "$f") differs when built without root"; }
    done
    echo "built without root: the same bytes for $(ls "$R/user" | wc -l) files"
    rm -rf "$R"
fi

# Independent tools.
sgdisk -v "$A/m-efi.img" | assert_contains "No problems found"
sfdisk --dump "$A/m-bios.img" | assert_contains "start=        2048.*type=c, bootable"
sfdisk --dump "$A/m.raw" | assert_contains "start=        2048.*type=83, bootable"
dd if="$A/m-bios.img" of="$SCRATCH/p.fat" bs=1M skip=1 status=none
fsck.vfat -n "$SCRATCH/p.fat"
off=$(sgdisk -i 1 "$A/m-efi.img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
dd if="$A/m-efi.img" of="$SCRATCH/p.fat" bs=512 skip="$off" status=none
fsck.vfat -n "$SCRATCH/p.fat"
rm "$SCRATCH/p.fat"
dd if="$A/m.raw" of="$SCRATCH/p.ext4" bs=1M skip=1 conv=sparse status=none
e2fsck -fn "$SCRATCH/p.ext4"
debugfs -R "ls -l /" "$SCRATCH/p.ext4" 2>/dev/null | assert_contains "initrd.img"
rm "$SCRATCH/p.ext4"
for f in m.qcow2 m-efi.qcow2 m.vmdk; do qemu-img check -q "$A/$f"; done
qemu-img info "$A/dyn.vhd" | assert_contains "file format: vpc"
# A fixed VHD's only footer is at its end, where qemu-img's probe does not look: name the driver.
qemu-img info -f vpc "$A/m.vhd" | assert_contains "virtual size: 1 GiB \(1073741824 bytes\)"
qemu-img info "$A/m.vmdk" | assert_contains "create type: streamOptimized"
for f in m.iso m-efi.iso m-efi-initrd.iso; do
    xorriso -indev "$A/$f" -report_el_torito plain 2>&1 | assert_contains "El Torito boot img"
done
tar -tzvf "$A/m.img.tar.gz" | assert_contains " disk.raw$"

# Boot each one, one at a time, to the marker.
boot() {
    name=$1
    shift
    start=$(date +%s)
    console=$(timeout 300 "$LINUXKIT" run qemu --mem 1024 --state "$SCRATCH/state-$name" "$@" < /dev/null 2>&1) || true
    echo "$console" | grep -q "BOOT-MARKER" || {
        echo "$console" | tail -30
        _rt_fail "$name did not boot to the marker"
    }
    echo "$console" | assert_contains "init: power off"
    echo "RT_BENCHMARK_RESULT: $name boots to the marker and powers off in $(( $(date +%s) - start )) s (TCG)"
}
cp "$A/m.iso" "$SCRATCH/hybrid.img"
boot iso-bios "$A/m.iso"
boot iso-bios-as-disk "$SCRATCH/hybrid.img"
boot iso-efi --uefi "$A/m-efi.iso"
boot iso-efi-initrd --uefi "$A/m-efi-initrd.iso"
boot raw-bios "$A/m-bios.img"
boot raw-efi --uefi "$A/m-efi.img"
boot qcow2-efi --uefi "$A/m-efi.qcow2"
boot aws "$A/m.raw"
boot qcow2-bios "$A/m.qcow2"
boot vhd "$A/m.vhd"
boot dynamic-vhd "$A/dyn.vhd"
boot vmdk "$A/m.vmdk"
tar -C "$SCRATCH" -xzf "$A/m.img.tar.gz"
boot gcp "$SCRATCH/disk.raw"

# Failure paths: a clear error naming the format, and no file left behind.
F=$SCRATCH/fail
mkdir -p "$F"
grep -v '^kernel:\|^  image: .*kernel\|^  cmdline:' "$SCRATCH/boot.yml" > "$SCRATCH/nokernel.yml"
if out=$(linuxkit build --dir "$F" --name n --format raw-bios "$SCRATCH/nokernel.yml" 2>&1); then _rt_fail "built without a kernel"; fi
echo "$out" | assert_contains "raw-bios needs a .kernel. section"
if out=$(linuxkit build --dir "$F" --name n --format raw-efi --bootloaders 127.0.0.1:1/none:x "$SCRATCH/boot.yml" 2>&1); then _rt_fail "built without boot loaders"; fi
echo "$out" | assert_contains "raw-efi: reading the boot loaders from 127.0.0.1:1/none:x"
echo "$out" | assert_contains "pkg build pkg/bootloaders"
if out=$(linuxkit build --dir "$F" --name n --format aws --size 8M "$SCRATCH/boot.yml" 2>&1); then _rt_fail "built a disk too small for its content"; fi
echo "$out" | assert_contains "--size 8M is too small for aws"
if out=$(linuxkit build --dir "$F" --name n --format rpi3 "$SCRATCH/boot.yml" 2>&1); then _rt_fail "built rpi3"; fi
echo "$out" | assert_contains "arm64 kernel"
[ -z "$(ls -A "$F")" ] || _rt_fail "failed builds left files: $(ls -A "$F")"
exit 0
