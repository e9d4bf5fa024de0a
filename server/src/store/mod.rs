//! Key storage: principals and access keys behind the [`KeyStore`] trait.
//!
//! [`sea::SeaKeyStore`] implements it on SQLite or PostgreSQL; [`cache::KeyCache`] sits in
//! front of it on the request path so that a known key costs no database query.

pub mod cache;
pub mod entity;
pub mod family_cache;
pub mod keys;
pub mod last_used;
pub mod master_key;
pub mod policies;
pub mod sea;
pub mod sessions;

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A secret access key. Its `Debug` never shows it; it is wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret text, for signing key derivation and the one-time creation response.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Whether an access key may authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    /// The key authenticates.
    Active,
    /// The key is refused (401 `InvalidAccessKeyId`) but kept.
    Inactive,
}

impl KeyStatus {
    /// The stored spelling: `Active` or `Inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }

    /// Parses the stored spelling; anything unknown reads as `Inactive` (fail closed).
    pub fn from_stored(text: &str) -> Self {
        if text == "Active" {
            Self::Active
        } else {
            Self::Inactive
        }
    }
}

/// A principal as the admin API and CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Unique name.
    pub name: String,
    /// Whether its keys may authenticate.
    pub enabled: bool,
    /// Whether it may call the admin API.
    pub admin: bool,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// An access key's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessKeyInfo {
    /// The access key id.
    pub access_key_id: String,
    /// The owning principal.
    pub principal: String,
    /// Active or Inactive.
    pub status: KeyStatus,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last successful use, Unix seconds, updated at most once a minute.
    pub last_used_at: Option<i64>,
}

/// A freshly created key: the only time its secret leaves the store.
#[derive(Debug, Clone)]
pub struct NewAccessKey {
    /// The access key id.
    pub access_key_id: String,
    /// The secret, shown once.
    pub secret_access_key: Secret,
    /// The owning principal.
    pub principal: String,
}

impl NewAccessKey {
    /// The one-time JSON form `{"access_key_id", "secret_access_key", "principal"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key.expose(),
            "principal": self.principal,
        })
    }
}

/// Everything verification needs about one key, with the secret decrypted.
#[derive(Debug, Clone)]
pub struct KeyMaterial {
    /// The access key id.
    pub access_key_id: String,
    /// The decrypted secret.
    pub secret: Secret,
    /// The owning principal.
    pub principal: String,
    /// The key's status.
    pub status: KeyStatus,
    /// Whether the owning principal is enabled.
    pub principal_enabled: bool,
    /// Whether the owning principal is an admin.
    pub admin: bool,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A principal with this name exists already.
    #[error("principal `{0}` already exists")]
    PrincipalExists(String),
    /// No principal has this name.
    #[error("principal `{0}` does not exist")]
    PrincipalNotFound(String),
    /// No access key has this id.
    #[error("access key `{0}` does not exist")]
    KeyNotFound(String),
    /// The principal already holds the maximum number of keys.
    #[error(
        "principal `{principal}` already has {limit} access keys (the maximum): delete one first"
    )]
    KeyLimit {
        /// The principal.
        principal: String,
        /// The configured maximum.
        limit: u32,
    },
    /// The principal name is not acceptable.
    #[error("invalid principal name `{0}`: expected 1-64 characters from A-Z a-z 0-9 . _ - @")]
    InvalidName(String),
    /// A stored secret could not be decrypted: wrong master key or tampered row.
    #[error(
        "the secret of access key `{0}` cannot be decrypted: wrong master key or corrupted row"
    )]
    Decrypt(String),
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The database failed or cannot be reached.
    #[error("database error")]
    Database(#[source] sea_orm::DbErr),
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Database(err)
    }
}

/// Storage of principals and access keys.
///
/// Implementations encrypt secrets at rest; only [`KeyStore::create_key`] and
/// [`KeyStore::key_material`] ever return a plain secret.
pub trait KeyStore: Send + Sync + 'static {
    /// Checks that the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates a principal, enabled.
    fn create_principal(
        &self,
        name: &str,
        admin: bool,
        now: i64,
    ) -> impl Future<Output = Result<Principal, StoreError>> + Send;

    /// All principals, by name.
    fn list_principals(&self) -> impl Future<Output = Result<Vec<Principal>, StoreError>> + Send;

    /// Enables or disables a principal.
    fn set_principal_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<Principal, StoreError>> + Send;

    /// Creates an Active key for `principal`, refusing past `limit` keys.
    fn create_key(
        &self,
        principal: &str,
        limit: u32,
        now: i64,
    ) -> impl Future<Output = Result<NewAccessKey, StoreError>> + Send;

    /// Keys of one principal (which must exist), or of all principals.
    fn list_keys(
        &self,
        principal: Option<&str>,
    ) -> impl Future<Output = Result<Vec<AccessKeyInfo>, StoreError>> + Send;

    /// Sets a key's status.
    fn set_key_status(
        &self,
        id: &str,
        status: KeyStatus,
    ) -> impl Future<Output = Result<AccessKeyInfo, StoreError>> + Send;

    /// Deletes a key.
    fn delete_key(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The decrypted key and its principal's flags; `None` for an unknown id.
    fn key_material(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<KeyMaterial>, StoreError>> + Send;

    /// Records `last_used_at` for a batch of `(id, unix seconds)`.
    fn record_last_used(
        &self,
        uses: &[(String, i64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Checks a principal name: 1-64 characters from `A-Z a-z 0-9 . _ - @`.
///
/// # Errors
/// [`StoreError::InvalidName`] otherwise.
pub fn validate_principal_name(name: &str) -> Result<(), StoreError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if (1..=64).contains(&name.len()) && name.chars().all(allowed) {
        return Ok(());
    }
    Err(StoreError::InvalidName(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new("LEAK-MARKER-7f3a".into());
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        let key = NewAccessKey {
            access_key_id: "AKCSAAAAAAAAAAAAAAAA".into(),
            secret_access_key: secret,
            principal: "p".into(),
        };
        assert!(!format!("{key:?}").contains("LEAK-MARKER"));
    }

    #[test]
    fn principal_names() {
        assert!(validate_principal_name("alice@example.com").is_ok());
        assert!(validate_principal_name("").is_err());
        assert!(validate_principal_name("a b").is_err());
        assert!(validate_principal_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn unknown_status_fails_closed() {
        assert_eq!(KeyStatus::from_stored("Active"), KeyStatus::Active);
        assert_eq!(KeyStatus::from_stored("active"), KeyStatus::Inactive);
    }
}
