#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer + AddressSanitizer) on the machine's stable
# toolchain, each for SECONDS, starting from the committed seeds (fuzz/seeds/<target>) plus
# what earlier runs found (fuzz/corpus/<target>, not committed).
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 30 s, every target
#   FUZZ_JOBS=N scripts/fuzz.sh ...            N targets at a time (default 1)
# cargo-fuzz needs nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 allows them on stable,
# here and nowhere else. A crash exits 1 and leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
command -v cargo-fuzz > /dev/null || { echo "fuzz: cargo-fuzz is missing: run scripts/setup.sh" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
cargo fuzz build --fuzz-dir fuzz
# run_one TARGET: fuzzes one target; prints its result line, and exits 1 on a crash.
run_one() {
    local t=$1 corpus="fuzz/corpus/$1" log runs cov
    mkdir -p "$corpus"
    log=$(mktemp)
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds memory per input.
    if cargo fuzz run --fuzz-dir fuzz "$t" "$corpus" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz: $t: ${seconds} s, ${runs:-?} runs, ${cov:-cov: ?}, 0 crashes"
        rm -f "$log"
    else
        echo "fuzz: $t: FAILED"
        grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -20
        rm -f "$log"
        return 1
    fi
}
# FUZZ_JOBS targets at a time (libFuzzer runs one process per target: each keeps one core
# busy for its SECONDS; .ci/run runs two, one per core). Each target still gets its SECONDS.
jobs=${FUZZ_JOBS:-1}
status=0
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit $status
