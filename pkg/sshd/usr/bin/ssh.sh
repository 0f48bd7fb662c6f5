#!/bin/sh
# Host keys are made on the first start (bind /etc/ssh to keep them across boots); root's
# authorized_keys come from a bind of /root/.ssh or, failing that, from the metadata.
if [ ! -s /root/.ssh/authorized_keys ] && [ -s /run/config/ssh/authorized_keys ]; then
    mkdir -p /root/.ssh
    cp /run/config/ssh/authorized_keys /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
fi
ssh-keygen -A
exec /usr/sbin/sshd -D -e
