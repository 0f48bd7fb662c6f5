#!/bin/sh
# SUMMARY: pkg build --builder buildah as a user who is not root (subuids from /etc/subuid, buildah's rootless store in the user's home): kmsg (FROM scratch) and chronyd (a RUN step in debian-base, taken from the user's cache and loaded into the user's buildah); the same tags as root's builds, the images in the user's cache (owned by the user) pass check_oci.py
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd buildah newuidmap newgidmap useradd su git python3
[ "$(id -u)" = 0 ] || rt_skip "making the test user needs root"

build_packages --only "debian-base kmsg chronyd"
guest_binaries
make_scratch
user=lk-rootless
if ! id "$user" > /dev/null 2>&1; then
    useradd -m -s /bin/sh "$user"
fi
# useradd gives a new user subordinate ids where login.defs allows; make sure it has some.
grep -q "^$user:" /etc/subuid || usermod --add-subuids 300000-365535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 300000-365535 "$user"
home=$(getent passwd "$user" | cut -d: -f6)
work=$home/lk-rootless-case
rm -rf "$work"
# The user's own checkout of the three packages and of guest/ (kmsg's extra source): the
# committed trees, so the same tree hashes and tags as this repository's HEAD; kmsg's
# binary (built, not committed) copied beside.
mkdir -p "$work/repo" "$work/bin"
git -C "$REPO_ROOT" archive HEAD pkg/debian-base pkg/kmsg pkg/chronyd guest | tar -x -C "$work/repo"
cp -r "$REPO_ROOT/pkg/kmsg/guest-amd64" "$work/repo/pkg/kmsg/"
cp "$LINUXKIT" "$work/bin/linuxkit"
# With uncommitted changes to them here, this repository's tags are -dirty ones: the
# user's build is then held to the tags its own checkout gives.
clean=
[ -z "$(git -C "$REPO_ROOT" status --porcelain -- pkg/debian-base pkg/kmsg pkg/chronyd guest)" ] && clean=1
# debian-base from the main cache, as an OCI archive the user imports.
linuxkit cache export --format oci --outfile "$work/base.tar" \
    "$(linuxkit pkg show-tag --canonical "$REPO_ROOT/pkg/debian-base")"
chown -R "$user:" "$work"
trap 'su "$user" -s /bin/sh -c "buildah rmi -a -f" > /dev/null 2>&1 || true; rm -rf "$work"; _lk_cleanup' EXIT

as_user() {
    su "$user" -s /bin/sh -c "cd '$work/repo' && $1"
}
as_user "git init -q && git add . && git -c user.name=t -c user.email=t@t commit -qm packages"
as_user "../bin/linuxkit cache --cache ../cache import ../base.tar > /dev/null"
as_user "../bin/linuxkit pkg build --builder buildah --cache ../cache pkg/kmsg pkg/chronyd" \
    > "$SCRATCH/build.out" 2> "$SCRATCH/build.log" || {
    tail -40 "$SCRATCH/build.log"
    exit 1
}
cat "$SCRATCH/build.out"
assert_contains "building with buildah" < "$SCRATCH/build.log"
assert_contains "loading .*debian-base.* from the linuxkit cache into buildah" < "$SCRATCH/build.log"
# buildah ran rootless: its store is the user's.
as_user "buildah info" | assert_contains '"rootless": true'
names=""
for p in kmsg chronyd; do
    if [ -n "$clean" ]; then
        want=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/$p")
    else
        want=$(as_user "../bin/linuxkit pkg show-tag pkg/$p")
    fi
    assert_contains "^$want built for amd64$" < "$SCRATCH/build.out"
    full=docker.io/$want
    names="$names $full"
    as_user "buildah images --format '{{.Name}}:{{.Tag}}'" | assert_contains "/$p:${full##*:}-amd64$"
done
# Everything in the user's cache is the user's, and every blob checks out.
assert_equals "files in the cache not owned by $user" "" "$(find "$work/cache" ! -user "$user" | head -3)"
# shellcheck disable=SC2086
python3 "$REPO_ROOT/tests/cases/_lib/check_oci.py" "$work/cache" $names
exit 0
