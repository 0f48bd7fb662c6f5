//! Host<->guest sockets for LinuxKit images (the `virtsock` of LinuxKit, in Rust).
//!
//! | module | what |
//! |---|---|
//! | [`addr`] | vsock addresses and CIDs, Hyper-V GUIDs and the GUID <-> port rule, endpoint URLs |
//! | [`stream`] | [`Stream`] / [`Listener`] over AF_VSOCK, hybrid vsock, Unix and TCP |
//! | [`proxy`] | [`splice`]: two streams joined, half-close passed on where it is kept |
//! | [`stress`] | the `sock_stress` engine: many connections, random sizes, checksums |
//! | [`forward`] | the port-forwarding protocol between `linuxkit run` and the guest |
//!
//! Transports: AF_VSOCK (in a guest, or a host with `/dev/vhost-vsock`) through the
//! `vsock` crate; hybrid vsock, the host side of a VM's vsock as a Unix socket
//! (vhost-device-vsock, Firecracker, Cloud Hypervisor): connecting writes `CONNECT <port>`
//! and reads `OK <port>`, and guest connections to host port P arrive on `<path>_P`.
//! Hyper-V sockets exist here as addresses only: Linux >= 4.14 carries them in AF_VSOCK,
//! a service GUID `<port>-facb-11e6-bd58-64006a7986d3` standing for a vsock port.

pub mod addr;
pub mod forward;
pub mod proxy;
pub mod stream;
pub mod stress;

pub use addr::{AddrError, Endpoint, Guid, HvAddr, VsockAddr};
pub use proxy::{Spliced, splice};
pub use stream::{Error, Listener, Stream};
