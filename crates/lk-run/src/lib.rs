//! Running images, QEMU first.
//!
//! | module | role |
//! |---|---|
//! | [`accel`] | does KVM really run guests here? (a 512-byte guest that exits through `isa-debug-exit`) |
//! | [`qemu`] | the QEMU command line as typed data, and running it with the console attached |
//! | [`qga`] | the guest agent's virtio-serial channel for `--qemu-ga` |
//! | [`tpm`] | a software TPM (swtpm) for `--tpm` |
//! | [`vsock`] | a vsock device (vhost-device-vsock) and its host-side sockets for `--vsock` |

pub mod accel;
pub mod qemu;
pub mod qga;
pub mod tpm;
pub mod tsc;
pub mod vsock;

pub use accel::{Accel, UnknownAccel};
pub use qemu::{
    Boot, Disk, Firmware, Machine, Networking, QemuConfig, RunError, RunOutcome, UnknownMachine,
    disk_format, run,
};
