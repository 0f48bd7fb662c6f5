//! Output formats. A build produces one stream of [`Entry`] values (the root filesystem,
//! `boot/` included); each format is a [`Sink`] that writes while the stream is produced.
//!
//! | module | role |
//! |---|---|
//! | `format` | [`Format`]: every LinuxKit format as data (files, source, kernel, bootable) |
//! | `plan` | [`OutputPlan`] -> [`Outputs`] (the one sink of a build) -> [`Artifacts`] |
//! | `error` | [`FormatError`], naming the format and file, with hints as data |
//! | [`staged`] | files written under a temporary name, renamed when complete |
//! | [`entry`] | the entry model and the `Sink` trait |
//! | [`tar`] | PAX tar writer (`tar`, `docker`) |
//! | [`cpio`] | newc cpio writer with real hard links |
//! | [`compress`] | the initrd's compression: gzip (default), zstd, none (`lk_util::compress`) |
//! | [`pgzip`] | parallel gzip (`lk_util::pgzip`) |
//! | [`segment`] | segment ids and the store of segment outputs between builds |
//! | [`initrd`] | `kernel+initrd` / `tar-kernel-initrd`: `boot/*` apart, the rest as a gzip cpio |
//! | [`config_iso`] | the one-file metadata ISO of `metadata create` and `run --data` |
//! | [`tree`] | collects the rootfs minus `boot/` for the formats below |
//! | [`boot`] | the bootable ISOs and disks: MBR/GPT, FAT, ext4, the UKI, loader configs, qemu-img |
//! | [`squashfs`] | `kernel+squashfs`: a gzip squashfs of the tree (backhand) |
//! | [`iso`] | `kernel+iso`: a Rock Ridge ISO 9660 of the tree (`xorriso`) |
//! | [`erofs`] | `kernel+erofs`: an EROFS image of the tree (`mkfs.erofs`) |
//! | [`root_initrd`] | `<name>-boot-initrd.img` of the root images: our init as a first stage + storage modules |
//! | `stage` | the tree as a temporary directory for the external image makers |

pub mod boot;
pub use lk_util::compress;
pub mod config_iso;
pub mod cpio;
pub mod entry;
pub mod erofs;
mod error;
mod format;
pub mod initrd;
pub mod iso;
pub mod modules;
pub use lk_util::pgzip;
mod plan;
pub mod root_initrd;
pub mod segment;
pub mod squashfs;
mod stage;
pub mod staged;
pub mod tar;
pub mod tree;

pub use compress::Compression as InitrdCompression;
pub use entry::{Entry, Kind, Sink, Tee};
pub use error::FormatError;
pub use format::{Format, Source, check_arch};
pub use plan::{Artifact, Artifacts, Destination, OutputOptions, OutputPlan, Outputs, Role, Tools};
pub use segment::{SegmentId, SegmentStore};
