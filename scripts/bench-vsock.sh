#!/usr/bin/env bash
# vsock against TCP over QEMU's user network, side by side in one run of one VM (TCG): the
# same sock_stress client and echo server over both, throughput (a few 8 MiB connections)
# and connection rate (empty connections), host -> guest and guest -> host. vsock is
# run qemu --vsock (vhost-device-vsock; hybrid vsock on the host side, AF_VSOCK in the
# guest); TCP is --publish (host -> guest) and the user network's 10.0.2.2 (guest -> host).
#   scripts/bench-vsock.sh [LINUXKIT_BINARY]   (prints a markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
lk=$(realpath "${1:-target/release/linuxkit}")
ss=$(dirname "$lk")/sock_stress
[ -x "$ss" ] || { echo "no $ss: cargo build first" >&2; exit 1; }
./scripts/packages.sh "$lk" > /dev/null 2>&1 || { echo "scripts/packages.sh failed" >&2; exit 1; }
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; sleep 1; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hport=$(free_port)  # host echo server for the guest's TCP client
gport=$(free_port)  # published guest port for the host's TCP client
big="-L 8M -l 8M -i 6 -B 64K -b 64K"
small="-L 0 -l 0 -i 300"
pkg="@pkg:$PWD/pkg"
cat > "$dir/b.yml" <<YML
kernel:
  image: "$pkg/kernel"
  cmdline: "console=ttyS0"
init:
  - "$pkg/init"
  - "$pkg/memlogd"
onboot:
  - name: dhcpcd
    image: "$pkg/dhcpcd"
    command: ["/usr/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
services:
  - name: vsock-echo
    image: "$pkg/sock-stress"
  - name: tcp-echo
    image: "$pkg/sock-stress"
    command: ["/usr/bin/sock_stress", "-s", "tcp://0.0.0.0:22099"]
files:
  - path: etc/init.d/999-bench
    mode: "0755"
    contents: |
      #!/bin/sh
      s() { service exec vsock-echo /usr/bin/sock_stress "\$@" 2>&1 | grep -v FAIL | tail -1; }
      i=0
      until [ -e /dev/vsock ] && s -h > /dev/null || [ \$i -ge 60 ]; do sleep 1; i=\$((i+1)); done
      echo "B guest-vsock-big \$(s -c vsock://2:22099 $big)"
      echo "B guest-tcp-big \$(s -c tcp://10.0.2.2:$hport $big)"
      echo "B guest-vsock-small \$(s -c vsock://2:22099 $small)"
      echo "B guest-tcp-small \$(s -c tcp://10.0.2.2:$hport $small)"
      echo "BENCH-""GUEST-DONE"
YML
"$lk" -q build --dir "$dir" --name b "$dir/b.yml"
state="$dir/b-state"
mkdir -p "$state"
"$ss" -s "hybrid://$state/vsock.sock:22099" 2> /dev/null &
pids+=($!)
"$ss" -s "tcp://0.0.0.0:$hport" 2> /dev/null &
pids+=($!)
"$lk" -q run qemu --mem 1024 --vsock --publish "$gport:22099" "$dir/b" < /dev/null > "$dir/console" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q "BENCH-GUEST-DONE" "$dir/console" && break; sleep 1; done
grep -q "BENCH-GUEST-DONE" "$dir/console" || { tail -20 "$dir/console" >&2; exit 1; }
# The summary line; the first failure, if any, on stderr.
host() {
    out=$("$ss" "$@" 2>&1 || true)
    echo "$out" | grep FAIL | head -1 >&2
    echo "$out" | grep -v FAIL | tail -1
}
# shellcheck disable=SC2086
{
    echo "B host-vsock-big $(host -c "hybrid://$state/vsock.sock:22099" $big)"
    echo "B host-tcp-big $(host -c "tcp://127.0.0.1:$gport" $big)"
    echo "B host-vsock-small $(host -c "hybrid://$state/vsock.sock:22099" $small)"
    echo "B host-tcp-small $(host -c "tcp://127.0.0.1:$gport" $small)"
} >> "$dir/console"
# "B <name> sock_stress: <ep>: N ok, N failed, N bytes echoed in S s (R conn/s, M MiB/s)"
field() { grep -a "^B $1 " "$dir/console" | tr -d '\r' | sed -n "s/.*(\([0-9.]*\) conn\/s, \([0-9.]*\) MiB\/s).*/\\$2/p"; }
oks() { grep -a "^B $1 " "$dir/console" | tr -d '\r' | sed -n 's/.*: \([0-9]*\) ok, \([0-9]*\) failed.*/\1 ok, \2 failed/p'; }
echo "| direction | transport | echo throughput (MiB/s, 6 x 8 MiB) | connections/s (300 empty) | vsock / TCP |"
echo "|---|---|---|---|---|"
for d in host guest; do
    for t in vsock tcp; do
        tp=$(field "$d-$t-big" 2)
        cr=$(field "$d-$t-small" 1)
        eval "tp_$t=\${tp:-0} cr_$t=\${cr:-0}"
        echo "| $d -> $([ $d = host ] && echo guest || echo host) | $t | $tp ($(oks "$d-$t-big")) | $cr ($(oks "$d-$t-small")) | |"
    done
    # shellcheck disable=SC2154
    echo "| | ratio | $(awk -v a="$tp_vsock" -v b="$tp_tcp" 'BEGIN { if (b > 0) printf "%.2fx", a / b }') | $(awk -v a="$cr_vsock" -v b="$cr_tcp" 'BEGIN { if (b > 0) printf "%.2fx", a / b }') | vsock / TCP |"
done
