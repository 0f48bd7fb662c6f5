#!/bin/sh
# SUMMARY: --help shows the whole command tree
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

help=$(linuxkit --help)
for cmd in build validate run pkg cache push serve metadata version; do
    echo "$help" | assert_contains "^  $cmd "
done
linuxkit cache --help | assert_contains "^  export "
linuxkit run qemu --help | assert_contains "--publish"
exit 0
