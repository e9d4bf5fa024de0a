//! A TTL cache of session-family state in front of the store: the revocation check of
//! every session request.
//!
//! A session token is verified without the database, but logout, replay detection and
//! banning must still reach it. Each request looks its family up here: a hit costs no
//! query, a miss costs one, and the answer lives `--key-cache-ttl`, so a logout or a
//! disabled principal takes effect on every replica within that TTL (at once on the replica
//! that made the change, which invalidates its entry). Missing families (deleted by `gc`)
//! are cached as `None` and treated as revoked.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use foldhash::HashMap;

use super::StoreError;
use super::sea::SeaKeyStore;
use super::sessions::FamilyState;
use crate::clock::SharedClock;

/// Entries kept before expired ones are swept (the cache then stops growing).
const MAX_ENTRIES: usize = 100_000;

/// Where family state comes from.
pub trait FamilySource: Send + Sync + 'static {
    /// The family's state; `None` when it no longer exists.
    fn family_state(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<FamilyState>, StoreError>> + Send;
}

impl FamilySource for SeaKeyStore {
    async fn family_state(&self, id: &str) -> Result<Option<FamilyState>, StoreError> {
        SeaKeyStore::family_state(self, id).await
    }
}

/// The cache. Share it with an `Arc`.
pub struct FamilyCache<S> {
    source: Arc<S>,
    clock: SharedClock,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// When an entry was fetched, and the state (`None`: the family does not exist).
type Entry = (SystemTime, Option<Arc<FamilyState>>);

impl<S: FamilySource> FamilyCache<S> {
    /// A cache over `source` whose entries live `ttl`.
    pub fn new(source: Arc<S>, clock: SharedClock, ttl: Duration) -> Self {
        Self {
            source,
            clock,
            ttl,
            entries: Mutex::new(HashMap::default()),
        }
    }

    /// The family's state, from the cache or the store.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer (not cached).
    pub async fn lookup(&self, id: &str) -> Result<Option<Arc<FamilyState>>, StoreError> {
        let now = self.clock.now();
        if let Some(cached) = self.lookup_cached(id, now) {
            return Ok(cached);
        }
        let value = self.source.family_state(id).await?.map(Arc::new);
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| self.fresh(*at, now));
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(id.to_owned(), (now, value.clone()));
        }
        Ok(value)
    }

    /// The cache's fresh answer for a family (`Some(None)`: known not to exist), without
    /// asking the store; `None` when only the store can answer.
    pub fn lookup_cached(&self, id: &str, now: SystemTime) -> Option<Option<Arc<FamilyState>>> {
        let entries = lock(&self.entries);
        let (at, value) = entries.get(id)?;
        self.fresh(*at, now).then(|| value.clone())
    }

    /// Forgets one family (after this replica revoked it).
    pub fn invalidate(&self, id: &str) {
        lock(&self.entries).remove(id);
    }

    /// Forgets every family of a principal (logout-all, disable, password change).
    pub fn invalidate_principal(&self, principal: &str) {
        lock(&self.entries).retain(|_, (_, value)| {
            value
                .as_ref()
                .is_none_or(|state| state.principal != principal)
        });
    }

    fn fresh(&self, at: SystemTime, now: SystemTime) -> bool {
        now.duration_since(at).is_ok_and(|age| age < self.ttl)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::clock::fake::FakeClock;

    #[derive(Default)]
    struct Source {
        lookups: AtomicUsize,
        revoked: AtomicBool,
    }

    impl FamilySource for Source {
        async fn family_state(&self, id: &str) -> Result<Option<FamilyState>, StoreError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok((id == "f1").then(|| FamilyState {
                principal: "alice".into(),
                revoked: self.revoked.load(Ordering::SeqCst),
                principal_enabled: true,
                admin: false,
            }))
        }
    }

    #[tokio::test]
    async fn revocation_is_seen_after_the_ttl_or_at_once_when_invalidated() {
        let source = Arc::new(Source::default());
        let clock = Arc::new(FakeClock::at(1_700_000_000));
        let cache = FamilyCache::new(source.clone(), clock.clone(), Duration::from_secs(60));
        assert!(!cache.lookup("f1").await.unwrap().unwrap().revoked);
        source.revoked.store(true, Ordering::SeqCst);
        assert!(!cache.lookup("f1").await.unwrap().unwrap().revoked);
        assert_eq!(source.lookups.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(60));
        assert!(cache.lookup("f1").await.unwrap().unwrap().revoked);
        source.revoked.store(false, Ordering::SeqCst);
        cache.invalidate_principal("alice");
        assert!(!cache.lookup("f1").await.unwrap().unwrap().revoked);
        assert!(cache.lookup("gone").await.unwrap().is_none());
        assert!(cache.lookup("gone").await.unwrap().is_none());
        assert_eq!(source.lookups.load(Ordering::SeqCst), 4);
    }
}
