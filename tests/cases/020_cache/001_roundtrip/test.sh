#!/bin/sh
# SUMMARY: cache import -> push to a loopback registry -> pull into a fresh cache -> ls -> export -> rm
# LABELS: amd64
# TIMEOUT: 300
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd docker-registry python3

make_scratch
dir=$SCRATCH
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
reg=$!
trap 'kill $reg 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/')" 2>/dev/null && break
    sleep 0.1
done

digest=$(python3 "$RT_PROJECT_ROOT/_lib/make_oci_tar.py" "$dir/img.tar" example.com/e2e/hello:1)
linuxkit cache --cache "$dir/c1" import "$dir/img.tar" | assert_contains "imported example.com/e2e/hello:1"
remote="127.0.0.1:$port/e2e/hello:1"
linuxkit cache --cache "$dir/c1" push --remote-name "$remote" example.com/e2e/hello:1 | assert_contains "pushed"
linuxkit cache --cache "$dir/c2" pull "$remote" | assert_contains "$digest"
linuxkit cache --cache "$dir/c2" ls | assert_contains "$remote"
linuxkit cache --cache "$dir/c2" export --outfile "$dir/out.tar" "$remote"
tar -tf "$dir/out.tar" | assert_contains "index.json"
linuxkit cache --cache "$dir/c2" rm "$remote" | assert_contains "removed"
linuxkit cache --cache "$dir/c2" ls | assert_not_contains "$remote"
exit 0
