#!/bin/sh
# poweroff.sh [SECONDS]: waits, then asks init (PID 1 of the host's pid namespace) to power
# off cleanly. `-f` as the second word powers off at once, as LinuxKit's does.
timeout=${1:-30}
sleep "$timeout"
echo "poweroff: powering off after ${timeout} s"
if [ "${2:-}" = -f ]; then
    exec poweroff -f
fi
kill -USR2 1
