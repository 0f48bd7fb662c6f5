#!/bin/sh
# rtf shell library: source it with `. "${RT_LIB}"`.

# Exit with this status to cancel a test (not a failure).
RT_TEST_CANCEL=253
# Exit with this status (or call rt_skip) to report the test skipped (our addition).
RT_TEST_SKIP=252

echoerr() {
    printf '%s\n' "$*" >&2
}

# rt_label_set LABEL: succeeds if LABEL is among the run's labels.
rt_label_set() {
    case ":${RT_LABELS}:" in
        *":$1:"*) return 0 ;;
        *) return 1 ;;
    esac
}

# rt_skip REASON: report the test as skipped (a prerequisite is missing) and stop.
rt_skip() {
    echo "RT_SKIP_REASON: $*"
    exit "${RT_TEST_SKIP}"
}

# rt_require_cmd CMD...: skip unless every command exists.
rt_require_cmd() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || rt_skip "$c is not installed"
    done
}

_rt_fail() {
    echoerr "assertion failed: $*"
    exit 1
}

# assert_contains PATTERN: stdin contains PATTERN (grep -E).
assert_contains() {
    _in=$(cat)
    printf '%s\n' "$_in" | grep -Eq -- "$1" || _rt_fail "output does not contain '$1': $_in"
}

# assert_not_contains PATTERN: stdin does not contain PATTERN.
assert_not_contains() {
    _in=$(cat)
    if printf '%s\n' "$_in" | grep -Eq -- "$1"; then _rt_fail "output contains '$1': $_in"; fi
}

# assert_empty: stdin is empty.
assert_empty() {
    _in=$(cat)
    [ -z "$_in" ] || _rt_fail "expected no output, got: $_in"
}

# assert_equals [MESSAGE] EXPECTED ACTUAL
assert_equals() {
    if [ $# -eq 3 ]; then _msg="$1: "; shift; else _msg=""; fi
    [ "$1" = "$2" ] || _rt_fail "${_msg}expected '$1', got '$2'"
}

# assert_true [MESSAGE] CONDITION...: the condition (a command) succeeds.
assert_true() {
    if [ $# -ge 2 ] && ! command -v "$1" >/dev/null 2>&1 && [ "$1" != "[" ]; then _msg="$1: "; shift; else _msg=""; fi
    "$@" || _rt_fail "${_msg}'$*' is false"
}

# assert_status EXPECTED COMMAND...: COMMAND exits with EXPECTED.
assert_status() {
    _want=$1; shift
    set +e; "$@"; _got=$?; set -e
    [ "$_got" = "$_want" ] || _rt_fail "'$*' exited $_got, expected $_want"
}

# assert_not_null VALUE / assert_null VALUE
assert_not_null() { [ -n "$1" ] || _rt_fail "value is empty"; }
assert_null() { [ -z "$1" ] || _rt_fail "value '$1' is not empty"; }
