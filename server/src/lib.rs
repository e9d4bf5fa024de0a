//! countersign-server: a stateless SigV4 verifier with a key store.
//!
//! The binary parses [`config::Cli`] and calls [`run`]. Tests and embedders can call
//! [`app::serve`] with their own [`clock::Clock`] and shutdown future.
//!
//! Starting it from scripts and tests: `countersign-server --listen 127.0.0.1:0
//! --database-url sqlite://DIR/cs.db?mode=rwc` prints `listening on 127.0.0.1:PORT` to
//! stderr once migrations ran and the socket is bound; SIGTERM or SIGINT drains in-flight
//! requests and exits 0. Embedders can use [`app::Server::bind`], `local_addr()` and `run()`.
//!
//! Layout: [`config`] (flags), [`app`] (HTTP server), [`auth`] (the authentication layer),
//! [`routes`] (whoami + admin API), [`error`] (the one error → response mapping),
//! [`store`] (key store trait, sea-orm implementation, cache), [`migration`], [`admin`]
//! (offline commands).

pub mod admin;
pub mod app;
pub mod auth;
pub mod chunked;
pub mod clock;
pub mod config;
pub mod error;
pub mod metrics;
pub mod migration;
pub mod password;
pub mod policy;
pub mod proxy;
pub mod routes;
pub mod session_token;
pub mod sessions;
pub mod store;
pub mod striped;
pub mod throttle;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::{Cli, Command, StoreArgs};
use crate::store::StoreError;
use crate::store::master_key::{MasterKey, MasterKeyError};
use crate::store::sea::SeaKeyStore;

/// Why the server or an admin command could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The master key could not be had.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// A password could not be hashed (wrong length, or no randomness).
    #[error(transparent)]
    Password(crate::password::PasswordError),
    /// Input on stdin is missing or unreadable.
    #[error("{0}")]
    Input(String),
    /// The `--config` file is unusable (the message names the file and the problem).
    #[error("{0}")]
    Config(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Runs a parsed command line to completion: sets up logging (`RUST_LOG`, default
/// [`DEFAULT_LOG_FILTER`], to stderr), starts the runtime and dispatches. Returns the process exit code: 0 on
/// success (including a signal-initiated shutdown), 1 on failure with the error on stderr.
pub fn run(cli: Cli) -> ExitCode {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime);
    let result = runtime.and_then(|rt| rt.block_on(dispatch(cli.into_command())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("countersign-server: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// Runs one command.
///
/// # Errors
/// [`RunError`] with the cause.
pub async fn dispatch(command: Command) -> Result<(), RunError> {
    match command {
        Command::Serve(args) => app::serve(args, Arc::new(SystemClock), shutdown_signal()).await,
        Command::Migrate(store) => migrate(&store.database_url).await,
        Command::Principal(command) => admin::principal(command).await,
        Command::Key(command) => admin::key(command).await,
        Command::Gc(store) => admin::gc(store).await,
    }
}

/// Resolves the master key, connects and runs the migrations.
///
/// # Errors
/// [`RunError`] when the key file or the database is unusable.
pub async fn open_store(args: &StoreArgs) -> Result<SeaKeyStore, RunError> {
    let master_key = MasterKey::resolve(&args.database_url, args.master_key_file.as_deref())?;
    let store = SeaKeyStore::connect(&args.database_url, master_key).await?;
    store.migrate().await?;
    Ok(store)
}

/// Runs the migrations alone; needs no master key.
///
/// # Errors
/// [`RunError::Store`] when the database is unreachable or a migration fails.
pub async fn migrate(database_url: &str) -> Result<(), RunError> {
    SeaKeyStore::migrate_url(database_url).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}

/// Log filter when `RUST_LOG` is unset: our lines at info, the migrator's only when they matter.
pub const DEFAULT_LOG_FILTER: &str = "info,sea_orm_migration=warn,sqlx=warn";

fn init_tracing() {
    use std::io::IsTerminal;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// An error and its causes on one line (`error: cause: cause`), for logs and stderr.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
