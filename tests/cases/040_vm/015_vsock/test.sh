#!/bin/sh
# SUMMARY: run qemu --vsock (vhost-device-vsock): sock_stress echo both ways (host->guest over hybrid vsock and a --vsock-ports socket, guest->host over AF_VSOCK), 50 connections of up to 1 MiB with every checksum right and no socket left open; half-close over the guest's AF_VSOCK (loopback, through vsudd to a server that answers after EOF); refused ports both ways; the service CLI from the host through vsudd; a port-forwarder port answering on the host and closing with its service; host-timesync-daemon correcting a guest clock set to 2001; examples/vsudd-containerd.yml and port-forwarder.yml build
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap vhost-device-vsock /usr/bin/python3

build_packages
make_scratch
SOCK_STRESS=$(dirname "$LINUXKIT")/sock_stress
# The service CLI built for the host by scripts/test.sh beside linuxkit (the one in
# pkg/init exists only where the guest binaries were compiled in this checkout).
SERVICE=$(dirname "$LINUXKIT")/service
pkg="@pkg:$REPO_ROOT/pkg"
port=$(free_port)
{
    yml_head memlogd
    cat <<YML
services:
  - name: sock-stress
    image: "$pkg/sock-stress"
  - name: vsudd
    image: "$pkg/vsudd"
    command: ["/vsudd", "-inport", "2374:unix:/run/lk-service/control.sock", "-inport", "22103:unix:/run/halfclose.sock"]
  - name: halfclose
    image: "$pkg/sock-stress"
    binds: ["/run:/run"]
    command: ["/usr/bin/sock_stress", "-s", "unix:///run/halfclose.sock", "-at-eof"]
  - name: host-timesync-daemon
    image: "$pkg/host-timesync-daemon"
  - name: web
    image: "$pkg/httpd"
    net: host
    command: ["sh", "-c", "mkdir -p /www && echo hello-over-vsock > /www/index.html && exec httpd -f -p 127.0.0.1:8000 -h /www"]
  - name: port-forwarder
    image: "$pkg/port-forwarder"
    command: ["/usr/bin/port-forwarder", "-no-docker", "-port", "$port:127.0.0.1:8000"]
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      s() { service exec sock-stress /usr/bin/sock_stress "\$@"; }
      i=0
      until [ -e /dev/vsock ] && [ -S /run/halfclose.sock ] && s -h > /dev/null 2>&1 || [ \$i -ge 60 ]; do sleep 1; i=\$((i+1)); done
      modprobe vsock_loopback
      date -s "2001-01-01 00:00:00" > /dev/null
      fds() { for p in \$(pidof sock_stress); do ls /proc/\$p/fd; done | wc -l; }
      echo "R fds-before \$(fds)"
      echo "VSOCK-""READY"
      s -c vsock://2:22099 -i 50 -p 10 -l 1M 2>&1 | sed 's/^/R to-host /'
      echo "R half-close \$(s -c vsock://1:22103 -send ping-from-guest 2>&1)"
      echo "R refused \$(s -c vsock://2:22199 -i 1 -t 5 2>&1 | tail -1)"
      i=0
      until [ "\$(date +%Y)" != 2001 ] || [ \$i -ge 400 ]; do sleep 1; i=\$((i+1)); done
      echo "R clock \$(date +%Y) after \${i}s"
      service logs host-timesync-daemon 2>&1 | tail -2 | sed 's/^/R timesync /'
      sleep 2
      echo "R fds-after \$(fds)"
      service logs port-forwarder 2>&1 | tail -4 | sed 's/^/R forwarder /'
      echo "VSOCK-""DONE"
      poweroff
YML
} > "$SCRATCH/t.yml"
linuxkit build --dir "$SCRATCH" --name t "$SCRATCH/t.yml"
# The vsock examples build from our packages.
for e in vsudd-containerd port-forwarder; do
    pkg_paths < "$REPO_ROOT/examples/$e.yml" > "$SCRATCH/$e.yml"
    linuxkit build --dir "$SCRATCH" --name "$e" "$SCRATCH/$e.yml"
    assert_true "examples/$e.yml built" [ -s "$SCRATCH/$e-initrd.img" ]
