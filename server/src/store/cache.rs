//! A TTL cache of decrypted keys in front of a [`KeyStore`].
//!
//! Once a key has been seen, verification needs no database query until the TTL runs out,
//! so disabling a key or principal takes effect within the TTL on every replica. Unknown
//! ids are cached too, for `min(ttl, 5 s)`, so a flood of random ids cannot hammer the
//! database; ids that cannot be ours (wrong shape) never reach it. Concurrent misses for
//! one id share a single database query.
//!
//! The maps hash with foldhash, seeded at random per process (as are the policy, session and
//! family caches): SipHash was a measurable part of a cached verification, and the ids are
//! short and of our own shape.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use countersign::{SecretKey, SigningKeys};
use foldhash::HashMap;

use super::keys::looks_like_key_id;
use super::{KeyMaterial, KeyStatus, KeyStore, StoreError};
use crate::clock::SharedClock;
use crate::striped::StripedCounter;

/// Longest time an unknown id is remembered as unknown.
pub const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Entries kept before expired ones are swept and new unknown ids stop being cached.
const MAX_ENTRIES: usize = 100_000;

type Gate = Arc<tokio::sync::Mutex<()>>;

/// The cache. Share it with an `Arc`.
pub struct KeyCache<S> {
    store: Arc<S>,
    clock: SharedClock,
    ttl: Duration,
    negative_ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    inflight: Mutex<HashMap<String, Gate>>,
    /// Per thread slot: a hit then moves no cache line between the CPUs.
    hits: StripedCounter,
    misses: AtomicU64,
}

/// A cached key: the principal's flags and the secret, kept as [`SigningKeys`] so the
/// derived signing key is reused across requests of the same day.
#[derive(Debug)]
pub struct CachedKey {
    /// The access key id.
    pub access_key_id: Arc<str>,
    /// The owning principal.
    pub principal: Arc<str>,
    /// The key's status.
    pub status: KeyStatus,
    /// Whether the owning principal is enabled.
    pub principal_enabled: bool,
    /// Whether the owning principal is an admin.
    pub admin: bool,
    /// The secret and its derived signing keys.
    pub signing_keys: SigningKeys,
    /// When (Unix seconds) this key's use was last queued for `last_used_at`, so that a
    /// request normally skips the [`LastUsed`](super::last_used::LastUsed) lock.
    pub last_used_queued: AtomicI64,
}

impl From<KeyMaterial> for CachedKey {
    fn from(material: KeyMaterial) -> Self {
        let secret = SecretKey::new(material.secret.expose());
        Self {
            access_key_id: material.access_key_id.into(),
            principal: material.principal.into(),
            status: material.status,
            principal_enabled: material.principal_enabled,
            admin: material.admin,
            signing_keys: SigningKeys::new(secret),
            last_used_queued: AtomicI64::new(i64::MIN),
        }
    }
}

struct Entry {
    value: Option<Arc<CachedKey>>,
    fetched_at: SystemTime,
}

impl<S: KeyStore> KeyCache<S> {
    /// A cache over `store` whose entries live `ttl`.
    pub fn new(store: Arc<S>, clock: SharedClock, ttl: Duration) -> Self {
        Self {
            store,
            clock,
            ttl,
            negative_ttl: ttl.min(MAX_NEGATIVE_TTL),
            entries: Mutex::new(HashMap::default()),
            inflight: Mutex::new(HashMap::default()),
            hits: StripedCounter::default(),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups answered from the cache and lookups that went to the store, so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits.sum(), self.misses.load(Ordering::Relaxed))
    }

    /// The store behind the cache.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The key with this id, from the cache or the store; `None` when unknown.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer (not cached, so the next call retries).
    pub async fn lookup(&self, id: &str) -> Result<Option<Arc<CachedKey>>, StoreError> {
        self.lookup_at(id, self.clock.now()).await
    }

