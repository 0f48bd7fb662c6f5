#!/usr/bin/env bash
# Builds our source kernel (pkg/kernel) for arm64, cross-compiled with gcc-aarch64-linux-gnu
# from the same fragments plus config/arm64/ (about as long as the x86 build: kept out of
# CI's budget), then boots examples/minimal-arm64.yml with it under qemu-system-aarch64 as
# kernel+initrd and as raw-efi, to the getty prompt, and powers off. Prints the times.
#   scripts/arm64-source-kernel.sh [LINUXKIT_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
lk=$(realpath "${1:-target/debug/linuxkit}")
LK_PACKAGES_ONLY="debian-base kernel init memlogd getty bootloaders" ./scripts/packages.sh "$lk"
t0=$SECONDS
LK_PACKAGES_ARM64=1 LK_PACKAGES_ONLY="kernel init memlogd getty bootloaders" ./scripts/packages.sh "$lk"
echo "arm64-source-kernel: arm64 packages (the kernel's cross build): $((SECONDS - t0)) s"
work=$(mktemp -d /tmp/lk-arm64-kernel.XXXXXX)
trap 'rm -rf "$work"' EXIT
sed -e "s|@pkg:\.\./pkg/kernel-debian\"|@pkg:$PWD/pkg/kernel\"|" -e "s|@pkg:\.\./pkg/|@pkg:$PWD/pkg/|" \
    examples/minimal-arm64.yml > "$work/a.yml"
"$lk" build --arch arm64 --format kernel+initrd,raw-efi --dir "$work" --name a "$work/a.yml"
file -b "$work/a-kernel"
# boot NAME ARGS...: runs the VM, waits for the getty prompt, powers it off from the shell.
boot() {
    local name=$1 log="$work/$1.log"
    shift
    mkfifo "$work/$name.in"
    exec 8<>"$work/$name.in"
    local t=$SECONDS
    "$lk" run qemu --mem 1024 --state "$work/$name-state" "$@" < "$work/$name.in" > "$log" 2>&1 &
    local pid=$!
    until grep -aq 'getty) .*# ' "$log"; do
        kill -0 "$pid" 2> /dev/null || { tail -30 "$log"; echo "arm64-source-kernel: $name ended early" >&2; return 1; }
        [ $((SECONDS - t)) -lt 300 ] || { tail -30 "$log"; echo "arm64-source-kernel: $name: no prompt in 300 s" >&2; kill "$pid"; return 1; }
        sleep 0.5
    done
    echo "arm64-source-kernel: $name: the getty prompt after $((SECONDS - t)) s"
    echo 'echo "MACHINE=$(uname -m) $(uname -r)"; poweroff' >&8
    wait "$pid"
    exec 8>&-
    grep -a -m1 'MACHINE=aarch64' "$log"
    grep -a 'first service running' "$log" | tail -1
}
boot kernel+initrd "$work/a"
boot raw-efi --arch arm64 --uefi "$work/a-efi.img"
