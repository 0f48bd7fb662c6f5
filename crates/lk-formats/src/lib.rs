//! Output formats. A build produces one stream of [`Entry`] values (the root filesystem,
//! `boot/` included); each format is a [`Sink`] that writes while the stream is produced.
//!
//! | module | role |
//! |---|---|
//! | [`entry`] | the entry model and the `Sink` trait |
//! | [`tar`] | PAX tar writer (`tar`, `docker`) |
//! | [`cpio`] | newc cpio writer with real hard links |
//! | [`initrd`] | `kernel+initrd` / `tar-kernel-initrd`: `boot/*` apart, the rest as a gzip cpio |
//! | [`squashfs`] | `kernel+squashfs`: `boot/*` apart, the rest as a gzip squashfs (backhand) |

pub mod cpio;
pub mod entry;
pub mod initrd;
pub mod squashfs;
pub mod tar;

pub use entry::{Entry, Kind, Sink, Tee};
