# What a container sees, one line per fact, each "P <setting> <fact>" (busybox sh; $0 is
# the setting's name). Run as an onboot container's command under both runtimes; only
# what must not differ between them is printed (no mount ids, peer group numbers, pids).
n=$0
p() { echo "P $n $*"; }
p started
p user "$(id)" cwd "$(pwd)" hostname "$(hostname)"
env | sort | while read -r l; do p "env $l"; done
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | tr -s ' \t' ' ' | while read -r l; do p "$l"; done
for x in cgroup ipc mnt net pid time user uts; do p "ns $x $(readlink /proc/self/ns/$x)"; done
p "uid_map $(tr -s ' \n' ' ' < /proc/self/uid_map)" "gid_map $(tr -s ' \n' ' ' < /proc/self/gid_map)"
p "oom_score_adj $(cat /proc/self/oom_score_adj)"
tail -n +2 /proc/self/limits | sed 's/  \+/|/g' | while read -r l; do p "limit $l"; done
for s in net/ipv4/ip_forward kernel/shm_rmid_forced; do p "sysctl $s $(cat /proc/sys/$s 2>&1)"; done
# Mounts: where, what, the mount's own options, propagation, and the source's subtree.
while read -r _ _ _ root mp opts rest; do
    set -- $rest
    prop=
    while [ "$#" -gt 0 ] && [ "$1" != - ]; do
        case $1 in shared:*) prop="${prop}shared," ;; master:*) prop="${prop}slave," ;; unbindable) prop="${prop}unbindable," ;; esac
        shift
    done
    p "mount $mp $2 $opts ${prop:-private} root=$root"
done < /proc/self/mountinfo | sort
# Devices: the nodes in /dev, then whether the usual ones open for reading and writing.
for f in /dev/* /dev/pts/ptmx; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    p "dev $(stat -c '%A %t:%T %u:%g %N' "$f" 2>&1)"
done
for d in null zero full random urandom tty console kmsg ptmx fuse net/tun mem loop0 vda; do
    [ -e "/dev/$d" ] || continue
    r=-; w=-
    (: < "/dev/$d") 2> /dev/null && r=r
    (: >> "/dev/$d") 2> /dev/null && w=w
    p "open /dev/$d $r$w"
done
# cgroup: the container's own limits (its path from /proc/self/cgroup, cgroup v2).
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
p "cgroup $cg"
dir=/sys/fs/cgroup$cg
[ -d "$dir" ] || dir=/sys/fs/cgroup
for f in memory.max pids.max cpu.weight cpu.max; do
    [ -f "$dir/$f" ] && p "cgroup $f $(cat "$dir/$f")"
done
ls /sys/class/net 2> /dev/null | while read -r i; do p "netif $i"; done
touch /.probe-root 2> /dev/null && p "root writable" || p "root read-only"
touch /tmp/.probe-tmp 2> /dev/null && p "tmp writable" || p "tmp read-only"
if [ -n "${PROBE_EXTRA:-}" ]; then
    sh -c "$PROBE_EXTRA" 2>&1 | while read -r l; do p "extra $l"; done
fi
p done
