#!/bin/sh
# SUMMARY: `linuxkit run qemu` sent SIGTERM (as a supervisor, CI job or timeout does) presses the guest's power button over QMP, the guest shuts down cleanly, and no QEMU process is left
# LABELS: amd64
# TIMEOUT: 600
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap pgrep

build_packages
make_scratch
pkg_paths < "$REPO_ROOT/examples/minimal.yml" > "$SCRATCH/t.yml"
linuxkit build --dir "$SCRATCH" --name t "$SCRATCH/t.yml"
vm_start "$SCRATCH" "$SCRATCH/t" --mem 1024 --networking none
vm_wait "service: started getty" 300
# init listens for the power button once the boot is complete.
vm_wait "init: boot complete" 120
sleep 2
qmp="$SCRATCH/t-state/qmp.sock"
assert_true "QEMU runs with its QMP socket" pgrep -f "$qmp"
kill -TERM "$VM_PID"
set +e
vm_end 60
set -e
assert_equals "linuxkit stopped by SIGTERM exits 1" 1 "$VM_STATUS"
assert_contains "init: power button pressed" < "$VM_LOG"
assert_contains "init: power off" < "$VM_LOG"
sleep 1
assert_status 1 pgrep -f "$qmp"
exit 0
