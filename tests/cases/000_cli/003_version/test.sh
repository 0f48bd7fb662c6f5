#!/bin/sh
# SUMMARY: version prints name, version and commit
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

linuxkit version | assert_contains "^linuxkit version [0-9]+\.[0-9]+\.[0-9]+"
assert_not_null "$(linuxkit version --short)"
exit 0
