//! How a stream we write is compressed (the initrd's cpio, image layers): gzip (the
//! default, what LinuxKit and Docker write: our parallel encoder), zstd (the kernel's
//! `CONFIG_RD_ZSTD`, OCI's `tar+zstd`; far faster to write and to read) or none. Each gives
//! the same bytes on any number of cores.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::pgzip::{ParGzEncoder, cores};

/// `--initrd-compression`, `--layer-compression`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip -6 (default; LinuxKit's).
    #[default]
    Gzip,
    /// zstd -3.
    Zstd,
    /// An uncompressed cpio.
    None,
}

impl Compression {
    /// Every choice, as the flag spells them.
    pub const ALL: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::None];

    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Not one of gzip, zstd, none.
#[derive(Debug, thiserror::Error)]
#[error("unknown compression `{0}`; use gzip, zstd or none")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(s: &str) -> Result<Compression, UnknownCompression> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCompression(s.to_owned()))
    }
}

/// zstd's multithreaded mode cuts jobs by size, not by thread count; a fixed worker count
/// keeps the frame parameters the same on every machine.
const ZSTD_WORKERS: u32 = 4;
const ZSTD_LEVEL: i32 = 3;

/// A writer compressing with one of the [`Compression`]s.
pub enum Compressor<W: Write> {
    /// gzip.
    Gzip(ParGzEncoder<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// As is.
    None(W),
}

impl<W: Write> fmt::Debug for Compressor<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compressor::Gzip(_) => "Compressor(gzip)",
            Compressor::Zstd(_) => "Compressor(zstd)",
            Compressor::None(_) => "Compressor(none)",
        })
    }
}

impl<W: Write> Compressor<W> {
    /// Starts compressing into `out`.
    pub fn new(out: W, kind: Compression) -> io::Result<Compressor<W>> {
        Ok(match kind {
            Compression::Gzip => Compressor::Gzip(ParGzEncoder::new(
                out,
                flate2::Compression::default(),
                cores(),
            )),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                e.multithread(ZSTD_WORKERS)?;
                e.include_checksum(true)?;
                Compressor::Zstd(e)
            }
            Compression::None => Compressor::None(out),
        })
    }

    /// Ends the stream; returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
            Compressor::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
            Compressor::None(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
            Compressor::None(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn data() -> Vec<u8> {
        (0..3_000_000u32)
            .map(|i| {
                if i % 7 == 0 {
                    (i >> 3) as u8
                } else {
                    b'a' + (i % 5) as u8
                }
            })
            .collect()
    }

    fn compress(kind: Compression, d: &[u8]) -> Vec<u8> {
        let mut c = Compressor::new(Vec::new(), kind).unwrap();
        c.write_all(d).unwrap();
        c.finish().unwrap()
    }

    #[test]
    fn each_round_trips_and_is_reproducible() {
        let d = data();
        let gz = compress(Compression::Gzip, &d);
        let zs = compress(Compression::Zstd, &d);
        assert_eq!(compress(Compression::Zstd, &d), zs);
        assert_eq!(compress(Compression::None, &d), d);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, d);
        assert_eq!(zstd::stream::decode_all(&zs[..]).unwrap(), d);
        assert_eq!(&zs[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    }

    #[test]
    fn names_parse() {
        for c in Compression::ALL {
            assert_eq!(c.name().parse::<Compression>().unwrap(), c);
        }
        assert!("xz".parse::<Compression>().is_err());
    }
}
