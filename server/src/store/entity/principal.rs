//! `principals` table.

use sea_orm::entity::prelude::*;

/// A principal row.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "principals")]
pub struct Model {
    /// Unique name, the primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Whether the principal's keys may authenticate.
    pub enabled: bool,
    /// Whether the principal may call the admin API.
    pub admin: bool,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
