#!/usr/bin/env bash
# What compressing a package's layers costs when `pkg build` (or `cache pull --docker`) takes
# it from Docker's engine, side by side in one run with the practical limits on the same
# bytes: `cache pull --docker` with --layer-compression none, gzip and zstd (each into a
# fresh cache), then pigz -6, gzip -6 and zstd -3 -T0 over the plain layer that run stored.
#   scripts/bench-layers.sh [LINUXKIT_BINARY] [ROUNDS] [PACKAGE_DIR]
# The package must be built (scripts/packages.sh), so Docker's engine has its image.
set -euo pipefail
cd "$(dirname "$0")/.."
lk=${1:-target/release/linuxkit}
rounds=${2:-3}
pkg=${3:-pkg/kernel}
image="$("$lk" pkg show-tag "$pkg")-amd64"
docker image inspect "$image" > /dev/null || { echo "no $image in Docker: run scripts/packages.sh" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A times
for _ in $(seq "$rounds"); do
    for c in none gzip zstd; do
        rm -rf "$out/$c"
        t0=$(now)
        "$lk" -q cache pull --docker --layer-compression "$c" --cache "$out/$c" "$image" > /dev/null
        times[$c]="${times[$c]:-} $(ms "$t0" "$(now)")"
    done
    # The plain layer(s) the `none` run stored: the limits compress the same bytes.
    cat $(find "$out/none/blobs/sha256" -type f -size +100k) > "$out/plain.tar"
    for tool in "pigz -6" "gzip -6" "zstd -3 -T0"; do
        t0=$(now)
        $tool -c < "$out/plain.tar" > "$out/limit.out"
        times[$tool]="${times[$tool]:-} $(ms "$t0" "$(now)")"
    done
done
size_of() { du -sb "$out/$1/blobs" | cut -f1; }
plain=$(stat -c %s "$out/plain.tar")
echo "$image: plain layers $(echo "$plain / 1000000" | bc -l | xargs printf '%.1f') MB, $(nproc) cores, $rounds rounds (median ms)"
echo
echo "| step | median wall (ms) | stored (MB) |"
echo "|---|---|---|"
for c in none gzip zstd; do
    printf '| `cache pull --docker --layer-compression %s` | %s | %.1f |\n' "$c" \
        "$(echo ${times[$c]} | median)" "$(echo "$(size_of "$c") / 1000000" | bc -l)"
done
for tool in "pigz -6" "gzip -6" "zstd -3 -T0"; do
    $tool -c < "$out/plain.tar" > "$out/limit.out"
    printf '| `%s` of the same plain layers | %s | %.1f |\n' "$tool" \
        "$(echo ${times[$tool]} | median)" "$(echo "$(stat -c %s "$out/limit.out") / 1000000" | bc -l)"
done
