//! Per-principal and per-key permissions: authorization after authentication.
//!
//! A policy is a list of allow rules and optional deny rules that win:
//!
//! ```json
//! {"allow": [{"methods": ["GET", "HEAD"], "paths": ["/api/**"]}],
//!  "deny":  [{"methods": ["*"], "paths": ["/api/admin/**"]}]}
//! ```
//!
//! A request is allowed when no deny rule matches it and some allow rule does. A rule matches
//! when its method list holds the request method (or `*`) and one of its path globs matches the
//! request path as sent (percent-encoded, without the query). In a glob, `*` matches any run of
//! characters inside one segment (not `/`), `**` any run including `/`, and every other
//! character itself. No policy means everything is allowed; a principal's policy and a key's
//! policy must both allow a request (the key's can only narrow the principal's), and so must
//! the narrowed policy of session credentials.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use foldhash::HashMap;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::error::ApiError;
use crate::store::StoreError;
use crate::store::policies::Subject;
use crate::store::sea::SeaKeyStore;

/// Most rules in one policy, and most globs or methods in one rule.
pub const MAX_RULES: usize = 100;
/// Longest glob.
pub const MAX_GLOB_LEN: usize = 1024;

/// A policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rules that allow; a request must match one.
    pub allow: Vec<Rule>,
    /// Rules that deny, whatever the allow rules say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<Rule>,
}

/// One rule: methods and path globs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// HTTP methods (upper case), or `*` for any.
    pub methods: Vec<String>,
    /// Path globs, each starting with `/`.
    pub paths: Vec<String>,
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not JSON of the expected shape.
    #[error(
        "the policy is not valid JSON of the form {{\"allow\": [{{\"methods\": [...], \"paths\": [...]}}], \"deny\": [...]}}: {0}"
    )]
    Syntax(String),
    /// Too many rules, methods or globs.
    #[error("the policy has too many {0} (at most {MAX_RULES})")]
    TooMany(&'static str),
    /// A rule with no methods or no paths would never match.
    #[error("every rule needs at least one method and one path")]
    EmptyRule,
    /// A method that is not an HTTP token.
    #[error("`{0}` is not an HTTP method (use upper case, or `*`)")]
    Method(String),
    /// A glob that does not start with `/` or is too long.
    #[error("path glob `{0}` must start with `/` and be at most {MAX_GLOB_LEN} characters")]
    Glob(String),
}

/// Which rule set decided a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A deny rule matched (its index).
    DenyRule(usize),
    /// No allow rule matched.
    NoAllowRule,
}

impl Policy {
    /// Parses and validates a policy document.
    ///
    /// # Errors
    /// [`PolicyError`] naming what is wrong.
    pub fn parse(json: &str) -> Result<Self, PolicyError> {
        let policy: Self =
            serde_json::from_str(json).map_err(|err| PolicyError::Syntax(err.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks limits and the form of methods and globs.
    ///
    /// # Errors
    /// [`PolicyError`] naming what is wrong.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.allow.len() + self.deny.len() > MAX_RULES {
            return Err(PolicyError::TooMany("rules"));
        }
        for rule in self.allow.iter().chain(&self.deny) {
            if rule.methods.is_empty() || rule.paths.is_empty() {
                return Err(PolicyError::EmptyRule);
            }
            if rule.methods.len() > MAX_RULES || rule.paths.len() > MAX_RULES {
                return Err(PolicyError::TooMany("methods or paths in a rule"));
            }
            for method in &rule.methods {
                let upper = method.bytes().all(|b| !b.is_ascii_lowercase());
                if method != "*" && !(upper && countersign::is_token(method)) {
                    return Err(PolicyError::Method(method.clone()));
                }
            }
            for glob in &rule.paths {
                if !glob.starts_with('/') || glob.len() > MAX_GLOB_LEN {
                    return Err(PolicyError::Glob(glob.clone()));
                }
            }
        }
        Ok(())
    }

    /// Whether `method` on `path` is allowed, and if not, why.
    ///
    /// # Errors
    /// The [`Denial`].
    pub fn check(&self, method: &str, path: &str) -> Result<(), Denial> {
        if let Some(i) = self.deny.iter().position(|r| r.matches(method, path)) {
            return Err(Denial::DenyRule(i));
        }
        if self.allow.iter().any(|r| r.matches(method, path)) {
            Ok(())
        } else {
            Err(Denial::NoAllowRule)
        }
    }
}

impl Rule {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.methods.iter().any(|m| m == "*" || m == method)
            && self
                .paths
                .iter()
                .any(|g| glob_matches(g.as_bytes(), path.as_bytes()))
    }
}

