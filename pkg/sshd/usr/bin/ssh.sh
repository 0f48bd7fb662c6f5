#!/bin/sh
# The host key is made on the first start (bind /etc/ssh to keep it across boots); root's
# authorized_keys come from a bind of /root/.ssh or, failing that, from the metadata.
if [ ! -s /root/.ssh/authorized_keys ] && [ -s /run/config/ssh/authorized_keys ]; then
    mkdir -p /root/.ssh
    cp /run/config/ssh/authorized_keys /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
fi
# /run is the host's: make sshd's privilege separation directory there.
mkdir -p /run/sshd
chmod 0755 /run/sshd
# One ed25519 host key (RSA generation takes seconds on a slow VM).
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
exec /usr/sbin/sshd -D -e
