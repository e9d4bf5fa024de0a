//! `access_keys` table. The secret is stored only as AEAD ciphertext.

use sea_orm::entity::prelude::*;

/// An access key row.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_keys")]
pub struct Model {
    /// Access key id (`AKCS…`), the primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Owning principal's name (foreign key, cascade on delete).
    pub principal: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// ChaCha20-Poly1305 ciphertext (with tag) of the secret access key.
    pub secret_ciphertext: Vec<u8>,
    /// The 12-byte nonce used for `secret_ciphertext`.
    pub secret_nonce: Vec<u8>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last successful authentication, Unix seconds (updated in batches).
    pub last_used_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
