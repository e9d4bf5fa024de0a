//! `refresh_tokens` table: refresh tokens stored only as their SHA-256.

use sea_orm::entity::prelude::*;

/// A refresh token's hash and state.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// SHA-256 of the token, 64 lower-case hex digits; the token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The family it belongs to.
    pub family: String,
    /// Issue time, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// When it was exchanged for a new one, Unix seconds; `None` while unused.
    pub spent_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
