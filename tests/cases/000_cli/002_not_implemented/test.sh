#!/bin/sh
# SUMMARY: commands not built yet exit 2 with a clear message, never a silent success
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

for args in "build --format rpi3 x.yml" "run hyperkit x" "pkg builder du"; do
    set +e
    # shellcheck disable=SC2086
    err=$(linuxkit $args 2>&1 >/dev/null)
    rc=$?
    set -e
    assert_equals "linuxkit $args" 2 "$rc"
    echo "$err" | assert_contains "is not implemented yet"
done
exit 0
