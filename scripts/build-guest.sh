#!/usr/bin/env bash
# Builds the in-VM binaries statically (glibc, crt-static) and puts them where their
# packages expect them (git-ignored): pkg/init/{init,usr/bin/service},
# pkg/memlogd/usr/bin/{memlogd,logread,logwrite}, pkg/metadata/usr/bin/metadata,
# pkg/fdd/usr/bin/fdd, pkg/trim-after-delete/usr/bin/trim-after-delete,
# pkg/logwrite/usr/bin/logwrite (memlogd's entries into files), pkg/kmsg/usr/bin/kmsg,
# the vsock tools: pkg/vsudd/vsudd, pkg/host-timesync-daemon/usr/bin/host-timesync-daemon,
# pkg/port-forwarder/usr/bin/port-forwarder, pkg/sock-stress/usr/bin/sock_stress.
#   scripts/build-guest.sh              build and install
#   scripts/build-guest.sh --packages   only name the packages that carry these binaries
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --packages ]; then
    echo init memlogd metadata logwrite kmsg fdd trim-after-delete host-timesync-daemon port-forwarder vsudd sock-stress
    exit 0
fi
# libcontainer's seccomp support links libseccomp, its cgroup v2 device rules libbpf (built
# from source by libbpf-sys) with libelf and zlib: all static, from Debian's -dev packages.
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static -C strip=symbols' cargo build --profile guest --locked \
    --target x86_64-unknown-linux-gnu --target-dir target/guest -p lk-init -p lk-service -p lk-memlogd -p lk-metadata -p lk-tools -p lk-virtsock
out=target/guest/x86_64-unknown-linux-gnu/guest
for b in init service memlogd logread logwrite logwrite-files metadata fdd trim-after-delete kmsg vsudd \
    host-timesync-daemon port-forwarder sock_stress; do
    if ldd "$out/$b" 2>&1 | grep -q '=>'; then
        echo "error: $out/$b is not static" >&2
        exit 1
    fi
done
# put BINARY DEST: installs (0755, with DEST's directory) unless DEST already has those bytes:
# a package build reading DEST while another call of this script runs never sees it rewritten.
put() {
    cmp -s "$out/$1" "$2" && return 0
    install -d "$(dirname "$2")"
    install -m 0755 "$out/$1" "$2.lk-tmp"
    mv -f "$2.lk-tmp" "$2"
}
put init pkg/init/init
put service pkg/init/usr/bin/service
for b in memlogd logread logwrite; do put "$b" "pkg/memlogd/usr/bin/$b"; done
put metadata pkg/metadata/usr/bin/metadata
put logwrite-files pkg/logwrite/usr/bin/logwrite
put kmsg pkg/kmsg/usr/bin/kmsg
for b in fdd trim-after-delete host-timesync-daemon port-forwarder; do put "$b" "pkg/$b/usr/bin/$b"; done
put vsudd pkg/vsudd/vsudd
put sock_stress pkg/sock-stress/usr/bin/sock_stress
