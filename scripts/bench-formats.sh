#!/usr/bin/env bash
# Build time and size of every bootable format of examples/minimal.yml (warm cache), side by
# side in one run with the floors every format starts from: the kernel+initrd build (each
# bootable format is made from it) and the external tool alone on the same input (xorriso
# for an ISO of the same kernel and initrd, qemu-img convert of the same raw disk, gzip of it).
#   scripts/bench-formats.sh [LINUXKIT_BINARY] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
lk=${1:-target/release/linuxkit}
rounds=${2:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export SOURCE_DATE_EPOCH=1700000000
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
"$lk" -q build --dir "$out/warm" --name m --format kernel+initrd examples/minimal.yml # cache warm
echo "| format | file | median wall (ms, $rounds runs) | size (MiB) | allocated (MiB) |"
echo "|---|---|---|---|---|"
for f in kernel+initrd iso-bios iso-efi iso-efi-initrd raw-bios raw-efi qcow2-efi aws qcow2-bios vhd dynamic-vhd vmdk gcp; do
    times=""
    for _ in $(seq "$rounds"); do
        rm -rf "$out/b"
        t0=$(now)
        "$lk" -q build --dir "$out/b" --name m --format "$f" examples/minimal.yml
        times="$times $(ms "$t0" "$(now)")"
    done
    file=$(ls "$out/b" | grep -v -- '-kernel$\|-cmdline$' | head -1)
    size=$(stat -c %s "$out/b/$file")
    alloc=$(du -k "$out/b/$file" | cut -f1)
    printf '| `%s` | %s | %s | %.1f | %.1f |\n' "$f" "$file" "$(echo $times | median)" \
        "$(echo "$size / 1048576" | bc -l)" "$(echo "$alloc / 1024" | bc -l)"
    [ "$f" = aws ] && cp --sparse=always "$out/b/m.raw" "$out/m.raw"
done
echo
echo "| floor (same input) | median wall (ms) |"
echo "|---|---|"
floor() {
    name=$1
    shift
    times=""
    for _ in $(seq "$rounds"); do
        rm -f "$out/floor"
        t0=$(now)
        "$@" > /dev/null 2>&1
        times="$times $(ms "$t0" "$(now)")"
    done
    echo "| $name | $(echo $times | median) |"
}
floor "xorriso, an ISO of the same kernel + initrd" \
    xorriso -as mkisofs -o "$out/floor" -graft-points "kernel=$out/warm/m-kernel" "initrd.img=$out/warm/m-initrd.img"
floor "qemu-img convert of the aws disk to qcow2" qemu-img convert -f raw -O qcow2 "$out/m.raw" "$out/floor"
floor "qemu-img convert of the aws disk to vmdk streamOptimized" \
    qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$out/m.raw" "$out/floor"
floor "pigz -6 of the aws disk (gcp's gzip)" sh -c "pigz -6 -c '$out/m.raw' > '$out/floor'"
floor "cp --sparse of the aws disk" cp --sparse=always "$out/m.raw" "$out/floor"
