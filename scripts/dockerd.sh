#!/usr/bin/env bash
# Makes sure a Docker engine is running (scripts/setup.sh installs docker.io): starts
# dockerd in the background when no daemon answers, and waits until it does.
# Used by .ci/run and the README's commands. Prints the reason and exits 1 when it cannot.
set -euo pipefail

if docker info >/dev/null 2>&1; then
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd is not installed: run 'sudo scripts/setup.sh' (it installs docker.io)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "no Docker engine is running and starting one needs root: run 'sudo dockerd &' or 'sudo $0'" >&2
    exit 1
fi
log=${DOCKERD_LOG:-/var/log/dockerd-linuxkit.log}
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        exit 0
    fi
    sleep 0.5
done
echo "dockerd did not come up within 30 s; see $log" >&2
tail -20 "$log" >&2 || true
exit 1
