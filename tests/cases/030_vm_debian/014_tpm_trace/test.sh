#!/bin/sh
# SUMMARY: 040_vm/014_tpm_trace with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: the TPM driver as a module, bpftrace on Debian's kernel BTF
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/014_tpm_trace/test.sh"
