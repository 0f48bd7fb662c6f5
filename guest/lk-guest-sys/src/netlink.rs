//! One rtnetlink request with its acknowledgement: how init brings `lo` up and how
//! `service` creates and moves `runtime.json` interfaces.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Sends `msg` (with `NLM_F_CREATE | NLM_F_EXCL` when `create`) and waits for the kernel's
/// answer; a NACK becomes the error it carries.
pub fn request(msg: RouteNetlinkMessage, create: bool) -> std::io::Result<()> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    if create {
        header.flags |= NLM_F_CREATE | NLM_F_EXCL;
    }
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut reply = vec![0; 8192];
    let n = socket.recv(&mut &mut reply[..], 0)?;
    let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[..n])
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    match parsed.payload {
        NetlinkPayload::Error(e) if e.code.is_some() => Err(e.to_io()),
        _ => Ok(()),
    }
}

/// Sets the link `name` up (the kernel then gives `lo` 127.0.0.1/8 and ::1 by itself).
pub fn set_up(name: &str) -> std::io::Result<()> {
    let index = nix::net::if_::if_nametoindex(name)?;
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(m), false)
}
