#!/bin/sh
# SUMMARY: validate reads stdin with `-`
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

printf 'init:\n  - linuxkit/init:v1\n' | linuxkit validate --format yaml - | assert_contains "docker.io/linuxkit/init:v1"
exit 0
