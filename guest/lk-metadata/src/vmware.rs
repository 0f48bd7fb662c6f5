//! VMware guestinfo: `guestinfo.metadata`, `guestinfo.userdata` and
//! `guestinfo.vendordata` (each with an optional `.encoding`: `base64`, `gzip+base64`)
//! read with GuestRPC `info-get` over the backdoor port. LinuxKit's build constraint
//! (`linux && 386 && amd64`) can never hold, so its VMware provider is never built; this
//! one is, for x86_64.

use std::io::Read;

use base64::Engine;
use lk_guest_sys::vmware::{MAGIC, PORT, Regs};

use crate::config::ConfigDir;
use crate::http::Http;
use crate::provider::{Provider, debug, say};

const CMD_MESSAGE: u32 = 0x1e;
const RPCI: u32 = 0x4943_5052;
const FLAG_COOKIE: u32 = 0x8000_0000;
const STATUS_SUCCESS: u32 = 0x0001;
const STATUS_DORECV: u32 = 0x0002;

/// One backdoor call (the real one, or a test's).
pub trait Backdoor {
    /// Makes the call; `None` when there is no VMware backdoor.
    fn call(&mut self, regs: Regs) -> Option<Regs>;
}

/// The hypervisor's backdoor.
#[derive(Debug)]
pub struct Real;

impl Backdoor for Real {
    fn call(&mut self, regs: Regs) -> Option<Regs> {
        lk_guest_sys::vmware::backdoor(regs)
    }
}

/// An open RPCI channel.
struct Channel {
    id: u32,
    cookie: (u32, u32),
}

fn message(b: &mut dyn Backdoor, ch: &Channel, sub: u32, ebx: u32) -> Result<Regs, String> {
    let r = b
        .call(Regs {
            eax: MAGIC,
            ebx,
            ecx: CMD_MESSAGE | (sub << 16),
            edx: u32::from(PORT) | (ch.id << 16),
            esi: ch.cookie.0,
            edi: ch.cookie.1,
        })
        .ok_or("not on VMware")?;
    if (r.ecx >> 16) & STATUS_SUCCESS == 0 {
        return Err(format!(
            "GuestRPC step {sub} failed (status {:#x})",
            r.ecx >> 16
        ));
    }
    Ok(r)
}

/// Sends `request` over a new channel and returns the reply.
pub fn rpc(b: &mut dyn Backdoor, request: &[u8]) -> Result<Vec<u8>, String> {
    let open = b
        .call(Regs {
            eax: MAGIC,
            ebx: RPCI | FLAG_COOKIE,
            ecx: CMD_MESSAGE,
            edx: u32::from(PORT),
            ..Regs::default()
        })
        .ok_or("not on VMware")?;
    if (open.ecx >> 16) & STATUS_SUCCESS == 0 {
        return Err("GuestRPC channel refused".to_owned());
    }
    let ch = Channel {
        id: open.edx >> 16,
        cookie: (open.esi, open.edi),
    };
    let result = exchange(b, &ch, request);
    let _ = message(b, &ch, 6, 0);
    result
}

fn exchange(b: &mut dyn Backdoor, ch: &Channel, request: &[u8]) -> Result<Vec<u8>, String> {
    let len = u32::try_from(request.len()).map_err(|_| "request too long")?;
    message(b, ch, 1, len)?;
    for chunk in request.chunks(4) {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        message(b, ch, 2, u32::from_le_bytes(w))?;
    }
    let r = message(b, ch, 3, 0)?;
    if (r.ecx >> 16) & STATUS_DORECV == 0 {
        return Ok(Vec::new());
    }
    let size = r.ebx as usize;
    if size > 16 << 20 {
        return Err(format!("reply of {size} bytes"));
    }
    let id = r.edx >> 16;
    let mut out = Vec::with_capacity(size + 4);
    while out.len() < size {
        let r = message(b, ch, 4, id)?;
        out.extend_from_slice(&r.ebx.to_le_bytes());
    }
    out.truncate(size);
    message(b, ch, 5, id)?;
    Ok(out)
}

