//! `principal_passwords` table: one argon2id PHC string per principal that has a password.

use sea_orm::entity::prelude::*;

/// A principal's password hash.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "principal_passwords")]
pub struct Model {
    /// The principal's name (primary key, foreign key, cascade on delete).
    #[sea_orm(primary_key, auto_increment = false)]
    pub principal: String,
    /// argon2id PHC string (`$argon2id$v=19$m=…`); never the password.
    pub password_hash: String,
    /// When it was set, Unix seconds.
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
