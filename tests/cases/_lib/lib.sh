#!/bin/sh
# Helpers shared by the project's end-to-end cases. Source after "${RT_LIB}".

LINUXKIT=${LINUXKIT:-$RT_PROJECT_ROOT/../../target/debug/linuxkit}
REPO_ROOT=$(cd "$RT_PROJECT_ROOT/../.." && pwd)

linuxkit() {
    "$LINUXKIT" "$@"
}

# make_scratch: sets SCRATCH to a new directory removed when the test exits.
make_scratch() {
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/lk-e2e.XXXXXX")
    trap 'rm -rf "$SCRATCH"' EXIT
}
