#!/bin/sh
# SUMMARY: 040_vm/013_packages with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: modprobe, binfmt_misc, dm-crypt, loop, swap, audit and dummy as modules
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/013_packages/test.sh"
