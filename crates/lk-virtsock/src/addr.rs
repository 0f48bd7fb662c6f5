//! Addresses: vsock (CID, port), Hyper-V socket GUIDs and the GUID <-> port rule, and the
//! endpoint URLs the tools take (`vsock://3:1024`, `hybrid:///state/vsock.sock:1024`, ...).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Any CID (listen on every transport).
pub const CID_ANY: u32 = u32::MAX;
/// The hypervisor.
pub const CID_HYPERVISOR: u32 = 0;
/// This machine, through the loopback transport.
pub const CID_LOCAL: u32 = 1;
/// The host, seen from a guest.
pub const CID_HOST: u32 = 2;
/// The first CID a guest can have; `linuxkit run qemu --vsock` gives its guest this one.
pub const CID_GUEST: u32 = 3;

/// A vsock address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VsockAddr {
    /// Context id: which machine.
    pub cid: u32,
    /// Port on it.
    pub port: u32,
}

impl VsockAddr {
    /// The address `cid`:`port`.
    pub fn new(cid: u32, port: u32) -> VsockAddr {
        VsockAddr { cid, port }
    }
}

impl fmt::Display for VsockAddr {
    /// virtsock's form, `CID.PORT` as two 8-digit hex numbers (`00000002.0000f3a4`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}.{:08x}", self.cid, self.port)
    }
}

/// A CID by number (decimal or `0x` hex) or name (`any`, `hypervisor`, `local`, `host`).
pub fn parse_cid(s: &str) -> Result<u32, AddrError> {
    match s.to_ascii_lowercase().as_str() {
        "any" => Ok(CID_ANY),
        "hypervisor" => Ok(CID_HYPERVISOR),
        "local" | "loopback" => Ok(CID_LOCAL),
        "host" | "parent" => Ok(CID_HOST),
        _ => parse_u32(s).ok_or_else(|| AddrError(format!("bad CID {s:?}"))),
    }
}

/// A port: decimal or `0x` hex (`0xf3a4`).
pub fn parse_port(s: &str) -> Result<u32, AddrError> {
    parse_u32(s).ok_or_else(|| AddrError(format!("bad vsock port {s:?}")))
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A malformed address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddrError(pub String);

/// A Hyper-V socket GUID (VM id or service id), in Windows' mixed-endian layout: the first
/// three groups little-endian, the rest as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Guid(pub [u8; 16]);

/// The tail of a service GUID that stands for a vsock port (Linux >= 4.14 carries Hyper-V
/// sockets in AF_VSOCK): `<port as 8 hex digits>-facb-11e6-bd58-64006a7986d3`.
const PORT_TEMPLATE_TAIL: [u8; 12] = [
    0xcb, 0xfa, 0xe6, 0x11, 0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3,
];

impl Guid {
    /// All zero; also the wildcard VM id.
    pub const ZERO: Guid = Guid([0; 16]);
    /// Every partition.
    pub const BROADCAST: Guid = Guid([0xff; 16]);
    /// The children of this partition.
    pub const CHILDREN: Guid = guid(
        0x90db8b89,
        0x0d35,
        0x4f79,
        [0x8c, 0xe9, 0x49, 0xea, 0x0a, 0xc8, 0xb7, 0xcd],
    );
    /// This partition (loopback).
    pub const LOOPBACK: Guid = guid(
        0xe0e16197,
        0xdd56,
        0x4a10,
        [0x91, 0x95, 0x5e, 0xe7, 0xa1, 0x55, 0xa8, 0x38],
    );
    /// The parent partition (the host).
    pub const PARENT: Guid = guid(
        0xa42e7cda,
        0xd03f,
        0x480c,
        [0x9c, 0xc2, 0xa4, 0xde, 0x20, 0xab, 0xb8, 0x78],
    );

    /// The service GUID for vsock `port`.
    pub fn from_port(port: u32) -> Guid {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&port.to_le_bytes());
        b[4..].copy_from_slice(&PORT_TEMPLATE_TAIL);
        Guid(b)
    }

    /// The vsock port this service GUID stands for, if it has the port form.
    pub fn port(&self) -> Result<u32, AddrError> {
        if self.0[4..] != PORT_TEMPLATE_TAIL {
            return Err(AddrError(format!(
                "service GUID {self} is not of the form xxxxxxxx-facb-11e6-bd58-64006a7986d3, so it names no vsock port"
            )));
        }
        Ok(u32::from_le_bytes([
            self.0[0], self.0[1], self.0[2], self.0[3],
        ]))
    }
}

