//! `last_used_at` bookkeeping off the hot path.
//!
//! A successful verification calls [`LastUsed::touch`], which only updates an in-memory map;
//! a background task ([`spawn_flusher`]) writes the batch every [`FLUSH_EVERY`]. Each key is
//! written at most once per [`MIN_INTERVAL`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::KeyStore;
use super::cache::CachedKey;

/// A key's `last_used_at` is written at most this often.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// How often the background task writes pending updates.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Pending `last_used_at` updates.
#[derive(Debug, Default)]
pub struct LastUsed {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    pending: HashMap<String, i64>,
    /// Last time (Unix seconds) each key was queued, to rate-limit per key.
    queued_at: HashMap<String, i64>,
}

impl LastUsed {
    /// Notes a successful use of `id` at `now` (Unix seconds). Never touches the database.
    pub fn touch(&self, id: &str, now: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let min = min_interval_secs();
        if let Some(previous) = inner.queued_at.get(id)
            && now.saturating_sub(*previous) < min
        {
            return;
        }
        inner.queued_at.insert(id.to_owned(), now);
        inner.pending.insert(id.to_owned(), now);
    }

    /// [`LastUsed::touch`] for a cached key, skipping the lock while the key's use was queued
    /// less than [`MIN_INTERVAL`] ago (the common case: one lock per key and minute).
    pub fn touch_cached(&self, key: &CachedKey, now: i64) {
        let queued = key.last_used_queued.load(Ordering::Relaxed);
        if queued != i64::MIN && now.saturating_sub(queued) < min_interval_secs() {
            return;
        }
        key.last_used_queued.store(now, Ordering::Relaxed);
        self.touch(&key.access_key_id, now);
    }

    /// Takes the pending batch, forgetting rate-limit entries older than [`MIN_INTERVAL`].
    pub fn drain(&self, now: i64) -> Vec<(String, i64)> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let min = min_interval_secs();
        inner
            .queued_at
            .retain(|_, at| now.saturating_sub(*at) < min);
        inner.pending.drain().collect()
    }
}

fn min_interval_secs() -> i64 {
    i64::try_from(MIN_INTERVAL.as_secs()).unwrap_or(i64::MAX)
}

/// Spawns the task that writes pending updates every [`FLUSH_EVERY`] and once more when
/// `shutdown` fires.
pub fn spawn_flusher<S: KeyStore>(
    store: Arc<S>,
    last_used: Arc<LastUsed>,
    clock: crate::clock::SharedClock,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(FLUSH_EVERY);
        loop {
            let stopping = tokio::select! {
                _ = ticker.tick() => false,
                _ = shutdown.changed() => true,
            };
            let batch = last_used.drain(crate::clock::unix_seconds(clock.now()));
            if let Err(err) = store.record_last_used(&batch).await {
                tracing::warn!(error = %err, keys = batch.len(), "could not record last_used_at");
            }
            if stopping {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_queued_at_most_once_a_minute() {
        let last_used = LastUsed::default();
        last_used.touch("A", 1000);
        last_used.touch("A", 1010);
        last_used.touch("B", 1010);
        let mut batch = last_used.drain(1010);
        batch.sort();
        assert_eq!(batch, vec![("A".into(), 1000), ("B".into(), 1010)]);
        last_used.touch("A", 1059);
        assert!(last_used.drain(1059).is_empty());
        last_used.touch("A", 1060);
        assert_eq!(last_used.drain(1060), vec![("A".into(), 1060)]);
    }

    #[test]
    fn a_cached_key_is_queued_once_a_minute_without_the_lock() {
        use std::sync::atomic::AtomicI64;

        use countersign::{SecretKey, SigningKeys};

        let key = CachedKey {
            access_key_id: "AKIDEXAMPLE".into(),
            principal: "alice".into(),
            status: super::super::KeyStatus::Active,
            principal_enabled: true,
            admin: false,
            signing_keys: SigningKeys::new(SecretKey::new("secret")),
            last_used_queued: AtomicI64::new(i64::MIN),
        };
        let last_used = LastUsed::default();
        last_used.touch_cached(&key, 1000);
        last_used.touch_cached(&key, 1030);
        assert_eq!(last_used.drain(1030), vec![("AKIDEXAMPLE".into(), 1000)]);
        last_used.touch_cached(&key, 1059);
        assert!(last_used.drain(1059).is_empty());
        last_used.touch_cached(&key, 1060);
        assert_eq!(last_used.drain(1060), vec![("AKIDEXAMPLE".into(), 1060)]);
    }
}
