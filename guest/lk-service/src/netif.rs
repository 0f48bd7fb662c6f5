//! `runtime.json` interfaces over rtnetlink: create a link of any kind (veth with its peer,
//! wireguard, dummy, bridge, ...) in the container's network namespace or in the root one
//! and then move it, or move an existing root-namespace link into the container.

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};

use crate::Error;
use crate::runtime_json::Interface;

/// What to do for one interface entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create link `name` of `kind` (with `peer` for veth); in the root namespace and then
    /// moved when `in_root`, else directly in the namespace of `pid`.
    Create {
        /// Link name (the end that goes into the container).
        name: String,
        /// Link kind.
        kind: String,
        /// veth peer (stays in the root namespace).
        peer: Option<String>,
        /// Create in the root namespace first.
        in_root: bool,
        /// The container's init process.
        pid: i32,
    },
    /// Move the existing root-namespace link `name` into the namespace of `pid`.
    Move {
        /// Link name.
        name: String,
        /// The container's init process.
        pid: i32,
    },
}

/// LinuxKit's rules: a name is required; a peer without `add` means veth; veth needs a peer;
/// veth is always created in the root namespace.
pub fn plan(i: &Interface, pid: i32) -> Result<Action, Error> {
    let bad = |m: &str| Error::Interface {
        name: i.name.clone(),
        message: m.to_owned(),
    };
    if i.name.is_empty() {
        return Err(bad("Interface requires a name"));
    }
    let kind = if i.add.is_empty() && !i.peer.is_empty() {
        "veth".to_owned()
    } else {
        i.add.clone()
    };
    if kind.is_empty() {
        return Ok(Action::Move {
            name: i.name.clone(),
            pid,
        });
    }
    if kind == "veth" && i.peer.is_empty() {
        return Err(bad("a veth interface needs a peer"));
    }
    Ok(Action::Create {
        name: i.name.clone(),
        in_root: i.create_in_root || kind == "veth",
        peer: (!i.peer.is_empty()).then(|| i.peer.clone()),
        kind,
        pid,
    })
}

fn named(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m
}

fn move_link(name: &str, pid: i32) -> std::io::Result<()> {
    let index = nix::net::if_::if_nametoindex(name)?;
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes
        .push(LinkAttribute::NetNsPid(pid.unsigned_abs()));
    lk_guest_sys::netlink::request(RouteNetlinkMessage::SetLink(m), false)
}

/// Carries out one action; returns the line LinuxKit prints for it.
pub fn apply(a: &Action) -> Result<String, Error> {
    let fail = |name: &str, e: std::io::Error| Error::Interface {
        name: name.to_owned(),
        message: e.to_string(),
    };
    match a {
        Action::Move { name, pid } => {
            move_link(name, *pid).map_err(|e| fail(name, e))?;
            Ok(format!("Moved interface {name} to pid {pid}"))
        }
        Action::Create {
            name,
            kind,
            peer,
            in_root,
            pid,
        } => {
            let mut m = named(name);
            let mut info = vec![LinkInfo::Kind(InfoKind::from(kind.as_str()))];
            if let Some(p) = peer {
                info.push(LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(named(p)))));
            }
            m.attributes.push(LinkAttribute::LinkInfo(info));
            if !in_root {
                m.attributes
                    .push(LinkAttribute::NetNsPid(pid.unsigned_abs()));
            }
            lk_guest_sys::netlink::request(RouteNetlinkMessage::NewLink(m), true)
                .map_err(|e| fail(name, e))?;
            if *in_root {
                move_link(name, *pid).map_err(|e| fail(name, e))?;
            }
            Ok(format!("Created interface {name} type {kind}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(name: &str, add: &str, peer: &str, root: bool) -> Interface {
        Interface {
            name: name.into(),
            add: add.into(),
            peer: peer.into(),
            create_in_root: root,
        }
    }

    #[test]
    fn plans_follow_linuxkits_rules() {
        assert_eq!(
            plan(&i("eth1", "", "", false), 7).unwrap(),
            Action::Move {
                name: "eth1".into(),
                pid: 7
            }
        );
        assert_eq!(
            plan(&i("v0", "", "v1", false), 7).unwrap(),
            Action::Create {
                name: "v0".into(),
                kind: "veth".into(),
                peer: Some("v1".into()),
                in_root: true,
                pid: 7
            }
        );
        assert!(matches!(
            plan(&i("wg0", "wireguard", "", false), 7).unwrap(),
            Action::Create { in_root: false, .. }
        ));
        assert!(plan(&i("v0", "veth", "", false), 7).is_err());
        assert!(
            plan(&i("", "dummy", "", false), 7)
                .unwrap_err()
                .to_string()
                .contains("requires a name")
        );
    }
}
