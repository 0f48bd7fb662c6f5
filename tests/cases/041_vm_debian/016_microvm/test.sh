#!/bin/sh
# SUMMARY: 040_vm/016_microvm booted with Debian's kernel package (pkg/kernel-debian: modules, coldplug, the lean modules list) instead of ours
# LABELS: amd64
# TIMEOUT: 600
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/016_microvm/test.sh"
