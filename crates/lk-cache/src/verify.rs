//! A reader that hashes what it reads and fails at the end if the digest is wrong.

use std::io::{self, Read};
use std::path::PathBuf;

use lk_oci::{Digest, Hasher};

/// Wraps a blob file; at EOF, compares the digest and, on mismatch, deletes the blob (so the
/// next pull fetches it again) and returns an error naming the digest.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    path: PathBuf,
    read: u64,
}

impl<R: Read> VerifyingReader<R> {
    /// Verifies `inner` against `expected`; `path` is deleted on a mismatch.
    pub fn new(inner: R, expected: Digest, path: PathBuf) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            hasher: Some(Hasher::new()),
            expected,
            path,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Some(h) = self.hasher.as_mut() {
                h.update(&buf[..n]);
            }
            self.read += n as u64;
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(h) = self.hasher.take() {
            let got = h.finish();
            if got != self.expected {
                let _ = std::fs::remove_file(&self.path);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "cached blob {} is corrupt (content hashes to {}); it was removed and will be fetched again",
                        self.expected, got
                    ),
                ));
            }
        }
        Ok(0)
    }
}
