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
RUSTFLAGS='-C target-feature=+crt-static -C strip=symbols' cargo build --profile guest --locked \
    --target "$triple" --target-dir "$dir" -p lk-init -p lk-service -p lk-memlogd -p lk-metadata -p lk-tools -p lk-virtsock
out=$dir/$triple/guest
for b in init service memlogd logread logwrite logwrite-files metadata fdd trim-after-delete kmsg vsudd \
    host-timesync-daemon port-forwarder sock_stress; do
    if file -b "$out/$b" | grep -q 'dynamically linked'; then
        echo "error: $out/$b is not static" >&2
        exit 1
    fi
done
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
put init init init
put service init usr/bin/service
for b in memlogd logread logwrite; do put "$b" memlogd "usr/bin/$b"; done
put metadata metadata usr/bin/metadata
put logwrite-files logwrite usr/bin/logwrite
put kmsg kmsg usr/bin/kmsg
for b in fdd trim-after-delete host-timesync-daemon port-forwarder; do put "$b" "$b" "usr/bin/$b"; done
put vsudd vsudd vsudd
put sock_stress sock-stress usr/bin/sock_stress
