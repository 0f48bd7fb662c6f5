#!/usr/bin/env python3
"""Writes a tiny single-layer OCI image layout tar (for end-to-end tests).

usage: make_oci_tar.py OUT.tar NAME [FILE_CONTENT]
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def add(t, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    t.addfile(info, io.BytesIO(data))


out, name = sys.argv[1], sys.argv[2]
content = (sys.argv[3] if len(sys.argv) > 3 else "hello from e2e\n").encode()
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as lt:
    add(lt, "etc/e2e.txt", content)
layer = gzip.compress(raw.getvalue(), mtime=0)
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/bin/sh"], "Labels": {"org.mobyproject.config": "{\"net\":\"host\"}"}},
    "rootfs": {"type": "layers", "diff_ids": [digest(raw.getvalue())]},
}).encode()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(layer), "size": len(layer)}],
}).encode()
index = json.dumps({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
    "platform": {"architecture": "amd64", "os": "linux"},
    "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
}]}).encode()
with tarfile.open(out, "w") as t:
    add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    for blob in (layer, config, manifest):
        add(t, "blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)
    add(t, "index.json", index)
print(digest(manifest))
