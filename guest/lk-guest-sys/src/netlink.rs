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

/// Sends a dump request and collects every message of the multi-part answer.
fn dump(msg: RouteNetlinkMessage) -> std::io::Result<Vec<RouteNetlinkMessage>> {
    use netlink_packet_core::NLM_F_DUMP;
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut out = Vec::new();
    let mut reply = vec![0; 65536];
    loop {
        let n = socket.recv(&mut &mut reply[..], 0)?;
        let mut off = 0;
        while off < n {
            let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[off..n])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let len = parsed.header.length as usize;
            match parsed.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                NetlinkPayload::InnerMessage(m) => out.push(m),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}

/// A network interface: its index, name and hardware address (`aa:bb:...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Kernel interface index.
    pub index: u32,
    /// Name (`eth0`).
    pub name: String,
    /// MAC address in lower-case colon form, empty when the link has none.
    pub mac: String,
}

/// Every network interface.
pub fn links() -> std::io::Result<Vec<Link>> {
    use netlink_packet_route::link::LinkAttribute;
    let mut out = Vec::new();
    for m in dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))? {
        if let RouteNetlinkMessage::NewLink(l) = m {
            let mut link = Link {
                index: l.header.index,
                name: String::new(),
                mac: String::new(),
            };
            for a in &l.attributes {
                match a {
                    LinkAttribute::IfName(n) => link.name.clone_from(n),
                    LinkAttribute::Address(b) => {
                        link.mac = b
                            .iter()
                            .map(|x| format!("{x:02x}"))
                            .collect::<Vec<_>>()
                            .join(":");
                    }
                    _ => {}
                }
            }
            out.push(link);
        }
    }
    Ok(out)
}

/// Removes every address of the interface `index`.
pub fn flush_addresses(index: u32) -> std::io::Result<()> {
    use netlink_packet_route::address::AddressMessage;
    for m in dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))? {
        if let RouteNetlinkMessage::NewAddress(a) = m
            && a.header.index == index
        {
            request(RouteNetlinkMessage::DelAddress(a), false)?;
        }
    }
    Ok(())
}

/// Sets the interface `index` up or down.
pub fn set_state(index: u32, up: bool) -> std::io::Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = if up {
        LinkFlags::Up
    } else {
        LinkFlags::empty()
    };
    m.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(m), false)
}

/// Renames the (down) interface `index`.
pub fn rename(index: u32, name: &str) -> std::io::Result<()> {
    use netlink_packet_route::link::LinkAttribute;
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    request(RouteNetlinkMessage::SetLink(m), false)
}

/// Creates the bond `name` in bonding `mode` (0 balance-rr ... 6 balance-alb), or sets
/// the mode of the (down, port-less) bond of that name that exists: loading the bonding
/// module (the kernel asks its modprobe for it on the first request) makes `bond0` itself.
pub fn add_bond(name: &str, mode: u8) -> std::io::Result<()> {
    use netlink_packet_route::link::{
        BondMode, InfoBond, InfoData, InfoKind, LinkAttribute, LinkInfo,
    };
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bond),
        LinkInfo::Data(InfoData::Bond(vec![InfoBond::Mode(BondMode::from(mode))])),
    ]));
    match request(RouteNetlinkMessage::NewLink(m.clone()), true) {
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32) => {
            request(RouteNetlinkMessage::NewLink(m), false)
        }
        r => r,
    }
}

/// Makes the interface `index` a port of `controller` (a bond or bridge).
pub fn set_controller(index: u32, controller: u32) -> std::io::Result<()> {
    use netlink_packet_route::link::LinkAttribute;
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::Controller(controller));
    request(RouteNetlinkMessage::SetLink(m), false)
}

/// Adds `addr/prefix` to the interface `index`.
pub fn add_address(index: u32, addr: std::net::IpAddr, prefix: u8) -> std::io::Result<()> {
    use netlink_packet_route::AddressFamily;
    use netlink_packet_route::address::{AddressAttribute, AddressMessage};
    let mut m = AddressMessage::default();
    m.header.index = index;
    m.header.prefix_len = prefix;
    m.header.family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    request(RouteNetlinkMessage::NewAddress(m), true)
}

/// Adds a route to `dst/prefix` through `gateway` on the interface `index` (main table).
pub fn add_route(
    index: u32,
    dst: std::net::IpAddr,
    prefix: u8,
    gateway: std::net::IpAddr,
) -> std::io::Result<()> {
    use netlink_packet_route::AddressFamily;
    use netlink_packet_route::route::{
        RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
        RouteType,
    };
    use std::net::IpAddr;
    let ra = |a: IpAddr| match a {
        IpAddr::V4(v) => RouteAddress::Inet(v),
        IpAddr::V6(v) => RouteAddress::Inet6(v),
    };
    let mut m = RouteMessage::default();
    m.header.address_family = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.destination_prefix_length = prefix;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    if prefix > 0 {
        m.attributes.push(RouteAttribute::Destination(ra(dst)));
    }
    m.attributes.push(RouteAttribute::Gateway(ra(gateway)));
    m.attributes.push(RouteAttribute::Oif(index));
    request(RouteNetlinkMessage::NewRoute(m), true)
}
