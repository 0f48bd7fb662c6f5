#!/bin/sh
# SUMMARY: 040_vm/009_root_images with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: the boot initrd of kernel+squashfs/erofs carries Debian's storage modules and only those
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/009_root_images/test.sh"