/// `info-get NAME`: the value, or `None` when unset.
pub fn info_get(b: &mut dyn Backdoor, name: &str) -> Result<Option<Vec<u8>>, String> {
    let reply = rpc(b, format!("info-get {name}").as_bytes())?;
    match reply.split_first() {
        Some((b'1', rest)) => Ok(Some(rest.strip_prefix(b" ").unwrap_or(rest).to_vec())),
        _ => Ok(None),
    }
}

/// A guestinfo value decoded as its `.encoding` says.
pub fn guestinfo(b: &mut dyn Backdoor, name: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(v) = info_get(b, name)? else {
        return Ok(None);
    };
    let enc = info_get(b, &format!("{name}.encoding"))?.unwrap_or_default();
    let text = String::from_utf8_lossy(&v);
    let text = text.trim_end_matches('\n');
    match String::from_utf8_lossy(&enc).trim_end_matches('\n') {
        "" | " " => Ok(Some(text.as_bytes().to_vec())),
        "base64" | "b64" => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Some)
            .map_err(|e| format!("{name}: base64: {e}")),
        "gzip+base64" | "gz+b64" => {
            let z = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("{name}: base64: {e}"))?;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&z[..])
                .take(crate::net::USERDATA_LIMIT)
                .read_to_end(&mut out)
                .map_err(|e| format!("{name}: gzip: {e}"))?;
            Ok(Some(out))
        }
        other => Err(format!("{name}: unknown encoding {other:?}")),
    }
}

/// The provider.
#[derive(Debug)]
pub struct Vmware;

fn present(v: &Result<Option<Vec<u8>>, String>) -> bool {
    matches!(v, Ok(Some(d)) if d.len() > 1 && d != b"---")
}

impl Provider for Vmware {
    fn name(&self) -> String {
        "VMWARE".to_owned()
    }

    fn probe(&self, _: &Http) -> bool {
        if !lk_guest_sys::vmware::is_vmware() {
            debug("VMWARE: not a VMware virtual machine");
            return false;
        }
        let mut b = Real;
        present(&guestinfo(&mut b, "guestinfo.metadata"))
            || present(&guestinfo(&mut b, "guestinfo.userdata"))
    }

