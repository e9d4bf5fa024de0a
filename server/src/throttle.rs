//! In-memory throttling of failed logins, per principal name and per client address.
//!
//! Each key counts failures in a fixed window that starts at its first failure. Once the
//! count reaches the limit, attempts are refused with 429 `TooManyRequests` and a
//! `Retry-After` of the time left in the window, before any password is checked. A success
//! clears the principal's count (not the address's). Names that do not exist are throttled
//! like names that do, so the limiter reveals nothing. The state is per replica: behind a
//! load balancer the effective limit is the limit times the number of replicas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Keys kept before expired windows are swept; past it, new keys are not tracked.
const MAX_KEYS: usize = 100_000;
/// Characters of a name kept as its key: one more than the longest valid name, so valid
/// names stay distinct and a huge name costs no more memory than a long one.
const NAME_KEY_CHARS: usize = 65;

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures allowed per principal name within the window.
    pub per_principal: u32,
    /// Failures allowed per client address within the window.
    pub per_address: u32,
    /// The window.
    pub window: Duration,
}

/// The throttle.
#[derive(Debug)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Principal(String),
    Address(IpAddr),
}

impl Key {
    fn principal(name: &str) -> Self {
        Self::Principal(name.chars().take(NAME_KEY_CHARS).collect())
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: SystemTime,
    failures: u32,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `principal` or `address` has used up its failures.
    ///
    /// # Errors
    /// The `Retry-After` in whole seconds (at least 1).
    pub fn check(&self, principal: &str, address: IpAddr, now: SystemTime) -> Result<(), u64> {
        let windows = lock(&self.windows);
        let keys = [
            (
                Key::Principal(principal.to_owned()),
                self.limits.per_principal,
            ),
            (Key::Address(address), self.limits.per_address),
        ];
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                let window = windows.get(key)?;
                let left = self.left(window, now)?;
                (window.failures >= *limit).then_some(left)
            })
            .max();
        match wait {
            Some(left) => Err(left.as_secs().max(1) + u64::from(left.subsec_nanos() > 0)),
            None => Ok(()),
        }
    }

    /// Counts a failed login against both keys.
    pub fn failed(&self, principal: &str, address: IpAddr, now: SystemTime) {
        let mut windows = lock(&self.windows);
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, window| self.left(window, now).is_some());
        }
        for key in [Key::principal(principal), Key::Address(address)] {
            if windows.len() >= MAX_KEYS && !windows.contains_key(&key) {
                continue;
            }
            let fresh = Window {
                started: now,
                failures: 0,
            };
            let window = windows.entry(key).or_insert(fresh);
            if self.left(window, now).is_none() {
                *window = fresh;
            }
            window.failures = window.failures.saturating_add(1);
        }
    }

    /// Clears the principal's failures after a successful login.
    pub fn succeeded(&self, principal: &str) {
        lock(&self.windows).remove(&Key::principal(principal));
    }

    /// Time left in the window, `None` once it is over (or the clock went backwards).
    fn left(&self, window: &Window, now: SystemTime) -> Option<Duration> {
        let age = now.duration_since(window.started).ok()?;
        self.limits.window.checked_sub(age).filter(|d| !d.is_zero())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::UNIX_EPOCH;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_principal: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        })
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn principal_is_throttled_after_its_failures_until_the_window_ends() {
        let t = throttle();
        for i in 0..3 {
            assert_eq!(t.check("alice", A, at(i)), Ok(()));
            t.failed("alice", if i % 2 == 0 { A } else { B }, at(i));
        }
        assert_eq!(t.check("alice", A, at(10)), Err(50));
        assert_eq!(t.check("bob", A, at(10)), Ok(()));
        assert_eq!(t.check("alice", A, at(60)), Ok(()));
    }

    #[test]
    fn address_is_throttled_across_names() {
        let t = throttle();
        for i in 0..5 {
            t.failed(&format!("user{i}"), A, at(0));
        }
        assert_eq!(t.check("someone", A, at(1)), Err(59));
        assert_eq!(t.check("someone", B, at(1)), Ok(()));
    }

    #[test]
    fn success_clears_the_principal_count() {
        let t = throttle();
        for _ in 0..3 {
            t.failed("alice", A, at(0));
        }
        t.succeeded("alice");
        assert_eq!(t.check("alice", B, at(1)), Ok(()));
    }
}
