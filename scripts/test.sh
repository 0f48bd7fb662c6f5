#!/usr/bin/env bash
# The whole test suite: Rust unit, integration, golden and property tests (cargo's summary),
# then the end-to-end cases under tests/cases through rtf (its `N passed, N failed, N skipped`).
# Each step's time goes to the timing table when LK_TIMINGS is set (.ci/run sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/timing.sh
# Unit and integration tests; the benchmarks (cargo bench) are not tests and need the
# loopback registry, so they are not run here.
timed "cargo build (tests)" cargo test --workspace --lib --bins --tests --locked --no-run
timed "cargo tests" cargo test --workspace --lib --bins --tests --locked
timed "cargo build linuxkit, rtf" cargo build --locked -p linuxkit -p rtf
export LINUXKIT="$PWD/target/debug/linuxkit"
echo
# The packages every VM case shares, built once before the cases (waiting for a build that
# is already running, e.g. .ci/run's in the background). A failure here is not the end: the
# cases that need a package build it again and fail with its log.
echo "== packages (scripts/packages.sh; log: target/packages.log)"
if ! timed packages ./scripts/packages.sh "$LINUXKIT" > target/packages.log 2>&1; then
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