    /// [`KeyCache::lookup`] with the caller's reading of the clock (saves a clock read on the
    /// hot path).
    ///
    /// # Errors
    /// As [`KeyCache::lookup`].
    pub async fn lookup_at(
        &self,
        id: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<CachedKey>>, StoreError> {
        if let Some(answer) = self.lookup_cached(id, now) {
            return Ok(answer);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // The store query makes a large future: boxed, so that a hit's stays small.
        Box::pin(self.fetch(id)).await
    }

    /// The cache's answer for this id without asking the store: `Some(Some(key))` for a
    /// cached key, `Some(None)` for an id known to be unknown (cached as such, or not of our
    /// shape), `None` when only the store can answer ([`KeyCache::lookup_at`] then asks it).
    pub fn lookup_cached(&self, id: &str, now: SystemTime) -> Option<Option<Arc<CachedKey>>> {
        // Only ids of our shape are ever cached (a fetch comes after this check): the shape
        // is checked on a miss, not on every hit.
        match self.cached(id, now) {
            Some(hit) => {
                self.hits.add();
                Some(hit)
            }
            None if !looks_like_key_id(id) => Some(None),
            None => None,
        }
    }

    /// A miss: one fetch per id at a time, the others wait for its answer.
    async fn fetch(&self, id: &str) -> Result<Option<Arc<CachedKey>>, StoreError> {
        let gate = self.gate(id);
        let _turn = gate.lock().await;
        if let Some(hit) = self.cached(id, self.clock.now()) {
            return Ok(hit);
        }
        let fetched = self
            .store
            .key_material(id)
            .await
            .map(|found| found.map(|material| Arc::new(CachedKey::from(material))));
        if let Ok(value) = &fetched {
            self.insert(id, value.clone());
        }
        lock(&self.inflight).remove(id);
        fetched
    }

    /// Forgets one id, so a change made through this replica applies at once here.
    pub fn invalidate(&self, id: &str) {
        lock(&self.entries).remove(id);
    }

    /// Forgets every key of a principal.
    pub fn invalidate_principal(&self, principal: &str) {
        lock(&self.entries).retain(|_, entry| {
            entry
                .value
                .as_ref()
                .is_none_or(|k| &*k.principal != principal)
        });
    }

    /// `Some(hit)` when a fresh entry exists (`hit` is `None` for a cached unknown id).
    fn cached(&self, id: &str, now: SystemTime) -> Option<Option<Arc<CachedKey>>> {
        let entries = lock(&self.entries);
        let entry = entries.get(id)?;
        self.is_fresh(entry, now).then(|| entry.value.clone())
    }

    fn is_fresh(&self, entry: &Entry, now: SystemTime) -> bool {
        let ttl = match entry.value {
            Some(_) => self.ttl,
            None => self.negative_ttl,
        };
        // A clock that went backwards makes the entry stale rather than immortal.
        now.duration_since(entry.fetched_at)
            .is_ok_and(|age| age < ttl)
    }

    fn insert(&self, id: &str, value: Option<Arc<CachedKey>>) {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| self.is_fresh(entry, now));
        }
        if entries.len() >= MAX_ENTRIES && value.is_none() {
            return;
        }
        let entry = Entry {
            value,
            fetched_at: now,
        };
        entries.insert(id.to_owned(), entry);
    }

    fn gate(&self, id: &str) -> Gate {
        lock(&self.inflight)
            .entry(id.to_owned())
            .or_default()
            .clone()
    }
}

