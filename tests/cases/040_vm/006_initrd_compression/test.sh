#!/bin/sh
# SUMMARY: --initrd-compression gzip, zstd and none: each initrd has its format's magic, is reproducible, and the kernel unpacks it and runs init; the time from kernel start to /init is reported for each, side by side
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap od

build_packages
make_scratch
sed "s|@pkg:\.\./pkg/|@pkg:$REPO_ROOT/pkg/|" "$REPO_ROOT/examples/minimal.yml" > "$SCRATCH/c.yml"
cat >> "$SCRATCH/c.yml" <<'YML'
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      echo "COMPRESSION-MARKER $(wc -l < /proc/modules)"
      poweroff
YML
report=""
for c in gzip zstd none; do
    linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c" --name c "$SCRATCH/c.yml"
    initrd="$SCRATCH/$c/c-initrd.img"
    magic=$(od -An -tx1 -N4 "$initrd" | tr -d ' \n')
    case $c in
        gzip) assert_equals "$c magic" 1f8b0800 "$magic" ;;
        zstd) assert_equals "$c magic" 28b52ffd "$magic" ;;
        none) assert_equals "$c magic" 30373037 "$magic" ;;  # "0707" of a newc cpio
    esac
    # Built again, the initrd has the same bytes.
    linuxkit build --initrd-compression "$c" --dir "$SCRATCH/$c-again" --name c "$SCRATCH/c.yml"
    assert_true "$c initrd reproducible" cmp -s "$initrd" "$SCRATCH/$c-again/c-initrd.img"
    console=$(linuxkit run qemu --mem 1024 --networking none "$SCRATCH/$c/c" < /dev/null)
    echo "$console" | assert_contains "COMPRESSION-MARKER [1-9]"
    echo "$console" | assert_contains "init: power off"
    # init stamps lines with the uptime; "boot complete in N ms" counts from /init.
    line=$(echo "$console" | grep 'init: boot complete in' | head -1)
    up=$(echo "$line" | sed -n 's/^\[ *\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p')
    ms=$(echo "$line" | sed -n 's/.*boot complete in \([0-9]*\) ms.*/\1/p')
    size=$(stat -c %s "$initrd")
    report="$report $c: /init at $((up - ms)) ms, initrd $((size / 1048576)) MiB;"
done
echo "RT_BENCHMARK_RESULT: kernel start to /init (TCG):$report"
exit 0
