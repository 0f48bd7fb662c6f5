//! Parallel gzip, as pigz does it: the input is cut into fixed 128 KiB blocks, each block is
//! deflated on its own (on any core) with the last 32 KiB of the block before it as the
//! dictionary, and every block but the last ends with a sync flush, so the pieces
//! concatenate into one standard deflate stream inside one gzip member. Block boundaries
//! depend only on the input, never on the number of threads, so the output is byte-identical
//! whatever the thread count. The deflate itself is flate2's (zlib-rs backend).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Input bytes per independently compressed block.
pub const BLOCK: usize = 128 * 1024;
/// The dictionary each block gets from the one before (deflate's window).
const DICT: usize = 32 * 1024;

struct Job {
    data: Vec<u8>,
    dict: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Vec<u8>>>,
}

/// Deflates one block (raw deflate): `dict` primes the window; a sync flush ends every block
/// but the last, which finishes the stream. Each block gets a fresh compressor: a reset one
/// keeps state from its previous block (seen with zlib-rs), which made the bytes depend on
/// which thread had compressed what before.
fn deflate_block(level: Compression, data: &[u8], dict: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    let start = c.total_in();
    loop {
        let consumed = usize::try_from(c.total_in() - start).unwrap_or(data.len());
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() - start == data.len() as u64;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            _ if !last && all_in && room_left => return Ok(out),
            Status::BufError if room_left && all_in => return Ok(out),
            _ => {}
        }
    }
}

/// Worker threads that deflate blocks.
struct Pool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, level: Compression) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                std::thread::spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let r = deflate_block(level, &job.data, &job.dict, job.last);
                        // The writer may have given up (an error elsewhere); nothing to do.
                        let _ = job.done.send(r);
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(tx),
            workers,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

enum Engine {
    /// One thread: blocks are deflated in the writer's thread, the same way.
    Inline(Compression),
    Pool(Pool),
}

/// A gzip writer that deflates 128 KiB blocks on `threads` cores.
pub struct ParGzEncoder<W: Write> {
    out: Option<W>,
    engine: Engine,
    in_flight: usize,
    block: Vec<u8>,
    dict: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    crc: crc32fast::Hasher,
    len: u64,
    header: bool,
}

impl<W: Write> std::fmt::Debug for ParGzEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParGzEncoder({} bytes in)", self.len)
    }
}

/// The number of cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl<W: Write> ParGzEncoder<W> {
    /// Compresses into `out` at `level` on `threads` threads (at least one).
    pub fn new(out: W, level: Compression, threads: usize) -> ParGzEncoder<W> {
        let threads = threads.max(1);
        let engine = if threads == 1 {
            Engine::Inline(level)
        } else {
            Engine::Pool(Pool::new(threads, level))
        };
        ParGzEncoder {
            out: Some(out),
            engine,
            in_flight: threads * 2,
            block: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            pending: VecDeque::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
            header: false,
        }
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header {
            self.header = true;
            // Magic, deflate, no flags, mtime 0, no extra flags, OS unknown (as flate2 writes).
            self.out()?
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        }
        Ok(())
    }

    /// Writes the oldest pending block's output.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let data = rx
            .recv()
            .map_err(|_| io::Error::other("a compression thread stopped"))??;
        self.out()?.write_all(&data)
    }

    /// Sends the current block off (the last one with `last`).
    fn submit(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let dict = std::mem::take(&mut self.dict);
        self.dict = data[data.len().saturating_sub(DICT)..].to_vec();
        match &mut self.engine {
            Engine::Inline(level) => {
                let deflated = deflate_block(*level, &data, &dict, last)?;
                self.out()?.write_all(&deflated)
            }
            Engine::Pool(pool) => {
                let (done, rx) = mpsc::sync_channel(1);
                let job = Job {
                    data,
                    dict,
                    last,
                    done,
                };
                pool.jobs
                    .as_ref()
                    .and_then(|j| j.send(job).ok())
                    .ok_or_else(|| io::Error::other("the compression threads stopped"))?;
                self.pending.push_back(rx);
                while self.pending.len() >= self.in_flight {
                    self.write_oldest()?;
                }
                Ok(())
            }
        }
    }

    /// Writes the last block and the trailer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        let len = self.len as u32; // ISIZE is the length modulo 2^32.
        let out = self.out()?;
        out.write_all(&crc.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        self.out
            .take()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))
    }
}

impl<W: Write> Write for ParGzEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.len() == BLOCK {
            self.submit(false)?;
        }
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    /// Blocks are cut by size only (a flush must not change the bytes), so this only
    /// flushes what is already compressed.
    fn flush(&mut self) -> io::Result<()> {
        self.out()?.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Partly compressible, partly not: a text pattern with a pseudo-random stream mixed in.
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if (i / 4096) % 3 == 0 {
                    (x >> 16) as u8
                } else {
                    b"linuxkit initrd "[i % 16]
                }
            })
            .collect()
    }

    fn gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut e = ParGzEncoder::new(Vec::new(), Compression::default(), threads);
        // Odd-sized writes: block boundaries must not depend on them either.
        for chunk in data.chunks(7919) {
            e.write_all(chunk).unwrap();
        }
        e.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_same_bytes_on_one_or_four_threads() {
        // Enough blocks that every worker compresses several, in an order that varies.
        let data = sample(40 * BLOCK + 1234);
        let one = gzip(&data, 1);
        let four = gzip(&data, 4);
        assert_eq!(one, four);
        assert_eq!(gzip(&data, 3), one);
        assert_eq!(gunzip(&four), data);
        assert!(
            one.len() < data.len() / 2,
            "{} of {}",
            one.len(),
            data.len()
        );
    }

    #[test]
    fn empty_and_exact_multiples_of_the_block_size() {
        for len in [0, 1, BLOCK, 2 * BLOCK] {
            let data = sample(len);
            let a = gzip(&data, 1);
            assert_eq!(a, gzip(&data, 3), "{len}");
            assert_eq!(gunzip(&a), data, "{len}");
        }
    }

    #[test]
    fn gzip_reads_it() {
        let data = sample(2 * BLOCK + 99);
        let gz = gzip(&data, 2);
        let dir = std::env::temp_dir().join(format!("lk-pgzip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.gz");
        std::fs::write(&f, &gz).unwrap();
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
