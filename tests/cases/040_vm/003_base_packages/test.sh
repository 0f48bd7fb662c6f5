#!/bin/sh
# SUMMARY: examples/services.yml (sysctl, dhcpcd, rngd, format, mount, sshd, httpd): the host fetches a page through a published port, logs in over ssh with its own key and runs `service list`; a file on the formatted disk survives a second boot of the same disk
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap curl ssh ssh-keygen

build_packages
make_scratch
# The example as is; its `files:` entry takes ~/.ssh/id_ed25519.pub, so HOME is a scratch
# home with a key made for this test.
mkdir -p "$SCRATCH/home/.ssh"
ssh-keygen -q -t ed25519 -N "" -f "$SCRATCH/home/.ssh/id_ed25519"
pkg_paths < "$REPO_ROOT/examples/services.yml" > "$SCRATCH/services.yml"
LINUXKIT_CACHE=${LINUXKIT_CACHE:-$HOME/.linuxkit/cache} HOME="$SCRATCH/home" linuxkit build --dir "$SCRATCH" --name services "$SCRATCH/services.yml"
# Host ports free now (the VM cases run two at a time).
http_port=$(free_port)
ssh_port=$(free_port)
ssh_once() {
    ssh -p "$ssh_port" -i "$SCRATCH/home/.ssh/id_ed25519" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 -o BatchMode=yes root@127.0.0.1 "$@"
}
# sshd may still be making its host key: QEMU accepts the connection and resets it.
ssh_vm() {
    _n=0
    until ssh_once "$@"; do
        _n=$((_n + 1))
        [ "$_n" -lt 20 ] || return 1
        sleep 3
    done
}
boot() {
    mkdir -p "$SCRATCH/boot$1"
    vm_start "$SCRATCH/boot$1" "$SCRATCH/services" --mem 1024 --publish "$http_port:80" --publish "$ssh_port:22" \
        --disk "file=$SCRATCH/data.qcow2,size=1G"
    vm_wait 'service: started httpd' 300
    vm_wait 'service: started sshd' 60
    vm_wait 'ns: getty\) [^ ]*# ' 120
}

boot 1
page=$(curl -s -m 30 --retry 5 --retry-delay 2 --retry-all-errors http://127.0.0.1:$http_port/)
echo "page: $page"
echo "$page" | assert_contains 'boots: 1<'
list=$(ssh_vm service list)
echo "$list"
echo "$list" | assert_contains 'sshd +running'
echo "$list" | assert_contains 'httpd +running'
echo "$list" | assert_contains 'dhcpcd +running'
echo "$list" | assert_contains 'rngd +running'
ssh_vm 'grep -c . /hostroot/etc/hostname 2>/dev/null; cat /etc/resolv.conf' | assert_contains 'nameserver 10\.0\.2\.3'
vm_send 'poweroff'
vm_end 300
first=$(cat "$VM_LOG")
assert_true "first boot powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
echo "$first" | assert_contains 'lk-sysctl|vm.max_map_count = 262144'
echo "$first" | assert_contains 'eth0: leased 10\.0\.2\.15'
echo "$first" | assert_contains 'rngd: entropy pool (full|at)'
echo "$first" | assert_contains 'format: /dev/[a-z]+1 is ext4 labelled DATA'
echo "$first" | assert_contains 'mountie: /dev/[a-z]+1 mounted on /var/external'

boot 2
page=$(curl -s -m 30 --retry 5 --retry-delay 2 --retry-all-errors http://127.0.0.1:$http_port/)
echo "page: $page"
echo "$page" | assert_contains 'boots: 2<'
vm_send 'poweroff'
vm_end 300
second=$(cat "$VM_LOG")
assert_true "second boot powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
# The formatted disk is not empty any more: format leaves it alone.
echo "$second" | assert_contains 'format: no empty disk found; nothing to do'
exit 0
