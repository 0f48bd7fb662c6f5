#!/bin/sh
# SUMMARY: 040_vm/012_docker with Debian's kernel package (pkg/kernel-debian), for what differs per kernel: Docker's netfilter, bridge and overlay modules, the vsock transport for the port-forwarder
# LABELS: amd64
# TIMEOUT: 900
LK_TEST_KERNEL=kernel-debian exec sh "${RT_PROJECT_ROOT}/040_vm/012_docker/test.sh"
