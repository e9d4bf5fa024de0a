//! Counters that several threads add to without sharing a cache line: each thread adds to its
//! own slot (slots are handed out in turn; past [`SLOTS`] threads share them), and readers sum
//! the slots. On the request path a shared counter's line moves between the CPUs on every
//! increment; a slot's stays put.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Slots per counter.
pub const SLOTS: usize = 8;

/// This thread's slot, `0..SLOTS`.
pub fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }
    SLOT.with(|slot| *slot)
}

/// One slot, alone on its cache line (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// A counter in [`SLOTS`] padded slots.
#[derive(Debug, Default)]
pub struct StripedCounter([Padded<AtomicU64>; SLOTS]);

impl StripedCounter {
    /// Adds one in this thread's slot.
    pub fn add(&self) {
        if let Some(slot) = self.0.get(thread_slot()) {
            slot.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The total over all slots.
    pub fn sum(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_from_many_threads_all_count() {
        let counter = StripedCounter::default();
        std::thread::scope(|s| {
            for _ in 0..12 {
                s.spawn(|| (0..1000).for_each(|_| counter.add()));
            }
        });
        assert_eq!(counter.sum(), 12_000);
    }

    #[test]
    fn slots_are_cache_line_apart() {
        assert_eq!(std::mem::align_of::<Padded<AtomicU64>>(), 128);
        assert!(thread_slot() < SLOTS);
    }
}
