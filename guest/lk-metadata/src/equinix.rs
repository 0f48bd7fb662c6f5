//! Equinix Metal (formerly Packet): JSON metadata over HTTPS. Besides the hostname and
//! keys it configures the network as the platform expects: the interfaces the metadata
//! names (by MAC) are flushed, renamed and bonded into `bond0` in the metadata's bonding
//! mode, which gets the addresses and routes (public: default route; private IPv4: the
//! address's classful network) through their gateways.

use std::net::IpAddr;

use serde::Deserialize;

use crate::config::ConfigDir;
use crate::http::Http;
use crate::net::{USERDATA_LIMIT, VALUE_LIMIT};
use crate::provider::{Provider, say, write_ssh_keys};

/// The metadata service.
pub const BASE: &str = "https://metadata.platformequinix.com";

/// The parts of the metadata document used here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Device {
    /// Set instead of the rest when the service refuses.
    pub error: String,
    /// Host name.
    pub hostname: String,
    /// Authorized keys.
    pub ssh_keys: Vec<String>,
    /// Network layout.
    pub network: Network,
}

/// `network`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Network {
    /// `bonding.mode`: 0 balance-rr ... 4 802.3ad ... 6 balance-alb.
    pub bonding: Bonding,
    /// Interfaces to bond, by MAC.
    pub interfaces: Vec<Interface>,
    /// Addresses for `bond0`.
    pub addresses: Vec<Address>,
}

/// `network.bonding`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Bonding {
    /// Kernel bonding mode number.
    pub mode: u8,
}

/// `network.interfaces[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Interface {
    /// Name the interface gets.
    pub name: String,
    /// Its MAC address.
    pub mac: String,
}

/// `network.addresses[]`.
#[derive(Debug, Deserialize)]
pub struct Address {
    /// 4 or 6.
    pub address_family: u8,
    /// Public (default route) or private.
    #[serde(default)]
    pub public: bool,
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub cidr: u8,
    /// Gateway for the route.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
}

/// The provider.
#[derive(Debug)]
pub struct EquinixMetal {
    base: String,
}

impl EquinixMetal {
    /// The provider for the service at `base` (`https://host[:port]`).
    pub fn new(base: &str) -> EquinixMetal {
        EquinixMetal {
            base: base.to_owned(),
        }
    }

    fn device(&self, http: &Http) -> Result<Device, String> {
        let body = http
            .get(&format!("{}/metadata", self.base), &[], VALUE_LIMIT * 16)
            .map_err(|e| e.to_string())?;
        let d: Device =
            serde_json::from_slice(&body).map_err(|e| format!("metadata is not JSON: {e}"))?;
        if d.error.is_empty() {
            Ok(d)
        } else {
            Err(d.error)
        }
    }
}

/// The route an address gets: default for public ones, the classful network for private
/// IPv4 ones, none for private IPv6.
pub fn route_for(a: &Address) -> Option<(IpAddr, u8)> {
    match (a.public, a.address) {
        (true, IpAddr::V4(_)) => Some((IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0)),
        (true, IpAddr::V6(_)) => Some((IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0)),
        (false, IpAddr::V4(v4)) => {
            let o = v4.octets();
            let prefix = match o[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            };
            let mask = u32::MAX << (32 - prefix);
            Some((IpAddr::V4((u32::from(v4) & mask).into()), prefix))
        }
        (false, IpAddr::V6(_)) => None,
    }
}

