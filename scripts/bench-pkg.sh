#!/usr/bin/env bash
# `pkg build` with each back end, side by side in one run on the same packages: kmsg (FROM
# scratch, static files), debian-base (FROM scratch, a 300 MB root filesystem) and chronyd
# (FROM debian-base, a RUN step that installs Debian packages; build arguments). For each
# round and back end: cold (the back end's images of them removed, a fresh linuxkit cache,
# and --force, so no build step comes from the back end's layer cache) then warm (the same
# cache: nothing to build). Prints the median wall and CPU seconds
# (user+sys of linuxkit and the back end's processes; dockerd's own CPU from its cgroup).
#   scripts/bench-pkg.sh [LINUXKIT_BINARY] [ROUNDS]
# Needs root, a running Docker engine (scripts/dockerd.sh), buildah, the guest binaries and
# debian-base's rootfs.tar (scripts/packages.sh makes both).
set -euo pipefail
cd "$(dirname "$0")/.."
lk=$(realpath "${1:-target/release/linuxkit}")
rounds=${2:-3}
pkgs=(pkg/kmsg pkg/debian-base pkg/chronyd)
[ -f pkg/debian-base/rootfs.tar ] || { echo "no pkg/debian-base/rootfs.tar: run scripts/packages.sh" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# dockerd's CPU seconds so far (cgroup v1 cpuacct of the docker group and dockerd itself).
docker_cpu() {
    local ns=0 pid
    [ -r /sys/fs/cgroup/cpuacct/docker/cpuacct.usage ] && ns=$(cat /sys/fs/cgroup/cpuacct/docker/cpuacct.usage)
    pid=$(pgrep -x dockerd | head -1)
    local ticks=0
    [ -n "$pid" ] && ticks=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat")
    awk -v ns="$ns" -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", ns / 1e9 + t / hz }'
}
forget() {
    local b=$1 p tag
    for p in "${pkgs[@]}"; do
        tag=$("$lk" pkg show-tag "$p")
        if [ "$b" = docker ]; then
            docker image rm -f "$tag" "$tag-amd64" > /dev/null 2>&1 || true
        else
            buildah rmi -f "$tag" "$tag-amd64" > /dev/null 2>&1 || true
        fi
    done
    [ "$b" = docker ] && docker builder prune -af > /dev/null 2>&1 || true
}
declare -A wall cpu
for r in $(seq "$rounds"); do
    for b in docker buildah; do
        for phase in cold warm; do
            force=()
            if [ "$phase" = cold ]; then
                forget "$b"
                rm -rf "$out/cache-$b"
                force=(--force)
            fi
            d0=$(docker_cpu)
            t0=$(now)
            /usr/bin/time -f '%U %S' -o "$out/time" "$lk" -q pkg build "${force[@]}" --builder "$b" --cache "$out/cache-$b" "${pkgs[@]}" > "$out/log-$b-$r-$phase" 2>&1
            t1=$(now)
            d1=$(docker_cpu)
            w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
            c=$(awk -v d0="$d0" -v d1="$d1" '{ printf "%.2f", $1 + $2 + (d1 - d0) }' "$out/time")
            wall[$b-$phase]="${wall[$b-$phase]:-} $w"
            cpu[$b-$phase]="${cpu[$b-$phase]:-} $c"
            echo "round $r $b $phase: ${w} s wall, ${c} CPU-s"
        done
    done
done
echo "== medians of $rounds rounds (kmsg, debian-base, chronyd)"
printf '| %-8s | %-5s | %8s | %8s |\n' builder phase wall CPU
for b in docker buildah; do
    for phase in cold warm; do
        printf '| %-8s | %-5s | %7ss | %7ss |\n' "$b" "$phase" "$(echo "${wall[$b-$phase]}" | median)" "$(echo "${cpu[$b-$phase]}" | median)"
    done
done
for phase in cold warm; do
    awk -v b="$(echo "${wall[buildah-$phase]}" | median)" -v d="$(echo "${wall[docker-$phase]}" | median)" -v p="$phase" \
        'BEGIN { if (d > 0) printf "buildah/docker %s (wall): %.2fx\n", p, b / d }'
done
