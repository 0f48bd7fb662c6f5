#!/usr/bin/env bash
# The project's one set-up script: installs everything linuxkit's commands and its tests
# need on Debian 12, and says what it got. `.ci/run` and `scripts/main.sh` both call it.
# Idempotent: when everything is in place it only checks and prints the versions.
#
#   scripts/setup.sh           install what is missing (root), then print the tool versions
#   scripts/setup.sh --check   install nothing; exit 1 naming what is missing
#
# QEMU comes from bookworm-backports on every machine, so qemu-system-x86_64 and qemu-img
# are always the same version: some machine images ship qemu-utils from backports, which
# Breaks the 7.2 qemu-system-common of plain bookworm. The backports suite is added with
# the mirror of the existing bookworm entry, and an apt pin keeps the whole QEMU source
# package (and the firmware it needs) on backports for later installs and upgrades.
#
# New tools the project needs go in the lists below, nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools for building and booting images, and for the tests that read outputs back. Libraries
# installed for two arches are named with theirs (dpkg-query needs it then).
NATIVE=$(dpkg --print-architecture 2>/dev/null || echo amd64)
PKGS=(
    git ca-certificates curl                # build.rs records the commit; downloads
    docker.io runc                          # the Docker engine for `pkg build` and docker-source tests
    docker-registry                         # the loopback registry of the push/pull tests
    buildah                                 # `pkg build --builder buildah` (no daemon) and its case
    uidmap                                  # newuidmap/newgidmap: rootless buildah (025_pkg/003)
    mmdebstrap                              # pkg/debian-base's root filesystem
    cpio squashfs-tools xorriso erofs-utils # outputs read back by the tests; kernel+iso/erofs
    busybox-static linux-image-amd64        # the init package's busybox, the kernel package's kernel
    openssh-client openssl                  # the sshd and metadata cases (keys, the test CA)
    swtpm                                   # run qemu --tpm (the tss package's case)
    python3                                 # tests/cases/_lib helpers
    pigz zstd                               # the practical limits the build benchmark compares with
    gdisk fdisk dosfstools                  # sgdisk -v, sfdisk, fsck.vfat -n check our partition tables and FAT
    e2fsprogs                               # mkfs.ext4 + debugfs make the ext4 disks; e2fsck checks them
    ovmf                                    # run qemu --uefi (the EFI formats' boot tests)
    skopeo umoci                            # package images read by the independent OCI tools (020_cache/002)
    "libseccomp-dev:$NATIVE" "libelf-dev:$NATIVE" "libzstd-dev:$NATIVE" "zlib1g-dev:$NATIVE" # the static service binary: seccomp and cgroup v2 device rules (libbpf)
    # arm64 (docs/arm64.md): the guest binaries cross-compiled with Debian's rustc (rustup
    # cannot fetch the aarch64 std here) and its aarch64 std, linked by the cross gcc against
    # the arm64 C libraries; EDK2 for virt (the EFI formats' boot tests)
    rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    libseccomp-dev:arm64 libelf-dev:arm64 libzstd-dev:arm64 zlib1g-dev:arm64
    qemu-efi-aarch64
)
# QEMU, installed from bookworm-backports (see above).
QEMU_PKGS=(qemu-system-x86 qemu-system-arm qemu-utils)
BACKPORTS=bookworm-backports

check_only=false
[ "${1:-}" = --check ] && check_only=true

log() { echo "setup: $*"; }
die() {
    echo "setup: error: $*" >&2
    exit 1
}