    fn extract(&self, _: &Http, cfg: &ConfigDir) -> Result<Option<Vec<u8>>, String> {
        let mut b = Real;
        if let Ok(Some(v)) = guestinfo(&mut b, "guestinfo.vendordata") {
            let _ = cfg.write("vendordata", &v, 0o644);
        }
        match guestinfo(&mut b, "guestinfo.metadata") {
            Ok(Some(m)) => {
                cfg.write("metadata", &m, 0o644)
                    .map_err(|e| format!("VMWare: Failed to write metadata: {e}"))?;
            }
            Ok(None) => {}
            Err(e) => say(&format!("VMWare: Failed to get metadata: {e}")),
        }
        match guestinfo(&mut b, "guestinfo.userdata") {
            Ok(u) => Ok(u),
            Err(e) => {
                say(&format!("VMware: Failed to get userdata: {e}"));
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The hypervisor's side of GuestRPC, as documented by open-vm-tools' backdoor
    /// protocol: open, send size, send 4 bytes at a time, receive size, receive 4 bytes at a
    /// time, receive status, close; the channel and cookie checked on every step.
    #[derive(Default)]
    struct FakeVmx {
        values: BTreeMap<String, String>,
        open: bool,
        expect: usize,
        request: Vec<u8>,
        reply: Vec<u8>,
        sent: usize,
        calls: usize,
    }

    impl Backdoor for FakeVmx {
        fn call(&mut self, r: Regs) -> Option<Regs> {
            self.calls += 1;
            assert_eq!(r.eax, MAGIC);
            assert_eq!(r.ecx & 0xffff, CMD_MESSAGE);
            assert_eq!(r.edx & 0xffff, u32::from(PORT));
            let sub = r.ecx >> 16;
            let ok = |ecx_status: u32, ebx: u32, edx_hi: u32| Regs {
                ecx: ecx_status << 16,
                ebx,
                edx: edx_hi << 16,
                ..Regs::default()
            };
            if sub == 0 {
                assert_eq!(r.ebx, RPCI | FLAG_COOKIE);
                self.open = true;
                return Some(Regs {
                    ecx: STATUS_SUCCESS << 16,
                    edx: 7 << 16,
                    esi: 0xaa,
                    edi: 0xbb,
                    ..Regs::default()
                });
            }
            assert!(self.open);
            assert_eq!(
                (r.edx >> 16, r.esi, r.edi),
                (7, 0xaa, 0xbb),
                "channel and cookie"
            );
            Some(match sub {
                1 => {
                    self.expect = r.ebx as usize;
                    self.request.clear();
                    ok(STATUS_SUCCESS, 0, 0)
                }
                2 => {
                    self.request.extend_from_slice(&r.ebx.to_le_bytes());
                    self.request.truncate(self.expect);
                    ok(STATUS_SUCCESS, 0, 0)
                }
                3 => {
                    let req = String::from_utf8(self.request.clone()).unwrap();
                    let name = req.strip_prefix("info-get ").unwrap();
                    self.reply = match self.values.get(name) {
                        Some(v) => format!("1 {v}").into_bytes(),
                        None => b"0 No value found".to_vec(),
                    };
                    self.sent = 0;
                    ok(STATUS_SUCCESS | STATUS_DORECV, self.reply.len() as u32, 3)
                }
                4 => {
                    assert_eq!(r.ebx, 3, "reply id");
                    let mut w = [0u8; 4];
                    let n = (self.reply.len() - self.sent).min(4);
                    w[..n].copy_from_slice(&self.reply[self.sent..self.sent + n]);
                    self.sent += n;
                    ok(STATUS_SUCCESS, u32::from_le_bytes(w), 0)
                }
                5 => ok(STATUS_SUCCESS, 0, 0),
                6 => {
                    self.open = false;
                    ok(STATUS_SUCCESS, 0, 0)
                }
                _ => panic!("sub-command {sub}"),
            })
        }
    }

    #[test]
    fn guestinfo_values_in_every_encoding() {
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(b"{\"a\":{\"content\":\"z\"}}").unwrap();
            base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap())
        };
        let mut vmx = FakeVmx::default();
        for (k, v) in [
            ("guestinfo.metadata", "local-hostname: vm1"),
            ("guestinfo.userdata", "aGVsbG8gd29ybGQ="),
            ("guestinfo.userdata.encoding", "base64"),
            ("guestinfo.vendordata", gz.as_str()),
            ("guestinfo.vendordata.encoding", "gzip+base64"),
            ("guestinfo.bad", "x"),
            ("guestinfo.bad.encoding", "rot13"),
        ] {
            vmx.values.insert(k.to_owned(), v.to_owned());
        }
        assert_eq!(
            guestinfo(&mut vmx, "guestinfo.metadata").unwrap().unwrap(),
            b"local-hostname: vm1"
        );
        assert_eq!(
            guestinfo(&mut vmx, "guestinfo.userdata").unwrap().unwrap(),
            b"hello world"
        );
        assert_eq!(
            guestinfo(&mut vmx, "guestinfo.vendordata")
                .unwrap()
                .unwrap(),
            b"{\"a\":{\"content\":\"z\"}}"
        );
        assert_eq!(guestinfo(&mut vmx, "guestinfo.missing").unwrap(), None);
        assert!(
            guestinfo(&mut vmx, "guestinfo.bad")
                .unwrap_err()
                .contains("rot13")
        );
        assert!(!vmx.open, "every channel closed");
        assert!(present(&Ok(Some(b"ab".to_vec()))) && !present(&Ok(Some(b"---".to_vec()))));
    }

    #[test]
    fn without_vmware_nothing_is_called() {
        struct None_;
        impl Backdoor for None_ {
            fn call(&mut self, _: Regs) -> Option<Regs> {
                None
            }
        }
        assert!(rpc(&mut None_, b"info-get x").is_err());
        // On this host (not VMware) the real backdoor refuses before any I/O.
        assert!(Real.call(Regs::default()).is_none() || lk_guest_sys::vmware::is_vmware());
    }
}
