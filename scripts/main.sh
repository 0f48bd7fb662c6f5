#!/usr/bin/env bash
# The main job: set up, build the tool, and process the example image.
#
# Today this builds `linuxkit` and validates examples/minimal.yml (parse, merge, checks,
# and the normalized configuration). Building the image and booting it in QEMU join this
# script as the Build, Packages and VM-system issues land; until then it says so instead
# of pretending.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "error: cargo is required (https://rustup.rs)" >&2
    exit 1
fi
cargo build --release --locked -p linuxkit
LK=target/release/linuxkit
"$LK" version
"$LK" validate --format yaml examples/minimal.yml
echo
echo "note: 'linuxkit build' and 'linuxkit run qemu' are not implemented yet;"
echo "      this script will build examples/minimal.yml and boot it once they are."
