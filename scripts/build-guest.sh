#!/usr/bin/env bash
# Builds the in-VM binaries statically (glibc, crt-static) and puts them where their
# packages expect them (git-ignored): pkg/init/{init,usr/bin/service},
# pkg/memlogd/usr/bin/{memlogd,logread,logwrite}, pkg/metadata/usr/bin/metadata,
# pkg/fdd/usr/bin/fdd, pkg/trim-after-delete/usr/bin/trim-after-delete,
# pkg/logwrite/usr/bin/logwrite (memlogd's entries into files), pkg/kmsg/usr/bin/kmsg,
# the vsock tools: pkg/vsudd/vsudd, pkg/host-timesync-daemon/usr/bin/host-timesync-daemon,
# pkg/port-forwarder/usr/bin/port-forwarder, pkg/sock-stress/usr/bin/sock_stress.
set -euo pipefail
cd "$(dirname "$0")/.."
# libcontainer's seccomp support links libseccomp, its cgroup v2 device rules libbpf (built
# from source by libbpf-sys) with libelf and zlib: all static, from Debian's -dev packages.
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static -C strip=symbols' cargo build --release --locked \
    --target x86_64-unknown-linux-gnu --target-dir target/guest -p lk-init -p lk-service -p lk-memlogd -p lk-metadata -p lk-tools -p lk-virtsock
out=target/guest/x86_64-unknown-linux-gnu/release
for b in init service memlogd logread logwrite logwrite-files metadata fdd trim-after-delete kmsg vsudd \
    host-timesync-daemon port-forwarder sock_stress; do
    if ldd "$out/$b" 2>&1 | grep -q '=>'; then
        echo "error: $out/$b is not static" >&2
        exit 1
    fi
done
install -m 0755 "$out/init" pkg/init/init
install -d pkg/init/usr/bin
install -m 0755 "$out/service" pkg/init/usr/bin/service
install -d pkg/memlogd/usr/bin
for b in memlogd logread logwrite; do install -m 0755 "$out/$b" "pkg/memlogd/usr/bin/$b"; done
install -d pkg/metadata/usr/bin
install -m 0755 "$out/metadata" pkg/metadata/usr/bin/metadata
install -d pkg/logwrite/usr/bin
install -m 0755 "$out/logwrite-files" pkg/logwrite/usr/bin/logwrite
install -d pkg/kmsg/usr/bin
install -m 0755 "$out/kmsg" pkg/kmsg/usr/bin/kmsg
for b in fdd trim-after-delete host-timesync-daemon port-forwarder; do
    install -d "pkg/$b/usr/bin"
    install -m 0755 "$out/$b" "pkg/$b/usr/bin/$b"
done
install -m 0755 "$out/vsudd" pkg/vsudd/vsudd
install -d pkg/sock-stress/usr/bin
install -m 0755 "$out/sock_stress" pkg/sock-stress/usr/bin/sock_stress