/// `*` within a segment, `**` across segments, everything else literal. Iterative with
/// backtracking to the last `*` and, when that cannot grow past a `/`, to the last `**`, so the
/// cost stays bounded by about `glob.len() * path.len()`.
fn glob_matches(glob: &[u8], path: &[u8]) -> bool {
    let (mut g, mut p) = (0, 0);
    // Backtrack points: (glob index after the star, path index the star has swallowed up to).
    let mut single: Option<(usize, usize)> = None;
    let mut double: Option<(usize, usize)> = None;
    while p < path.len() {
        if glob.get(g) == Some(&b'*') {
            if glob.get(g + 1) == Some(&b'*') {
                g += 2;
                double = Some((g, p));
                single = None;
            } else {
                g += 1;
                single = Some((g, p));
            }
            continue;
        }
        if glob.get(g) == Some(&path[p]) {
            g += 1;
            p += 1;
            continue;
        }
        if let Some((after, swallowed)) = single
            && path[swallowed] != b'/'
        {
            single = Some((after, swallowed + 1));
            (g, p) = (after, swallowed + 1);
            continue;
        }
        let Some((after, swallowed)) = double else {
            return false;
        };
        single = None;
        double = Some((after, swallowed + 1));
        (g, p) = (after, swallowed + 1);
    }
    glob[g..].iter().all(|&c| c == b'*')
}

impl Denial {
    fn describe(self, whose: &str, method: &str, path: &str) -> String {
        match self {
            Self::DenyRule(i) => format!(
                "{method} {path} is denied by deny rule {} of the {whose} policy",
                i + 1
            ),
            Self::NoAllowRule => {
                format!("{method} {path} matches no allow rule of the {whose} policy")
            }
        }
    }
}

/// Most cached policy lookups (subjects with and without a policy).
const MAX_ENTRIES: usize = 100_000;

/// Policies by subject, cached like keys: a change reaches every replica within the TTL, and
/// a request needs no database query once its subjects were seen.
pub struct PolicyCache {
    store: Arc<SeaKeyStore>,
    clock: SharedClock,
    ttl: Duration,
    /// One map per [`Subject`] kind, so a lookup borrows the name (no allocation).
    entries: Mutex<[HashMap<String, CachedPolicy>; 3]>,
}

/// The index of a kind's map in [`PolicyCache`].
fn slot(kind: Subject) -> usize {
    match kind {
        Subject::Principal => 0,
        Subject::Key => 1,
        Subject::Session => 2,
    }
}

/// A subject's policy (or none) and when it was read.
type CachedPolicy = (Option<Arc<Policy>>, SystemTime);

impl std::fmt::Debug for PolicyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl PolicyCache {
    /// A cache over `store` whose entries live `ttl`.
    pub fn new(store: Arc<SeaKeyStore>, clock: SharedClock, ttl: Duration) -> Self {
        Self {
            store,
            clock,
            ttl,
            entries: Mutex::new(Default::default()),
        }
    }

    /// Whether an entry read `at` is still within the TTL (a clock that went backwards
    /// makes it stale).
    fn is_fresh(&self, at: SystemTime, now: SystemTime) -> bool {
        now.duration_since(at).is_ok_and(|age| age < self.ttl)
    }

    /// The policy of a subject (`None`: no policy, everything allowed).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer (nothing is cached then).
    pub async fn get(
        &self,
        kind: Subject,
        subject: &str,
    ) -> Result<Option<Arc<Policy>>, StoreError> {
        self.get_at(kind, subject, self.clock.now()).await
    }

