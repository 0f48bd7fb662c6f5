#!/usr/bin/env bash
# The whole test suite: Rust unit, integration, golden and property tests.
# (The rtf end-to-end cases under tests/cases join this script with the rtf issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --locked
