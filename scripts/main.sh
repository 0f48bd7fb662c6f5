#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine (as root, or with sudo for the apt/docker parts):
# install what is needed, build linuxkit and this repository's packages (Debian base, kernel,
# init), build examples/minimal.yml and boot it in QEMU with the console attached.
# Log in on the console: you get a root shell; `poweroff` ends the VM (Ctrl-A x quits QEMU).
# LK_BUILDER=buildah builds the packages with buildah: no Docker engine is started.
set -euo pipefail
cd "$(dirname "$0")/.."
# Installs what is missing (as root) or, as another user, checks that it is there.
if [ "$(id -u)" = 0 ]; then ./scripts/setup.sh; else ./scripts/setup.sh --check; fi
cargo build --release --locked -p linuxkit
LK=$PWD/target/release/linuxkit
"$LK" version
./scripts/packages.sh "$LK"
out=target/example
"$LK" build --dir "$out" examples/minimal.yml
exec "$LK" run qemu --mem 1024 "$out/minimal"
