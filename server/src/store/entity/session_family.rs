//! `session_families` table: one row per login; every refresh token of that login belongs to it.

use sea_orm::entity::prelude::*;

/// A refresh-token family (one login and its refreshes).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_families")]
pub struct Model {
    /// Random family id (32 hex digits), carried inside session tokens.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The principal that logged in.
    pub principal: String,
    /// Login time, Unix seconds.
    pub created_at: i64,
    /// Expiry of the family's newest refresh token, Unix seconds.
    pub expires_at: i64,
    /// When it was revoked (logout, replay, family limit, password change), Unix seconds.
    pub revoked_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
