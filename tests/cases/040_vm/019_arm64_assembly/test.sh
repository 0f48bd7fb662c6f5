#!/bin/sh
# SUMMARY: arm64 assembly on this x86_64 host (examples/minimal-arm64.yml): every ELF file of the --arch arm64 image is aarch64; two builds of kernel+initrd, raw-efi, iso-efi and qcow2-efi are identical; the package indexes hold amd64 and arm64 (skopeo inspect --raw); iso-bios --arch arm64 and an image without an arm64 entry fail before any output, naming the format, the image and its platforms
# LABELS:
# TIMEOUT: 600
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd aarch64-linux-gnu-gcc buildah mmdebstrap skopeo /usr/bin/python3

build_packages --arm64 "debian-base kernel-debian init memlogd getty bootloaders"
make_scratch
pkg_paths < "$REPO_ROOT/examples/minimal-arm64.yml" > "$SCRATCH/a.yml"
formats=kernel+initrd,raw-efi,iso-efi,qcow2-efi
for d in one two; do
    linuxkit build --arch arm64 --format "$formats" --dir "$SCRATCH/$d" --name a "$SCRATCH/a.yml"
    linuxkit build --arch aarch64 --format tar --dir "$SCRATCH/$d" --name a "$SCRATCH/a.yml"
done
for f in a.tar a-kernel a-initrd.img a-cmdline a-efi.img a-efi.iso a-efi.qcow2; do
    assert_true "$f: two builds give the same bytes" cmp "$SCRATCH/one/$f" "$SCRATCH/two/$f"
done
# Every ELF file in the image's tar, and the kernel, by their ELF headers (e_machine 183).
elf=$(/usr/bin/python3 - "$SCRATCH/one/a.tar" "$SCRATCH/one/a-kernel" <<'PY'
import struct, sys, tarfile
counts = {}
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if not m.isfile():
            continue
        head = t.extractfile(m).read(20)
        if head[:4] == b"\x7fELF":
            machine = struct.unpack("<H", head[18:20])[0]
            counts[machine] = counts.get(machine, 0) + 1
            if machine != 183:
                print("not aarch64:", m.name, machine)
kernel = open(sys.argv[2], "rb").read(64)
print("kernel:", "arm64-Image" if kernel[56:60] == b"ARM\x64" else "other")
print("elf machines:", counts)
PY
)
echo "$elf"
echo "$elf" | assert_contains "^elf machines: \{183: [1-9][0-9]*\}$"
echo "$elf" | assert_contains "^kernel: arm64-Image$"
echo "$elf" | assert_not_contains "not aarch64"
# The packages' indexes hold both platforms (the cache is an OCI layout).
for p in init getty kernel-debian; do
    tag=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/$p")
    plats=$(skopeo inspect --raw "oci:$HOME/.linuxkit/cache:docker.io/$tag" |
        /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')
    assert_equals "$p's index" "amd64 arm64" "$plats"
done
# What cannot be built for arm64 fails first, with nothing written.
st=0
out=$(linuxkit build --arch arm64 --format iso-bios --dir "$SCRATCH/bios" "$SCRATCH/a.yml" 2>&1) || st=$?
echo "$out"
assert_true "iso-bios --arch arm64 fails" [ "$st" != 0 ]
echo "$out" | assert_contains "iso-bios"
echo "$out" | assert_contains "arm64"
assert_true "nothing written" [ ! -e "$SCRATCH/bios/a-bios.iso" ]
# sysctl lists amd64 only: its index has no arm64 entry.
build_packages --only sysctl
printf 'onboot:\n  - name: sysctl\n    image: "@pkg:%s/pkg/sysctl"\n' "$REPO_ROOT" >> "$SCRATCH/a.yml"
st=0
out=$(linuxkit build --arch arm64 --format kernel+initrd --dir "$SCRATCH/noarm" "$SCRATCH/a.yml" 2>&1) || st=$?
echo "$out"
assert_true "an image without arm64 fails" [ "$st" != 0 ]
echo "$out" | assert_contains "linuxkit/sysctl"
echo "$out" | assert_contains "linux/amd64"
assert_true "nothing written" [ ! -e "$SCRATCH/noarm/a-initrd.img" ]
exit 0
