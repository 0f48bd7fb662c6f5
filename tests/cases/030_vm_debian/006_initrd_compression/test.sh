#!/bin/sh
# SUMMARY: 040_vm/006_initrd_compression with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: Debian's kernel unpacks gzip, zstd and plain initrds, and its package's label makes auto pick zstd
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/006_initrd_compression/test.sh"
