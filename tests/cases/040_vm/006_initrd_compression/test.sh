#!/bin/sh
# SUMMARY: --initrd-compression gzip, zstd and none: each initrd has its format's magic; incremental builds (segments from the store) equal store-less ones, also after a service changed; the kernel unpacks the incremental initrd (one archive per segment) and runs init; the time from kernel start to /init is reported for each, side by side; the default (auto) is zstd for our kernel packages
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap od

build_packages
make_scratch
pkg_paths < "$REPO_ROOT/examples/minimal.yml" > "$SCRATCH/c.yml"
cat >> "$SCRATCH/c.yml" <<'YML'
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      echo "COMPRESSION-MARKER $(wc -l < /proc/modules)"
      poweroff
YML
# The same image with one service changed (its bundle segment differs, the rest is reused).
sed 's/^\( *\)- INSECURE=true$/&\n\1- CHANGED=1/' "$SCRATCH/c.yml" > "$SCRATCH/d.yml"
assert_true "the service changed" grep -q CHANGED=1 "$SCRATCH/d.yml"
report=""
for c in gzip zstd none; do
    # Store-less (every segment compressed, as on a cold cache), then twice with the store.
    LINUXKIT_SEGMENTS_MAX=0 linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c-cold" --name c "$SCRATCH/c.yml"
    initrd="$SCRATCH/$c-cold/c-initrd.img"
    magic=$(od -An -tx1 -N4 "$initrd" | tr -d ' \n')
    case $c in
        gzip) assert_equals "$c magic" 1f8b0800 "$magic" ;;
        zstd) assert_equals "$c magic" 28b52ffd "$magic" ;;
        none) assert_equals "$c magic" 30373037 "$magic" ;;  # "0707" of a newc cpio
    esac
    linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c-fill" --name c "$SCRATCH/c.yml"
    linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c-warm" --name c "$SCRATCH/c.yml" 2> "$SCRATCH/warm.log"
    grep 'segments reused' "$SCRATCH/warm.log" || true
    assert_true "$c warm build reused segments" grep -Eq 'initrd: [1-9][0-9]* of' "$SCRATCH/warm.log"
    assert_true "$c warm initrd = store-less initrd" cmp -s "$initrd" "$SCRATCH/$c-warm/c-initrd.img"
    # Changed service: incremental and store-less builds agree, and the incremental boots.
    linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c" --name c "$SCRATCH/d.yml" 2> "$SCRATCH/inc.log" || {
        cat "$SCRATCH/inc.log"
        exit 1
    }
    grep 'segments reused' "$SCRATCH/inc.log" || true
    LINUXKIT_SEGMENTS_MAX=0 linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c-d-cold" --name c "$SCRATCH/d.yml"
    initrd="$SCRATCH/$c/c-initrd.img"
    assert_true "$c incremental initrd = store-less initrd" cmp -s "$initrd" "$SCRATCH/$c-d-cold/c-initrd.img"
    console=$(linuxkit run qemu --mem 1024 --networking none "$SCRATCH/$c/c" < /dev/null)
    echo "$console" | assert_contains "COMPRESSION-MARKER [0-9]"
    echo "$console" | assert_contains "init: power off"
    # init stamps lines with the uptime; "boot complete in N ms" counts from /init.
    line=$(echo "$console" | grep 'init: boot complete in' | head -1)
    up=$(echo "$line" | sed -n 's/^\[ *\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p')
    ms=$(echo "$line" | sed -n 's/.*boot complete in \([0-9]*\) ms.*/\1/p')
    size=$(stat -c %s "$initrd")
    report="$report $c: /init at $((up - ms)) ms, initrd $((size / 1048576)) MiB;"
done
# Without the flag (auto): our kernel packages say they unpack zstd.
linuxkit build --dir "$SCRATCH/auto" --name c "$SCRATCH/c.yml" 2> "$SCRATCH/auto.log"
assert_equals "auto picks zstd for our kernel" 28b52ffd "$(od -An -tx1 -N4 "$SCRATCH/auto/c-initrd.img" | tr -d ' \n')"
assert_contains "initrd compression: zstd" < "$SCRATCH/auto.log"
echo "RT_BENCHMARK_RESULT: kernel start to /init (TCG):$report"
exit 0
