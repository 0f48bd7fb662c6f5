#!/bin/sh
# swap.sh --path FILE --size SIZE [--encrypt] [--condition TYPE:ARG[:required]]... [--debug]
# FILE must be under /var. SIZE: N, NK, NM or NG. Conditions (all must hold, else no swap
# and exit 0, or exit 1 when marked required): part:MOUNTPOINT (a mount point exists),
# partsize:MOUNTPOINT:SIZE (its file system is at least SIZE).
set -e
path= size= encrypt= conditions=
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) set -x ;;
        --path) path=$2; shift ;;
        --size) size=$2; shift ;;
        --encrypt) encrypt=1 ;;
        --condition) conditions="$conditions $2"; shift ;;
        *) echo "swap: unknown option $1"; exit 1 ;;
    esac
    shift
done
bytes() {
    case "$1" in
        *G) echo $(( ${1%G} * 1024 * 1024 * 1024 )) ;;
        *M) echo $(( ${1%M} * 1024 * 1024 )) ;;
        *K) echo $(( ${1%K} * 1024 )) ;;
        *) echo "$1" ;;
    esac
}
[ -n "$path" ] || { echo "swap: --path <file> must be given"; exit 1; }
case "$path" in /var/?*) ;; *) echo "swap: --path must be under /var"; exit 1 ;; esac
[ -n "$size" ] || { echo "swap: --size <size> must be given"; exit 1; }
want=$(bytes "$size")
for c in $conditions; do
    type=${c%%:*} rest=${c#*:}
    required=false
    case "$rest" in *:true) required=true; rest=${rest%:true} ;; *:false) rest=${rest%:false} ;; esac
    ok=true
    case "$type" in
        part) grep -q " $rest " /proc/mounts || ok=false ;;
        partsize)
            mp=${rest%%:*} min=$(bytes "${rest#*:}")
            avail=$(df -k "$mp" 2>/dev/null | awk 'NR==2 {print $2 * 1024}')
            [ -n "$avail" ] && [ "$avail" -ge "$min" ] || ok=false ;;
        *) echo "swap: unknown condition $type"; exit 1 ;;
    esac
    if [ "$ok" = false ]; then
        echo "swap: condition $c not met: no swap file"
        [ "$required" = true ] && exit 1
        exit 0
    fi
done
mkdir -p "$(dirname "$path")"
free=$(df -k "$(dirname "$path")" | awk 'NR==2 {print $4 * 1024}')
[ "$free" -ge "$want" ] || { echo "swap: $want bytes wanted, $free free under $(dirname "$path")"; exit 1; }
fallocate -l "$want" "$path" 2>/dev/null || dd if=/dev/zero of="$path" bs=1M count=$((want / 1048576)) 2>/dev/null
chmod 0600 "$path"
dev=$path
if [ -n "$encrypt" ]; then
    mkdir -p /run/cryptsetup
    loop=$(losetup -f --show "$path")
    head -c 32 /dev/urandom > /tmp/swapkey
    cryptsetup --key-file /tmp/swapkey --cipher aes-cbc-essiv:sha256 --key-size 256 create swapfile "$loop"
    rm -f /tmp/swapkey
    dev=/dev/mapper/swapfile
fi
mkswap "$dev" > /dev/null
swapon "$dev"
echo "swap: $dev enabled ($size)"
