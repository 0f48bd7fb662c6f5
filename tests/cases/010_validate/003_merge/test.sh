#!/bin/sh
# SUMMARY: several files merge in order; --format json prints LinuxKit's metadata layout
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

make_scratch
dir=$SCRATCH
cat > "$dir/base.yml" <<'YML'
kernel:
  image: linuxkit/kernel:6.6
  cmdline: console=ttyS0
init:
  - linuxkit/init:v1
YML
cat > "$dir/extra.yml" <<'YML'
kernel:
  image: linuxkit/kernel:6.7
services:
  - name: getty
    image: linuxkit/getty:v1
YML
json=$(linuxkit validate --format json "$dir/base.yml" "$dir/extra.yml")
echo "$json" | assert_contains '"image": "docker.io/linuxkit/kernel:6.7"'
echo "$json" | assert_contains '"cmdline": "console=ttyS0"'
echo "$json" | assert_contains '"docker.io/linuxkit/getty:v1"'
echo "$json" | assert_contains '"onboot": null'
exit 0
