//! A one-line upload progress bar on stderr, redrawn from a background thread.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running progress bar; [`Progress::finish`] (or drop) clears it.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `sent / total` every 200 ms.
    pub fn start(sent: Arc<AtomicU64>, total: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let line = bar(sent.load(Ordering::Relaxed), total);
                let _ = write!(std::io::stderr(), "\r{line}");
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(60));
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and clears the bar.
    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// `[#########           ]  45%  90.0/200.0 MiB`.
pub fn bar(sent: u64, total: u64) -> String {
    const WIDTH: u64 = 20;
    let sent = sent.min(total);
    let filled = (sent * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (sent * 100).checked_div(total).unwrap_or(100);
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    format!(
        "[{}{}] {percent:>3}%  {:.1}/{:.1} MiB",
        "#".repeat(filled as usize),
        " ".repeat((WIDTH - filled) as usize),
        mib(sent),
        mib(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_fraction_and_sizes() {
        assert_eq!(bar(0, 2 << 20), "[                    ]   0%  0.0/2.0 MiB");
        assert_eq!(
            bar(1 << 20, 2 << 20),
            "[##########          ]  50%  1.0/2.0 MiB"
        );
        assert_eq!(bar(5, 0), "[####################] 100%  0.0/0.0 MiB");
    }
}
