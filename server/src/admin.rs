//! Offline admin commands: run directly on the database (after migrating it), for
//! bootstrap and scripts. Each prints JSON on stdout: one object, or one object per line
//! for lists.

use serde::Serialize;
use serde_json::json;

use crate::clock::{Clock, SystemClock, unix_seconds};
use zeroize::Zeroizing;

use crate::app::keep_expired_families;
use crate::config::{KeyCommand, PrincipalCommand, StoreArgs};
use crate::password::Passwords;
use crate::store::{KeyStatus, KeyStore};
use crate::{RunError, open_store};

/// Runs `countersign-server principal …`.
///
/// # Errors
/// [`RunError`] when the store refuses (unknown or duplicate name) or cannot be reached.
pub async fn principal(command: PrincipalCommand) -> Result<(), RunError> {
    match command {
        PrincipalCommand::Create { name, admin, store } => {
            let now = unix_seconds(SystemClock.now());
            let created = open_store(&store)
                .await?
                .create_principal(&name, admin, now)
                .await?;
            print_json(&created);
        }
        PrincipalCommand::List { store } => {
            open_store(&store)
                .await?
                .list_principals()
                .await?
                .iter()
                .for_each(print_json);
        }
        PrincipalCommand::Disable { name, store } => {
            print_json(
                &open_store(&store)
                    .await?
                    .set_principal_enabled(&name, false)
                    .await?,
            );
        }
        PrincipalCommand::Enable { name, store } => {
            print_json(
                &open_store(&store)
                    .await?
                    .set_principal_enabled(&name, true)
                    .await?,
            );
        }
        PrincipalCommand::SetPassword { name, store } => set_password(&name, &store).await?,
    }
    Ok(())
}

/// Runs `countersign-server gc`: deletes expired and revoked refresh tokens and sessions.
///
/// # Errors
/// [`RunError`] when the store cannot be reached.
pub async fn gc(store: StoreArgs) -> Result<(), RunError> {
    let now = unix_seconds(SystemClock.now());
    let report = open_store(&store)
        .await?
        .gc(now, keep_expired_families())
        .await?;
    print_json(&report);
    Ok(())
}

/// Reads one line from stdin as the password (without its line ending), hashes it and stores
/// it, revoking the principal's sessions.
async fn set_password(name: &str, store: &StoreArgs) -> Result<(), RunError> {
    let password = read_password_line()?;
    let store = open_store(store).await?;
    let hash = Passwords::new()
        .hash(password)
        .await
        .map_err(RunError::Password)?;
    let now = unix_seconds(SystemClock.now());
    let revoked = store.set_password(name, &hash, now).await?;
    print_json(&json!({"principal": name, "password_set": true, "revoked_sessions": revoked}));
    Ok(())
}

fn read_password_line() -> Result<Zeroizing<String>, RunError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|err| RunError::Input(format!("cannot read the password from stdin: {err}")))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(RunError::Input(
            "no password on stdin: pipe it in, e.g. `printf '%s\\n' \"$PASSWORD\" | countersign-server principal set-password NAME`".into(),
        ));
    }
    Ok(Zeroizing::new(password.to_owned()))
}

/// Runs `countersign-server key …`.
///
/// # Errors
/// [`RunError`] when the store refuses (unknown principal or key, key limit reached) or
/// cannot be reached.
pub async fn key(command: KeyCommand) -> Result<(), RunError> {
    match command {
        KeyCommand::Create { principal, store } => {
            let now = unix_seconds(SystemClock.now());
            let limit = store.max_keys_per_principal;
            let key = open_store(&store)
                .await?
                .create_key(&principal, limit, now)
                .await?;
            print_json(&key.to_json());
        }
        KeyCommand::List { principal, store } => {
            let keys = open_store(&store)
                .await?
                .list_keys(principal.as_deref())
                .await?;
            keys.iter().for_each(print_json);
        }
        KeyCommand::Disable { id, store } => {
            print_json(
                &open_store(&store)
                    .await?
                    .set_key_status(&id, KeyStatus::Inactive)
                    .await?,
            );
        }
        KeyCommand::Enable { id, store } => {
            print_json(
                &open_store(&store)
                    .await?
                    .set_key_status(&id, KeyStatus::Active)
                    .await?,
            );
        }
        KeyCommand::Delete { id, store } => {
            open_store(&store).await?.delete_key(&id).await?;
            print_json(&json!({"access_key_id": id, "deleted": true}));
        }
    }
    Ok(())
}

fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(err) => eprintln!("countersign-server: cannot render JSON: {err}"),
    }
}
