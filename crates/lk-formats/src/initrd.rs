//! `kernel+initrd` and `tar-kernel-initrd`: `boot/kernel`, `boot/cmdline` and
//! `boot/ucode.cpio` are taken out of the stream; other `boot/*` entries are dropped; the
//! rest becomes a compressed newc cpio (gzip by default; with the microcode cpio, if any,
//! uncompressed in front).

use std::collections::HashSet;
use std::io::{self, Read, Write};

use crate::compress::{Compressor, InitrdCompression};

use crate::cpio::CpioSink;
use crate::entry::{Entry, Sink};
use crate::tar::TarSink;

/// The parts split off the stream.
#[derive(Debug, Default)]
pub struct BootParts {
    /// `boot/kernel`.
    pub kernel: Vec<u8>,
    /// `boot/cmdline`.
    pub cmdline: String,
    /// `boot/ucode.cpio`.
    pub ucode: Vec<u8>,
}

/// Splits `boot/*` off and writes the rest as a compressed newc cpio into `initrd`.
pub struct InitrdSink<W: Write> {
    cpio: Option<CpioSink<Compressor<W>>>,
    initrd: Option<W>,
    hardlink_targets: HashSet<String>,
    compression: InitrdCompression,
    /// What was split off.
    pub boot: BootParts,
}

impl<W: Write> std::fmt::Debug for InitrdSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitrdSink")
    }
}

impl<W: Write> InitrdSink<W> {
    /// `hardlink_targets`: paths hard links point at (see [`CpioSink::new`]).
    pub fn new(
        initrd: W,
        hardlink_targets: HashSet<String>,
        compression: InitrdCompression,
    ) -> InitrdSink<W> {
        InitrdSink {
            cpio: None,
            initrd: Some(initrd),
            hardlink_targets,
            compression,
            boot: BootParts::default(),
        }
    }

    fn cpio(&mut self) -> io::Result<&mut CpioSink<Compressor<W>>> {
        if self.cpio.is_none() {
            let mut out = self
                .initrd
                .take()
                .ok_or_else(|| io::Error::other("initrd already finished"))?;
            // Microcode goes uncompressed in front, as the kernel expects.
            out.write_all(&self.boot.ucode)?;
            self.cpio = Some(CpioSink::new(
                Compressor::new(out, self.compression)?,
                std::mem::take(&mut self.hardlink_targets),
            ));
        }
        self.cpio
            .as_mut()
            .ok_or_else(|| io::Error::other("no cpio"))
    }

    /// Finishes the cpio and gzip streams and returns the initrd writer and boot parts.
    pub fn into_parts(mut self) -> io::Result<(W, BootParts)> {
        self.cpio()?;
        let cpio = self
            .cpio
            .take()
            .ok_or_else(|| io::Error::other("no cpio"))?;
        let w = cpio.into_inner()?.finish()?;
        Ok((w, self.boot))
    }
}

impl<W: Write> Sink for InitrdSink<W> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let mut take = |into: &mut Vec<u8>| -> io::Result<()> {
            into.clear();
            data.take(e.size()).read_to_end(into).map(|_| ())
        };
        match e.path.as_str() {
            "boot/kernel" => take(&mut self.boot.kernel),
            "boot/cmdline" => {
                let mut v = Vec::new();
                take(&mut v)?;
                self.boot.cmdline = String::from_utf8_lossy(&v).into_owned();
                Ok(())
            }
            "boot/ucode.cpio" => take(&mut self.boot.ucode),
            p if p.starts_with("boot/") => {
                io::copy(&mut data.take(e.size()), &mut io::sink()).map(|_| ())
            }
            _ => self.cpio()?.add(e, data),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.cpio()?;
        Ok(())
    }

    fn link_targets(&mut self, paths: &[String]) {
        match self.cpio.as_mut() {
            Some(c) => c.link_targets(paths),
            None => self.hardlink_targets.extend(paths.iter().cloned()),
        }
    }
}

/// Writes the `tar-kernel-initrd` tar: `kernel`, `initrd.img`, `cmdline` (and `ucode.cpio`).
pub fn kernel_initrd_tar(
    out: impl Write,
    boot: &BootParts,
    initrd: &mut dyn Read,
    initrd_size: u64,
    mtime: u64,
) -> io::Result<()> {
    let mut t = TarSink::new(out);
    t.add(
        &Entry::file("kernel", boot.kernel.len() as u64, 0o644, mtime),
        &mut &boot.kernel[..],
    )?;
    t.add(
        &Entry::file("initrd.img", initrd_size, 0o644, mtime),
        initrd,
    )?;
    t.add(
        &Entry::file("cmdline", boot.cmdline.len() as u64, 0o644, mtime),
        &mut boot.cmdline.as_bytes(),
    )?;
    if !boot.ucode.is_empty() {
        t.add(
            &Entry::file("ucode.cpio", boot.ucode.len() as u64, 0o644, mtime),
            &mut &boot.ucode[..],
        )?;
    }
    t.finish()?;
    t.into_inner()?.flush()
}
