#!/usr/bin/env python3
"""Checks an OCI image layout directory the way a strict reader would, independently of
our Rust code: every descriptor's blob is present with the size and sha256 it names, media
types are the OCI ones, every layer is a reproducible gzip tar (fixed header: no mtime, no
name) whose uncompressed sha256 is the config's diff_id, and every tar entry has its parent
directories before it (a kernel.tar inside a layer too).

    check_oci.py [--layer-type MEDIA_TYPE] LAYOUT_DIR [NAME...]

Checks the images named NAME (every image in index.json when none is given), prints one line
per image and exits 1 naming the first problem."""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def fail(msg):
    print(f"check_oci: {msg}", file=sys.stderr)
    sys.exit(1)


def blob(root, desc, what):
    algo, _, hexd = desc["digest"].partition(":")
    if algo != "sha256" or len(hexd) != 64:
        fail(f"{what}: digest {desc['digest']} is not sha256")
    path = os.path.join(root, "blobs", "sha256", hexd)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"{what}: blob {desc['digest']} missing: {e}")
    if len(data) != desc["size"]:
        fail(f"{what}: blob {desc['digest']} has {len(data)} bytes, descriptor says {desc['size']}")
    if hashlib.sha256(data).hexdigest() != hexd:
        fail(f"{what}: blob {desc['digest']} does not hash to its name")
    return data


def check_layer(data, digest, diff_id, name, layer_type):
    if layer_type != GZIP_LAYER:
        return
    if data[:4] != b"\x1f\x8b\x08\x00":
        fail(f"{name}: layer {digest}: not a gzip stream without optional fields")
    if data[4:8] != b"\0\0\0\0":
        fail(f"{name}: layer {digest}: gzip header carries a time stamp")
    plain = gzip.decompress(data)
    got = "sha256:" + hashlib.sha256(plain).hexdigest()
    if got != diff_id:
        fail(f"{name}: layer {digest}: uncompressed sha256 {got} is not the diff_id {diff_id}")
    with tarfile.open(fileobj=io.BytesIO(plain)) as t:
        parents_first(t, f"{name}: layer {digest}")
    return len(plain)


def parents_first(t, what):
    """Every entry's parent directory is an entry before it (the kernel's initramfs unpacker
    and LinuxKit's tar readers create no missing parents). A kernel package's kernel.tar is
    checked the same way."""
    seen = {""}
    for m in t:
        path = m.name.removeprefix("./").rstrip("/")
        parent = os.path.dirname(path)
        if parent not in seen:
            fail(f"{what}: entry {m.name} comes before its parent {parent}/")
        seen.add(path)
        if path == "kernel.tar" and m.isfile():
            with tarfile.open(fileobj=t.extractfile(m)) as inner:
                parents_first(inner, f"{what}: kernel.tar")


def check_manifest(root, desc, name, layer_type):
    if desc.get("mediaType") != OCI_MANIFEST:
        fail(f"{name}: manifest media type {desc.get('mediaType')}")
    m = json.loads(blob(root, desc, name))
    if m.get("mediaType", OCI_MANIFEST) != OCI_MANIFEST or m.get("schemaVersion") != 2:
        fail(f"{name}: manifest {desc['digest']} is not an OCI v2 manifest")
    if m["config"]["mediaType"] != OCI_CONFIG:
        fail(f"{name}: config media type {m['config']['mediaType']}")
    config = json.loads(blob(root, m["config"], name))
    diff_ids = config["rootfs"]["diff_ids"]
    if len(diff_ids) != len(m["layers"]):
        fail(f"{name}: {len(m['layers'])} layers but {len(diff_ids)} diff_ids")
    stored = plain = 0
    for layer, diff_id in zip(m["layers"], diff_ids):
        if layer["mediaType"] != layer_type:
            fail(f"{name}: layer {layer['digest']} has media type {layer['mediaType']}, want {layer_type}")
        data = blob(root, layer, name)
        stored += len(data)
        plain += check_layer(data, layer["digest"], diff_id, name, layer_type) or len(data)
    print(f"{name}: {len(m['layers'])} layers, {stored} bytes stored, {plain} uncompressed: ok")


def main():
    args = sys.argv[1:]
    layer_type = GZIP_LAYER
    if args[:1] == ["--layer-type"] and len(args) > 1:
        layer_type = args[1]
        args = args[2:]
    if not args:
        fail("usage: check_oci.py [--layer-type MEDIA_TYPE] LAYOUT_DIR [NAME...]")
    root, wanted = args[0], set(args[1:])
    with open(os.path.join(root, "oci-layout")) as f:
        if json.load(f).get("imageLayoutVersion") != "1.0.0":
            fail("oci-layout: not version 1.0.0")
    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    found = set()
    for d in index["manifests"]:
        name = d.get("annotations", {}).get("org.opencontainers.image.ref.name", d["digest"])
        if wanted and name not in wanted:
            continue
        found.add(name)
        if d["mediaType"] == OCI_INDEX:
            for m in json.loads(blob(root, d, name))["manifests"]:
                if m.get("annotations", {}).get("vnd.docker.reference.type"):
                    continue
                check_manifest(root, m, f"{name} ({m['platform']['architecture']})", layer_type)
        else:
            check_manifest(root, d, name, layer_type)
    if not found or wanted - found:
        fail(f"not in {root}: {' '.join(sorted(wanted - found)) or 'any image'}")


main()
