//! A pinned image's layers, read from the cache as uncompressed tar streams. Every byte of
//! the blob passes through the cache's verifying reader, so a corrupted blob fails with its
//! digest even when the tar reader stops early ([`LayerReader::finish`] drains the rest).
//! A gzip or zstd layer is decompressed on a thread of its own, a few chunks ahead of the
//! reader, so unpacking and the build's writing run on two cores.

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
    /// Gzip or zstd, decompressed by a thread: chunks (or the error that ended it) in order.
    Inflated {
        chunks: Receiver<io::Result<Vec<u8>>>,
        chunk: Vec<u8>,
        pos: usize,
        done: bool,
    },
}

/// How a layer blob is compressed, from its media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    Plain,
    Gzip,
    Zstd,
}

/// The codec of a layer media type; `None` for one we cannot read (encrypted, bzip2, xz...).
fn codec(media_type: &str) -> Option<Codec> {
    if media_type.ends_with("gzip") {
        Some(Codec::Gzip)
    } else if media_type.ends_with("zstd") {
        Some(Codec::Zstd)
    } else if media_type.ends_with("tar") {
        Some(Codec::Plain)
    } else {
        None
    }
}

/// A decoder over a blob that gives the blob back at the end of the stream.
trait Decoder: Read {
    fn into_blob(self: Box<Self>) -> BufReader<Blob>;
}

impl Decoder for GzDecoder<BufReader<Blob>> {
    fn into_blob(self: Box<Self>) -> BufReader<Blob> {
        self.into_inner()
    }
}

impl Decoder for zstd::stream::read::Decoder<'static, BufReader<Blob>> {
    fn into_blob(self: Box<Self>) -> BufReader<Blob> {
        self.finish()
    }
}

/// Decompresses `blob` to the end of its stream, then reads the rest of the blob so the
/// digest is checked; sends the bytes in chunks. Stops when the reader goes away.
fn inflate(blob: Blob, codec: Codec, tx: SyncSender<io::Result<Vec<u8>>>) {
    let buffered = BufReader::with_capacity(CHUNK, blob);
    let mut gz: Box<dyn Decoder> = match codec {
        Codec::Zstd => match zstd::stream::read::Decoder::with_buffer(buffered) {
            Ok(d) => Box::new(d),
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        },
        _ => Box::new(GzDecoder::new(buffered)),
    };
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
                    let mut rest = gz.into_blob();
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

/// The media type of the first layer we cannot decompress (neither a plain, gzip nor zstd
/// tar), if any.
pub fn unsupported_layer(image: &ResolvedImage) -> Option<&str> {
    image
        .manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .find(|m| codec(m).is_none())
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
    let kind = codec(&l.media_type).ok_or_else(|| {
        io::Error::other(format!(
            "layer {} has media type {}, which is not a plain, gzip or zstd tar",
            l.digest, l.media_type
        ))
    })?;
    let blob = cache.open_blob(&l.digest).map_err(io::Error::other)?;
    let inner = if kind != Codec::Plain {
        let (tx, rx) = mpsc::sync_channel(ahead);
        std::thread::Builder::new()
            .name("lk-inflate".into())
            .spawn(move || inflate(blob, kind, tx))?;
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use lk_cache::{Cache, Compression};
    use lk_oci::{Descriptor, Digest};
    use lk_util::compress::Compressor;

    use super::open_descriptor;

    fn cache(name: &str) -> Cache {
        let d = std::env::temp_dir().join(format!("lk-image-layer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Cache::open(&d).unwrap()
    }

    fn store(c: &Cache, kind: Compression, plain: &[u8]) -> Descriptor {
        let mut w = Compressor::new(Vec::new(), kind).unwrap();
        w.write_all(plain).unwrap();
        let blob = w.finish().unwrap();
        let d = c.put_bytes(&blob).unwrap();
        Descriptor::new(lk_cache::layer_media_type(kind), d, blob.len() as u64)
    }

    #[test]
    fn plain_gzip_and_zstd_layers_read_back_the_same_tar() {
        let c = cache("codecs");
        let plain: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
        for kind in Compression::ALL {
            let d = store(&c, kind, &plain);
            let mut back = Vec::new();
            open_descriptor(&c, &d, 2)
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, plain, "{kind}");
        }
    }

    #[test]
    fn a_corrupted_zstd_layer_fails_and_an_unknown_type_is_named() {
        let c = cache("corrupt");
        let d = store(&c, Compression::Zstd, &[7u8; 100_000]);
        let path = c.blob_path(&d.digest);
        let mut data = std::fs::read(&path).unwrap();
        let n = data.len();
        data[n - 1] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        let mut sink = Vec::new();
        let r = open_descriptor(&c, &d, 2).unwrap().read_to_end(&mut sink);
        assert!(r.is_err(), "{r:?} {}", sink.len());
        let odd = Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar+encrypted",
            Digest::of(b"x"),
            1,
        );
        let e = open_descriptor(&c, &odd, 2).err().unwrap().to_string();
        assert!(e.contains("tar+encrypted"), "{e}");
    }
}
