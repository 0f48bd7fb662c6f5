#!/bin/sh
# SUMMARY: 040_vm/001_minimal_boot with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: virtio drivers coldplugged as modules from the lean module list
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/001_minimal_boot/test.sh"
