//! The logging system of the VM, compatible with LinuxKit's memlogd:
//!
//! * write side: a datagram on `/var/run/linuxkit-external-logging.sock` whose payload is a log
//!   name and whose `SCM_RIGHTS` carry descriptors; each is read line by line until EOF;
//! * the ring buffer keeps the last `max_lines` entries, lines cut at `max_line_len` bytes;
//! * query side: a stream connection to `/var/run/memlogdq.sock`, one byte (`0` dump, `1` follow,
//!   `2` dump then follow), answered with newline-delimited JSON
//!   `{"time":"<RFC 3339>","source":"<name>","msg":"<line>"}`. Each follower has a queue of
//!   `max_lines` entries; a follower that falls behind loses entries instead of stalling memlogd.

pub mod args;
pub mod client;
pub mod files;

use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Where writers send their descriptors.
pub const LOG_SOCKET: &str = "/var/run/linuxkit-external-logging.sock";
/// Where readers connect.
pub const QUERY_SOCKET: &str = "/var/run/memlogdq.sock";

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// RFC 3339 time with nanoseconds.
    pub time: String,
    /// The log name.
    pub source: String,
    /// The line, without its newline.
    pub msg: String,
}

impl Entry {
    /// An entry stamped now.
    pub fn now(source: &str, msg: &str) -> Entry {
        Entry {
            time: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            source: source.to_owned(),
            msg: msg.to_owned(),
        }
    }

    /// `logread`'s line: `time;source;msg`, `;` in the source escaped as `\;`.
    pub fn logread_line(&self) -> String {
        format!(
            "{};{};{}",
            self.time,
            self.source.replace(';', "\\;"),
            self.msg
        )
    }
}

#[derive(Debug, Default)]
struct Inner {
    ring: VecDeque<Entry>,
    followers: Vec<SyncSender<Entry>>,
}

/// The ring buffer and the followers.
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<Mutex<Inner>>,
    max_lines: usize,
    max_line_len: usize,
}

/// What a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The buffer, then the end.
    Dump,
    /// New entries, forever.
    Follow,
    /// The buffer, then new entries.
    DumpFollow,
}

impl Mode {
    /// The request byte's meaning.
    pub fn from_byte(b: u8) -> Option<Mode> {
        match b {
            0 => Some(Mode::Dump),
            1 => Some(Mode::Follow),
            2 => Some(Mode::DumpFollow),
            _ => None,
        }
    }

    /// The request byte.
    pub fn byte(self) -> u8 {
        match self {
            Mode::Dump => 0,
            Mode::Follow => 1,
            Mode::DumpFollow => 2,
        }
    }
}

impl Log {
    /// An empty log.
    pub fn new(max_lines: usize, max_line_len: usize) -> Log {
        Log {
            inner: Arc::default(),
            max_lines: max_lines.max(1),
            max_line_len,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a line (cut at `max_line_len` bytes, on a character boundary).
    pub fn push(&self, source: &str, line: &str) {
        let mut end = line.len().min(self.max_line_len);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let e = Entry::now(source, &line[..end]);
        let mut inner = self.lock();
        if inner.ring.len() == self.max_lines {
            inner.ring.pop_front();
        }
        inner.ring.push_back(e.clone());
        inner.followers.retain(|f| match f.try_send(e.clone()) {
            Ok(()) | Err(TrySendError::Full(_)) => true, // a slow reader loses this entry
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Reads `r` line by line into the log under `source` until EOF.
    pub fn drain(&self, source: &str, r: impl Read) {
        let mut r = std::io::BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    self.push(source, &String::from_utf8_lossy(&buf));
                }
            }
        }
    }

    /// The entries a query gets: the buffer (for dumps) and a receiver of new ones (when
    /// following). Both are taken under one lock, so nothing falls between them.
    pub fn query(&self, mode: Mode) -> (Vec<Entry>, Option<Receiver<Entry>>) {
        let mut inner = self.lock();
        let dump = match mode {
            Mode::Dump | Mode::DumpFollow => inner.ring.iter().cloned().collect(),
            Mode::Follow => Vec::new(),
        };
        let rx = (mode != Mode::Dump).then(|| {
            let (tx, rx) = sync_channel(self.max_lines);
            inner.followers.push(tx);
            rx
        });
        (dump, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_and_cuts_long_lines() {
        let log = Log::new(2, 4);
        log.drain("a", &b"one\ntwo\nthree-long\n"[..]);
        let (dump, rx) = log.query(Mode::Dump);
        assert!(rx.is_none());
        let msgs: Vec<&str> = dump.iter().map(|e| e.msg.as_str()).collect();
        assert_eq!(msgs, ["two", "thre"]);
        assert!(dump.iter().all(|e| e.source == "a"));
    }

    #[test]
    fn followers_get_new_entries_and_slow_ones_lose() {
        let log = Log::new(2, 100);
        log.push("x", "old");
        let (dump, rx) = log.query(Mode::DumpFollow);
        assert_eq!(dump.len(), 1);
        let rx = rx.unwrap();
        for m in ["1", "2", "3"] {
            log.push("x", m);
        }
        let got: Vec<String> = rx.try_iter().map(|e| e.msg).collect();
        assert_eq!(got, ["1", "2"], "queue of max_lines, the third is lost");
        drop(rx);
        log.push("x", "4");
        assert!(
            log.lock().followers.is_empty(),
            "gone followers are dropped"
        );
    }

    #[test]
    fn wire_and_logread_formats() {
        let e = Entry {
            time: "2026-11-29T01:00:00.000000001Z".into(),
            source: "a;b".into(),
            msg: "hi".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"time":"2026-11-29T01:00:00.000000001Z","source":"a;b","msg":"hi"}"#
        );
        assert_eq!(e.logread_line(), "2026-11-29T01:00:00.000000001Z;a\\;b;hi");
        assert_eq!(Mode::from_byte(2), Some(Mode::DumpFollow));
        assert_eq!(Mode::from_byte(9), None);
    }
}