done
state="$SCRATCH/t-state"
mkdir -p "$state" "$SCRATCH/vm"
# The host's echo server the guest stresses (host port 22099).
"$SOCK_STRESS" -s "hybrid://$state/vsock.sock:22099" 2> "$SCRATCH/host-server.log" &
server=$!
# Stopped however the case ends (a failed assertion exits before the kill at the end).
kill_on_exit "$server"
vm_start "$SCRATCH/vm" "$SCRATCH/t" --mem 1024 --vsock-ports 2374,22099,0xf3a4
vm_wait "VSOCK-READY" 300
# Host -> guest: straight over hybrid vsock, and through the --vsock-ports socket.
hybrid=$("$SOCK_STRESS" -c "hybrid://$state/vsock.sock:22099" -i 50 -p 10 -l 1M 2>&1 | tail -3)
echo "$hybrid"
viaport=$("$SOCK_STRESS" -c "unix://$state/guest.00005653" -i 20 -p 5 -l 256K 2>&1 | tail -3)
echo "$viaport"
refused=$("$SOCK_STRESS" -c "hybrid://$state/vsock.sock:4444" -i 1 -t 10 2>&1 | tail -1)
echo "refused: $refused"
list=$("$SERVICE" --socket "$state/guest.00000946" list 2>&1)
echo "$list"
page=$(http_get_retry "$port" 60)
echo "forwarded port: $page"
"$SERVICE" --socket "$state/guest.00000946" stop port-forwarder
closed=$(port_closes "$port" 30)
echo "port closed after the forwarder stopped: $closed"
stopped=$("$SERVICE" --socket "$state/guest.00000946" list 2>&1 | grep port-forwarder)
# host-timesync-daemon: a connection is the request.
/usr/bin/python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.shutdown(socket.SHUT_WR); s.recv(16)" "$state/guest.0000f3a4" || true
vm_wait "VSOCK-DONE" 300
vm_end 120
kill "$server" 2> /dev/null || true
cp "$VM_LOG" "$RT_RESULTS/vsock-console.log"
cp "$state/vsock.log" "$RT_RESULTS/vsock-host.log" 2> /dev/null || true
c=$(tr -d '\r' < "$VM_LOG")
echo "$c" | grep -E "^R " | head -40
echo "$hybrid" | assert_contains "50 ok, 0 failed"
echo "$viaport" | assert_contains "20 ok, 0 failed"
echo "$refused" | assert_contains "refused"
echo "$list" | assert_contains "sock-stress +running"
assert_equals "the forwarded port answered on the host" "hello-over-vsock" "$page"
assert_equals "the port closed with the forwarder" "yes" "$closed"
echo "$stopped" | assert_contains "port-forwarder +stopped .*last status 0"
echo "$c" | assert_contains "R to-host .*50 ok, 0 failed"
echo "$c" | assert_contains "R half-close ping-from-guest"
echo "$c" | assert_contains "R refused .*(refused|reset|timed out)"
echo "$c" | assert_contains "R clock 20[2-9][0-9]"
echo "$c" | assert_contains "R timesync .*clock set from /dev/rtc0"
before=$(echo "$c" | sed -n 's/^R fds-before \([0-9]*\).*/\1/p')
after=$(echo "$c" | sed -n 's/^R fds-after \([0-9]*\).*/\1/p')
assert_equals "the guest's echo server holds as many descriptors as before the stress" "$before" "$after"
assert_true "powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
assert_true "vhost-device-vsock ended with the VM" [ -z "$(pgrep -f "vhost-device-vsock.*$SCRATCH" || true)" ]
exit 0