/// Bonds the metadata's interfaces into `bond0` and gives it the addresses and routes.
fn configure(n: &Network) -> Result<(), String> {
    use lk_guest_sys::netlink as nl;
    let links = nl::links().map_err(|e| format!("listing links: {e}"))?;
    for l in &links {
        let Some(iface) = n
            .interfaces
            .iter()
            .find(|i| i.mac.eq_ignore_ascii_case(&l.mac))
        else {
            continue;
        };
        nl::flush_addresses(l.index).map_err(|e| format!("flushing {}: {e}", l.name))?;
        nl::set_state(l.index, false).map_err(|e| format!("setting {} down: {e}", l.name))?;
        if iface.name != l.name {
            nl::rename(l.index, &iface.name)
                .map_err(|e| format!("renaming {} to {}: {e}", l.name, iface.name))?;
        }
    }
    nl::add_bond("bond0", n.bonding.mode)
        .map_err(|e| format!("creating bond0 (mode {}): {e}", n.bonding.mode))?;
    let index = |name: &str| {
        nl::links()
            .ok()
            .and_then(|v| v.into_iter().find(|l| l.name == name))
            .map(|l| l.index)
            .ok_or_else(|| format!("no interface {name}"))
    };
    let bond = index("bond0")?;
    for iface in &n.interfaces {
        let i = index(&iface.name)?;
        nl::set_controller(i, bond).map_err(|e| format!("adding {} to bond0: {e}", iface.name))?;
    }
    nl::set_state(bond, true).map_err(|e| format!("setting bond0 up: {e}"))?;
    for a in &n.addresses {
        nl::add_address(bond, a.address, a.cidr)
            .map_err(|e| format!("adding {}/{} to bond0: {e}", a.address, a.cidr))?;
        if let (Some((dst, prefix)), Some(gw)) = (route_for(a), a.gateway) {
            nl::add_route(bond, dst, prefix, gw)
                .map_err(|e| format!("route {dst}/{prefix} via {gw}: {e}"))?;
        }
    }
    say(&format!(
        "EquinixMetal: bond0 (mode {}) over {} interface(s), {} address(es)",
        n.bonding.mode,
        n.interfaces.len(),
        n.addresses.len()
    ));
    Ok(())
}

impl Provider for EquinixMetal {
    fn name(&self) -> String {
        "EquinixMetal".to_owned()
    }

    fn probe(&self, http: &Http) -> bool {
        self.device(http)
            .map_err(|e| crate::provider::debug(&format!("EquinixMetal: {e}")))
            .is_ok()
    }

    fn extract(&self, http: &Http, cfg: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
        let d = self
            .device(http)
            .map_err(|e| format!("EquinixMetal: {e}"))?;
        cfg.write("hostname", d.hostname.as_bytes(), 0o644)
            .map_err(|e| format!("EquinixMetal: Failed to write hostname: {e}"))?;
        write_ssh_keys(cfg, d.ssh_keys.join("\n").as_bytes())?;
        configure(&d.network).map_err(|e| format!("EquinixMetal: network: {e}"))?;
        let u = http
            .get(&format!("{}/userdata", self.base), &[], USERDATA_LIMIT)
            .map_err(|e| format!("EquinixMetal: failed to get userdata: {e}"))?;
        if u.is_empty() || u.starts_with(b"#!ipxe") {
            return Ok(None);
        }
        Ok(Some(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_document_and_routes() {
        let d: Device = serde_json::from_str(
            r#"{"id":"x","hostname":"em1","ssh_keys":["ssh-ed25519 A","ssh-rsa B"],
                "network":{"bonding":{"mode":4},
                  "interfaces":[{"name":"eth0","mac":"52:54:00:12:34:56","bond":"bond0"}],
                  "addresses":[
                    {"address_family":4,"public":true,"address":"147.75.1.2","cidr":31,"gateway":"147.75.1.1","netmask":"255.255.255.254"},
                    {"address_family":4,"public":false,"address":"10.1.2.3","cidr":31,"gateway":"10.1.2.2"},
                    {"address_family":6,"public":false,"address":"fd00::1","cidr":64}]}}"#,
        )
        .unwrap();
        assert_eq!((d.hostname.as_str(), d.network.bonding.mode), ("em1", 4));
        assert_eq!(d.network.interfaces[0].mac, "52:54:00:12:34:56");
        let r: Vec<_> = d.network.addresses.iter().map(route_for).collect();
        assert_eq!(r[0], Some(("0.0.0.0".parse().unwrap(), 0)));
        assert_eq!(r[1], Some(("10.0.0.0".parse().unwrap(), 8)));
        assert_eq!(r[2], None);
        let e: Device = serde_json::from_str(r#"{"error":"Not found"}"#).unwrap();
        assert_eq!(e.error, "Not found");
    }
}
