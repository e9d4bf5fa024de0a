//! The server's one source of "now".
//!
//! Everything time-dependent (signature skew, presign expiry, cache TTLs, `created_at`,
//! `last_used_at`) reads a [`Clock`], so tests can substitute a fake one.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock: the only real [`Clock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// Seconds since the Unix epoch, saturating at 0 before 1970 and at `i64::MAX`.
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats a time as the SigV4 basic ISO 8601 form `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(time: SystemTime) -> String {
    countersign::AmzDate::from_system_time(time).to_string()
}

#[cfg(test)]
pub(crate) mod fake {
    //! A settable clock for tests.
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::Clock;

    /// A clock that only moves when told to.
    #[derive(Debug)]
    pub(crate) struct FakeClock(Mutex<SystemTime>);

    impl FakeClock {
        /// A clock stopped at `unix` seconds.
        pub(crate) fn at(unix: u64) -> Self {
            Self(Mutex::new(UNIX_EPOCH + Duration::from_secs(unix)))
        }

        /// Moves the clock forward.
        pub(crate) fn advance(&self, by: Duration) {
            let mut now = self.0.lock().unwrap();
            *now += by;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn amz_date_matches_the_aws_example() {
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(time), "20150830T123600Z");
    }

    #[test]
    fn unix_seconds_saturates_before_epoch() {
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5);
    }
}
