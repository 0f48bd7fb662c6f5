#!/bin/sh
# Helpers shared by the project's end-to-end cases. Source after "${RT_LIB}".

LINUXKIT=${LINUXKIT:-$RT_PROJECT_ROOT/../../target/debug/linuxkit}
REPO_ROOT=$(cd "$RT_PROJECT_ROOT/../.." && pwd)

# The kernel package the VM cases boot: pkg/kernel (built from source, the default) or
# pkg/kernel-debian (Debian's); the 030_vm_debian cases set LK_TEST_KERNEL=kernel-debian.
KERNEL_PKG=${LK_TEST_KERNEL:-kernel}

# pkg_paths: a filter for example YAML: relative @pkg: paths made absolute, and the kernel
# package swapped for $KERNEL_PKG.
pkg_paths() {
    sed -e "s|@pkg:\(\.\./\)*pkg/|@pkg:$REPO_ROOT/pkg/|" \
        -e "s|@pkg:$REPO_ROOT/pkg/kernel\"|@pkg:$REPO_ROOT/pkg/$KERNEL_PKG\"|"
}

linuxkit() {
    "$LINUXKIT" "$@"
}

# build_packages [--all | --only "NAME..." | --skip "NAME..." | --arm64 "NAME..."]: this repository's packages
# into the cache (scripts/packages.sh; a package already built is skipped and one another
# build is making is waited for, so the cases share them), all but the kernel package the
# case does not boot (--all: every one; --only: just those, and what they need; --skip: all
# but those; --arm64 "NAME...": those for amd64 and then their arm64 entries, cross-built). A
# case that needs no kernel says so, so it does not wait for the source
# kernel's build. Fails the test with the log's end.
build_packages() {
    _skip=kernel-debian
    _only=
    [ "$KERNEL_PKG" = kernel ] || _skip=kernel
    _arm64=
    case "${1:-}" in
    --all) _skip= ;;
    --only) _skip= _only=$2 ;;
    --skip) _skip=$2 ;;
    --arm64) _skip= _only=$2 _arm64=1 ;;
    esac
    if [ -n "$_arm64" ]; then
        # The amd64 packages first (the base image the arm64 builds' stages run on).
        LK_PACKAGES_ONLY="$_only" "$REPO_ROOT/scripts/packages.sh" "$LINUXKIT" > "$RT_RESULTS/packages.log" 2>&1 || {
            tail -30 "$RT_RESULTS/packages.log"
            exit 1
        }
    fi
    LK_PACKAGES_ARM64=$_arm64 LK_PACKAGES_ONLY="$_only" LK_PACKAGES_SKIP="$_skip" "$REPO_ROOT/scripts/packages.sh" "$LINUXKIT" >> "$RT_RESULTS/packages.log" 2>&1 || {
        tail -30 "$RT_RESULTS/packages.log"
        exit 1
    }
}

# docker_from_cache REF: makes sure Docker's image store has REF (a package image the cache
# holds), loading it from the cache when it does not: the packages may have come from an
# earlier run's cache, or from buildah, and never passed through this dockerd.
docker_from_cache() {
    docker image inspect "$1" > /dev/null 2>&1 && return 0
    linuxkit cache export --format docker --outfile - "$1" | docker load > /dev/null
}

# guest_binaries: the static guest binaries in their package directories
# (scripts/build-guest.sh, under scripts/packages.sh's lock; packages.sh itself compiles
# them only when a package that carries them is not cached yet). Fails the test with the
# log's end.
guest_binaries() {
    [ -x "$REPO_ROOT/pkg/kmsg/guest-amd64/usr/bin/kmsg" ] && return 0
    mkdir -p "$REPO_ROOT/target"
    flock -o "$REPO_ROOT/target/.pkg-guest-binaries.lock" "$REPO_ROOT/scripts/build-guest.sh" \
        > "$RT_RESULTS/guest-binaries.log" 2>&1 || {
        tail -20 "$RT_RESULTS/guest-binaries.log"
        exit 1
    }
}

# minimal_with_script FILE: writes examples/minimal.yml with absolute @pkg: paths to FILE,
# plus an init.d script etc/init.d/999-test whose body is read from stdin (it usually
# prints a marker and powers off).
minimal_with_script() {
    pkg_paths < "$REPO_ROOT/examples/minimal.yml" > "$1"
    printf 'files:\n  - path: etc/init.d/999-test\n    mode: "0755"\n    contents: |\n' >> "$1"
    sed 's/^/      /' >> "$1"
}

