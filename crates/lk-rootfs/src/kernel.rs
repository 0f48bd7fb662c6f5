//! The kernel image: the kernel binary and command line under `boot/`, the modules tar
//! unpacked at `/`, microcode as `boot/ucode.cpio`; `--decompress-kernel`.

use std::io::{self, Read};

use flate2::read::GzDecoder;
use lk_formats::{Entry, Kind, Sink};

use crate::assemble::Assembler;
use crate::error::AssembleError;
use crate::flatten::{Emit, Layer, flatten_with};
use crate::path::normalize;

pub(crate) struct KernelEmit<'x, 's> {
    sink: &'x mut (dyn Sink + 's),
    source: String,
    binary: String,
    tar: Option<String>,
    ucode: Option<String>,
    modules: Option<Vec<String>>,
    modules_report: Option<crate::modules::Report>,
    cmdline: String,
    decompress: bool,
    found_kernel: bool,
    found_tar: bool,
    boot_dir: bool,
    mtime: u64,
    mtime_override: Option<u64>,
    problem: Option<String>,
}

impl KernelEmit<'_, '_> {
    fn put(&mut self, mut e: Entry, data: &mut dyn Read) -> io::Result<()> {
        e.pax = vec![
            ("LINUXKIT.source".into(), self.source.clone()),
            ("LINUXKIT.location".into(), "kernel".into()),
        ];
        if let Some(t) = self.mtime_override {
            e.mtime = t;
        }
        self.sink.add(&e, data)
    }

    fn boot(&mut self) -> io::Result<()> {
        if !self.boot_dir {
            self.boot_dir = true;
            self.put(Entry::dir("boot", 0o755, self.mtime), &mut io::empty())?;
        }
        Ok(())
    }
}

impl Emit for KernelEmit<'_, '_> {
    fn link_targets(&mut self, _paths: &[String]) {}

    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        if e.path == self.binary {
            if self.found_kernel {
                self.problem = Some("found more than one possible kernel image".into());
                return io::copy(data, &mut io::sink()).map(|_| ());
            }
            self.found_kernel = true;
            self.boot()?;
            let cmdline = self.cmdline.clone();
            self.put(
                Entry::file("boot/cmdline", cmdline.len() as u64, 0o644, self.mtime),
                &mut cmdline.as_bytes(),
            )?;
            if self.decompress {
                let mut raw = Vec::new();
                data.read_to_end(&mut raw)?;
                let k = decompress_kernel(&raw)
                    .map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))?;
                return self.put(
                    Entry::file("boot/kernel", k.len() as u64, e.mode, self.mtime),
                    &mut &k[..],
                );
            }
            return self.put(
                Entry::file("boot/kernel", e.size(), e.mode, self.mtime),
                data,
            );
        }
        if self.tar.as_deref() == Some(e.path.as_str()) {
            self.found_tar = true;
            let mut inner = tar::Archive::new(data);
            let mut entries: Vec<(Entry, Vec<u8>)> = Vec::new();
            for entry in inner.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.to_string_lossy().into_owned();
                let Some(path) = normalize(&name) else {
                    continue;
                };
                let h = entry.header().clone();
                let kind = match h.entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        Kind::File(entry.size())
                    }
                    tar::EntryType::Directory => Kind::Dir,
                    tar::EntryType::Symlink => Kind::Symlink(
                        entry
                            .link_name()?
                            .map(|l| l.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                    tar::EntryType::Link => Kind::Hardlink(
                        entry
                            .link_name()?
                            .and_then(|l| normalize(&l.to_string_lossy()))
                            .unwrap_or_default(),
                    ),
                    _ => continue,
                };
                let mut body = Vec::new();
                entry.read_to_end(&mut body)?;
                entries.push((
                    Entry {
                        path,
                        kind,
                        mode: h.mode().unwrap_or(0o644) & 0o7777,
                        uid: h.uid().unwrap_or(0),
                        gid: h.gid().unwrap_or(0),
                        mtime: h.mtime().unwrap_or(0),
                        xattrs: Vec::new(),
                        pax: Vec::new(),
                    },
                    body,
                ));
            }
            io::copy(&mut inner.into_inner(), &mut io::sink())?;
            let selected = crate::modules::select(entries, self.modules.as_deref());
            self.modules_report = selected.report;
            for (ent, body) in selected.entries {
                if let Kind::Hardlink(t) = &ent.kind {
                    self.sink.link_targets(std::slice::from_ref(t));
                }
                self.put(ent, &mut &body[..])?;
            }
            return Ok(());
        }
        if self.ucode.as_deref() == Some(e.path.as_str()) {
            self.boot()?;
            return self.put(
                Entry::file("boot/ucode.cpio", e.size(), e.mode, self.mtime),
                data,
            );
        }
        io::copy(data, &mut io::sink()).map(|_| ())
    }
}

