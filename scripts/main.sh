#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine (as root, or with sudo for the apt/docker parts):
# install what is needed, build linuxkit and this repository's packages (Debian base, kernel,
# init), build examples/minimal.yml and boot it in QEMU with the console attached.
# Log in on the console: you get a root shell; `poweroff` ends the VM (Ctrl-A x quits QEMU).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    pkgs="git ca-certificates mmdebstrap qemu-system-x86 qemu-utils"
    apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pkgs >/dev/null
    }
fi
cargo build --release --locked -p linuxkit
LK=$PWD/target/release/linuxkit
"$LK" version
./scripts/packages.sh "$LK"
out=target/example
"$LK" build --dir "$out" examples/minimal.yml
exec "$LK" run qemu --mem 1024 "$out/minimal"