# make_scratch: sets SCRATCH to a new directory removed when the test exits (a VM started
# with vm_start that is still running then is stopped first).
make_scratch() {
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/lk-e2e.XXXXXX")
    trap '_lk_cleanup' EXIT
}

# kill_on_exit PID...: background helpers (a host-side server, say) stopped when the test
# exits, however it ends.
kill_on_exit() {
    LK_KILL_ON_EXIT="${LK_KILL_ON_EXIT:-} $*"
}

_lk_cleanup() {
    for p in ${LK_KILL_ON_EXIT:-}; do
        kill "$p" 2>/dev/null || true
    done
    if [ -n "${VM_PID:-}" ] && kill -0 "$VM_PID" 2>/dev/null; then
        [ -f "$VM_PIDFILE" ] && kill "$(cat "$VM_PIDFILE")" 2>/dev/null
        kill "$VM_PID" 2>/dev/null
        sleep 1
    fi
    rm -rf "$SCRATCH"
}

# Console driving for VM cases: the console's input is a FIFO the test writes to, its output
# a file the test waits on (no terminal needed; QEMU reads the serial input from stdin).
#   vm_start DIR IMAGE [run options...]   boots in the background (VM_PID, VM_LOG)
#   vm_wait REGEX SECONDS                  waits until the console shows REGEX
#   vm_send LINE                           types LINE and Enter
#   vm_end SECONDS                         waits for QEMU to exit; VM_STATUS is its status
# The console echoes what is typed (wrapped at 80 columns), so a marker to wait for is
# printed in a way its typed form does not contain: echo "DONE""-1" prints DONE-1.
vm_start() {
    _dir=$1
    _image=$2
    shift 2
    VM_LOG="$_dir/console.log"
    VM_PIDFILE="$_image-state/qemu.pid"
    mkfifo "$_dir/console.in"
    exec 9<>"$_dir/console.in"
    # exec: VM_PID is linuxkit itself, so a kill stops it (and it stops QEMU), not a subshell.
    (exec "$LINUXKIT" run qemu "$@" "$_image" < "$_dir/console.in" > "$VM_LOG" 2>&1) &
    VM_PID=$!
}

vm_wait() {
    _i=0
    while [ "$_i" -lt "$2" ]; do
        grep -Eq "$1" "$VM_LOG" && return 0
        kill -0 "$VM_PID" 2>/dev/null || break
        sleep 1
        _i=$((_i + 1))
    done
    echo "console did not show /$1/ within $2 s; last lines:"
    tail -25 "$VM_LOG"
    return 1
}

vm_send() {
    printf '%s\n' "$1" >&9
}

vm_end() {
    _i=0
    while kill -0 "$VM_PID" 2>/dev/null && [ "$_i" -lt "$1" ]; do
        sleep 1
        _i=$((_i + 1))
    done
    if kill -0 "$VM_PID" 2>/dev/null; then
        [ -f "$VM_PIDFILE" ] && kill "$(cat "$VM_PIDFILE")" 2>/dev/null
        kill "$VM_PID" 2>/dev/null
        VM_STATUS=timeout
    else
        wait "$VM_PID"
        VM_STATUS=$?
    fi
    exec 9>&-
}

# free_port: prints a TCP port free on 127.0.0.1 now.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# http_get_retry PORT SECONDS: prints the body of http://127.0.0.1:PORT/, trying once a
# second for up to SECONDS (nothing printed if it never answered).
http_get_retry() {
    _i=0
    while [ "$_i" -lt "$2" ]; do
        /usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$1/', timeout=5).read().decode().strip())" 2> /dev/null && return 0
        sleep 1
        _i=$((_i + 1))
    done
}

# port_closes PORT SECONDS: prints yes once 127.0.0.1:PORT refuses connections (checked
# once a second for up to SECONDS), else no.
port_closes() {
    _i=0
    while [ "$_i" -lt "$2" ]; do
        if ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), timeout=2)" 2> /dev/null; then
            echo yes
            return 0
        fi
        sleep 1
        _i=$((_i + 1))
    done
    echo no
}

# yml_head PKG...: prints the start of a test image's YAML: this repository's kernel on
# the serial console and, under init:, the init package and each PKG (e.g. memlogd).
yml_head() {
    printf 'kernel:\n  image: "@pkg:%s/pkg/%s"\n  cmdline: "console=ttyS0"\ninit:\n  - "@pkg:%s/pkg/init"\n' "$REPO_ROOT" "$KERNEL_PKG" "$REPO_ROOT"
    for _p in "$@"; do
        printf '  - "@pkg:%s/pkg/%s"\n' "$REPO_ROOT" "$_p"
    done
}