const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    Guid([
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ])
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-",
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]])
        )?;
        for x in &b[8..10] {
            write!(f, "{x:02x}")?;
        }
        f.write_str("-")?;
        for x in &b[10..] {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Guid {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Guid, AddrError> {
        let bad = || {
            AddrError(format!(
                "bad GUID {s:?} (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
            ))
        };
        let t = s.trim_start_matches('{').trim_end_matches('}');
        let groups: Vec<&str> = t.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if groups.len() != 5
            || groups
                .iter()
                .zip(lens)
                .any(|(g, n)| g.len() != n || !g.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(bad());
        }
        let d1 = u32::from_str_radix(groups[0], 16).map_err(|_| bad())?;
        let d2 = u16::from_str_radix(groups[1], 16).map_err(|_| bad())?;
        let d3 = u16::from_str_radix(groups[2], 16).map_err(|_| bad())?;
        let rest = format!("{}{}", groups[3], groups[4]);
        let mut d4 = [0u8; 8];
        for (i, x) in d4.iter_mut().enumerate() {
            *x = u8::from_str_radix(&rest[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(guid(d1, d2, d3, d4))
    }
}

/// A Hyper-V socket address: which VM, which service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HvAddr {
    /// The VM (or [`Guid::PARENT`], [`Guid::LOOPBACK`], [`Guid::ZERO`] for any).
    pub vm_id: Guid,
    /// The service.
    pub service_id: Guid,
}

impl fmt::Display for HvAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.vm_id, self.service_id)
    }
}

impl HvAddr {
    /// The vsock address a Linux guest uses for this Hyper-V address (Linux >= 4.14 carries
    /// Hyper-V sockets in AF_VSOCK): the parent is the host, loopback is local, the zero GUID
    /// any; another VM's id has no vsock form.
    pub fn to_vsock(&self) -> Result<VsockAddr, AddrError> {
        let cid = match self.vm_id {
            Guid::PARENT => CID_HOST,
            Guid::LOOPBACK => CID_LOCAL,
            Guid::ZERO => CID_ANY,
            other => {
                return Err(AddrError(format!(
                    "VM id {other} has no vsock form: a Linux guest reaches only its parent (a42e7cda-...) over hv_sock"
                )));
            }
        };
        Ok(VsockAddr::new(cid, self.service_id.port()?))
    }
}

/// Where to connect or listen, as the tools spell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// AF_VSOCK: `vsock://CID:PORT` (`vsock://host:1024`, `vsock://3:0xf3a4`).
    Vsock(VsockAddr),
    /// Hybrid vsock: the host side of a VM's vsock as a Unix socket (`hybrid://PATH:PORT`).
    /// Connecting writes `CONNECT PORT`; listening takes guest connections to host port
    /// PORT on `PATH_PORT`.
    Hybrid {
        /// The backend's Unix socket (`<state>/vsock.sock` for `linuxkit run qemu --vsock`).
        path: PathBuf,
        /// The vsock port.
        port: u32,
    },
    /// A Unix stream socket: `unix://PATH` (or a bare absolute path).
    Unix(PathBuf),
    /// TCP: `tcp://HOST:PORT`.
    Tcp(String),
}

/// The default port of `sock_stress` (0x5653, "VS").
pub const STRESS_PORT: u32 = 0x5653;

