//! Passwords, session families and refresh tokens on the sea-orm store (issue #5).
//!
//! A *family* is one login: its id is sealed into every session token issued from it, and
//! every refresh token of that login belongs to it. Revoking the family (logout, replay of a
//! spent refresh token, the per-principal family limit, a password change) ends its refresh
//! tokens at once and its session credentials within the family cache TTL.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use super::StoreError;
use super::entity::{policy, principal, principal_password, refresh_token, session_family};
use super::policies::Subject;
use super::sea::{SeaKeyStore, lock_principal};

/// What login needs to know about a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    /// Whether the principal is enabled.
    pub enabled: bool,
    /// Its argon2id PHC string, when it has a password.
    pub password_hash: Option<String>,
}

/// A family's state as the verifier checks it for every session request (cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyState {
    /// The principal that logged in.
    pub principal: String,
    /// Whether the family was revoked.
    pub revoked: bool,
    /// Whether the principal is enabled.
    pub principal_enabled: bool,
    /// Whether the principal is an admin.
    pub admin: bool,
}

/// What starting a family did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedFamily {
    /// The oldest live families revoked to stay within the limit.
    pub revoked: Vec<String>,
    /// When the first refresh token expires: the policy's expiry, or the family's end if
    /// sooner.
    pub expires_at: i64,
}

/// The result of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// The token was exchanged: the new one is stored in `family`.
    Rotated {
        /// The family id.
        family: String,
        /// The principal.
        principal: String,
        /// When the new token expires: the policy's expiry, or the family's end if sooner.
        expires_at: i64,
    },
    /// No such token (never issued, garbage-collected, or its family deleted).
    Unknown,
    /// The token has expired, or its family has reached `max_lifetime`.
    Expired,
    /// The token's family was revoked earlier.
    Revoked,
    /// The token was spent before (outside the grace window): its family is now revoked.
    Replayed {
        /// The revoked family.
        family: String,
    },
    /// The principal is disabled.
    Disabled(String),
}

/// How many rows `gc` deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Refresh tokens deleted (expired, or of a revoked family).
    pub deleted_refresh_tokens: u64,
    /// Families deleted (revoked, or expired for longer than the longest session).
    pub deleted_families: u64,
    /// Login narrowings (session policies) deleted with their families.
    pub deleted_session_policies: u64,
}

/// Times and limits of one refresh-token operation, Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Now.
    pub now: i64,
    /// Expiry of the token being issued.
    pub expires_at: i64,
    /// Seconds after a token is spent during which presenting it again is forgiven; 0 = never.
    pub grace: i64,
    /// Longest a family lives from its login, in seconds: no token of it expires later, and
    /// none is issued after (`--session-max-lifetime`).
    pub max_lifetime: i64,
}

impl RefreshPolicy {
    /// This policy for a family created at `created_at`: the new token's expiry capped at the
    /// family's end.
    fn for_family(self, created_at: i64) -> Self {
        Self {
            expires_at: self
                .expires_at
                .min(created_at.saturating_add(self.max_lifetime)),
            ..self
        }
    }
}