    async fn get_at(
        &self,
        kind: Subject,
        subject: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<Policy>>, StoreError> {
        {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((policy, at)) = entries[slot(kind)].get(subject)
                && self.is_fresh(*at, now)
            {
                return Ok(policy.clone());
            }
        }
        let document = self.store.policy(kind, subject).await?;
        let policy = document.map(|text| {
            Arc::new(Policy::parse(&text).unwrap_or_else(|err| {
                // Validated when set; if the row is damaged, deny everything (fail closed).
                tracing::error!(subject = kind.as_str(), error = %err, "stored policy does not parse: denying all");
                Policy {
                    allow: Vec::new(),
                    deny: Vec::new(),
                }
            }))
        });
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let map = &mut entries[slot(kind)];
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(subject.to_owned(), (policy.clone(), now));
        Ok(policy)
    }

    /// Forgets a subject, so a change made through this replica applies here at once.
    pub fn invalidate(&self, kind: Subject, subject: &str) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)[slot(kind)].remove(subject);
    }

    /// Checks `method path` against the principal's policy and, for an access key, the key's;
    /// for session credentials, the narrowing given at login.
    ///
    /// # Errors
    /// 403 `AccessDenied` naming the policy and rule that denied it; 503 when the store fails.
    pub async fn authorize(
        &self,
        subjects: Subjects<'_>,
        method: &str,
        path: &str,
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let cached = self.cached(&subjects, now);
        for (found, (kind, subject)) in cached
            .into_iter()
            .zip(subjects.0)
            .filter_map(|(c, s)| Some((c, s?)))
        {
            let policy = match found {
                Some(policy) => policy,
                // Rare (first sight or TTL expiry): boxed to keep the request's future small.
                None => Box::pin(self.get_at(kind, subject, now)).await?,
            };
            check(kind, policy.as_deref(), method, path)?;
        }
        Ok(())
    }

    /// [`PolicyCache::authorize`] when every subject's policy is cached and fresh, without
    /// waiting; `None` when the store must be asked.
    pub fn authorize_cached(
        &self,
        subjects: Subjects<'_>,
        method: &str,
        path: &str,
        now: SystemTime,
    ) -> Option<Result<(), ApiError>> {
        let cached = self.cached(&subjects, now);
        let complete = subjects
            .0
            .iter()
            .zip(&cached)
            .all(|(subject, found)| subject.is_none() || found.is_some());
        if !complete {
            return None;
        }
        Some(
            subjects
                .0
                .iter()
                .zip(&cached)
                .filter_map(|(subject, found)| Some((subject.as_ref()?.0, found.as_ref()?)))
                .try_for_each(|(kind, policy)| check(kind, policy.as_deref(), method, path)),
        )
    }

    /// The cached and fresh policies of `subjects`, read under one lock: `None` for a subject
    /// the store must be asked about (or that is absent from `subjects`).
    fn cached(&self, subjects: &Subjects<'_>, now: SystemTime) -> [Option<Option<Arc<Policy>>>; 3] {
        let mut cached: [Option<Option<Arc<Policy>>>; 3] = Default::default();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for (found, (kind, subject)) in cached
            .iter_mut()
            .zip(&subjects.0)
            .filter_map(|(c, s)| Some((c, (*s)?)))
        {
            if let Some((policy, at)) = entries[slot(kind)].get(subject)
                && self.is_fresh(*at, now)
            {
                *found = Some(policy.clone());
            }
        }
        cached
    }
}

/// The subjects whose policies a request must satisfy: the principal, the access key (not for
/// session credentials) and the session's narrowing.
#[derive(Debug, Clone, Copy)]
pub struct Subjects<'s>([Option<(Subject, &'s str)>; 3]);

impl<'s> Subjects<'s> {
    /// The principal's, and the access key's and the session's when given.
    pub fn new(
        principal: &'s str,
        access_key_id: Option<&'s str>,
        session: Option<&'s str>,
    ) -> Self {
        Self([
            Some((Subject::Principal, principal)),
            access_key_id.map(|id| (Subject::Key, id)),
            session.map(|family| (Subject::Session, family)),
        ])
    }
}

