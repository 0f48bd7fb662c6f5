#!/bin/sh
# Starts a getty on every console= of the kernel command line (the first occurrence of each
# tty) and keeps it running. Root's password comes from the host's /etc/getty.shadow (a
# `files:` entry), else login is impossible, unless INSECURE=true, which logs root in
# without a password.
if [ -f /hostroot/etc/getty.shadow ]; then
    cat /hostroot/etc/getty.shadow > /etc/shadow
    echo >> /etc/shadow
fi
keep() {
    while true; do "$@"; sleep 1; done
}
seen=" "
for opt in $(cat /proc/cmdline); do
    case "$opt" in
    console=*) ;;
    *) continue ;;
    esac
    tty=${opt#console=}
    speed=${tty#*,}
    tty=${tty%%,*}
    [ "$speed" = "$tty" ] && speed=""
    speed=${speed%%[!0-9]*}
    case "$seen" in *" $tty "*) continue ;; esac
    seen="$seen$tty "
    [ -c "/dev/$tty" ] || continue
    case "$tty" in
    ttyS*|ttyAMA*|ttyUSB*|ttyMFD*) line="-L"; speed=${speed:-115200}; term=vt100 ;;
    *) line=""; speed=${speed:-38400}; term="" ;;
    esac
    grep -qx "$tty" /etc/securetty 2>/dev/null || echo "getty: $tty is not in /etc/securetty: root cannot log in there" > "/dev/$tty"
    if [ "$INSECURE" = "true" ]; then
        keep getty $line -n -l /usr/bin/autologin "$speed" "$tty" $term &
    else
        keep getty $line "$speed" "$tty" $term &
    fi
done
wait
