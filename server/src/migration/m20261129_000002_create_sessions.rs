//! Creates `principal_passwords`, `session_families` and `refresh_tokens` (issue #5).
//!
//! Passwords live in their own table so `principals` needs no `ALTER TABLE` (SQLite) and the
//! admin API's principal rows never carry a hash. Refresh tokens are stored only as SHA-256.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum Principals {
    Table,
    Name,
}

#[derive(DeriveIden)]
enum PrincipalPasswords {
    Table,
    Principal,
    PasswordHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SessionFamilies {
    Table,
    Id,
    Principal,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    Family,
    CreatedAt,
    ExpiresAt,
    SpentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(principal_passwords()).await?;
        manager.create_table(session_families()).await?;
        manager.create_table(refresh_tokens()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_families_principal")
                    .table(SessionFamilies::Table)
                    .col(SessionFamilies::Principal)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::Family)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

fn principal_passwords() -> TableCreateStatement {
    Table::create()
        .table(PrincipalPasswords::Table)
        .if_not_exists()
        .col(string(PrincipalPasswords::Principal).primary_key())
        .col(string(PrincipalPasswords::PasswordHash))
        .col(big_integer(PrincipalPasswords::UpdatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_principal_passwords_principal")
                .from(PrincipalPasswords::Table, PrincipalPasswords::Principal)
                .to(Principals::Table, Principals::Name)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

fn session_families() -> TableCreateStatement {
    Table::create()
        .table(SessionFamilies::Table)
        .if_not_exists()
        .col(string(SessionFamilies::Id).primary_key())
        .col(string(SessionFamilies::Principal))
        .col(big_integer(SessionFamilies::CreatedAt))
        .col(big_integer(SessionFamilies::ExpiresAt))
        .col(big_integer_null(SessionFamilies::RevokedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_session_families_principal")
                .from(SessionFamilies::Table, SessionFamilies::Principal)
                .to(Principals::Table, Principals::Name)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

fn refresh_tokens() -> TableCreateStatement {
    Table::create()
        .table(RefreshTokens::Table)
        .if_not_exists()
        .col(string(RefreshTokens::TokenHash).primary_key())
        .col(string(RefreshTokens::Family))
        .col(big_integer(RefreshTokens::CreatedAt))
        .col(big_integer(RefreshTokens::ExpiresAt))
        .col(big_integer_null(RefreshTokens::SpentAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_refresh_tokens_family")
                .from(RefreshTokens::Table, RefreshTokens::Family)
                .to(SessionFamilies::Table, SessionFamilies::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}
