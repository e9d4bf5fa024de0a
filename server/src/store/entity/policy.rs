//! `policies` table: one permission document per principal or access key.

use sea_orm::entity::prelude::*;

/// A stored policy.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policies")]
pub struct Model {
    /// `principal` or `key`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject_kind: String,
    /// The principal's name or the access key id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    /// The policy document, JSON, validated when it was set.
    pub document: String,
    /// When it was set, Unix seconds.
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
