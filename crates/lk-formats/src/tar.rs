//! PAX tar output.

use std::io::{self, Read, Write};

use crate::entry::{Entry, Kind, Sink};

/// Writes entries as a PAX tar stream (long names, xattrs and LinuxKit records as PAX
/// extended headers).
pub struct TarSink<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> std::fmt::Debug for TarSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TarSink")
    }
}

impl<W: Write> TarSink<W> {
    /// A tar writer on `out`.
    pub fn new(out: W) -> TarSink<W> {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        TarSink { builder }
    }

    /// Finishes and returns the writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

fn set_field(field: &mut [u8], value: &str) {
    field.fill(0);
    let b = value.as_bytes();
    let n = b.len().min(field.len());
    field[..n].copy_from_slice(&b[..n]);
}

impl<W: Write> Sink for TarSink<W> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        let (ty, link) = match &e.kind {
            Kind::File(_) => (tar::EntryType::Regular, None),
            Kind::Dir => (tar::EntryType::Directory, None),
            Kind::Symlink(t) => (tar::EntryType::Symlink, Some(t.as_str())),
            Kind::Hardlink(t) => (tar::EntryType::Link, Some(t.as_str())),
            Kind::Char(..) => (tar::EntryType::Char, None),
            Kind::Block(..) => (tar::EntryType::Block, None),
            Kind::Fifo => (tar::EntryType::Fifo, None),
        };
        h.set_entry_type(ty);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.size());
        if let Kind::Char(ma, mi) | Kind::Block(ma, mi) = e.kind {
            h.set_device_major(ma)?;
            h.set_device_minor(mi)?;
        }
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let name = if matches!(e.kind, Kind::Dir) && !e.path.ends_with('/') {
            format!("{}/", e.path)
        } else {
            e.path.clone()
        };
        if name.len() > 100 || !name.is_ascii() {
            pax.push(("path".into(), name.clone().into_bytes()));
        }
        if let Some(l) = link
            && (l.len() > 100 || !l.is_ascii())
        {
            pax.push(("linkpath".into(), l.as_bytes().to_vec()));
        }
        for (k, v) in &e.pax {
            pax.push((k.clone(), v.clone().into_bytes()));
        }
        for (k, v) in &e.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let ustar = h
            .as_ustar_mut()
            .ok_or_else(|| io::Error::other("not a ustar header"))?;
        set_field(&mut ustar.name, &name);
        if let Some(l) = link {
            set_field(&mut ustar.linkname, l);
        }
        h.set_cksum();
        self.builder.append(&h, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.builder.finish()
    }
}
