//! Creates `policies`: per-principal and per-key permission documents (issue #6).
//!
//! A table of its own, keyed by (subject kind, subject), so neither `principals` nor
//! `access_keys` needs an `ALTER TABLE` (SQLite) and rows without a policy cost nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, text};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum Policies {
    Table,
    SubjectKind,
    Subject,
    Document,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Policies::Table)
                    .if_not_exists()
                    .col(string(Policies::SubjectKind))
                    .col(string(Policies::Subject))
                    .col(text(Policies::Document))
                    .col(big_integer(Policies::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Policies::SubjectKind)
                            .col(Policies::Subject),
                    )
                    .to_owned(),
            )
            .await
    }
}