impl SeaKeyStore {
    /// Sets (or replaces) a principal's password hash and revokes its session families, so a
    /// password change logs the principal out everywhere. Returns the families revoked.
    ///
    /// # Errors
    /// [`StoreError::PrincipalNotFound`]; [`StoreError::Database`].
    pub async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let txn = self.db().begin().await?;
        lock_principal(&txn, name).await?;
        principal_password::Entity::delete_by_id(name.to_owned())
            .exec(&txn)
            .await?;
        let row = principal_password::ActiveModel {
            principal: Set(name.to_owned()),
            password_hash: Set(password_hash.to_owned()),
            updated_at: Set(now),
        };
        principal_password::Entity::insert(row).exec(&txn).await?;
        let revoked = revoke_where(&txn, live_of(name), now).await?;
        txn.commit().await?;
        Ok(revoked)
    }

    /// The principal's flags and password hash; `None` for an unknown principal.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn login_record(&self, name: &str) -> Result<Option<LoginRecord>, StoreError> {
        // Both queries run whether or not the principal exists, so the time taken does not
        // tell an unknown name from a known one.
        let password = principal_password::Entity::find_by_id(name.to_owned())
            .one(self.db())
            .await?;
        let Some(row) = principal::Entity::find_by_id(name.to_owned())
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(LoginRecord {
            enabled: row.enabled,
            password_hash: password.map(|p| p.password_hash),
        }))
    }

    /// Starts a family for `principal` holding its first refresh token (its expiry capped at
    /// the family's end), revoking the oldest live families so that at most `max_families`
    /// stay live.
    ///
    /// # Errors
    /// [`StoreError::PrincipalNotFound`]; [`StoreError::Database`].
    pub async fn start_family(
        &self,
        principal: &str,
        family: &str,
        token_hash: &str,
        policy: RefreshPolicy,
        max_families: u32,
    ) -> Result<StartedFamily, StoreError> {
        let now = policy.now;
        let policy = policy.for_family(now);
        let txn = self.db().begin().await?;
        lock_principal(&txn, principal).await?;
        let live = session_family::Entity::find()
            .filter(live_of(principal))
            .filter(session_family::Column::ExpiresAt.gt(now))
            .order_by_asc(session_family::Column::CreatedAt)
            .order_by_asc(session_family::Column::Id)
            .all(&txn)
            .await?;
        let keep = usize::try_from(max_families.saturating_sub(1)).unwrap_or(usize::MAX);
        let excess = live.len().saturating_sub(keep);
        let oldest: Vec<String> = live.into_iter().take(excess).map(|f| f.id).collect();
        if !oldest.is_empty() {
            let ids = session_family::Column::Id.is_in(oldest.clone());
            revoke_where(&txn, Condition::all().add(ids), now).await?;
        }
        let row = session_family::ActiveModel {
            id: Set(family.to_owned()),
            principal: Set(principal.to_owned()),
            created_at: Set(now),
            expires_at: Set(policy.expires_at),
            revoked_at: Set(None),
        };
        session_family::Entity::insert(row).exec(&txn).await?;
        insert_token(&txn, family, token_hash, policy).await?;
        txn.commit().await?;
        Ok(StartedFamily {
            revoked: oldest,
            expires_at: policy.expires_at,
        })
    }

    /// Exchanges the refresh token hashed `old_hash` for the one hashed `new_hash`.
    ///
    /// The spend is a conditional update taken first in the transaction, so two concurrent
    /// refreshes of one token (on any replica) cannot both pass as first use.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        policy: RefreshPolicy,
    ) -> Result<RefreshOutcome, StoreError> {
        let now = policy.now;
        let txn = self.db().begin().await?;
        let spent = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::SpentAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(old_hash))
            .filter(refresh_token::Column::SpentAt.is_null())
            .filter(refresh_token::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let Some(token) = refresh_token::Entity::find_by_id(old_hash.to_owned())
            .one(&txn)
            .await?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        let Some(family) = session_family::Entity::find_by_id(token.family.clone())
            .one(&txn)
            .await?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        if family.revoked_at.is_some() {
            return Ok(RefreshOutcome::Revoked);
        }
        let Some(owner) = principal::Entity::find_by_id(family.principal.clone())
            .one(&txn)
            .await?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        if !owner.enabled {
            return Ok(RefreshOutcome::Disabled(owner.name));
        }
        // The family's end (also for tokens issued before it had one): log in again.
        let policy = policy.for_family(family.created_at);
        if policy.expires_at <= now {
            return Ok(RefreshOutcome::Expired);
        }
        if !spent {
            if token.expires_at <= now {
                return Ok(RefreshOutcome::Expired);
            }
            let spent_at = token.spent_at.unwrap_or(now);
            if policy.grace <= 0 || now.saturating_sub(spent_at) > policy.grace {
                let this = session_family::Column::Id.eq(family.id.as_str());
                revoke_where(&txn, Condition::all().add(this), now).await?;
                txn.commit().await?;
                return Ok(RefreshOutcome::Replayed { family: family.id });
            }
        }
        insert_token(&txn, &family.id, new_hash, policy).await?;
        session_family::Entity::update_many()
            .col_expr(
                session_family::Column::ExpiresAt,
                Expr::value(policy.expires_at),
            )
            .filter(session_family::Column::Id.eq(family.id.as_str()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(RefreshOutcome::Rotated {
            family: family.id,
            principal: owner.name,
            expires_at: policy.expires_at,
        })
    }

    /// The state of a family and its principal; `None` when the family (or principal) is gone.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn family_state(&self, id: &str) -> Result<Option<FamilyState>, StoreError> {
        let Some(family) = session_family::Entity::find_by_id(id.to_owned())
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let Some(owner) = principal::Entity::find_by_id(family.principal)
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(FamilyState {
            principal: owner.name,
            revoked: family.revoked_at.is_some(),
            principal_enabled: owner.enabled,
            admin: owner.admin,
        }))
    }

    /// Revokes one family of `principal`; `false` when it was not live.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn revoke_family(
        &self,
        id: &str,
        principal: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let this = live_of(principal).add(session_family::Column::Id.eq(id));
        Ok(revoke_where(self.db(), this, now).await? == 1)
    }

    /// Revokes every live family of `principal`, returning how many.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn revoke_principal_families(
        &self,
        principal: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        revoke_where(self.db(), live_of(principal), now).await
    }

    /// Deletes expired refresh tokens, the tokens and rows of revoked families, and families
    /// whose refresh tokens expired more than `keep_expired` seconds ago (so that no
    /// session credential issued from them can still be live).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn gc(&self, now: i64, keep_expired: i64) -> Result<GcReport, StoreError> {
        let revoked_families = Query::select()
            .column(session_family::Column::Id)
            .from(session_family::Entity)
            .and_where(session_family::Column::RevokedAt.is_not_null())
            .to_owned();
        let tokens = refresh_token::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(refresh_token::Column::ExpiresAt.lte(now))
                    .add(refresh_token::Column::Family.in_subquery(revoked_families)),
            )
            .exec(self.db())
            .await?;
        let stale = now.saturating_sub(keep_expired);
        let orphans = Query::select()
            .column(refresh_token::Column::Family)
            .from(refresh_token::Entity)
            .to_owned();
        let families = session_family::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(session_family::Column::RevokedAt.is_not_null())
                    .add(session_family::Column::ExpiresAt.lte(stale)),
            )
            .filter(session_family::Column::Id.not_in_subquery(orphans))
            .exec(self.db())
            .await?;
        // A session's login narrowing (policies of kind `session`) goes with its family.
        let live_families = Query::select()
            .column(session_family::Column::Id)
            .from(session_family::Entity)
            .to_owned();
        let policies = policy::Entity::delete_many()
            .filter(policy::Column::SubjectKind.eq(Subject::Session.as_str()))
            .filter(policy::Column::Subject.not_in_subquery(live_families))
            .exec(self.db())
            .await?;
        Ok(GcReport {
            deleted_refresh_tokens: tokens.rows_affected,
            deleted_families: families.rows_affected,
            deleted_session_policies: policies.rows_affected,
        })
    }
}

