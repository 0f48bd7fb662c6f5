//! The `metadata` package's program (LinuxKit's `pkg/metadata`, same command line and
//! `/run/config` layout): finds the platform the VM runs on among the providers named on
//! its command line (LinuxKit's default list otherwise), writes what the provider gives
//! (`provider`, `hostname`, `ssh/authorized_keys`, addresses, ...) under `/run/config`,
//! keeps the userdata in `/run/config/userdata` and expands a JSON userdata into files,
//! then sets the host name.

#[cfg(feature = "providers")]
pub mod cdrom;
pub mod config;
#[cfg(feature = "providers")]
pub mod equinix;
#[cfg(feature = "providers")]
pub mod http;
#[cfg(feature = "providers")]
pub mod net;
#[cfg(feature = "providers")]
pub mod provider;
#[cfg(feature = "providers")]
pub mod scaleway;
pub mod userdata;
#[cfg(feature = "providers")]
pub mod vmware;

#[cfg(feature = "providers")]
mod detect;
#[cfg(feature = "providers")]
pub use detect::{Found, TIMEOUT, run};