/// Checks one subject's policy (none: everything allowed).
fn check(kind: Subject, policy: Option<&Policy>, method: &str, path: &str) -> Result<(), ApiError> {
    match policy {
        Some(policy) => policy.check(method, path).map_err(|denial| {
            ApiError::access_denied(denial.describe(kind.as_str(), method, path))
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::clock::fake::FakeClock;
    use crate::store::KeyStore;
    use crate::store::sea::tests::sqlite_store;

    fn policy(json: &str) -> Policy {
        Policy::parse(json).unwrap()
    }

    #[tokio::test]
    async fn the_cached_check_answers_only_from_fresh_entries_and_agrees_with_the_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = sqlite_store(dir.path()).await;
        store.create_principal("p", false, 0).await.unwrap();
        let document = r#"{"allow": [{"methods": ["GET"], "paths": ["/**"]}]}"#;
        store
            .set_policy(Subject::Principal, "p", Some(document), 0)
            .await
            .unwrap();
        let clock = Arc::new(FakeClock::at(1_000));
        let ttl = Duration::from_secs(60);
        let cache = PolicyCache::new(Arc::new(store), clock.clone(), ttl);
        let now = || clock.now();
        let alone = Subjects::new("p", None, None);
        let cached = |method, now| cache.authorize_cached(alone, method, "/x", now);
        // Nothing cached yet: only the full check can answer (and caches what it read).
        assert!(cached("GET", now()).is_none());
        let full = cache.authorize(alone, "GET", "/x", now()).await;
        assert!(full.is_ok());
        // Now the cached check answers, as the full one does.
        assert!(matches!(cached("GET", now()), Some(Ok(()))));
        let denied = cached("DELETE", now()).unwrap().unwrap_err();
        assert_eq!(denied.code(), "AccessDenied");
        let full = cache.authorize(alone, "DELETE", "/x", now()).await;
        assert_eq!(full.unwrap_err().code(), "AccessDenied");
        // A subject not seen yet (a key) sends it back to the store.
        let with_key =
            cache.authorize_cached(Subjects::new("p", Some("AKCSX"), None), "GET", "/x", now());
        assert!(with_key.is_none());
        // Past the TTL the entries are stale: the store again.
        clock.advance(ttl);
        assert!(cached("GET", now()).is_none());
    }

    #[test]
    fn globs_match_within_and_across_segments() {
        let cases = [
            ("/api/*", "/api/x", true),
            ("/api/*", "/api/x/y", false),
            ("/api/**", "/api/x/y", true),
            ("/api/**", "/api/", true),
            ("/api/*/items", "/api/7/items", true),
            ("/api/*/items", "/api/7/8/items", false),
            ("/api/**/items", "/api/7/8/items", true),
            ("/exact", "/exact", true),
            ("/exact", "/exact/", false),
            ("/a*b", "/aXXb", true),
            ("/a*b", "/a/b", false),
            ("/**", "/anything/at/all", true),
            ("/files/*.txt", "/files/a.txt", true),
            ("/files/*.txt", "/files/a.txt.gz", false),
            ("/**/*.txt", "/a/b.txt/c.txt", true),
            ("/**/*.txt", "/a/b.txt/c.gz", false),
            ("/a/**/b/*", "/a/x/b/y/b/z", true),
            ("/a/**/b/*", "/a/x/b/y/z", false),
        ];
        for (glob, path, want) in cases {
            assert_eq!(
                glob_matches(glob.as_bytes(), path.as_bytes()),
                want,
                "{glob} {path}"
            );
        }
    }

    #[test]
    fn deny_rules_win_and_no_allow_rule_denies() {
        let p = policy(
            r#"{"allow":[{"methods":["GET","HEAD"],"paths":["/api/**"]},
                          {"methods":["*"],"paths":["/api/uploads/*"]}],
                "deny":[{"methods":["*"],"paths":["/api/admin/**"]}]}"#,
        );
        assert_eq!(p.check("GET", "/api/things"), Ok(()));
        assert_eq!(p.check("PUT", "/api/uploads/a"), Ok(()));
        assert_eq!(p.check("PUT", "/api/things"), Err(Denial::NoAllowRule));
        assert_eq!(p.check("GET", "/api/admin/x"), Err(Denial::DenyRule(0)));
        assert_eq!(p.check("GET", "/other"), Err(Denial::NoAllowRule));
    }

    #[test]
    fn malformed_policies_are_refused_with_the_reason() {
        let bad = [
            ("{", "not valid JSON"),
            (r#"{"deny":[]}"#, "not valid JSON"),
            (
                r#"{"allow":[{"methods":["GET"],"paths":["/x"],"extra":1}]}"#,
                "not valid JSON",
            ),
            (
                r#"{"allow":[{"methods":[],"paths":["/x"]}]}"#,
                "at least one method",
            ),
            (
                r#"{"allow":[{"methods":["get"],"paths":["/x"]}]}"#,
                "not an HTTP method",
            ),
            (
                r#"{"allow":[{"methods":["GET"],"paths":["x"]}]}"#,
                "must start with `/`",
            ),
        ];
        for (json, expected) in bad {
            let err = Policy::parse(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn pathological_globs_stay_cheap() {
        let glob = "/*a*a*a*a*a*a*a*a*a*a*b".as_bytes();
        let path = format!("/{}", "a".repeat(4000));
        assert!(!glob_matches(glob, path.as_bytes()));
    }
}
