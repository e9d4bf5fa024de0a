//! [`KeyStore`] on sea-orm (SQLite or PostgreSQL).

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, SqlErr,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use super::entity::{access_key, principal};
use super::keys::{looks_like_key_id, new_key_id, new_secret};
use super::master_key::{MasterKey, Sealed};
use super::{
    AccessKeyInfo, KeyMaterial, KeyStatus, KeyStore, NewAccessKey, Principal, StoreError,
    validate_principal_name,
};
use crate::migration::Migrator;

/// The sea-orm key store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SeaKeyStore {
    db: DatabaseConnection,
    master_key: Arc<MasterKey>,
}

impl SeaKeyStore {
    /// Connects to `database_url` (no migration).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the database cannot be reached.
    pub async fn connect(database_url: &str, master_key: MasterKey) -> Result<Self, StoreError> {
        let db = Database::connect(connect_options(database_url)).await?;
        Ok(Self {
            db,
            master_key: Arc::new(master_key),
        })
    }

    /// Applies the pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Database`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate_with_retries(&self.db).await
    }

    /// Connects to `database_url`, applies the pending migrations and disconnects; needs no
    /// master key.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the database is unreachable or a migration fails.
    pub async fn migrate_url(database_url: &str) -> Result<(), StoreError> {
        let db = Database::connect(connect_options(database_url)).await?;
        migrate_with_retries(&db).await?;
        db.close().await?;
        Ok(())
    }

    /// Closes the connection pool.
    ///
    /// # Errors
    /// [`StoreError::Database`] when closing fails.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }

    /// The master key, for deriving the session-token key.
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    /// The connection pool, for the other store modules.
    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) async fn find_principal(&self, name: &str) -> Result<principal::Model, StoreError> {
        principal::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::PrincipalNotFound(name.to_owned()))
    }

    async fn find_key(&self, id: &str) -> Result<access_key::Model, StoreError> {
        access_key::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::KeyNotFound(id.to_owned()))
    }

    fn seal_new_key(
        &self,
        principal: &str,
        now: i64,
    ) -> Result<(access_key::ActiveModel, NewAccessKey), StoreError> {
        let id = new_key_id()?;
        let secret = new_secret()?;
        let sealed = self.master_key.seal(&id, &secret)?;
        let row = access_key::ActiveModel {
            id: Set(id.clone()),
            principal: Set(principal.to_owned()),
            status: Set(KeyStatus::Active.as_str().to_owned()),
            secret_ciphertext: Set(sealed.ciphertext),
            secret_nonce: Set(sealed.nonce),
            created_at: Set(now),
            last_used_at: Set(None),
        };
        let new_key = NewAccessKey {
            access_key_id: id,
            secret_access_key: secret,
            principal: principal.to_owned(),
        };
        Ok((row, new_key))
    }
}

