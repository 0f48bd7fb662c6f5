#!/bin/sh
# SUMMARY: the tss package reads a TPM 2.0 that run qemu --tpm gives the VM (swtpm): random bytes and its fixed properties; bpftrace runs a probe (on the BTF of Debian's kernel; ours has none); the firmware package fills /lib/firmware; open-vm-tools sees it is not on VMware and exits cleanly
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap swtpm

build_packages
make_scratch
pkg="@pkg:$REPO_ROOT/pkg"
{
    yml_head memlogd firmware
    cat <<YML
onboot:
  - name: tpm-random
    image: "$pkg/tss"
    command: ["sh", "-c", "echo TPM-RANDOM \$(tpm2_getrandom --hex 8)"]
  - name: tpm-info
    image: "$pkg/tss"
  - name: bpftrace
    image: "$pkg/bpftrace"
    command: ["bpftrace", "-e", "BEGIN { printf(\"BPFTRACE-SAYS %d\\\\n\", 6 * 7); exit(); }"]
services:
  - name: open-vm-tools
    image: "$pkg/open-vm-tools"
files:
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      sleep 3
      echo "R firmware rtl_nic=\$(ls /lib/firmware/rtl_nic 2>/dev/null | wc -l) bnx2x=\$(ls /lib/firmware/bnx2x 2>/dev/null | wc -l)"
      echo "R tpm-dev \$(ls /dev/tpm0 /dev/tpmrm0 2>&1 | tr '\n' ' ')"
      service logs open-vm-tools 2>&1 | tail -2 | sed 's/^/R vmtools /'
      echo "TPM-TRACE""-DONE"
      poweroff
YML
} > "$SCRATCH/t.yml"
linuxkit build --dir "$SCRATCH" --name t "$SCRATCH/t.yml"
console=$(linuxkit run qemu --mem 2048 --tpm "$SCRATCH/t" < /dev/null)
echo "$console" | grep -E "^R |TPM|BPFTRACE|TPM2_PT_(MANUFACTURER|FAMILY)|raw:|value:" | head -30
echo "$console" | assert_contains "TPM-TRACE-DONE"
echo "$console" | assert_contains "TPM-RANDOM [0-9a-f]{16}"
echo "$console" | assert_contains "TPM2_PT_FAMILY_INDICATOR"
echo "$console" | assert_contains "BPFTRACE-SAYS 42"
echo "$console" | assert_contains "R firmware rtl_nic=[1-9][0-9]* bnx2x=[1-9]"
echo "$console" | assert_contains "R tpm-dev /dev/tpm0 /dev/tpmrm0"
echo "$console" | assert_contains "R vmtools .*not a VMware virtual machine"
assert_true "swtpm ended with the VM" [ -z "$(pgrep -f "swtpm socket.*$SCRATCH" || true)" ]
exit 0
