#!/usr/bin/env bash
# The whole test suite: Rust unit, integration, golden and property tests (cargo's summary),
# then the end-to-end cases under tests/cases through rtf (its `N passed, N failed, N skipped`).
# Each step's time goes to the timing table when LK_TIMINGS is set (.ci/run sets it).
#
# The two halves run side by side: rtf's VM cases leave about half of the two cores idle
# (a TCG guest is one thread, and the cases wait on guests), which the cargo test build
# fills. rtf's output goes to target/rtf.log and is printed after cargo's, so the suite ends
# with rtf's summary. The exit status is 1 when either half failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/timing.sh
mkdir -p target
# What the cases run on the host: linuxkit, rtf, sock_stress (015_vsock's peer) and the
# service CLI (015_vsock talks to the guest's supervisor through vsudd). Copies: the cargo
# test build may link target/debug/linuxkit again (with the workspace's features) while the
# cases run. linuxkit comes first, with the guest binaries beside it; then the source kernel
# package (the longest build, needed only by the 040_vm cases and 020_cache/002) builds in
# the background; scripts/packages.sh locks each package, so this waits for (or skips) a
# build already running, e.g. .ci/run's.
bin=target/e2e-bin
rm -rf "$bin" && mkdir -p "$bin"
export LINUXKIT="$PWD/$bin/linuxkit"
# The binaries come from `cargo test --no-run` of one integration test each (a test that
# runs them: cargo builds its package's binaries beside it), not from `cargo build -p`: a
# build of some packages resolves their dependencies' features apart from the workspace's
# tests (serde, flate2, tempfile, ... differ), so the test build below compiled 89 of the
# libraries again. Resolved as the test build resolves them, it reuses every one.
cargo_bins() { cargo test --workspace --locked --no-run "$@"; }
# The static guest binaries first, beside linuxkit's build (their own target directory):
# every VM case waits for the packages that carry them, and beside the source kernel's
# build (Docker's, at the weight .ci/run gives it) they took 1055 s instead of 153 (cold run
# 13). The source kernel starts once they are done: it is needed only by the 040_vm cases,
# which come after the 030_vm_debian ones. The lock is scripts/packages.sh's, so its own
# call waits for this build and then finds nothing to compile.
exec 8> target/.pkg-guest-binaries.lock
flock 8
(timed "guest binaries (first, beside linuxkit)" ./scripts/build-guest.sh \
    > target/guest-binaries.log 2>&1 || true) &
exec 8>&-
timed "cargo build linuxkit" cargo_bins --test cli || exit 1
cp target/debug/linuxkit "$bin/"
(flock -o target/.pkg-guest-binaries.lock true
    LK_PACKAGES_ONLY=kernel timed "packages: the source kernel (background)" \
        ./scripts/packages.sh "$LINUXKIT" > target/packages-kernel.log 2>&1 || true) &

# The rest of the host binaries, in the end-to-end half beside its package builds (the cargo
# test build below waits for cargo's lock meanwhile).
host_bins() {
    timed "cargo build rtf, sock_stress, service" \
        cargo_bins --test rtf --test forward --test host_runtimes &&
        cp target/debug/rtf target/debug/sock_stress target/debug/service "$bin/"
}

# The end-to-end half: every other package (a failure is not the end: the cases that need a
# package build it again and fail with its log), then rtf, cases two at a time (each case
# has its own ports, state and scratch directories). The Debian-kernel cases (030_vm_debian)
# come first and need no source kernel; a case that boots it waits for it.
e2e() {
    host_bins &
    local bins_pid=$!
    LK_PACKAGES_SKIP=kernel timed "packages (all but the source kernel)" \
        ./scripts/packages.sh "$LINUXKIT" > target/packages.log 2>&1 || {
        echo "packages: the build failed (the cases that need them will say why); its end:"
        tail -20 target/packages.log
    }
    wait "$bins_pid" || { echo "test.sh: the host binaries did not build"; return 1; }
    local st=0 t0
    t0=$(date +%s)
    "$bin/rtf" -c tests/cases -v run -p -r target/rtf-results --timeout 900 || st=$?
    timing_record "rtf (all cases)" "$t0" "$(date +%s)" "$st"
    if [ -n "${LK_TIMINGS:-}" ] && [ -f target/rtf-results/latest/SUMMARY.json ]; then
        python3 scripts/rtf-spans.py target/rtf-results/latest/SUMMARY.json |
            while IFS=$'\t' read -r name s e failed; do timing_record "  $name" "$s" "$e" "$failed"; done
    fi
    return "$st"
}
e2e > target/rtf.log 2>&1 &
e2e_pid=$!

# The cargo half. Its build runs at a lower priority than the guests beside it (their
# cases wait on timers); the tests themselves at the normal one.
# cargo's output is also kept in target/cargo-test.log: its failures are named again at the
# very end, where a log cut to its tail still shows them. The copy runs beside (not in a
# pipe the suite waits on): a test that fails and leaves a process holding its output open
# once kept `tee` (so the whole run) waiting until CI's limit. It gets 10 s to drain.
{
    timed "cargo build (tests)" nice -n 10 cargo test --workspace --lib --bins --tests --locked --no-run &&
        timed "cargo tests" cargo test --workspace --lib --bins --tests --locked
} > >(tee target/cargo-test.log) 2>&1
cargo_st=$?
tee_pid=$!
for _ in $(seq 100); do
    kill -0 "$tee_pid" 2>/dev/null || break
    sleep 0.1
done
# The cargo half is done (.ci/run's lints start on this: they share the build directory).
echo "$cargo_st" > target/cargo-test.status

echo
echo "== end-to-end cases (rtf; ran beside the cargo tests; log: target/rtf.log)"
e2e_st=0
wait "$e2e_pid" || e2e_st=$?
cat target/rtf.log
if [ "$cargo_st" != 0 ]; then
    echo "test.sh: the cargo tests failed (exit $cargo_st); their failures:"
    grep -E -A25 '^(failures:|---- .* stdout ----)$|^error: (test failed|could not compile)' \
        target/cargo-test.log | head -150
fi
[ "$cargo_st" = 0 ] && [ "$e2e_st" = 0 ]