/// `--decompress-kernel`: gzip at offset 0, or a bzImage with a gzip payload.
pub fn decompress_kernel(k: &[u8]) -> Result<Vec<u8>, String> {
    let gunzip = |d: &[u8]| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        GzDecoder::new(d)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot gunzip the kernel: {e}"))?;
        Ok(out)
    };
    if k.starts_with(&[0x1f, 0x8b]) {
        return gunzip(k);
    }
    if k.len() > 0x250 && k[0x1fe..0x200] == [0x55, 0xaa] && &k[0x202..0x206] == b"HdrS" {
        let version = u16::from_le_bytes([k[0x206], k[0x207]]);
        if version < 0x208 {
            return Err(format!(
                "bzImage boot protocol {version:#x} is older than 2.08"
            ));
        }
        let setup_sects = usize::from(if k[0x1f1] == 0 { 4 } else { k[0x1f1] });
        let offset = u32::from_le_bytes([k[0x248], k[0x249], k[0x24a], k[0x24b]]) as usize
            + (setup_sects + 1) * 512;
        let len = u32::from_le_bytes([k[0x24c], k[0x24d], k[0x24e], k[0x24f]]) as usize;
        let payload = k
            .get(offset..offset + len)
            .ok_or("bzImage payload is out of bounds")?;
        if payload.starts_with(&[0x1f, 0x8b]) {
            return gunzip(payload);
        }
        return Err("the bzImage payload is not gzip-compressed".into());
    }
    Err("the kernel is neither gzip-compressed nor a bzImage".into())
}

impl Assembler<'_, '_> {
    pub(crate) fn kernel(&mut self) -> Result<(), AssembleError> {
        let k = &self.resolved.config().kernel;
        let Some(r) = &k.image else { return Ok(()) };
        let image = self.image(&r.value, "kernel")?;
        let mtime = self.mtime();
        let mut emit = KernelEmit {
            sink: &mut self.sink,
            source: image.canonical().to_owned(),
            binary: k.binary_name().to_owned(),
            tar: k.tar_name().map(str::to_owned),
            ucode: k.ucode.clone().filter(|u| !u.is_empty()),
            modules: k.modules.clone(),
            modules_report: None,
            cmdline: k.cmdline.clone(),
            decompress: self.options.decompress_kernel,
            found_kernel: false,
            found_tar: false,
            boot_dir: false,
            mtime,
            mtime_override: self.options.source_date_epoch,
            problem: None,
        };
        let resolved = self.resolved;
        let open = |i: usize| -> io::Result<Box<dyn Layer>> {
            Ok(Box::new(resolved.open_layer(&image.image, i)?))
        };
        let index = crate::segments::index_cache(self.options, image);
        let layers = image.image.manifest.layers.len();
        flatten_with(layers, &open, &mut emit, index.as_ref())
            .map_err(|source| AssembleError::image("kernel", image, source))?;
        let fail = |problem: String| AssembleError::Kernel {
            image: image.canonical().to_owned(),
            problem,
        };
        if let Some(p) = emit.problem {
            return Err(fail(p));
        }
        self.modules = emit.modules_report.take();
        if !emit.found_kernel {
            return Err(fail(format!(
                "did not find kernel in kernel image (looked for `{}`)",
                k.binary_name()
            )));
        }
        if emit.tar.is_some() && !emit.found_tar {
            return Err(fail(format!(
                "did not find kernel tar in kernel image (looked for `{}`; set `tar: none` if it has none)",
                emit.tar.unwrap_or_default()
            )));
        }
        Ok(())
    }
}
