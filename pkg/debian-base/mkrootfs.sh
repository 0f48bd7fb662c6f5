#!/bin/sh
# Writes rootfs.tar (git-ignored) for this package: Debian 12 "minbase" from the Debian
# mirror, reproducible for a given mirror state (SOURCE_DATE_EPOCH = the package's last
# commit time). The package lists stay in the image: a package's build installs from them
# with lk-apt-install instead of fetching its own (14 MB each). apt keeps its cache of them
# in memory only (as Debian's container images do): written into the image, the clamped
# time stamps made it stale, so every build wrote 72 MB of new cache into its layer.
# Needs root or fakeroot-capable mmdebstrap modes; run by scripts/packages.sh.
set -eu
cd "$(dirname "$0")"
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- . 2>/dev/null || true)
[ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=1700000000
export SOURCE_DATE_EPOCH
mmdebstrap --quiet --format=tar --variant=minbase --include=ca-certificates \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""' \
    --skip=cleanup/apt/lists \
    bookworm rootfs.tar.partial "$DEBIAN_MIRROR"
mv rootfs.tar.partial rootfs.tar
