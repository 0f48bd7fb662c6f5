#!/bin/sh
# SUMMARY: every example in examples/ validates
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

n=0
for f in "$REPO_ROOT"/examples/*.yml; do
    linuxkit validate -q "$f"
    n=$((n + 1))
done
assert_true "at least one example" [ "$n" -ge 1 ]
exit 0
