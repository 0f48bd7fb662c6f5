#!/usr/bin/env bash
# Builds this repository's packages into the linuxkit cache with `linuxkit pkg build`:
# first the Debian base root filesystem (mmdebstrap), then every pkg/<name>.
#   scripts/packages.sh [LINUXKIT_BINARY]
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
lk=${1:-target/release/linuxkit}
# One build at a time per checkout: a second call (the test suite's, while .ci/run's
# background build runs) waits for the first, then finds every package cached and skips it.
# flock -o: the lock stays with flock itself, not with daemons the build starts (dockerd).
if [ -z "${LK_PACKAGES_LOCKED:-}" ]; then
    mkdir -p target
    export LK_PACKAGES_LOCKED=1
    st=0
    flock -n -E 75 -o target/.packages.lock "$self" "$@" || st=$?
    if [ "$st" = 75 ]; then
        echo "packages: another build of this checkout's packages is running; waiting for it"
        exec flock -o target/.packages.lock "$self" "$@"
    fi
    exit "$st"
fi
./scripts/dockerd.sh
# What is not in the cache yet (by each package's tag, its git tree hash): with everything
# there (a warm CI run, a test case after the first), nothing is compiled or built.
mapfile -t dirs < <(for d in pkg/*/; do [ -f "$d/build.yml" ] && echo "${d%/}"; done)
missing=$(comm -23 <("$lk" pkg show-tag "${dirs[@]}" | sort) \
    <("$lk" cache ls | awk 'NR > 1 { sub("^docker.io/", "", $1); print $1 }' | sort))
if [ -z "$missing" ]; then
    echo "packages: all ${#dirs[@]} are in the cache"
    exit 0
fi
echo "packages: to build: $(echo "$missing" | sed 's|:.*||; s|.*/||' | tr '\n' ' ')"
t0=$SECONDS
./scripts/build-guest.sh
echo "packages: guest binaries: $((SECONDS - t0)) s"
if [ ! -f pkg/debian-base/rootfs.tar ] && grep -q '/debian-base:' <<< "$missing"; then
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: run scripts/setup.sh" >&2; exit 1; }
    t0=$SECONDS
    pkg/debian-base/mkrootfs.sh
    echo "packages: debian-base root filesystem (mmdebstrap): $((SECONDS - t0)) s"
fi
# build DIR: one package, with the time it took (cached ones say so and take no time).
build() {
    local t0=$SECONDS
    "$lk" pkg build "$1"
    echo "packages: $1: $((SECONDS - t0)) s"
}
# The base first; packages that use it name it with @lkt:pkg:../debian-base.
build pkg/debian-base
for p in "${dirs[@]}"; do
    [ "$p" = pkg/debian-base ] || build "$p"
done
# LK_PRUNE_BUILD_STAGES=1 (set by .ci/run): Docker's images of the build stages are not needed
# once the packages are in the linuxkit cache (the kernel's alone are ~3 GB, all ~12 GB);
# removing them keeps CI machines' disks free. Docker's layer cache goes with them.
if [ "${LK_PRUNE_BUILD_STAGES:-}" = 1 ]; then
    docker image prune -f > /dev/null
fi
