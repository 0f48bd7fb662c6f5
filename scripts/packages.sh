#!/usr/bin/env bash
# Builds this repository's packages into the linuxkit cache with `linuxkit pkg build`:
# first the Debian base root filesystem (mmdebstrap), then every pkg/<name>.
#   scripts/packages.sh [LINUXKIT_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
lk=${1:-target/release/linuxkit}
./scripts/dockerd.sh
./scripts/build-guest.sh
if [ ! -f pkg/debian-base/rootfs.tar ]; then
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: run scripts/setup.sh" >&2; exit 1; }
    pkg/debian-base/mkrootfs.sh
fi
# The base first; packages that use it name it with @lkt:pkg:../debian-base.
"$lk" pkg build pkg/debian-base
for p in pkg/*/; do
    p=${p%/}
    [ "$p" = pkg/debian-base ] && continue
    [ -f "$p/build.yml" ] && "$lk" pkg build "$p"
done
# LK_PRUNE_BUILD_STAGES=1 (set by .ci/run): Docker's images of the build stages are not needed
# once the packages are in the linuxkit cache (the kernel's alone are ~3 GB, all ~12 GB);
# removing them keeps CI machines' disks free. Docker's layer cache goes with them.
if [ "${LK_PRUNE_BUILD_STAGES:-}" = 1 ]; then
    docker image prune -f > /dev/null
fi
