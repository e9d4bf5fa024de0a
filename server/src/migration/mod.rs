//! Database migrations (sea-orm-migration), run on `serve` start, before every offline
//! admin command, and alone by `countersign-server migrate`.

use sea_orm_migration::prelude::*;

mod m20261129_000001_create_keys;
mod m20261129_000002_create_sessions;
mod m20261129_000003_create_policies;

/// The migration set.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_keys::Migration),
            Box::new(m20261129_000002_create_sessions::Migration),
            Box::new(m20261129_000003_create_policies::Migration),
        ]
    }
}
