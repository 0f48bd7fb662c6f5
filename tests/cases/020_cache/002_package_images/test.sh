#!/bin/sh
# SUMMARY: every package image is read by the independent OCI tools: gzip layers checked blob by blob (check_oci.py), skopeo copy from the cache to a docker-archive and back, umoci unpack, docker load of cache export --format docker and docker run of the package's own binary, and the same digests after a round trip through Docker
# LABELS: amd64
# TIMEOUT: 3600
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd docker mmdebstrap skopeo umoci python3

# Every package but the two kernels first: the source kernel's build is the longest of the
# run, so the kernels are checked last and waited for only then.
build_packages --skip "kernel kernel-debian"
make_scratch
cache=${LINUXKIT_CACHE:-$HOME/.linuxkit/cache}

# What each package runs to show its own program works under Docker (any exit status; the
# output must match), or "file PATH" for a package of files only.
probe() {
    case $1 in
    acpid) echo "/usr/sbin/acpid --help|Usage: acpid" ;;
    auditd) echo "/usr/sbin/ausearch -v|ausearch version 3" ;;
    binfmt) echo "/usr/bin/qemu-aarch64-static --version|qemu-aarch64 version" ;;
    bootloaders) echo "file /grub/i386-pc/boot.img" ;;
    bpftrace) echo "/usr/bin/bpftrace --version|bpftrace v0" ;;
    ca-certificates) echo "file /etc/ssl/certs/ca-certificates.crt" ;;
    containerd) echo "/usr/bin/containerd --version|containerd .*1\\." ;;
    dm-crypt) echo "/usr/sbin/cryptsetup --version|cryptsetup 2" ;;
    docker) echo "/usr/sbin/dockerd --version|Docker version 20" ;;
    dummy) echo "/usr/bin/make --version|GNU Make" ;;
    extend) echo "/usr/bin/extend /dev/nonexistent|has no partitions" ;;
    fdd) echo "/usr/bin/fdd --help|usage: fdd" ;;
    firmware) echo "file /usr/lib/firmware/rtl_nic/rtl8168h-2.fw" ;;
    ip) echo "/usr/bin/ip -V|ip utility, iproute2" ;;
    kmsg) echo "/usr/bin/kmsg|kmsg: /dev/kmsg" ;;
    logwrite) echo "/usr/bin/logwrite -help|Usage of logwrite" ;;
    losetup) echo "/usr/bin/loopy --help|Usage: loopy" ;;
    metadata) echo "/usr/bin/metadata -h|Usage: metadata" ;;
    modprobe) echo "/usr/bin/kmod --version|kmod version" ;;
    node_exporter) echo "/usr/bin/prometheus-node-exporter --version|node_exporter, version" ;;
    open-vm-tools) echo "/usr/bin/vmtools-start|not a VMware virtual machine" ;;
    openntpd) echo "/usr/sbin/ntpd -h|usage: ntpd" ;;
    poweroff) echo "file /poweroff.sh" ;;
    qemu-ga) echo "/usr/sbin/qemu-ga --version|QEMU Guest Agent" ;;
    runc) echo "/usr/bin/runc --version|runc version" ;;
    swap) echo "/swap.sh|swap: --path <file> must be given" ;;
    sysfs) echo "/usr/bin/lk-sysfs -x|sysfs: unknown option -x" ;;
    trim-after-delete) echo "/usr/bin/trim-after-delete -h|usage: trim-after-delete" ;;
    tss) echo "/usr/bin/tpm2_getrandom --version|version=" ;;
    vsudd) echo "/vsudd -h|usage: vsudd" ;;
    host-timesync-daemon) echo "/usr/bin/host-timesync-daemon -h|usage: host-timesync-daemon" ;;
    port-forwarder) echo "/usr/bin/port-forwarder -h|usage: port-forwarder" ;;
    sock-stress) echo "/usr/bin/sock_stress -h|usage: sock_stress" ;;
    chronyd) echo "/usr/sbin/chronyd --version|chronyd .*[0-9]" ;;
    debian-base) echo "/bin/ls --version|GNU coreutils" ;;
    dhcpcd) echo "/usr/sbin/dhcpcd --version|dhcpcd [0-9]" ;;
    format) echo "/usr/bin/format /dev/nonexistent|/dev/nonexistent is not a block device" ;;
    getty) echo "/bin/getty --help|Usage: getty" ;;
    httpd) echo "/usr/sbin/httpd --help|Usage: httpd" ;;
    init) echo "/usr/bin/service --help|Run and control" ;;
    kernel|kernel-debian) echo "file /kernel.tar" ;;
    memlogd) echo "/usr/bin/logread -help|Usage of logread" ;;
    mount) echo "/usr/bin/mountie|usage: mountie" ;;
    rngd) echo "/usr/bin/rngd --version|rngd [0-9]" ;;
    sshd) echo "/usr/sbin/sshd -V|OpenSSH_[0-9]" ;;
    sysctl) echo "/usr/bin/lk-sysctl --help|usage: lk-sysctl" ;;
    *) echo "" ;;
    esac
}

