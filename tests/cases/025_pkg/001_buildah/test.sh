#!/bin/sh
# SUMMARY: pkg build with buildah and no Docker engine (none reachable, none named): kmsg (FROM scratch, static files) and chronyd (FROM debian-base through @lkt:pkg:, a RUN step, build args; debian-base loaded into buildah from the cache); same tags as the docker back end, layers checked by check_oci.py, skopeo and umoci, the programs run from umoci's unpack, and an image built from them
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd buildah skopeo umoci python3

# The guest binaries kmsg carries, and debian-base (scripts/packages.sh; the docker back
# end's builds are skipped when cached). The scratch cache starts with debian-base only:
# chronyd's build finds it there and loads it into buildah.
build_packages --only "debian-base kmsg chronyd"
# kmsg carries a static guest binary, which its build copies from the package directory.
guest_binaries
make_scratch
cache=$SCRATCH/cache
base=$(linuxkit pkg show-tag --canonical "$REPO_ROOT/pkg/debian-base")
linuxkit cache export --format oci --outfile "$SCRATCH/base.tar" "$base"
linuxkit cache --cache "$cache" import "$SCRATCH/base.tar" > /dev/null
rm "$SCRATCH/base.tar"
for p in debian-base kmsg chronyd; do
    t=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/$p")
    buildah rmi -f "$t-amd64" "$t" > /dev/null 2>&1 || true
done

# No Docker engine for linuxkit: no docker program, no socket. --builder auto must take buildah.
export LINUXKIT_DOCKER=/nonexistent/docker DOCKER_HOST=unix:///nonexistent/docker.sock
linuxkit pkg build --builder auto --cache "$cache" "$REPO_ROOT/pkg/kmsg" "$REPO_ROOT/pkg/chronyd" > "$SCRATCH/build.out" 2> "$SCRATCH/build.log" || {
    tail -40 "$SCRATCH/build.log"
    exit 1
}
cat "$SCRATCH/build.out"
assert_contains "building with buildah" < "$SCRATCH/build.log"
assert_contains "found .*debian-base.* in local cache, skipping build" < "$SCRATCH/build.log"
assert_contains "loading .*debian-base.* from the linuxkit cache into buildah" < "$SCRATCH/build.log"

names=""
for p in kmsg chronyd; do
    full=$(linuxkit pkg show-tag --canonical "$REPO_ROOT/pkg/$p")
    names="$names $full"
    # The cache holds the package under the tag the docker back end gives it.
    linuxkit cache --cache "$cache" ls | awk '{print $1}' | assert_contains "^$full$"
    # buildah built it (its own image store has the per-arch tag).
    buildah images --format '{{.Name}}:{{.Tag}}' | assert_contains "/$(basename "${full%%:*}"):${full##*:}-amd64$"
    # skopeo and umoci read it.
    skopeo copy -q "oci:$cache:$full" "docker-archive:$SCRATCH/$p.tar:lk-buildah/$p:test"
    linuxkit cache --cache "$cache" export --format oci --name "$p" --outfile "$SCRATCH/$p.oci.tar" "$full"
    mkdir "$SCRATCH/$p.oci"
    tar -C "$SCRATCH/$p.oci" -xf "$SCRATCH/$p.oci.tar"
    umoci unpack --rootless --image "$SCRATCH/$p.oci:$p" "$SCRATCH/$p.bundle" > /dev/null
done
# The programs run from what umoci unpacked.
chroot "$SCRATCH/kmsg.bundle/rootfs" /usr/bin/kmsg 2>&1 | assert_contains "kmsg: /dev/kmsg"
chroot "$SCRATCH/chronyd.bundle/rootfs" /usr/sbin/chronyd --version | assert_contains "chronyd .*[0-9]"
# Every blob and layer as a strict reader wants it (gzip, diff_ids, parents first).
# shellcheck disable=SC2086
python3 "$REPO_ROOT/tests/cases/_lib/check_oci.py" "$cache" $names

# An image built from them: a tar with chronyd as a service, from this cache alone.
cat > "$SCRATCH/img.yml" <<YML
services:
  - name: chronyd
    image: $(linuxkit pkg show-tag "$REPO_ROOT/pkg/chronyd")
YML
linuxkit build --cache "$cache" --format tar --dir "$SCRATCH" "$SCRATCH/img.yml"
tar -tf "$SCRATCH/img.tar" | assert_contains "^containers/services/chronyd/lower/usr/sbin/chronyd$"

# A second run builds nothing: the same tags are found in the cache.
linuxkit pkg build --builder buildah --cache "$cache" "$REPO_ROOT/pkg/chronyd" 2>&1 | assert_contains "found .* in local cache, skipping build"

for p in debian-base kmsg chronyd; do
    t=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/$p")
    buildah rmi -f "$t-amd64" "$t" > /dev/null 2>&1 || true
done
exit 0
