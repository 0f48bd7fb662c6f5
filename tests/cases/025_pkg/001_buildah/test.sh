#!/bin/sh
# SUMMARY: pkg build with buildah and no Docker engine (none reachable, none named): kmsg (FROM scratch, static files) and chronyd (FROM debian-base through @lkt:pkg:, a RUN step, build args; debian-base loaded into buildah from the cache); same tags as the docker back end, layers checked by check_oci.py, skopeo and umoci, the programs run from umoci's unpack, and an image built from them boots (Debian's kernel) with both running
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd buildah skopeo umoci python3 qemu-system-x86_64

# The guest binaries kmsg carries, and debian-base (scripts/packages.sh; the docker back
# end's builds are skipped when cached). The scratch cache starts with debian-base only:
# chronyd's build finds it there and loads it into buildah.
build_packages --only "debian-base kmsg chronyd kernel-debian init"
# kmsg carries a static guest binary, which its build copies from the package directory.
guest_binaries
make_scratch
cache=$SCRATCH/cache
base=$(linuxkit pkg show-tag --canonical "$REPO_ROOT/pkg/debian-base")
# The image that boots also needs Debian's kernel and init, from the main cache.
for p in debian-base kernel-debian init; do
    linuxkit cache export --format oci --outfile "$SCRATCH/p.tar" \
        "$(linuxkit pkg show-tag --canonical "$REPO_ROOT/pkg/$p")"
    linuxkit cache --cache "$cache" import "$SCRATCH/p.tar" > /dev/null
done
rm "$SCRATCH/p.tar"
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

# An image built from them, from this cache alone: kmsg and chronyd as services beside
# Debian's kernel and init. It boots, both run, and kmsg relays the kernel's messages.
cat > "$SCRATCH/img.yml" <<YML
kernel:
  image: $(linuxkit pkg show-tag "$REPO_ROOT/pkg/kernel-debian")
  cmdline: "console=ttyS0"
init:
  - $(linuxkit pkg show-tag "$REPO_ROOT/pkg/init")
services:
  - name: kmsg
    image: $(linuxkit pkg show-tag "$REPO_ROOT/pkg/kmsg")
  - name: chronyd
    image: $(linuxkit pkg show-tag "$REPO_ROOT/pkg/chronyd")
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      for i in \$(seq 60); do
        n=\$(service list | grep -cE '^(kmsg|chronyd) +running')
        [ "\$n" = 2 ] && [ "\$(service logs kmsg 2>&1 | grep -c ') - ')" -gt 0 ] && break
        sleep 1
      done
      service list | sed 's/^/R list /'
      echo "R kmsg \$(service logs kmsg 2>&1 | grep -c ') - ')"
      poweroff
YML
linuxkit build --cache "$cache" --format kernel+initrd --dir "$SCRATCH" --name img "$SCRATCH/img.yml"
console=$(timeout 600 "$LINUXKIT" run qemu --mem 1024 "$SCRATCH/img" < /dev/null 2>&1 || true)
echo "$console" | grep -E "^R |init: power" || echo "$console" | tail -30
echo "$console" | assert_contains "R list kmsg +running"
echo "$console" | assert_contains "R list chronyd +running"
echo "$console" | assert_not_contains "R kmsg 0"
echo "$console" | assert_contains "init: power off"

# A second run builds nothing: the same tags are found in the cache.
linuxkit pkg build --builder buildah --cache "$cache" "$REPO_ROOT/pkg/chronyd" 2>&1 | assert_contains "found .* in local cache, skipping build"

for p in debian-base kmsg chronyd; do
    t=$(linuxkit pkg show-tag "$REPO_ROOT/pkg/$p")
    buildah rmi -f "$t-amd64" "$t" > /dev/null 2>&1 || true
done
exit 0
