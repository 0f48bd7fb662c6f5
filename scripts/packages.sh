#!/usr/bin/env bash
# Builds this repository's packages into the linuxkit cache with `linuxkit pkg build`: the
# Debian base (its root filesystem from mmdebstrap), the source kernel (the longest build by
# far, so it starts first), the other packages, and before the first of those that carry
# the static guest binaries, those binaries (scripts/build-guest.sh).
#   scripts/packages.sh [LINUXKIT_BINARY]
#   LK_PACKAGES_SKIP="kernel ..." scripts/packages.sh ...   all but the named packages
#   LK_PACKAGES_ONLY="kernel ..." scripts/packages.sh ...   only the named packages
#   LK_BUILDER=buildah scripts/packages.sh ...   with buildah: no Docker engine is started
#                                                 (default: docker, started when needed)
#   LK_PACKAGES_ARM64=1 scripts/packages.sh ...  the arm64 entries of the packages whose
#       build.yml lists arm64 (cross-built, docs/arm64.md): the arm64 guest binaries first,
#       then `pkg build --platforms linux/arm64` with LK_ARM64_BUILDER (default buildah: a
#       cross build needs BuildKit or buildah, and Debian's Docker CLI has no BuildKit)
#
# Several calls may run at once (.ci/run's build in the background, the test suite's, a test
# case's): each package is built under its own lock (target/.pkg-<name>.lock), so a call
# that needs a package another call is building waits for it and then finds it cached, and
# no package is built twice. A call whose packages are all cached builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
lk=${1:-target/release/linuxkit}
mkdir -p target

# wanted NAME: whether this call builds package NAME.
wanted() {
    if [ -n "${LK_PACKAGES_ONLY:-}" ]; then
        [[ " $LK_PACKAGES_ONLY " == *" $1 "* ]] || return 1
    fi
    [[ " ${LK_PACKAGES_SKIP:-} " != *" $1 "* ]]
}

# locked NAME CMD...: runs CMD holding target/.pkg-NAME.lock, saying so when it has to wait.
# flock -o: the lock stays with flock itself, not with daemons CMD starts (dockerd).
locked() {
    local name=$1 lock="target/.pkg-$1.lock" st=0
    shift
    flock -n -E 75 -o "$lock" "$@" || st=$?
    if [ "$st" = 75 ]; then
        echo "packages: waiting for another build of $name"
        flock -o "$lock" "$@" || return
        return 0
    fi
    return "$st"
}

# arm64: each package that lists it, its arm64 entry added to the package's index in the
# cache (the amd64 one, built by a call without LK_PACKAGES_ARM64, is kept).
if [ "${LK_PACKAGES_ARM64:-}" = 1 ]; then
    arm_builder=${LK_ARM64_BUILDER:-buildah}
    [ "$arm_builder" = buildah ] || ./scripts/dockerd.sh
    t0=$SECONDS
    locked guest-binaries-arm64 ./scripts/build-guest.sh --arch arm64
    echo "packages: arm64 guest binaries: $((SECONDS - t0)) s"
    for d in pkg/*/; do
        d=${d%/}
        [ -f "$d/build.yml" ] && wanted "${d#pkg/}" || continue
        grep -Eq '^arches:.*\barm64\b' "$d/build.yml" || continue
        t0=$SECONDS
        locked "${d#pkg/}" "$lk" pkg build --builder "$arm_builder" --platforms linux/arm64 "$d"
        echo "packages: $d (arm64): $((SECONDS - t0)) s"
    done
    exit 0
fi

builder=${LK_BUILDER:-docker}
[ "$builder" = buildah ] || ./scripts/dockerd.sh
# Which are not in the cache yet (by each package's tag, its git tree hash), in build order:
# the base (the others are built FROM it, so it is always asked for), the source kernel
# (the longest build, and it needs nothing else), the packages without guest binaries, then
# the ones that carry them (scripts/build-guest.sh compiles those first).
guest=" $(./scripts/build-guest.sh --packages) "
dirs=(pkg/debian-base)
wanted kernel && dirs+=(pkg/kernel)
later=()
for d in pkg/*/; do
    d=${d%/}
    case $d in pkg/debian-base | pkg/kernel) continue ;; esac
    [ -f "$d/build.yml" ] && wanted "${d#pkg/}" || continue
    if [[ $guest == *" ${d#pkg/} "* ]]; then later+=("$d"); else dirs+=("$d"); fi
done
dirs+=("${later[@]}")
missing=$(comm -23 <("$lk" pkg show-tag "${dirs[@]}" | sort) \
    <("$lk" cache ls | awk 'NR > 1 { sub("^docker.io/", "", $1); print $1 }' | sort))
if [ -z "$missing" ]; then
    echo "packages: all ${#dirs[@]} are in the cache"
    exit 0
fi
echo "packages: to build: $(echo "$missing" | sed 's|:.*||; s|.*/||' | tr '\n' ' ')"
later_missing=$(for d in "${later[@]}"; do grep -q "/${d#pkg/}:" <<< "$missing" && echo "$d"; done; true)
# Held (shared) while this call builds: the last call to finish prunes (below).
exec 9> target/.packages-active.lock
flock -s 9

# The base image's root filesystem, when the base is to be built.
rootfs() {
    [ -f pkg/debian-base/rootfs.tar ] && return 0
    command -v mmdebstrap > /dev/null || { echo "mmdebstrap is missing: run scripts/setup.sh" >&2; return 1; }
    local t0=$SECONDS
    pkg/debian-base/mkrootfs.sh
    echo "packages: debian-base root filesystem (mmdebstrap): $((SECONDS - t0)) s"
}
if grep -q '/debian-base:' <<< "$missing"; then
    export -f rootfs
    locked rootfs bash -c rootfs
fi
# The static guest binaries (a second call waits for the first, then finds nothing to
# compile and nothing to install): compiled in the background from here, beside the
# packages without them (their builds wait on Docker and the network as much as on the
# CPU), and waited for before the first package that carries them.
guest_pid=
if [ -n "$later_missing" ]; then
    locked guest-binaries bash -c 't0=$SECONDS; ./scripts/build-guest.sh && echo "packages: guest binaries: $((SECONDS - t0)) s"' &
    guest_pid=$!
fi
guest_binaries() {
    [ -n "$guest_pid" ] || return 0
    local st=0
    wait "$guest_pid" || st=$?
    guest_pid=
    [ "$st" = 0 ] || { echo "packages: the guest binaries did not build" >&2; return "$st"; }
}

# build DIR: one package, with the time it took (a cached one says so and takes no time).
build() {
    local t0=$SECONDS
    locked "${1#pkg/}" "$lk" pkg build --builder "$builder" "$1"
    echo "packages: $1: $((SECONDS - t0)) s"
}
for p in "${dirs[@]}"; do
    [[ $guest == *" ${p#pkg/} "* ]] && guest_binaries
    build "$p"
done
# LK_PRUNE_BUILD_STAGES=1 (set by .ci/run): Docker's images of the build stages are not needed
# once the packages are in the linuxkit cache (the kernel's alone are ~3 GB, all ~12 GB);
# removing them keeps CI machines' disks free. Docker's layer cache goes with them. Only by
# the last call still building: a prune while another call's build runs could take the image
# of the step it is between.
flock -u 9
if [ "${LK_PRUNE_BUILD_STAGES:-}" = 1 ] && flock -n -x 9; then
    if [ "$builder" = buildah ]; then buildah rmi --prune > /dev/null; else docker image prune -f > /dev/null; fi
fi