/// Locks a std mutex; a panic elsewhere cannot leave these maps inconsistent, so poison
/// is ignored.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::fake::FakeClock;
    use crate::store::{AccessKeyInfo, NewAccessKey, Principal, Secret};

    pub(crate) const KNOWN: &str = "AKCSAAAAAAAAAAAAAAAA";
    const UNKNOWN: &str = "AKCSBBBBBBBBBBBBBBBB";

    /// A store that knows one key and counts lookups.
    #[derive(Default)]
    pub(crate) struct CountingStore {
        pub(crate) lookups: AtomicUsize,
        pub(crate) down: std::sync::atomic::AtomicBool,
    }

    /// The counting store answers key lookups only; any other call is a test bug.
    fn only_lookups() -> StoreError {
        StoreError::Database(sea_orm::DbErr::Custom(
            "the counting test store only answers key lookups".into(),
        ))
    }

    impl KeyStore for CountingStore {
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn create_principal(
            &self,
            _: &str,
            _: bool,
            _: i64,
        ) -> Result<Principal, StoreError> {
            Err(only_lookups())
        }
        async fn list_principals(&self) -> Result<Vec<Principal>, StoreError> {
            Err(only_lookups())
        }
        async fn set_principal_enabled(&self, _: &str, _: bool) -> Result<Principal, StoreError> {
            Err(only_lookups())
        }
        async fn create_key(&self, _: &str, _: u32, _: i64) -> Result<NewAccessKey, StoreError> {
            Err(only_lookups())
        }
        async fn list_keys(&self, _: Option<&str>) -> Result<Vec<AccessKeyInfo>, StoreError> {
            Err(only_lookups())
        }
        async fn set_key_status(&self, _: &str, _: KeyStatus) -> Result<AccessKeyInfo, StoreError> {
            Err(only_lookups())
        }
        async fn delete_key(&self, _: &str) -> Result<(), StoreError> {
            Err(only_lookups())
        }
        async fn key_material(&self, id: &str) -> Result<Option<KeyMaterial>, StoreError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Random);
            }
            Ok((id == KNOWN).then(|| KeyMaterial {
                access_key_id: KNOWN.into(),
                secret: Secret::new("s".into()),
                principal: "alice".into(),
                status: KeyStatus::Active,
                principal_enabled: true,
                admin: false,
            }))
        }
        async fn record_last_used(&self, _: &[(String, i64)]) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn cache(ttl: Duration) -> (KeyCache<CountingStore>, Arc<CountingStore>, Arc<FakeClock>) {
        let store = Arc::new(CountingStore::default());
        let clock = Arc::new(FakeClock::at(1_700_000_000));
        (
            KeyCache::new(store.clone(), clock.clone(), ttl),
            store,
            clock,
        )
    }

    #[tokio::test]
    async fn known_key_is_served_from_cache_until_the_ttl() {
        let (cache, store, clock) = cache(Duration::from_secs(60));
        for _ in 0..3 {
            let key = cache.lookup(KNOWN).await.unwrap().unwrap();
            assert_eq!(&*key.principal, "alice");
        }
        assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(59));
        cache.lookup(KNOWN).await.unwrap();
        assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(1));
        cache.lookup(KNOWN).await.unwrap();
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn lookup_cached_answers_only_what_needs_no_store_query() {
        use crate::clock::Clock;
        let (cache, store, clock) = cache(Duration::from_secs(60));
        let now = clock.now();
        assert!(cache.lookup_cached(KNOWN, now).is_none(), "not seen yet");
        assert!(cache.lookup_cached(UNKNOWN, now).is_none(), "not seen yet");
        assert!(
            matches!(cache.lookup_cached("AKIDEXAMPLE", now), Some(None)),
            "not our shape"
        );
        assert_eq!(store.lookups.load(Ordering::SeqCst), 0);
        cache.lookup(KNOWN).await.unwrap();
        cache.lookup(UNKNOWN).await.unwrap();
        let hit = cache.lookup_cached(KNOWN, now).unwrap().unwrap();
        assert_eq!(&*hit.principal, "alice");
        assert!(
            cache.lookup_cached(UNKNOWN, now).unwrap().is_none(),
            "known unknown"
        );
        assert_eq!(cache.stats(), (2, 2));
        clock.advance(Duration::from_secs(60));
        assert!(cache.lookup_cached(KNOWN, clock.now()).is_none(), "expired");
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unknown_key_is_cached_negatively_for_five_seconds() {
        let (cache, store, clock) = cache(Duration::from_secs(60));
        assert!(cache.lookup(UNKNOWN).await.unwrap().is_none());
        clock.advance(Duration::from_secs(4));
        assert!(cache.lookup(UNKNOWN).await.unwrap().is_none());
        assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(1));
        assert!(cache.lookup(UNKNOWN).await.unwrap().is_none());
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn negative_ttl_never_exceeds_the_ttl() {
        let (cache, store, clock) = cache(Duration::from_secs(2));
        cache.lookup(UNKNOWN).await.unwrap();
        clock.advance(Duration::from_secs(2));
        cache.lookup(UNKNOWN).await.unwrap();
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn foreign_shaped_ids_never_reach_the_store() {
        let (cache, store, _) = cache(Duration::from_secs(60));
        assert!(cache.lookup("AKIDEXAMPLE").await.unwrap().is_none());
        assert_eq!(store.lookups.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn store_errors_are_not_cached() {
        let (cache, store, _) = cache(Duration::from_secs(60));
        store.down.store(true, Ordering::SeqCst);
        assert!(matches!(cache.lookup(KNOWN).await, Err(StoreError::Random)));
        store.down.store(false, Ordering::SeqCst);
        assert!(cache.lookup(KNOWN).await.unwrap().is_some());
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn clock_going_backwards_expires_entries() {
        let store = Arc::new(CountingStore::default());
        let clock = Arc::new(FakeClock::at(1_700_000_000));
        let cache = KeyCache::new(store.clone(), clock.clone(), Duration::from_secs(60));
        cache.lookup(KNOWN).await.unwrap();
        let earlier = Arc::new(FakeClock::at(1_600_000_000));
        let cache = KeyCache {
            clock: earlier,
            ..cache
        };
        cache.lookup(KNOWN).await.unwrap();
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn invalidate_forces_a_fresh_lookup() {
        let (cache, store, _) = cache(Duration::from_secs(60));
        cache.lookup(KNOWN).await.unwrap();
        cache.invalidate_principal("alice");
        cache.lookup(KNOWN).await.unwrap();
        cache.invalidate(KNOWN);
        cache.lookup(KNOWN).await.unwrap();
        assert_eq!(store.lookups.load(Ordering::SeqCst), 3);
    }
}
