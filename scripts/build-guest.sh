#!/usr/bin/env bash
# Builds the in-VM binaries statically (glibc, crt-static) for one arch and puts them where
# their packages' Dockerfiles take them (`COPY guest-${TARGETARCH}/ /`; git-ignored):
# pkg/init/guest-ARCH/{init,usr/bin/service}, pkg/memlogd/guest-ARCH/usr/bin/{memlogd,logread,logwrite},
# pkg/metadata/guest-ARCH/usr/bin/metadata, pkg/fdd/..., pkg/trim-after-delete/...,
# pkg/logwrite/guest-ARCH/usr/bin/logwrite (memlogd's entries into files), pkg/kmsg/...,
# the vsock tools: pkg/vsudd/guest-ARCH/vsudd, pkg/host-timesync-daemon/...,
# pkg/port-forwarder/..., pkg/sock-stress/guest-ARCH/usr/bin/sock_stress.
#   scripts/build-guest.sh                 build and install for amd64 (this host)
#   scripts/build-guest.sh --arch arm64    cross-compile for arm64 (docs/arm64.md): Debian's
#                                          rustc-web and its aarch64 std, aarch64-linux-gnu-gcc
#                                          as the linker, the C libraries' :arm64 -dev packages
#   scripts/build-guest.sh --packages      only name the packages that carry these binaries
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --packages ]; then
    echo init memlogd metadata logwrite kmsg fdd trim-after-delete host-timesync-daemon port-forwarder vsudd sock-stress
    exit 0
fi
arch=amd64
if [ "${1:-}" = --arch ]; then
    arch=$2
    shift 2
fi
# libcontainer's seccomp support links libseccomp, its cgroup v2 device rules libbpf (built
# from source by libbpf-sys) with libelf and zlib: all static, from Debian's -dev packages.
export LIBSECCOMP_LINK_TYPE=static
case $arch in
amd64)
    triple=x86_64-unknown-linux-gnu
    dir=target/guest
    ;;
arm64)
    # rustup cannot add targets here: Debian's rustc (rustc-web) has the aarch64 std.
    triple=aarch64-unknown-linux-gnu
    dir=target/guest-arm64
    [ -d /usr/lib/rustlib/$triple ] && command -v aarch64-linux-gnu-gcc > /dev/null || {
        echo "error: no arm64 Rust toolchain: run scripts/setup.sh --arm64 (docs/arm64.md)" >&2
        exit 1
    }
    export RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
        PKG_CONFIG_aarch64_unknown_linux_gnu=aarch64-linux-gnu-pkg-config
    ;;
*)
    echo "error: --arch $arch: the guest binaries build for amd64 and arm64" >&2
    exit 2
    ;;
esac
export LIBSECCOMP_LIB_PATH=/usr/lib/${triple/-unknown/}
# What each package carries: PACKAGE CRATE BINARY:PATH... (PATH inside its image).
CARRIES="
init lk-init init:init
init lk-service service:usr/bin/service
memlogd lk-memlogd memlogd:usr/bin/memlogd logread:usr/bin/logread logwrite:usr/bin/logwrite
metadata lk-metadata metadata:usr/bin/metadata
logwrite lk-memlogd logwrite-files:usr/bin/logwrite
kmsg lk-tools kmsg:usr/bin/kmsg
fdd lk-tools fdd:usr/bin/fdd
trim-after-delete lk-tools trim-after-delete:usr/bin/trim-after-delete
host-timesync-daemon lk-virtsock host-timesync-daemon:usr/bin/host-timesync-daemon
port-forwarder lk-virtsock port-forwarder:usr/bin/port-forwarder
vsudd lk-virtsock vsudd:vsudd
sock-stress lk-virtsock sock_stress:usr/bin/sock_stress
"
# The packages built for this arch: those whose build.yml lists it (only their crates are
# compiled: a cross build of all of them would cost CI minutes for images nobody boots).
lists_arch() { grep -Eq "^arches:.*\b$arch\b" "pkg/$1/build.yml"; }
crates=()
while read -r pkg crate _; do
    [ -n "$pkg" ] && lists_arch "$pkg" || continue
    [[ " ${crates[*]} " == *" -p $crate "* ]] || crates+=(-p "$crate")
done <<< "$CARRIES"
[ ${#crates[@]} -gt 0 ] || { echo "build-guest: no package lists $arch"; exit 0; }
RUSTFLAGS='-C target-feature=+crt-static -C strip=symbols' cargo build --profile guest --locked \
    --target "$triple" --target-dir "$dir" "${crates[@]}"
out=$dir/$triple/guest
# put BINARY PKG PATH: installs (0755) as pkg/PKG/guest-ARCH/PATH unless it already has
# those bytes: a package build reading it while another call of this script runs never sees
# it rewritten.
put() {
    local dest="pkg/$2/guest-$arch/$3"
    cmp -s "$out/$1" "$dest" && return 0
    install -d "$(dirname "$dest")"
    install -m 0755 "$out/$1" "$dest.lk-tmp"
    mv -f "$dest.lk-tmp" "$dest"
}
while read -r pkg _ bins; do
    [ -n "$pkg" ] && lists_arch "$pkg" || continue
    for b in $bins; do
        if file -b "$out/${b%%:*}" | grep -q 'dynamically linked'; then
            echo "error: $out/${b%%:*} is not static" >&2
            exit 1
        fi
        put "${b%%:*}" "$pkg" "${b#*:}"
    done
done <<< "$CARRIES"
