//! Clock correction for clients whose clock is off: the offset between the server's clock and
//! the local one, learnt from a `RequestTimeTooSkewed` error and applied to later signatures.
//!
//! The SDK reads no clock, so both instants come in as arguments: the caller reads its own
//! clock and the server's time (the error body's `server_time`), and signs with
//! [`ClockOffset::now`].
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use countersign::ClockOffset;
//!
//! let offset = ClockOffset::default();
//! let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let server = local + Duration::from_secs(20 * 60);
//! // The server says it is 20 minutes later than we think: the local clock is 1200 s behind.
//! assert_eq!(offset.observe(server, local), 1200);
//! assert_eq!(offset.now(local), server);
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// Seconds to add to the local clock to get the server's clock; shared by all requests of a
/// client (thread-safe, lock-free). Starts at 0 (no correction).
#[derive(Debug, Default)]
pub struct ClockOffset {
    seconds: AtomicI64,
}

impl ClockOffset {
    /// An offset of `seconds` (positive when the local clock is behind the server's).
    pub fn new(seconds: i64) -> Self {
        Self {
            seconds: AtomicI64::new(seconds),
        }
    }

    /// Records `server_time - local_now` (whole seconds, saturating) as the new offset and
    /// returns it: positive when the local clock is behind, negative when it is ahead.
    pub fn observe(&self, server_time: SystemTime, local_now: SystemTime) -> i64 {
        let offset = signed_seconds_between(local_now, server_time);
        self.seconds.store(offset, Ordering::Relaxed);
        offset
    }

    /// The current offset in seconds (0 until [`ClockOffset::observe`] is called).
    pub fn seconds(&self) -> i64 {
        self.seconds.load(Ordering::Relaxed)
    }

    /// `local_now` corrected by the offset: the time to sign with. Saturates at the Unix epoch
    /// and at the largest representable time rather than panicking.
    pub fn now(&self, local_now: SystemTime) -> SystemTime {
        let offset = self.seconds();
        let magnitude = Duration::from_secs(offset.unsigned_abs());
        if offset >= 0 {
            return local_now.checked_add(magnitude).unwrap_or(local_now);
        }
        match local_now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since_epoch) if since_epoch > magnitude => local_now - magnitude,
            _ => SystemTime::UNIX_EPOCH,
        }
    }
}

/// `to - from` in whole seconds, saturating at `i64` bounds.
fn signed_seconds_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
        Err(behind) => i64::try_from(behind.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_fresh_offset_changes_nothing() {
        let offset = ClockOffset::default();
        assert_eq!(offset.seconds(), 0);
        assert_eq!(offset.now(at(1_700_000_000)), at(1_700_000_000));
    }

    #[test]
    fn a_local_clock_ahead_of_the_server_is_corrected_backwards() {
        let offset = ClockOffset::default();
        assert_eq!(offset.observe(at(1_000), at(1_900)), -900);
        assert_eq!(offset.now(at(2_000)), at(1_100));
        assert_eq!(offset.now(at(100)), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn a_local_clock_behind_the_server_is_corrected_forwards_and_kept() {
        let offset = ClockOffset::new(5);
        assert_eq!(offset.observe(at(10_000), at(9_000)), 1_000);
        assert_eq!(offset.now(at(50_000)), at(51_000));
        assert_eq!(offset.seconds(), 1_000);
    }

    #[test]
    fn sub_second_differences_round_toward_zero() {
        let offset = ClockOffset::default();
        let local = at(100);
        assert_eq!(offset.observe(local + Duration::from_millis(999), local), 0);
        assert_eq!(
            offset.observe(local - Duration::from_millis(1_500), local),
            -1
        );
    }

    #[test]
    fn observations_from_other_threads_are_seen() {
        let offset = Arc::new(ClockOffset::default());
        let writer = offset.clone();
        std::thread::spawn(move || writer.observe(at(60), at(0)))
            .join()
            .unwrap();
        assert_eq!(offset.now(at(0)), at(60));
    }
}