# installed PKG: true when dpkg has PKG fully installed.
installed() {
    [ "$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

version_of() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || true; }

# qemu_ok: qemu-system-x86 and qemu-utils are installed, from the same QEMU build, and that
# build is backports' (whatever the candidate of the default suites is).
qemu_ok() {
    installed qemu-system-x86 && installed qemu-system-arm && installed qemu-utils || return 1
    local sys utils
    sys=$(version_of qemu-system-x86)
    utils=$(version_of qemu-utils)
    [ "$sys" = "$utils" ] && [[ $sys == *bpo12* ]]
}

missing=()
for p in "${PKGS[@]}"; do
    installed "$p" || missing+=("$p")
done
qemu_ok || missing+=("${QEMU_PKGS[@]}")

# rustfmt and clippy are the CI gates; the toolchain itself comes from rustup.
rust_missing=()
cargo fmt --version >/dev/null 2>&1 || rust_missing+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || rust_missing+=(clippy)
# cargo-fuzz runs the fuzz targets (scripts/fuzz.sh), from crates.io.
CARGO_FUZZ_VERSION=0.13.2
fuzz_missing=false
[ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ] || fuzz_missing=true
# vhost-device-vsock (rust-vmm) serves run qemu --vsock's device (no /dev/vhost-vsock
# needed, works under TCG), from crates.io.
VSOCK_VERSION=0.3.0
vsock_missing=false
[ "$(vhost-device-vsock --version 2>/dev/null)" = "vhost-device-vsock $VSOCK_VERSION" ] || vsock_missing=true

if [ ${#missing[@]} -gt 0 ] || [ ${#rust_missing[@]} -gt 0 ] || $fuzz_missing || $vsock_missing; then
    if $check_only; then
        $fuzz_missing && rust_missing+=("cargo-fuzz@$CARGO_FUZZ_VERSION")
        $vsock_missing && rust_missing+=("vhost-device-vsock@$VSOCK_VERSION")
        die "missing: ${missing[*]} ${rust_missing[*]} (run: sudo $0)"
    fi
fi

if [ ${#rust_missing[@]} -gt 0 ]; then
    command -v rustup >/dev/null || die "cargo has no ${rust_missing[*]} and there is no rustup to add them"
    log "adding rust components: ${rust_missing[*]}"
    rustup component add "${rust_missing[@]}"
fi

# The crates.io tools compile in the background while apt downloads and unpacks (apt waits
# on the network and the disk more than on the CPU; measured cold: about 60 CPU-seconds
# of compiling that no longer adds to the set-up's time). cargo-fuzz is a thin command-line
# front end, so its debug build (half the compile) is enough; vhost-device-vsock carries a
# guest's vsock traffic, so it keeps the release build.
install_log=$(mktemp /tmp/linuxkit-setup-cargo.XXXXXX)
cargo_installs() {
    if $fuzz_missing; then
        log "installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install, in the background)"
        cargo install --locked --quiet --debug cargo-fuzz --version "$CARGO_FUZZ_VERSION" || return
    fi
    if $vsock_missing; then
        log "installing vhost-device-vsock $VSOCK_VERSION (cargo install, in the background)"
        cargo install --locked --quiet vhost-device-vsock --version "$VSOCK_VERSION" || return
    fi
}
cargo_installs > "$install_log" 2>&1 &
install_pid=$!
# cargo_installs_wait: waits for the background installs; on failure prints cargo's messages.
cargo_installs_wait() {
    local st=0
    wait "$install_pid" || st=$?
    cat "$install_log"
    rm -f "$install_log"
    [ "$st" = 0 ] || die "cargo install failed (exit $st; its messages are above)"
}

if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "no apt-get: this script sets up Debian 12; install by hand: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}; installing needs root: sudo $0"
    . /etc/os-release
    [ "${VERSION_CODENAME:-}" = bookworm ] || log "warning: this is ${PRETTY_NAME:-not Debian 12}; the lists are for Debian 12 (bookworm)"
    export DEBIAN_FRONTEND=noninteractive
    aptlog=$(mktemp /tmp/linuxkit-setup-apt.XXXXXX)
    # apt: runs apt-get with its output in the log; on failure prints apt's own messages.
    apt() {
        if ! apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >"$aptlog" 2>&1; then
            echo "setup: error: apt-get $* failed:" >&2
            grep -v '^\(Get\|Hit\|Ign\|Selecting\|Preparing\|Unpacking\|Setting up\|Processing\):\? ' "$aptlog" | tail -40 >&2
            echo "setup: the whole output is in $aptlog" >&2
            exit 1
        fi
    }

    # The backports suite, with the mirror the bookworm suite already uses.
    if ! apt-get indextargets --format '$(RELEASE)' | grep -qx "$BACKPORTS"; then
        mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE)' | awk '$2 == "bookworm" { print $1; exit }')
        [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
        log "adding $BACKPORTS from $mirror to apt's sources"
        cat >/etc/apt/sources.list.d/linuxkit-backports.sources <<EOF
# Added by linuxkit's scripts/setup.sh: QEMU for qemu-system-x86 and qemu-utils of one version.
Types: deb
URIs: $mirror
Suites: $BACKPORTS
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    fi
    # The whole QEMU source package (qemu-system-*, qemu-utils, qemu-block-extra) and the
    # firmware QEMU loads from backports, at a priority above the default suites'.
    cat >/etc/apt/preferences.d/linuxkit-qemu.pref <<EOF
# Added by linuxkit's scripts/setup.sh: one QEMU, from $BACKPORTS.
Package: src:qemu src:seabios src:ipxe src:edk2
Pin: release n=$BACKPORTS
Pin-Priority: 600
EOF
    # The arm64 packages (the ":arm64" ones above) need their arch in dpkg's list.
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        log "adding arm64 to dpkg's architectures (the cross toolchain's libraries)"
        dpkg --add-architecture arm64
    fi
    log "installing: ${missing[*]}"
    apt update
    apt install --no-install-recommends "${missing[@]}"
    rm -f "$aptlog"
    qemu_ok || die "qemu-system-x86 $(version_of qemu-system-x86) and qemu-utils $(version_of qemu-utils) do not match after the install"
fi


# The cargo installs finish here (they ran beside apt).
cargo_installs_wait

first_line() { "$@" 2>&1 | head -1; }
log "qemu-system-x86_64: $(first_line qemu-system-x86_64 --version)"
log "qemu-system-aarch64: $(first_line qemu-system-aarch64 --version)"
log "rustc (Debian's, for arm64): $(first_line /usr/bin/rustc --version)"
log "qemu-img: $(first_line qemu-img --version)"
log "dockerd: $(first_line dockerd --version)"
log "docker-registry: $(first_line docker-registry --version)"
log "mmdebstrap: $(first_line mmdebstrap --version)"
log "skopeo: $(first_line skopeo --version)"
log "umoci: $(first_line umoci --version)"
log "buildah: $(first_line buildah --version)"
log "cargo: $(first_line cargo --version)"
log "cargo-fuzz: $(first_line cargo fuzz --version)"
log "vhost-device-vsock: $(first_line vhost-device-vsock --version)"
