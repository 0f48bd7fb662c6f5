//! A pinned image's layers, read from the cache as uncompressed tar streams. Every byte of
//! the blob passes through the cache's verifying reader, so a corrupted blob fails with its
//! digest even when the tar reader stops early ([`LayerReader::finish`] drains the rest).

use std::fs::File;
use std::io::{self, BufReader, Read};

use flate2::read::GzDecoder;
use lk_cache::{Cache, ResolvedImage, VerifyingReader};

type Blob = VerifyingReader<BufReader<File>>;

/// An uncompressed layer stream.
pub struct LayerReader {
    inner: Inner,
}

enum Inner {
    Plain(Box<Blob>),
    /// Gzip: after the end of the member, the rest of the blob is read so the digest is
    /// checked.
    Gzip(Option<Box<GzDecoder<BufReader<Blob>>>>),
}

impl std::fmt::Debug for LayerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LayerReader")
    }
}

impl Read for LayerReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(b) => b.read(buf),
            Inner::Gzip(slot) => {
                let Some(gz) = slot.as_mut() else {
                    return Ok(0);
                };
                let n = gz.read(buf)?;
                if n == 0
                    && !buf.is_empty()
                    && let Some(gz) = slot.take()
                {
                    let mut rest = gz.into_inner();
                    io::copy(&mut rest, &mut io::sink())?;
                }
                Ok(n)
            }
        }
    }
}

impl LayerReader {
    /// Reads to the end, so the blob's digest is verified.
    pub fn finish(mut self) -> io::Result<()> {
        io::copy(&mut self, &mut io::sink()).map(|_| ())
    }
}

/// The media type of the first layer we cannot decompress (zstd), if any.
pub fn unsupported_layer(image: &ResolvedImage) -> Option<&str> {
    image
        .manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .find(|m| m.contains("zstd"))
}

/// Opens layer `i` (0 = bottom) of `image`.
pub fn open_layer(cache: &Cache, image: &ResolvedImage, i: usize) -> io::Result<LayerReader> {
    let l = image
        .manifest
        .layers
        .get(i)
        .ok_or_else(|| io::Error::other(format!("the image has no layer {i}")))?;
    let blob = cache.open_blob(&l.digest).map_err(io::Error::other)?;
    let inner = if l.media_type.contains("gzip") {
        let buffered = BufReader::with_capacity(256 * 1024, blob);
        Inner::Gzip(Some(Box::new(GzDecoder::new(buffered))))
    } else {
        Inner::Plain(Box::new(blob))
    };
    Ok(LayerReader { inner })
}
