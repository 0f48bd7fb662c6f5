//! A pinned image's layers, read from the cache as uncompressed tar streams. Every byte of
//! the blob passes through the cache's verifying reader, so a corrupted blob fails with its
//! digest even when the tar reader stops early ([`LayerReader::finish`] drains the rest).
//! A gzip layer is inflated on a thread of its own, a few chunks ahead of the reader, so
//! unpacking and the build's writing run on two cores.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};

use flate2::read::GzDecoder;
use lk_cache::{Cache, ResolvedImage, VerifyingReader};
use lk_oci::Descriptor;

type Blob = VerifyingReader<BufReader<File>>;

/// Inflated bytes per chunk handed from the inflating thread to the reader.
const CHUNK: usize = 256 * 1024;
/// Chunks the inflating thread may be ahead (bounds the memory to 2 MiB per layer).
const AHEAD: usize = 8;

/// An uncompressed layer stream.
pub struct LayerReader {
    inner: Inner,
}

enum Inner {
    Plain(Box<Blob>),
    /// Gzip, inflated by a thread: chunks (or the error that ended it) in order.
    Inflated {
        chunks: Receiver<io::Result<Vec<u8>>>,
        chunk: Vec<u8>,
        pos: usize,
        done: bool,
    },
}

/// Inflates `blob` to the end of its gzip member, then reads the rest of the blob so the
/// digest is checked; sends the bytes in chunks. Stops when the reader goes away.
fn inflate(blob: Blob, tx: SyncSender<io::Result<Vec<u8>>>) {
    let mut gz = GzDecoder::new(BufReader::with_capacity(CHUNK, blob));
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        let result = loop {
            match gz.read(&mut chunk[filled..]) {
                Ok(0) => break Ok(true),
                Ok(n) => {
                    filled += n;
                    if filled == chunk.len() {
                        break Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(end) => {
                chunk.truncate(filled);
                if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if end {
                    let mut rest = gz.into_inner();
                    if let Err(e) = io::copy(&mut rest, &mut io::sink()) {
                        let _ = tx.send(Err(e));
                    }
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
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
            Inner::Inflated {
                chunks,
                chunk,
                pos,
                done,
            } => {
                while *pos == chunk.len() {
                    if *done {
                        return Ok(0);
                    }
                    match chunks.recv() {
                        Ok(Ok(next)) => {
                            *chunk = next;
                            *pos = 0;
                        }
                        Ok(Err(e)) => {
                            *done = true;
                            return Err(e);
                        }
                        // The thread finished: everything was sent and the digest checked.
                        Err(_) => {
                            *done = true;
                            return Ok(0);
                        }
                    }
                }
                let n = buf.len().min(chunk.len() - *pos);
                buf[..n].copy_from_slice(&chunk[*pos..*pos + n]);
                *pos += n;
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
    open_descriptor(cache, layer(image, i)?, AHEAD)
}

fn layer(image: &ResolvedImage, i: usize) -> io::Result<&Descriptor> {
    image
        .manifest
        .layers
        .get(i)
        .ok_or_else(|| io::Error::other(format!("the image has no layer {i}")))
}

fn open_descriptor(cache: &Cache, l: &Descriptor, ahead: usize) -> io::Result<LayerReader> {
    let blob = cache.open_blob(&l.digest).map_err(io::Error::other)?;
    let inner = if l.media_type.contains("gzip") {
        let (tx, rx) = mpsc::sync_channel(ahead);
        std::thread::Builder::new()
            .name("lk-inflate".into())
            .spawn(move || inflate(blob, tx))?;
        Inner::Inflated {
            chunks: rx,
            chunk: Vec::new(),
            pos: 0,
            done: false,
        }
    } else {
        Inner::Plain(Box::new(blob))
    };
    Ok(LayerReader { inner })
}