# essentials: an image config's layer contents and run settings, as sorted JSON.
essentials() {
    python3 -c '
import json, sys
c = json.load(sys.stdin)
run = c.get("config") or {}
keep = {k: run.get(k) or None for k in ("Env", "Entrypoint", "Cmd", "WorkingDir", "User", "Labels")}
print(json.dumps({"diff_ids": c["rootfs"]["diff_ids"], "run": keep}, sort_keys=True))'
}

names=""
for dir in $(ls -d "$REPO_ROOT"/pkg/*/ | grep -v '/pkg/kernel') "$REPO_ROOT/pkg/kernel-debian/" "$REPO_ROOT/pkg/kernel/"; do
    [ -f "$dir/build.yml" ] || continue
    pkg=$(basename "$dir")
    [ "$pkg" = kernel-debian ] && build_packages --all
    full=$(linuxkit pkg show-tag --canonical "$dir")
    names="$names $full"
    echo "== $pkg ($full)"
    probe=$(probe "$pkg")
    assert_not_null "$probe"

    # skopeo reads the cache as the OCI layout it is, writes a docker-archive and reads it
    # back: the same layer contents (diff_ids) and run settings (skopeo rewrites the config
    # to the OCI schema, dropping Docker's extra fields, so its bytes change).
    skopeo copy -q "oci:$cache:$full" "docker-archive:$SCRATCH/$pkg.skopeo.tar:lk-interop/$pkg:skopeo"
    skopeo copy -q "docker-archive:$SCRATCH/$pkg.skopeo.tar" "oci:$SCRATCH/back:$pkg"
    ours=$(skopeo inspect --config --raw "oci:$cache:$full" | essentials)
    back=$(skopeo inspect --config --raw "oci:$SCRATCH/back:$pkg" | essentials)
    echo "$ours" | assert_contains '"diff_ids": \["sha256:'
    assert_equals "$pkg: diff_ids and run settings after skopeo's round trip" "$ours" "$back"

    # umoci unpacks an export of the image (verifying every blob on the way).
    linuxkit cache export --format oci --name "$pkg" --outfile "$SCRATCH/$pkg.oci.tar" "$full"
    mkdir "$SCRATCH/$pkg.oci"
    tar -C "$SCRATCH/$pkg.oci" -xf "$SCRATCH/$pkg.oci.tar"
    umoci unpack --rootless --image "$SCRATCH/$pkg.oci:$pkg" "$SCRATCH/$pkg.bundle" > /dev/null
    case $probe in
    file\ *) assert_true "$pkg: umoci unpacked ${probe#file }" [ -f "$SCRATCH/$pkg.bundle/rootfs${probe#file }" ] ;;
    esac
    rm -rf "$SCRATCH/$pkg.bundle" "$SCRATCH/$pkg.oci" "$SCRATCH/$pkg.oci.tar"

    # docker load of our docker export, then the package's own program under docker run.
    linuxkit cache export --format docker --name "lk-interop/$pkg:test" --outfile "$SCRATCH/$pkg.docker.tar" "$full"
    docker load -q -i "$SCRATCH/$pkg.docker.tar"
    case $probe in
    file\ *)
        id=$(docker create "lk-interop/$pkg:test" /none)
        docker cp "$id:${probe#file }" - | tar -t | assert_contains "^$(basename "${probe#file }")$"
        docker rm "$id" > /dev/null
        ;;
    *)
        cmd=${probe%%|*}
        args=""
        case $cmd in *\ *) args=${cmd#* } ;; esac
        # shellcheck disable=SC2086
        out=$(docker run --rm --network none --entrypoint "${cmd%% *}" "lk-interop/$pkg:test" $args 2>&1 || true)
        echo "$out" | head -3
        echo "$out" | assert_contains "${probe#*|}"
        ;;
    esac

    # Docker hands the image back as plain tars; taken into a fresh cache, its layers are
    # compressed to the very bytes the package build stored: the same manifest digest.
    got=$(linuxkit cache pull --docker --cache "$SCRATCH/rt" "lk-interop/$pkg:test" | awk '{print $2}')
    want=$(skopeo inspect --raw "oci:$cache:$full" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["manifests"]:
    if m.get("platform", {}).get("architecture") == "amd64":
        print(m["digest"])')
    assert_equals "$pkg: manifest digest after docker load + save" "$want" "$got"
    docker rmi -f "lk-interop/$pkg:test" "lk-interop/$pkg:skopeo" > /dev/null 2>&1 || true
    rm -f "$SCRATCH/$pkg.skopeo.tar" "$SCRATCH/$pkg.docker.tar"
done

# Every blob of every package image: present, sized and hashed as named, OCI media types,
# gzip layers with a fixed header whose contents hash to the diff_ids, parents before
# children (kernel.tar included).
# shellcheck disable=SC2086
python3 "$REPO_ROOT/tests/cases/_lib/check_oci.py" "$cache" $names
exit 0