impl Endpoint {
    /// Parses an endpoint URL; `default_cid`/`default_port` fill a bare `vsock`.
    pub fn parse(s: &str, default_cid: u32, default_port: u32) -> Result<Endpoint, AddrError> {
        let (scheme, rest) = s.split_once("://").unwrap_or((s, ""));
        match scheme {
            "vsock" => {
                let (cid, port) = match rest.rsplit_once(':') {
                    Some((c, p)) => (parse_cid(c)?, parse_port(p)?),
                    None if rest.is_empty() => (default_cid, default_port),
                    None => (parse_cid(rest)?, default_port),
                };
                Ok(Endpoint::Vsock(VsockAddr::new(cid, port)))
            }
            "hvsock" => {
                let (vm, svc) = match rest.split_once(':') {
                    Some((v, s)) => (v, s.parse::<Guid>()?),
                    None => (rest, Guid::from_port(default_port)),
                };
                let vm_id = match vm.to_ascii_lowercase().as_str() {
                    "" | "any" => Guid::ZERO,
                    "parent" | "host" => Guid::PARENT,
                    "loopback" => Guid::LOOPBACK,
                    other => other.parse()?,
                };
                HvAddr {
                    vm_id,
                    service_id: svc,
                }
                .to_vsock()
                .map(Endpoint::Vsock)
            }
            "hybrid" => {
                let (path, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| AddrError(format!("{s:?}: want hybrid://PATH:PORT")))?;
                Ok(Endpoint::Hybrid {
                    path: PathBuf::from(path),
                    port: parse_port(port)?,
                })
            }
            "unix" if !rest.is_empty() => Ok(Endpoint::Unix(PathBuf::from(rest))),
            "tcp" if !rest.is_empty() => Ok(Endpoint::Tcp(rest.to_owned())),
            _ if s.starts_with('/') => Ok(Endpoint::Unix(PathBuf::from(s))),
            _ => Err(AddrError(format!(
                "{s:?}: want vsock://CID:PORT, hvsock://VM:SERVICE, hybrid://PATH:PORT, unix://PATH or tcp://HOST:PORT"
            ))),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Vsock(a) => write!(f, "vsock CID {} port {} ({a})", a.cid, a.port),
            Endpoint::Hybrid { path, port } => {
                write!(f, "hybrid vsock {} port {port}", path.display())
            }
            Endpoint::Unix(p) => write!(f, "unix socket {}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp {a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsock_addresses_print_as_virtsock_does() {
        assert_eq!(VsockAddr::new(2, 0xf3a4).to_string(), "00000002.0000f3a4");
        assert_eq!(parse_port("0xf3a4"), Ok(62372));
        assert_eq!(parse_cid("host"), Ok(2));
        assert!(parse_port("12x").is_err());
    }

    #[test]
    fn service_guids_carry_ports() {
        let g: Guid = "3049197C-FACB-11E6-BD58-64006A7986D3".parse().unwrap();
        assert_eq!(g.port(), Ok(0x3049197c));
        assert_eq!(Guid::from_port(0x3049197c), g);
        assert_eq!(g.to_string(), "3049197c-facb-11e6-bd58-64006a7986d3");
        assert_eq!(
            Guid::PARENT.to_string(),
            "a42e7cda-d03f-480c-9cc2-a4de20abb878"
        );
        assert_eq!(Guid::PARENT.0[0], 0xda, "the first group is little-endian");
        assert!(Guid::CHILDREN.port().is_err());
        assert!("3049197C-FACB-11E6-BD58".parse::<Guid>().is_err());
        assert!(
            "3049197C-FACB-11E6-BD58-64006A7986DZ"
                .parse::<Guid>()
                .is_err()
        );
    }

    #[test]
    fn hyperv_addresses_map_to_vsock() {
        let a = HvAddr {
            vm_id: Guid::PARENT,
            service_id: Guid::from_port(1024),
        };
        assert_eq!(a.to_vsock(), Ok(VsockAddr::new(CID_HOST, 1024)));
        let other = HvAddr {
            vm_id: Guid::CHILDREN,
            ..a
        };
        assert!(other.to_vsock().is_err());
    }

    #[test]
    fn endpoints_parse() {
        let p = |s| Endpoint::parse(s, CID_ANY, STRESS_PORT);
        assert_eq!(
            p("vsock"),
            Ok(Endpoint::Vsock(VsockAddr::new(CID_ANY, 0x5653)))
        );
        assert_eq!(
            p("vsock://2"),
            Ok(Endpoint::Vsock(VsockAddr::new(2, 0x5653)))
        );
        assert_eq!(
            p("vsock://3:0x400"),
            Ok(Endpoint::Vsock(VsockAddr::new(3, 1024)))
        );
        assert_eq!(
            p("hvsock://parent"),
            Ok(Endpoint::Vsock(VsockAddr::new(2, 0x5653)))
        );
        assert_eq!(
            p("hybrid:///s/vsock.sock:22099"),
            Ok(Endpoint::Hybrid {
                path: "/s/vsock.sock".into(),
                port: 22099
            })
        );
        assert_eq!(p("/run/x.sock"), Ok(Endpoint::Unix("/run/x.sock".into())));
        assert_eq!(
            p("tcp://127.0.0.1:80"),
            Ok(Endpoint::Tcp("127.0.0.1:80".into()))
        );
        assert!(p("ftp://x").is_err());
        assert!(p("hybrid:///nopor").is_err());
    }
}