/// Live (unrevoked) families of `principal`.
fn live_of(principal: &str) -> Condition {
    Condition::all()
        .add(session_family::Column::Principal.eq(principal))
        .add(session_family::Column::RevokedAt.is_null())
}

async fn revoke_where<C: sea_orm::ConnectionTrait>(
    conn: &C,
    condition: Condition,
    now: i64,
) -> Result<u64, StoreError> {
    let result = session_family::Entity::update_many()
        .col_expr(session_family::Column::RevokedAt, Expr::value(now))
        .filter(condition)
        .filter(session_family::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

async fn insert_token<C: sea_orm::ConnectionTrait>(
    conn: &C,
    family: &str,
    token_hash: &str,
    policy: RefreshPolicy,
) -> Result<(), StoreError> {
    let row = refresh_token::ActiveModel {
        token_hash: Set(token_hash.to_owned()),
        family: Set(family.to_owned()),
        created_at: Set(policy.now),
        expires_at: Set(policy.expires_at),
        spent_at: Set(None),
    };
    refresh_token::Entity::insert(row).exec(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::KeyStore;
    use crate::store::keys::new_key_id;
    use crate::store::sea::tests::{postgres_store, sqlite_store};

    fn unique(prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            &new_key_id().unwrap()[4..].to_ascii_lowercase()
        )
    }

    fn policy(now: i64, ttl: i64, grace: i64) -> RefreshPolicy {
        RefreshPolicy {
            now,
            expires_at: now + ttl,
            grace,
            max_lifetime: i64::MAX,
        }
    }

    /// Families, rotation, replay, grace, limit, bans and gc; unique names, so a shared
    /// PostgreSQL database can run it repeatedly.
    async fn sessions_scenario(store: &SeaKeyStore) {
        let alice = unique("alice");
        let (f1, f2, f3) = (unique("f1"), unique("f2"), unique("f3"));
        let (h1, h2, h3) = (unique("h1"), unique("h2"), unique("h3"));
        assert_eq!(store.login_record(&alice).await.unwrap(), None);
        store.create_principal(&alice, false, 1).await.unwrap();
        assert_eq!(
            store
                .login_record(&alice)
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            None
        );
        store
            .set_password(&alice, "$argon2id$stub", 1)
            .await
            .unwrap();
        let record = store.login_record(&alice).await.unwrap().unwrap();
        assert_eq!(record.password_hash.as_deref(), Some("$argon2id$stub"));

        let now = 1_000;
        for (family, hash, at) in [(&f1, &h1, now), (&f2, &h2, now + 1)] {
            let evicted = store
                .start_family(&alice, family, hash, policy(at, 100, 10), 2)
                .await
                .unwrap()
                .revoked;
            assert!(evicted.is_empty());
        }
        let evicted = store
            .start_family(&alice, &f3, &h3, policy(now + 2, 100, 10), 2)
            .await
            .unwrap()
            .revoked;
        assert_eq!(evicted, std::slice::from_ref(&f1));
        assert!(store.family_state(&f1).await.unwrap().unwrap().revoked);
        let rotate = |old: String, new: String, at: i64| async move {
            store
                .rotate_refresh(&old, &new, policy(at, 100, 10))
                .await
                .unwrap()
        };
        assert_eq!(
            rotate(h1.clone(), unique("x"), now + 3).await,
            RefreshOutcome::Revoked
        );

        let rotated = |at: i64| RefreshOutcome::Rotated {
            family: f2.clone(),
            principal: alice.clone(),
            expires_at: at + 100,
        };
        let n2 = unique("n2");
        assert_eq!(
            rotate(h2.clone(), n2.clone(), now + 3).await,
            rotated(now + 3)
        );
        // Within the grace window the spent token is forgiven, after it the family goes.
        assert_eq!(
            rotate(h2.clone(), unique("n"), now + 13).await,
            rotated(now + 13)
        );
        let replayed = RefreshOutcome::Replayed { family: f2.clone() };
        assert_eq!(rotate(h2.clone(), unique("n"), now + 14).await, replayed);
        assert_eq!(
            rotate(n2, unique("n"), now + 15).await,
            RefreshOutcome::Revoked
        );
        assert_eq!(
            rotate(unique("h"), unique("n"), now).await,
            RefreshOutcome::Unknown
        );
        assert_eq!(
            rotate(h3.clone(), unique("n"), now + 200).await,
            RefreshOutcome::Expired
        );

        store.set_principal_enabled(&alice, false).await.unwrap();
        let disabled = RefreshOutcome::Disabled(alice.clone());
        assert_eq!(rotate(h3.clone(), unique("n"), now + 4).await, disabled);
        assert!(
            !store
                .family_state(&f3)
                .await
                .unwrap()
                .unwrap()
                .principal_enabled
        );
        store.set_principal_enabled(&alice, true).await.unwrap();

        assert!(store.revoke_family(&f3, &alice, now + 5).await.unwrap());
        assert!(!store.revoke_family(&f3, &alice, now + 5).await.unwrap());
        let f4 = unique("f4");
        store
            .start_family(&alice, &f4, &unique("h4"), policy(now + 6, 100, 10), 2)
            .await
            .unwrap();
        assert_eq!(
            store
                .revoke_principal_families(&alice, now + 7)
                .await
                .unwrap(),
            1
        );
        let report = store.gc(now + 8, 0).await.unwrap();
        assert!(report.deleted_refresh_tokens >= 6, "{report:?}");
        assert!(report.deleted_families >= 4, "{report:?}");
        assert_eq!(store.family_state(&f2).await.unwrap(), None);
    }

    /// A family ends `max_lifetime` after its login however often it is refreshed: the last
    /// tokens' expiry is capped at the end, and at the end refreshing is `Expired`, also for a
    /// token issued before the family had an end.
    async fn family_lifetime_scenario(store: &SeaKeyStore) {
        let bob = unique("bob");
        store.create_principal(&bob, false, 1).await.unwrap();
        let lifetime = |now: i64, max_lifetime: i64| RefreshPolicy {
            max_lifetime,
            ..policy(now, 100, 0)
        };
        let (family, first) = (unique("fam"), unique("t0"));
        store
            .start_family(&bob, &family, &first, lifetime(1_000, 250), 10)
            .await
            .unwrap();
        let mut token = first;
        for (at, expires_at) in [
            (1_050, 1_150),
            (1_120, 1_220),
            (1_200, 1_250),
            (1_249, 1_250),
        ] {
            let next = unique("t");
            let outcome = store
                .rotate_refresh(&token, &next, lifetime(at, 250))
                .await
                .unwrap();
            let want = RefreshOutcome::Rotated {
                family: family.clone(),
                principal: bob.clone(),
                expires_at,
            };
            assert_eq!(outcome, want, "refresh at {at}");
            token = next;
        }
        let outcome = store
            .rotate_refresh(&token, &unique("t"), lifetime(1_250, 250))
            .await
            .unwrap();
        assert_eq!(outcome, RefreshOutcome::Expired);
        // A login capped from its start: a lifetime shorter than the refresh TTL.
        let (short, short_token) = (unique("fam"), unique("t0"));
        store
            .start_family(&bob, &short, &short_token, lifetime(2_000, 30), 10)
            .await
            .unwrap();
        let outcome = store
            .rotate_refresh(&short_token, &unique("t"), lifetime(2_031, 30))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            RefreshOutcome::Expired,
            "the first token ended at 2030"
        );
        // Issued without an end (before the limit existed), refused once the limit applies.
        let (old, old_token) = (unique("fam"), unique("t0"));
        store
            .start_family(&bob, &old, &old_token, lifetime(3_000, i64::MAX), 10)
            .await
            .unwrap();
        let outcome = store
            .rotate_refresh(&old_token, &unique("t"), lifetime(3_050, 40))
            .await
            .unwrap();
        assert_eq!(outcome, RefreshOutcome::Expired);
        // The refused refreshes spent nothing: with the old (no) limit the token still works.
        let outcome = store
            .rotate_refresh(&old_token, &unique("t"), lifetime(3_050, i64::MAX))
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                RefreshOutcome::Rotated {
                    expires_at: 3_150,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn sessions_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = sqlite_store(dir.path()).await;
        sessions_scenario(&store).await;
        family_lifetime_scenario(&store).await;
    }

    #[tokio::test]
    async fn sessions_on_postgres_when_configured() {
        let Some(store) = postgres_store("sessions_on_postgres_when_configured").await else {
            return;
        };
        sessions_scenario(&store).await;
        family_lifetime_scenario(&store).await;
    }
}
