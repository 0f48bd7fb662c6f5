#!/bin/sh
# SUMMARY: an invalid file fails with file:line:column, the key, and a hint
# LABELS:
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"

make_scratch
dir=$SCRATCH
cat > "$dir/bad.yml" <<'YML'
onboot:
  - name: sysctl
    image: linuxkit/sysctl:v1
    capabilites: [CAP_SYS_ADMIN]
YML
set +e
err=$(linuxkit validate "$dir/bad.yml" 2>&1)
rc=$?
set -e
assert_equals "exit status" 1 "$rc"
echo "$err" | assert_contains "bad.yml:4:5: unknown key .capabilites. in .onboot\[0\]."
echo "$err" | assert_contains "hint: did you mean .capabilities.\?"
exit 0
