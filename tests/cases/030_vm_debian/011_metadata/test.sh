#!/bin/sh
# SUMMARY: 040_vm/011_metadata with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: CD-ROM and ISO 9660 modules for the cidata provider, bonding loaded on demand for Equinix Metal's bond0
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/011_metadata/test.sh"
