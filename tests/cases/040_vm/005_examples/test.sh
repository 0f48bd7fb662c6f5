#!/bin/sh
# SUMMARY: examples/getty.yml (password login on the console) and examples/sshd.yml (key login through a published port, `service list`, poweroff over ssh) boot and work
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap ssh ssh-keygen

build_packages
make_scratch
for e in getty sshd; do
    pkg_paths < "$REPO_ROOT/examples/$e.yml" > "$SCRATCH/$e.yml"
done

# getty.yml: root's password is abcdefgh.
linuxkit build --dir "$SCRATCH" --name getty "$SCRATCH/getty.yml"
mkdir -p "$SCRATCH/g"
vm_start "$SCRATCH/g" "$SCRATCH/getty" --mem 1024
vm_wait 'login: ' 180
vm_send root
vm_wait 'Password: ' 30
vm_send abcdefgh
vm_wait 'ns: getty\) [^ ]*# ' 60
vm_send 'echo "WHO=$(id -un)"'
vm_wait '^WHO=' 30
vm_send poweroff
vm_end 300
assert_true "getty.yml powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
assert_contains '^WHO=root' < "$VM_LOG"

# sshd.yml: the key of the user who builds it (HOME is a scratch home with a fresh key).
mkdir -p "$SCRATCH/home/.ssh"
ssh-keygen -q -t ed25519 -N "" -f "$SCRATCH/home/.ssh/id_ed25519"
LINUXKIT_CACHE=${LINUXKIT_CACHE:-$HOME/.linuxkit/cache} HOME="$SCRATCH/home" \
    linuxkit build --dir "$SCRATCH" --name sshd "$SCRATCH/sshd.yml"
mkdir -p "$SCRATCH/s"
ssh_port=$(free_port)
vm_start "$SCRATCH/s" "$SCRATCH/sshd" --mem 1024 --publish "$ssh_port:22"
vm_wait 'service: started sshd' 240
ssh_vm() {
    ssh -p "$ssh_port" -i "$SCRATCH/home/.ssh/id_ed25519" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 -o BatchMode=yes root@127.0.0.1 "$@"
}
n=0
until list=$(ssh_vm service list 2>/dev/null); do
    n=$((n + 1))
    [ "$n" -lt 20 ] || break
    sleep 3
done
echo "$list"
echo "$list" | assert_contains 'sshd +running'
echo "$list" | assert_contains 'getty +running'
ssh_vm poweroff || true
vm_end 300
assert_true "sshd.yml powered off over ssh (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
assert_contains 'init: power off' < "$VM_LOG"
exit 0
