#!/usr/bin/env bash
# Boot time, side by side in one run (TCG here): examples/minimal.yml built by a baseline
# commit (checked out and built in a temp dir, with its own packages) and by this tree, with
# Debian's kernel (pkg/kernel-debian) and ours (pkg/kernel, built from linux-source), on q35
# and microvm. Rounds are interleaved (every configuration once per round) and each figure
# is the median over the rounds:
#   QEMU -> first service  QEMU's pid file appeared (QEMU started) until the console shows
#                          the first service started
#   run -> first service   the same from `linuxkit run` (its accelerator probe included)
#   kernel -> /init        the uptime stamp at which /init started (init's "boot complete")
#   /init -> first service what the supervisor reports ("first service running N ms ...")
#   scripts/bench-boot.sh [BASE_COMMIT] [ROUNDS]   (default f2ab500, 5; prints a markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-f2ab500}
rounds=${2:-5}
root=$PWD
work=${BENCH_BOOT_DIR:-/tmp/lk-bench-boot}
mkdir -p "$work"

echo "== this tree: linuxkit and packages" >&2
cargo build -q --locked -p linuxkit
./scripts/packages.sh "$root/target/debug/linuxkit" > "$work/packages-new.log" 2>&1 ||
    { tail -20 "$work/packages-new.log" >&2; exit 1; }

echo "== baseline $base: checked out in $work/base, linuxkit and packages" >&2
if [ ! -d "$work/base/.git" ] || [ "$(git -C "$work/base" rev-parse HEAD)" != "$(git rev-parse "$base^{commit}")" ]; then
    rm -rf "$work/base"
    git clone -q "$root" "$work/base"
    git -C "$work/base" checkout -q "$base"
fi
cp -n "$root/pkg/debian-base/rootfs.tar" "$work/base/pkg/debian-base/" 2> /dev/null || true
# The packages minimal.yml needs, from the cache when that commit's were built before
# (they are named by tree hash); else everything, guest binaries included.
(cd "$work/base" && cargo build -q --locked -p linuxkit && {
    ok=1
    for p in kernel init memlogd getty; do target/debug/linuxkit pkg build "pkg/$p" || ok=0; done
    [ "$ok" = 1 ] || ./scripts/packages.sh "$work/base/target/debug/linuxkit"
}) > "$work/packages-base.log" 2>&1 || { tail -20 "$work/packages-base.log" >&2; exit 1; }

# The images: name, linuxkit binary, tree, kernel package.
build() {
    local name=$1 lk=$2 tree=$3 kernel=$4
    sed -e "s|@pkg:\.\./pkg/|@pkg:$tree/pkg/|" -e "s|@pkg:$tree/pkg/kernel\"|@pkg:$tree/pkg/$kernel\"|" \
        "$tree/examples/minimal.yml" > "$work/$name.yml"
    "$lk" -q build --dir "$work/img" --name "$name" "$work/$name.yml"
    echo "$name: initrd $(( $(stat -c %s "$work/img/$name-initrd.img") / 1024 )) KiB" >&2
}
mkdir -p "$work/img"
build base-debian "$work/base/target/debug/linuxkit" "$work/base" kernel
build new-debian "$root/target/debug/linuxkit" "$root" kernel-debian
build new-source "$root/target/debug/linuxkit" "$root" kernel

echo "== booting: $rounds rounds" >&2
python3 - "$work" "$rounds" "$root/target/debug/linuxkit" "$work/base/target/debug/linuxkit" <<'PY'
import os, re, signal, statistics, subprocess, sys, time
work, rounds, lk_new, lk_base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
configs = [
    ("today (" + os.path.basename(lk_base) + ")", "base-debian", lk_base, "debian", "q35"),
    ("today", "base-debian", lk_base, "debian", "microvm"),
    ("new", "new-debian", lk_new, "debian", "q35"),
    ("new", "new-debian", lk_new, "debian", "microvm"),
    ("new", "new-source", lk_new, "source", "q35"),
    ("new", "new-source", lk_new, "source", "microvm"),
]
# "[   3.313] service: started getty (pid 115, 311 ms); first service running 771 ms after
# /init started": the uptime stamp minus the figure is when /init started.
first_re = re.compile(r"^\[\s*(\d+)\.(\d+)\] service: started \S+ .*first service running (\d+) ms after /init started")

def boot(image, lk, machine):
    state = f"{work}/img/{image}-state"
    cmd = [lk, "run", "qemu", "--mem", "1024", "--machine", machine, "--state", state, f"{work}/img/{image}"]
    pidfile = f"{state}/qemu.pid"
    if os.path.exists(pidfile):
        os.remove(pidfile)
    t_qemu = None
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    run_first = qemu_first = init_at = first = None
    deadline = t0 + 120
    os.set_blocking(p.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline and p.poll() is None:
        if t_qemu is None and os.path.exists(pidfile):
            t_qemu = time.monotonic()
        chunk = p.stdout.read()
        if not chunk:
            time.sleep(0.005)
            continue
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").replace("\r", "")
            m = first_re.search(line)
            if m and run_first is None:
                now = time.monotonic()
                run_first = (now - t0) * 1000
                qemu_first = (now - (t_qemu or t0)) * 1000
                first = int(m.group(3))
                init_at = int(m.group(1)) * 1000 + int(m.group(2).ljust(3, "0")[:3]) - first
        if run_first is not None:
            break
    os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    time.sleep(1)
    return run_first, init_at, first, qemu_first

results = {i: [] for i in range(len(configs))}
for r in range(rounds):
    for i, (_, image, lk, _, machine) in enumerate(configs):
        res = boot(image, lk, machine)
        results[i].append(res)
        print(f"round {r + 1} {image} {machine}: run->first {res[0]:.0f} qemu->first {res[3]:.0f} kernel->/init {res[1]} /init->first {res[2]}"
              if res[0] else f"round {r + 1} {image} {machine}: no first service within 120 s",
              file=sys.stderr, flush=True)

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def fmt(v):
    return "hung" if v is None else f"{v / 1000:.2f} s"

base_qemu = med([x[3] for x in results[0]])
print("| build | kernel | machine | QEMU -> first service | run -> first service | kernel -> /init | /init -> first service | QEMU -> first vs today q35 | failed boots |")
print("|---|---|---|---|---|---|---|---|---|")
for i, (who, image, _, kernel, machine) in enumerate(configs):
    rs = results[i]
    run = med([x[0] for x in rs])
    qemu = med([x[3] for x in rs])
    ratio = f"{qemu / base_qemu:.2f}x" if qemu and base_qemu else "-"
    failed = sum(1 for x in rs if x[0] is None)
    label = "today (baseline)" if image.startswith("base") else "this tree"
    print(f"| {label} | {kernel} | {machine} | {fmt(qemu)} | {fmt(run)} | {fmt(med([x[1] for x in rs]))} | "
          f"{fmt(med([x[2] for x in rs]))} | {ratio} | {failed} of {len(rs)} |")
PY
