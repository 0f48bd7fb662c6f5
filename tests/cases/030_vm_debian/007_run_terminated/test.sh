#!/bin/sh
# SUMMARY: 040_vm/007_run_terminated with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: the ACPI power button works through coldplugged modules (button, evdev)
# LABELS: amd64
# TIMEOUT: 600
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/007_run_terminated/test.sh"
