#!/usr/bin/env bash
# The whole test suite: Rust unit, integration, golden and property tests (cargo's summary),
# then the end-to-end cases under tests/cases through rtf (its `N passed, N failed, N skipped`).
# Each step's time goes to the timing table when LK_TIMINGS is set (.ci/run sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/timing.sh
timed "cargo build linuxkit, rtf" cargo build --locked -p linuxkit -p rtf
export LINUXKIT="$PWD/target/debug/linuxkit"
mkdir -p target
# The source kernel package (the longest build, needed only by the VM cases) builds in the
# background from here on, beside the cargo tests; scripts/packages.sh locks each package,
# so this waits for (or skips) a build already running, e.g. .ci/run's.
(LK_PACKAGES_ONLY=kernel timed "packages: the source kernel (background)" \
    ./scripts/packages.sh "$LINUXKIT" > target/packages-kernel.log 2>&1 || true) &
# Unit and integration tests; the benchmarks (cargo bench) are not tests and need the
# loopback registry, so they are not run here.
timed "cargo build (tests)" cargo test --workspace --lib --bins --tests --locked --no-run
timed "cargo tests" cargo test --workspace --lib --bins --tests --locked
echo
# The other packages the VM cases share, built once before the cases (waiting for any that
# another build is making). The cases that boot the source kernel wait for it (each case's
# build_packages); the Debian-kernel cases (030_vm_debian) come first and do not. A failure
# here is not the end: the cases that need a package build it again and fail with its log.
echo "== packages (scripts/packages.sh; logs: target/packages.log, target/packages-kernel.log)"
if ! LK_PACKAGES_SKIP=kernel timed "packages (all but the source kernel)" \
    ./scripts/packages.sh "$LINUXKIT" > target/packages.log 2>&1; then
    echo "packages: the build failed (the cases that need them will say why); its end:"
    tail -20 target/packages.log
fi
echo
echo "== end-to-end cases (rtf; two at a time: a TCG guest keeps one core busy)"
st=0
t0=$(date +%s)
./target/debug/rtf -c tests/cases -v run -p -r target/rtf-results --timeout 900 || st=$?
timing_record "rtf (all cases)" "$t0" "$(date +%s)" "$st"
if [ -n "${LK_TIMINGS:-}" ] && [ -f target/rtf-results/latest/SUMMARY.json ]; then
    python3 scripts/rtf-spans.py target/rtf-results/latest/SUMMARY.json |
        while IFS=$'\t' read -r name s e failed; do timing_record "  $name" "$s" "$e" "$failed"; done
fi
exit "$st"
