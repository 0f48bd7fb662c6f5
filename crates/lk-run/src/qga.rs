//! QEMU's guest agent channel (`run qemu --qemu-ga`): a virtio-serial port named
//! `org.qemu.guest_agent.0` (what the qemu-ga package listens on), its host side the socket
//! `<state>/qga.sock` (JSON commands such as `{"execute":"guest-ping"}`).

use std::path::{Path, PathBuf};

use crate::qemu::Machine;

/// The host side of the channel.
pub fn socket(state: &Path) -> PathBuf {
    state.join("qga.sock")
}

/// QEMU's arguments for the channel.
pub fn args(state: &Path, m: Machine) -> Vec<String> {
    vec![
        "-chardev".to_owned(),
        format!(
            "socket,id=qga0,path={},server=on,wait=off",
            socket(state).display()
        ),
        "-device".to_owned(),
        format!("{},id=lkserial", m.virtio("virtio-serial")),
        "-device".to_owned(),
        "virtserialport,bus=lkserial.0,chardev=qga0,name=org.qemu.guest_agent.0".to_owned(),
    ]
}
