#!/usr/bin/env bash
# Runs `linuxkit validate` over every LinuxKit YAML in a checkout of linuxkit/linuxkit
# (examples/ and test/cases/) and checks it accepts what LinuxKit accepts and rejects what
# LinuxKit's own tests expect to fail. Nothing from that repository is committed here.
#
#   scripts/check-upstream-yaml.sh /path/to/linuxkit [path/to/our/linuxkit-binary]
set -uo pipefail
upstream=${1:?usage: $0 LINUXKIT_CHECKOUT [LINUXKIT_BINARY]}
lk=${2:-$(dirname "$0")/../target/debug/linuxkit}

# YAML files that are not LinuxKit image configurations.
not_config='(/build\.yml$|/build-file\.yml$|080_mirrors/config\.yml$)'
# Files LinuxKit itself rejects (its tests expect the build to fail, or the YAML is invalid).
expect_fail='(091_validate_linuxkit_yaml/linuxkit\.yml$|070_volumes/002_rw_on_ro/test\.yml$|examples/static-ip\.yml$)'

pass=0 fail=0
while IFS= read -r f; do
    [[ $f =~ $not_config ]] && continue
    out=$("$lk" validate -q "$f" 2>&1)
    rc=$?
    if [[ $f =~ $expect_fail ]]; then
        if [ $rc -ne 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL (accepted, LinuxKit rejects): $f"; fi
    else
        if [ $rc -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL (rejected): $f"; echo "$out" | sed 's/^/    /'; fi
    fi
done < <(cd "$upstream" && find examples test/cases \( -name '*.yml' -o -name '*.yaml' \) | sort | sed "s|^|$upstream/|")
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
