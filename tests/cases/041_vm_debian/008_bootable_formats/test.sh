#!/bin/sh
# SUMMARY: 040_vm/008_bootable_formats booted with Debian's kernel package (pkg/kernel-debian: modules, coldplug, the lean modules list) instead of ours
# LABELS: amd64
# TIMEOUT: 1500
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/008_bootable_formats/test.sh"
