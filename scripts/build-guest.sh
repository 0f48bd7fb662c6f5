#!/usr/bin/env bash
# Builds the in-VM binaries statically (glibc, crt-static) and puts them where their
# packages expect them (git-ignored): pkg/init/init.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked \
    --target x86_64-unknown-linux-gnu --target-dir target/guest -p lk-init
bin=target/guest/x86_64-unknown-linux-gnu/release/init
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "error: $bin is not static" >&2
    exit 1
fi
install -m 0755 "$bin" pkg/init/init
