#!/bin/sh
# NAME: linuxkit
# SUMMARY: linuxkit (Rust) end-to-end tests

group_init() {
    # The binaries are built by scripts/test.sh before rtf runs.
    [ -x "${LINUXKIT:-$RT_PROJECT_ROOT/../../target/debug/linuxkit}" ] || {
        echo "linuxkit binary not found; run scripts/test.sh" >&2
        return 1
    }
    "${LINUXKIT:-$RT_PROJECT_ROOT/../../target/debug/linuxkit}" version > "$RT_RESULTS/VERSION.txt"
}

group_deinit() {
    return 0
}

CMD=$1
case $CMD in
init) group_init; res=$? ;;
deinit) group_deinit; res=$? ;;
*) res=1 ;;
esac
exit $res
