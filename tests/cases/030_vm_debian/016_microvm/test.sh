#!/bin/sh
# SUMMARY: 040_vm/016_microvm with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: virtio-mmio devices found by a modular kernel, /dev/vsock from modules
# LABELS: amd64
# TIMEOUT: 600
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/016_microvm/test.sh"
