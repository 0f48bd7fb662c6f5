#!/bin/sh
# SUMMARY: onboot, services and onshutdown containers under the supervisor: onboot output on the console and in the log, a crashing service restarted with backoff, `service list|logs|exec|stop` and logread from the getty shell, the ACPI power button shutting down cleanly through onshutdown
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap

build_packages
make_scratch
cat > "$SCRATCH/services.yml" <<YML
kernel:
  image: "@pkg:$REPO_ROOT/pkg/$KERNEL_PKG"
  cmdline: "console=ttyS0"
init:
  - "@pkg:$REPO_ROOT/pkg/init"
  - "@pkg:$REPO_ROOT/pkg/memlogd"
onboot:
  - name: hello
    image: "@pkg:$REPO_ROOT/pkg/getty"
    command: ["/bin/sh", "-c", "echo ONBOOT-MARKER pid=\$\$; echo onboot-stderr >&2"]
services:
  - name: getty
    image: "@pkg:$REPO_ROOT/pkg/getty"
    env:
      - INSECURE=true
  - name: crasher
    image: "@pkg:$REPO_ROOT/pkg/getty"
    command: ["/bin/sh", "-c", "echo CRASH-RUN; sleep 1; exit 3"]
  - name: sleeper
    image: "@pkg:$REPO_ROOT/pkg/getty"
    command: ["/bin/sleep", "100000"]
onshutdown:
  - name: bye
    image: "@pkg:$REPO_ROOT/pkg/getty"
    command: ["/bin/sh", "-c", "echo ONSHUTDOWN-MARKER"]
YML
linuxkit build --dir "$SCRATCH" --name services "$SCRATCH/services.yml"
vm_start "$SCRATCH" "$SCRATCH/services" --mem 1024
vm_wait 'ns: getty\) [^ ]*# ' 180
vm_wait 'crasher exited with status 3; restarting in 2000 ms' 60
vm_send 'service list; echo LIST""-DONE'
vm_wait '^LIST-DONE' 30
vm_send 'service logs crasher | head -1; service logs hello; echo LOGS""-DONE'
vm_wait '^LOGS-DONE' 30
vm_send 'echo "COUNT=$(/proc/1/root/usr/bin/logread | grep -c crasher.out\;CRASH-RUN)"'
vm_wait '^COUNT=' 30
vm_send 'echo "LO=$(ip -4 addr show lo | grep -c 127.0.0.1) KMSG=$(/proc/1/root/usr/bin/logread | grep -c ";kmsg;")"'
vm_wait '^LO=' 30
vm_send 'service exec sleeper sh -c "echo EXEC-\$((40 + 2)) in \$(hostname)"; echo "exec"" status $?"'
vm_wait '^exec status [0-9]+' 60
vm_send 'service stop sleeper; echo STOP""-DONE'
vm_wait '^STOP-DONE' 60
# Shut down with the ACPI power button: Ctrl-A c is QEMU's monitor on the console.
printf '\001c' >&9
sleep 1
vm_send 'system_powerdown'
vm_end 300
console=$(cat "$VM_LOG")
echo "$console" | grep -E 'service:|init:|MARKER|EXEC|exec status|running|restarting|stopped' | tail -40
assert_true "QEMU exited 0 after poweroff (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
echo "$console" | assert_contains 'service: onboot: starting 000-hello'
# The getty image's label shares the host pid namespace.
echo "$console" | assert_contains 'ONBOOT-MARKER pid=[0-9]+'
echo "$console" | assert_contains 'service: started getty \(pid [0-9]+'
echo "$console" | assert_contains 'crasher exited with status 3; restarting in 1000 ms'
echo "$console" | assert_contains 'crasher exited with status 3; restarting in 2000 ms'
echo "$console" | assert_contains 'getty +running +[0-9]+ +0 +up'
echo "$console" | assert_contains 'sleeper +running'
echo "$console" | assert_contains 'crasher +(running|restarting) +[0-9-]+ +[1-9]'
# service logs: the service's stdout from memlogd; the onboot container's both streams.
between() { printf '%s\n' "$console" | tr -d '\r' | sed -n "/$1/,/$2/p"; }
between 'service logs crasher' '^LOGS-DONE' | assert_contains '^CRASH-RUN'
between 'service logs crasher' '^LOGS-DONE' | assert_contains '^ONBOOT-MARKER pid='
between 'service logs crasher' '^LOGS-DONE' | assert_contains '^onboot-stderr'
echo "$console" | assert_contains '^COUNT=[1-9]'
# Loopback is up with its address; the kernel log is in memlogd.
echo "$console" | assert_contains '^LO=1 KMSG=[1-9]'
echo "$console" | assert_contains 'EXEC-42 in linuxkit-'
echo "$console" | assert_contains 'exec status 0'
# sleep is PID 1 of its pid namespace, which ignores SIGTERM: killed after the grace period.
echo "$console" | assert_contains 'service: sleeper stopped \(status 1(43|37)\)'
echo "$console" | assert_contains 'sleeper +stopped'
echo "$console" | assert_contains 'init: power button pressed'
echo "$console" | assert_contains 'ONSHUTDOWN-MARKER'
echo "$console" | assert_contains 'service: getty stopped'
echo "$console" | assert_contains 'init: power off'
first=$(echo "$console" | sed -n 's/.*first service running \([0-9]*\) ms after \/init started.*/\1/p' | head -1)
echo "RT_BENCHMARK_RESULT: first service running ${first} ms after /init started (TCG)"
exit 0