impl KeyStore for SeaKeyStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    async fn create_principal(
        &self,
        name: &str,
        admin: bool,
        now: i64,
    ) -> Result<Principal, StoreError> {
        validate_principal_name(name)?;
        let row = principal::ActiveModel {
            name: Set(name.to_owned()),
            enabled: Set(true),
            admin: Set(admin),
            created_at: Set(now),
        };
        match principal::Entity::insert(row).exec(&self.db).await {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::PrincipalExists(name.to_owned()));
            }
            Err(err) => return Err(err.into()),
        }
        self.find_principal(name).await.map(to_principal)
    }

    async fn list_principals(&self) -> Result<Vec<Principal>, StoreError> {
        let rows = principal::Entity::find()
            .order_by_asc(principal::Column::Name)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_principal).collect())
    }

    async fn set_principal_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<Principal, StoreError> {
        let mut row: principal::ActiveModel = self.find_principal(name).await?.into();
        row.enabled = Set(enabled);
        row.update(&self.db)
            .await
            .map(to_principal)
            .map_err(Into::into)
    }

    async fn create_key(
        &self,
        principal: &str,
        limit: u32,
        now: i64,
    ) -> Result<NewAccessKey, StoreError> {
        let (row, new_key) = self.seal_new_key(principal, now)?;
        let txn = self.db.begin().await?;
        lock_principal(&txn, principal).await?;
        let count = access_key::Entity::find()
            .filter(access_key::Column::Principal.eq(principal))
            .count(&txn)
            .await?;
        if count >= u64::from(limit) {
            return Err(StoreError::KeyLimit {
                principal: principal.to_owned(),
                limit,
            });
        }
        access_key::Entity::insert(row).exec(&txn).await?;
        txn.commit().await?;
        Ok(new_key)
    }

    async fn list_keys(&self, principal: Option<&str>) -> Result<Vec<AccessKeyInfo>, StoreError> {
        let mut query = access_key::Entity::find()
            .order_by_asc(access_key::Column::Principal)
            .order_by_asc(access_key::Column::CreatedAt)
            .order_by_asc(access_key::Column::Id);
        if let Some(name) = principal {
            self.find_principal(name).await?;
            query = query.filter(access_key::Column::Principal.eq(name));
        }
        let rows = query.all(&self.db).await?;
        Ok(rows.into_iter().map(to_key_info).collect())
    }

    async fn set_key_status(
        &self,
        id: &str,
        status: KeyStatus,
    ) -> Result<AccessKeyInfo, StoreError> {
        let mut row: access_key::ActiveModel = self.find_key(id).await?.into();
        row.status = Set(status.as_str().to_owned());
        row.update(&self.db)
            .await
            .map(to_key_info)
            .map_err(Into::into)
    }

    async fn delete_key(&self, id: &str) -> Result<(), StoreError> {
        let result = access_key::Entity::delete_by_id(id.to_owned())
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::KeyNotFound(id.to_owned()));
        }
        // A key's policy goes with it.
        super::entity::policy::Entity::delete_by_id(("key".to_owned(), id.to_owned()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn key_material(&self, id: &str) -> Result<Option<KeyMaterial>, StoreError> {
        if !looks_like_key_id(id) {
            return Ok(None);
        }
        let Some(key) = access_key::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(owner) = principal::Entity::find_by_id(key.principal.clone())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let sealed = Sealed {
            ciphertext: key.secret_ciphertext,
            nonce: key.secret_nonce,
        };
        Ok(Some(KeyMaterial {
            secret: self.master_key.open(&key.id, &sealed)?,
            access_key_id: key.id,
            principal: owner.name,
            status: KeyStatus::from_stored(&key.status),
            principal_enabled: owner.enabled,
            admin: owner.admin,
        }))
    }

    async fn record_last_used(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin().await?;
        for (id, at) in uses {
            access_key::Entity::update_many()
                .col_expr(access_key::Column::LastUsedAt, Expr::value(*at))
                .filter(access_key::Column::Id.eq(id.as_str()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Pool options: sqlx's per-query logging off (statements carry no secrets, but they are
/// noise), and a short acquire timeout so an unreachable database fails fast.
fn connect_options(database_url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(database_url);
    options
        .sqlx_logging(false)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT);
    options
}

/// Attempts at applying the migrations before giving up.
const MIGRATE_ATTEMPTS: u32 = 5;

/// Applies pending migrations, retrying a failed attempt a few times.
///
/// Processes that start together on a fresh PostgreSQL database (replicas, parallel tests)
/// race on `CREATE TABLE IF NOT EXISTS` and on the migration table (`duplicate key value
/// violates unique constraint "pg_type_typname_nsp_index"`). Each migration runs in a
/// transaction and only creates what is missing, so the loser can simply try again and then
/// finds the work done.
async fn migrate_with_retries(db: &DatabaseConnection) -> Result<(), StoreError> {
    let mut attempt = 1;
    loop {
        match Migrator::up(db, None).await {
            Ok(()) => return Ok(()),
            Err(err) if attempt < MIGRATE_ATTEMPTS => {
                tracing::warn!(error = %err, attempt, "migration failed; retrying (another process may be migrating)");
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)))
                    .await;
                attempt += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// How long to wait for a database connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes a write lock on the principal's row (PostgreSQL row lock, SQLite write lock), so
/// that concurrent key creations for one principal cannot both pass the limit check.
pub(super) async fn lock_principal<C: ConnectionTrait>(
    conn: &C,
    name: &str,
) -> Result<(), StoreError> {
    let result = principal::Entity::update_many()
        .col_expr(
            principal::Column::Admin,
            Expr::col(principal::Column::Admin),
        )
        .filter(principal::Column::Name.eq(name))
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::PrincipalNotFound(name.to_owned()));
    }
    Ok(())
}

fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn to_principal(row: principal::Model) -> Principal {
    Principal {
        name: row.name,
        enabled: row.enabled,
        admin: row.admin,
        created_at: row.created_at,
    }
}

fn to_key_info(row: access_key::Model) -> AccessKeyInfo {
    AccessKeyInfo {
        status: KeyStatus::from_stored(&row.status),
        access_key_id: row.id,
        principal: row.principal,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const POSTGRES_ENV: &str = "COUNTERSIGN_TEST_POSTGRES_URL";

    fn unique(prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            &new_key_id().unwrap()[4..12].to_ascii_lowercase()
        )
    }

    /// A migrated store on a new SQLite database in `dir`, and its URL.
    pub(crate) async fn sqlite_store(dir: &std::path::Path) -> (SeaKeyStore, String) {
        let url = format!("sqlite://{}?mode=rwc", dir.join("keys.db").display());
        let store = SeaKeyStore::connect(&url, MasterKey::generate().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, url)
    }

    /// The whole CRUD story; names are unique so a shared database can run it repeatedly.
    async fn crud_scenario(store: &SeaKeyStore) {
        let alice = unique("alice");
        let created = store.create_principal(&alice, false, 1000).await.unwrap();
        assert_eq!(
            created,
            Principal {
                name: alice.clone(),
                enabled: true,
                admin: false,
                created_at: 1000
            }
        );
        assert!(matches!(
            store.create_principal(&alice, true, 1001).await,
            Err(StoreError::PrincipalExists(name)) if name == alice
        ));
        assert!(matches!(
            store.create_principal("bad name", false, 1).await,
            Err(StoreError::InvalidName(_))
        ));
        let listed = store.list_principals().await.unwrap();
        assert!(listed.iter().any(|p| p.name == alice));

        let first = store.create_key(&alice, 2, 2000).await.unwrap();
        let second = store.create_key(&alice, 2, 2001).await.unwrap();
        assert!(matches!(
            store.create_key(&alice, 2, 2002).await,
            Err(StoreError::KeyLimit { limit: 2, .. })
        ));
        assert!(matches!(
            store.create_key(&unique("nobody"), 2, 1).await,
            Err(StoreError::PrincipalNotFound(_))
        ));

        let material = store
            .key_material(&first.access_key_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(material.secret, first.secret_access_key);
        assert_eq!(material.principal, alice);
        assert_eq!(material.status, KeyStatus::Active);
        assert!(material.principal_enabled);

        let keys = store.list_keys(Some(&alice)).await.unwrap();
        let ids: Vec<&str> = keys.iter().map(|k| k.access_key_id.as_str()).collect();
        assert_eq!(
            ids,
            [first.access_key_id.as_str(), second.access_key_id.as_str()]
        );

        let inactive = store
            .set_key_status(&first.access_key_id, KeyStatus::Inactive)
            .await
            .unwrap();
        assert_eq!(inactive.status, KeyStatus::Inactive);
        store.set_principal_enabled(&alice, false).await.unwrap();
        let material = store
            .key_material(&first.access_key_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (material.status, material.principal_enabled),
            (KeyStatus::Inactive, false)
        );

        store
            .record_last_used(&[(second.access_key_id.clone(), 3000)])
            .await
            .unwrap();
        let keys = store.list_keys(Some(&alice)).await.unwrap();
        assert_eq!(keys[1].last_used_at, Some(3000));

        store.delete_key(&first.access_key_id).await.unwrap();
        assert!(matches!(
            store.delete_key(&first.access_key_id).await,
            Err(StoreError::KeyNotFound(_))
        ));
        assert!(
            store
                .key_material(&first.access_key_id)
                .await
                .unwrap()
                .is_none()
        );
        // A slot is free again after the delete.
        store.create_key(&alice, 2, 4000).await.unwrap();
        assert!(matches!(
            store.list_keys(Some(&unique("ghost"))).await,
            Err(StoreError::PrincipalNotFound(_))
        ));
    }

    #[tokio::test]
    async fn crud_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = sqlite_store(dir.path()).await;
        crud_scenario(&store).await;
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = sqlite_store(dir.path()).await;
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_file_holds_no_plain_text_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = sqlite_store(dir.path()).await;
        store.create_principal("bob", false, 1).await.unwrap();
        let key = store.create_key("bob", 2, 1).await.unwrap();
        store.close().await.unwrap();
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        let secret = key.secret_access_key.expose().as_bytes();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        assert!(
            bytes
                .windows(key.access_key_id.len())
                .any(|w| w == key.access_key_id.as_bytes()),
            "the id should be stored, so the search above is meaningful"
        );
    }

    #[tokio::test]
    async fn another_master_key_cannot_read_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (store, url) = sqlite_store(dir.path()).await;
        store.create_principal("carol", false, 1).await.unwrap();
        let key = store.create_key("carol", 2, 1).await.unwrap();
        let other = SeaKeyStore::connect(&url, MasterKey::generate().unwrap())
            .await
            .unwrap();
        assert!(matches!(
            other.key_material(&key.access_key_id).await,
            Err(StoreError::Decrypt(_))
        ));
    }

    /// Replicas starting together on a fresh PostgreSQL database all migrate successfully
    /// (before the retry, some of six concurrent `migrate` runs failed on pg_type).
    #[tokio::test]
    async fn concurrent_migrations_on_a_fresh_postgres_database_all_succeed() {
        let Ok(url) = std::env::var(POSTGRES_ENV) else {
            eprintln!(
                "SKIPPED concurrent_migrations_on_a_fresh_postgres_database_all_succeed: set {POSTGRES_ENV} to run it"
            );
            return;
        };
        let admin = Database::connect(connect_options(&url)).await.unwrap();
        let name = unique("cs_race").replace('-', "_");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = url.rsplit_once('/').unwrap().0;
        let fresh = format!("{base}/{name}");
        let runs: Vec<_> = (0..6)
            .map(|_| {
                let fresh = fresh.clone();
                tokio::spawn(async move { SeaKeyStore::migrate_url(&fresh).await })
            })
            .collect();
        let mut results = Vec::new();
        for run in runs {
            results.push(run.await.unwrap());
        }
        admin
            .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
        for result in results {
            result.unwrap();
        }
    }

    #[tokio::test]
    async fn crud_on_postgres_when_configured() {
        let Some(store) = postgres_store("crud_on_postgres_when_configured").await else {
            return;
        };
        crud_scenario(&store).await;
    }

    /// A migrated store on the PostgreSQL database of `COUNTERSIGN_TEST_POSTGRES_URL`; `None`
    /// (after saying so, naming `test`) when it is not set. Set but unreachable is a failure.
    pub(crate) async fn postgres_store(test: &str) -> Option<SeaKeyStore> {
        let Ok(url) = std::env::var(POSTGRES_ENV) else {
            eprintln!(
                "SKIPPED {test}: set {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/test to run it"
            );
            return None;
        };
        let store = SeaKeyStore::connect(&url, MasterKey::generate().unwrap())
            .await
            .unwrap_or_else(|err| panic!("{POSTGRES_ENV} is set but {url} is unreachable: {err}"));
        store.migrate().await.unwrap();
        Some(store)
    }
}
