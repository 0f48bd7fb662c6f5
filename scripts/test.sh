#!/usr/bin/env bash
# The whole test suite: Rust unit, integration, golden and property tests (cargo's summary),
# then the end-to-end cases under tests/cases through rtf (its `N passed, N failed, N skipped`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Unit and integration tests; the benchmarks (cargo bench) are not tests and need the
# loopback registry, so they are not run here.
cargo test --workspace --lib --bins --tests --locked
cargo build --locked -p linuxkit -p rtf
echo
echo "== end-to-end cases (rtf)"
export LINUXKIT="$PWD/target/debug/linuxkit"
./target/debug/rtf -c tests/cases -v run -r target/rtf-results --timeout 900
