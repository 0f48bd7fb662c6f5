//! Devices that appear after boot (a hot-added disk or NIC): the init listens to the
//! kernel's uevents (netlink, `NETLINK_KOBJECT_UEVENT`) and loads the modules whose aliases
//! match the `MODALIAS` of every `add` event, with the same index as coldplug. (The kernel's
//! uevent helper, LinuxKit's `/sbin/mdev` route, is not built into Debian's kernel.)

use std::os::fd::AsRawFd;

use lk_guest_sys::Sys;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket,
};

use crate::modules::{ModuleIndex, loaded_modules};

/// The `MODALIAS` of an `add` uevent (`ACTION@DEVPATH\0KEY=VALUE\0...`), if it has one.
pub fn modalias_of(msg: &[u8]) -> Option<String> {
    let mut fields = msg.split(|b| *b == 0);
    let head = fields.next()?;
    if !head.starts_with(b"add@") {
        return None;
    }
    fields
        .filter_map(|f| f.strip_prefix(b"MODALIAS="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .next()
}

/// Loads the modules for `alias`; returns how many were loaded.
pub fn handle(
    sys: &dyn Sys,
    index: &ModuleIndex,
    alias: &str,
    log: &mut dyn FnMut(String),
) -> usize {
    let mut loaded = loaded_modules(sys);
    let before = loaded.len();
    for m in index.matching(alias) {
        index.load_module(sys, &m, &mut loaded, log);
    }
    loaded.len() - before
}

/// Listens forever (run it in a thread).
pub fn listen(
    sys: &dyn Sys,
    index: &ModuleIndex,
    log: &mut dyn FnMut(String),
) -> std::io::Result<()> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkKObjectUEvent,
    )?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 1))?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::ENOBUFS) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some(alias) = modalias_of(&buf[..n]) {
            handle(sys, index, &alias, log);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_modalias_of_add_events_only() {
        let add = b"add@/devices/pci0000:00/0000:00:05.0\0ACTION=add\0SUBSYSTEM=pci\0MODALIAS=pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\0SEQNUM=1\0";
        assert_eq!(
            modalias_of(add).as_deref(),
            Some("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00")
        );
        assert_eq!(modalias_of(b"remove@/devices/x\0MODALIAS=pci:v1\0"), None);
        assert_eq!(modalias_of(b"add@/devices/x\0ACTION=add\0"), None);
        // libudev's re-broadcasts start with "libudev": not ours.
        assert_eq!(modalias_of(b"libudev\0MODALIAS=x\0"), None);
    }
}
