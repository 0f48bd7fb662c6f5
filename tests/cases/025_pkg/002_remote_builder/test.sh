#!/bin/sh
# SUMMARY: pkg build --builders linux/amd64=unix://SOCKET (and LINUXKIT_BUILDERS): a second Docker engine on its own socket stands in for a remote builder; the build runs there (its image list shows it) and the image lands in our cache, checked by check_oci.py
# LABELS: amd64
# TIMEOUT: 600
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd dockerd docker unshare python3
[ "$(id -u)" = 0 ] || rt_skip "starting a second Docker engine needs root"

build_packages --only "kmsg"
# kmsg carries a static guest binary, which its build copies from the package directory.
guest_binaries
make_scratch
cache=$SCRATCH/cache
sock=$SCRATCH/remote.sock
had_docker0=
ip link show docker0 > /dev/null 2>&1 && had_docker0=1
# The remote engine: its own socket, state and containers, in a network namespace of its
# own (a dockerd started with --bridge none deletes the host's docker0, which the local
# engine's builds need); no bridge, no iptables rules (the builds here need no network).
unshare --net dockerd --host "unix://$sock" --data-root "$SCRATCH/data" --exec-root "$SCRATCH/exec" \
    --pidfile "$SCRATCH/dockerd.pid" --bridge none --iptables=false --ip-masq=false \
    > "$SCRATCH/dockerd.log" 2>&1 &
remote=$!
kill_on_exit "$remote"
up=
for _ in $(seq 1 120); do
    if docker --host "unix://$sock" info > /dev/null 2>&1; then up=1; break; fi
    sleep 0.5
done
[ -n "$up" ] || { tail -20 "$SCRATCH/dockerd.log"; _rt_fail "the second dockerd did not come up"; }

full=$(linuxkit pkg show-tag --canonical "$REPO_ROOT/pkg/kmsg")
tag=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/kmsg")
linuxkit pkg build --cache "$cache" --builders "linux/amd64=unix://$sock" "$REPO_ROOT/pkg/kmsg" 2> "$SCRATCH/build.log" || {
    tail -30 "$SCRATCH/build.log"
    exit 1
}
assert_contains "Building for arch amd64 as $tag-amd64 \(docker at unix://$sock\)" < "$SCRATCH/build.log"
# The build ran on the remote engine: its image list has the package's per-arch tag.
docker --host "unix://$sock" image ls --format '{{.Repository}}:{{.Tag}}' | assert_contains "^$tag-amd64$"
linuxkit cache --cache "$cache" ls | awk '{print $1}' | assert_contains "^$full$"
python3 "$REPO_ROOT/tests/cases/_lib/check_oci.py" "$cache" "$full"

# LINUXKIT_BUILDERS does the same when the flag is not given.
docker --host "unix://$sock" image rm -f "$tag-amd64" "$tag" > /dev/null
LINUXKIT_BUILDERS="linux/amd64=unix://$sock" linuxkit pkg build --force --cache "$cache" "$REPO_ROOT/pkg/kmsg" 2> "$SCRATCH/env.log" || {
    tail -30 "$SCRATCH/env.log"
    exit 1
}
assert_contains "\(docker at unix://$sock\)" < "$SCRATCH/env.log"
docker --host "unix://$sock" image ls --format '{{.Repository}}:{{.Tag}}' | assert_contains "^$tag-amd64$"

kill "$remote"
for _ in $(seq 1 40); do kill -0 "$remote" 2> /dev/null || break; sleep 0.5; done
# The local engine's bridge is untouched.
if [ -n "$had_docker0" ]; then
    ip link show docker0 > /dev/null 2>&1 || _rt_fail "docker0 is gone after the second dockerd"
fi
exit 0
