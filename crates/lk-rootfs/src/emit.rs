//! An image's flattened entries as they go into the root filesystem: under a prefix, with
//! origin records, and with LinuxKit's generated `etc/hosts`, `etc/resolv.conf` and "touch"
//! set.

use std::collections::HashSet;
use std::io::{self, Read};

use lk_formats::{Entry, Kind, Sink};

use crate::assemble::DEFAULT_MTIME;
use crate::flatten::Emit;
use crate::path::join;

const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";
const NO_RESOLV: &str = "\n# no resolv.conf configured\n";

/// Which kind of filesystem an image becomes (decides `etc/resolv.conf`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsKind {
    Init,
    Container,
}

pub(crate) struct ImageEmit<'x, 's> {
    pub(crate) sink: &'x mut (dyn Sink + 's),
    pub(crate) prefix: String,
    pub(crate) source: String,
    pub(crate) location: String,
    pub(crate) kind: FsKind,
    pub(crate) seen: HashSet<String>,
    pub(crate) mtime_override: Option<u64>,
}

impl ImageEmit<'_, '_> {
    fn emit(&mut self, mut e: Entry, data: &mut dyn Read) -> io::Result<()> {
        if let Some(t) = self.mtime_override {
            e.mtime = t;
        }
        e.pax = vec![
            ("LINUXKIT.source".into(), self.source.clone()),
            ("LINUXKIT.location".into(), self.location.clone()),
        ];
        e.path = join(&self.prefix, &e.path);
        if let Kind::Hardlink(t) = &e.kind {
            e.kind = Kind::Hardlink(join(&self.prefix, t));
        }
        self.sink.add(&e, data)
    }

    fn generated(&self, path: &str, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.to_owned(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: self.mtime_override.unwrap_or(DEFAULT_MTIME),
            xattrs: Vec::new(),
            pax: Vec::new(),
        }
    }

    fn resolv(&mut self) -> io::Result<()> {
        match self.kind {
            FsKind::Init => self.emit(
                self.generated(
                    "etc/resolv.conf",
                    Kind::Symlink("/run/resolvconf/resolv.conf".into()),
                    0o777,
                ),
                &mut io::empty(),
            ),
            FsKind::Container => self.emit(
                self.generated("etc/resolv.conf", Kind::File(NO_RESOLV.len() as u64), 0o644),
                &mut NO_RESOLV.as_bytes(),
            ),
        }
    }

    /// LinuxKit's "touch" set: entries every image gets when it does not have them.
    pub(crate) fn touch(&mut self) -> io::Result<()> {
        for name in [
            "dev",
            "dev/pts",
            "dev/shm",
            "etc",
            "etc/hosts",
            "etc/mtab",
            "etc/resolv.conf",
            "proc",
            "sys",
        ] {
            if self.seen.contains(name) {
                continue;
            }
            match name {
                "etc/hosts" => self.emit(
                    self.generated(name, Kind::File(HOSTS.len() as u64), 0o644),
                    &mut HOSTS.as_bytes(),
                )?,
                "etc/mtab" => self.emit(
                    self.generated(name, Kind::Symlink("/proc/mounts".into()), 0o777),
                    &mut io::empty(),
                )?,
                "etc/resolv.conf" => self.resolv()?,
                _ => self.emit(self.generated(name, Kind::Dir, 0o755), &mut io::empty())?,
            }
        }
        Ok(())
    }
}

impl Emit for ImageEmit<'_, '_> {
    fn link_targets(&mut self, paths: &[String]) {
        let prefixed: Vec<String> = paths.iter().map(|p| join(&self.prefix, p)).collect();
        self.sink.link_targets(&prefixed);
    }

    fn entry(&mut self, e: Entry, data: &mut dyn Read) -> io::Result<()> {
        match e.path.as_str() {
            ".dockerenv" | "Dockerfile" | "dev/console" | "dev/pts" | "dev/shm"
            | "etc/hostname" => {
                return io::copy(data, &mut io::sink()).map(|_| ());
            }
            "etc/hosts" => {
                io::copy(data, &mut io::sink())?;
                self.seen.insert(e.path.clone());
                let replaced = Entry {
                    kind: Kind::File(HOSTS.len() as u64),
                    mtime: self.mtime_override.unwrap_or(DEFAULT_MTIME),
                    ..e
                };
                return self.emit(replaced, &mut HOSTS.as_bytes());
            }
            "etc/resolv.conf" => {
                io::copy(data, &mut io::sink())?;
                self.seen.insert(e.path);
                return self.resolv();
            }
            _ => {}
        }
        self.seen.insert(e.path.clone());
        self.emit(e, data)
    }
}
