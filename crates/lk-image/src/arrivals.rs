//! Blobs still being downloaded: a cold build starts assembling as soon as the images are
//! pinned (manifests and configs are in the cache), and each reader waits only for the
//! layer it needs. The downloads run in build order, so the first layers arrive first.

use std::collections::HashSet;
use std::io;
use std::sync::{Condvar, Mutex};

use lk_oci::Digest;

/// The set of blobs still to arrive, and the failure that ended the downloads, if any.
#[derive(Debug, Default)]
pub struct Arrivals {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    pending: HashSet<String>,
    failed: Option<String>,
}

impl Arrivals {
    /// Blobs that will arrive.
    pub fn new(pending: impl IntoIterator<Item = Digest>) -> Arrivals {
        Arrivals {
            state: Mutex::new(State {
                pending: pending.into_iter().map(|d| d.to_string()).collect(),
                failed: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// `d` is in the cache.
    pub fn arrived(&self, d: &Digest) {
        if let Ok(mut st) = self.state.lock() {
            st.pending.remove(d.as_str());
        }
        self.changed.notify_all();
    }

    /// The downloads stopped: blobs still pending will not arrive.
    pub fn failed(&self, why: String) {
        if let Ok(mut st) = self.state.lock() {
            st.failed.get_or_insert(why);
        }
        self.changed.notify_all();
    }

    /// Waits until `d` is not pending; fails if the downloads stopped before it arrived.
    pub fn wait(&self, d: &Digest) -> io::Result<()> {
        let poisoned = || io::Error::other("the download state is poisoned");
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        loop {
            if !st.pending.contains(d.as_str()) {
                return Ok(());
            }
            if let Some(why) = &st.failed {
                return Err(io::Error::other(format!("{d} was not downloaded: {why}")));
            }
            st = self.changed.wait(st).map_err(|_| poisoned())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn readers_wait_for_their_blob_or_the_failure() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let arr = Arc::new(Arrivals::new([a.clone(), b.clone()]));
        assert!(arr.wait(&Digest::of(b"c")).is_ok(), "not pending: at once");
        let waiter = {
            let (arr, a) = (Arc::clone(&arr), a.clone());
            std::thread::spawn(move || arr.wait(&a))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        arr.arrived(&a);
        assert!(waiter.join().unwrap().is_ok());
        let waiter = {
            let (arr, b) = (Arc::clone(&arr), b.clone());
            std::thread::spawn(move || arr.wait(&b))
        };
        arr.failed("registry gone".into());
        let err = waiter.join().unwrap().unwrap_err().to_string();
        assert!(
            err.contains("registry gone") && err.contains(b.as_str()),
            "{err}"
        );
        assert!(arr.wait(&a).is_ok(), "what arrived stays readable");
    }
}
