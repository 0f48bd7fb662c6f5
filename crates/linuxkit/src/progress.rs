//! Pull progress: one bar per blob on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lk_ops::{Digest, Progress};

use crate::output;

/// Renders pull progress on stderr.
pub struct PullProgress {
    bars: Option<(MultiProgress, Mutex<HashMap<Digest, ProgressBar>>)>,
    quiet: bool,
}

impl PullProgress {
    /// Bars when stderr is a terminal (and not quiet), lines otherwise.
    pub fn new(quiet: bool) -> PullProgress {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var_os("NO_COLOR").is_none();
        let bars = (tty && !quiet).then(|| {
            (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(HashMap::new()),
            )
        });
        PullProgress { bars, quiet }
    }
}

fn human(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

impl Progress for PullProgress {
    fn blob_started(&self, image: &str, digest: &Digest, size: u64) {
        match &self.bars {
            Some((multi, bars)) => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(digest.short().to_owned());
                bar.set_message(image.to_owned());
                if let Ok(mut b) = bars.lock() {
                    b.insert(digest.clone(), bar);
                }
            }
            None if !self.quiet => output::info(
                false,
                &format!("pulling {} ({}) for {image}", digest.short(), human(size)),
            ),
            None => {}
        }
    }

    fn blob_progress(&self, digest: &Digest, received: u64) {
        if let Some((_, bars)) = &self.bars
            && let Ok(b) = bars.lock()
            && let Some(bar) = b.get(digest)
        {
            bar.set_position(received);
        }
    }

    fn blob_done(&self, digest: &Digest) {
        if let Some((_, bars)) = &self.bars
            && let Ok(mut b) = bars.lock()
            && let Some(bar) = b.remove(digest)
        {
            bar.finish_and_clear();
        }
    }

    fn image_ready(&self, image: &str, digest: &Digest, from_cache: bool) {
        if self.quiet {
            return;
        }
        let how = if from_cache { "in cache" } else { "pulled" };
        let line = format!("{image} {how} ({})", digest.short());
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => output::info(false, &line),
        }
    }
}
