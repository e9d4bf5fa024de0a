//! Creates `principals` and `access_keys`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, blob, boolean, string};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum Principals {
    Table,
    Name,
    Enabled,
    Admin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AccessKeys {
    Table,
    Id,
    Principal,
    Status,
    SecretCiphertext,
    SecretNonce,
    CreatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(principals()).await?;
        manager.create_table(access_keys()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_keys_principal")
                    .table(AccessKeys::Table)
                    .col(AccessKeys::Principal)
                    .to_owned(),
            )
            .await
    }
}

fn principals() -> TableCreateStatement {
    Table::create()
        .table(Principals::Table)
        .if_not_exists()
        .col(string(Principals::Name).primary_key())
        .col(boolean(Principals::Enabled))
        .col(boolean(Principals::Admin))
        .col(big_integer(Principals::CreatedAt))
        .to_owned()
}

fn access_keys() -> TableCreateStatement {
    Table::create()
        .table(AccessKeys::Table)
        .if_not_exists()
        .col(string(AccessKeys::Id).primary_key())
        .col(string(AccessKeys::Principal))
        .col(string(AccessKeys::Status))
        .col(blob(AccessKeys::SecretCiphertext))
        .col(blob(AccessKeys::SecretNonce))
        .col(big_integer(AccessKeys::CreatedAt))
        .col(big_integer_null(AccessKeys::LastUsedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_access_keys_principal")
                .from(AccessKeys::Table, AccessKeys::Principal)
                .to(Principals::Table, Principals::Name)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}
