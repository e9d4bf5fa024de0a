//! Session credentials (protocol section 19): log in with a password, sign with the short-lived
//! credentials, refresh them with the rotating refresh token shortly before they expire.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use countersign::Credentials;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::body::Body;
use crate::call::Call;
use crate::client::{Client, ClientConfig};
use crate::credentials::ProvideCredentials;
use crate::error::ClientError;

/// Default time before expiry at which session credentials are refreshed.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What `POST /v1/auth/login` and `/v1/auth/refresh` return: session credentials and the next
/// refresh token. `Debug` never shows the secret, the session token or the refresh token.
#[derive(Clone)]
pub struct SessionTokens {
    /// The session credentials (temporary access key id, secret and session token).
    pub credentials: Credentials,
    /// When the session credentials stop working.
    pub expiration: SystemTime,
    /// The refresh token to present next (each refresh spends it and issues a new one).
    pub refresh_token: Zeroizing<String>,
    /// When the refresh token expires (`None` when unknown).
    pub refresh_expiration: Option<SystemTime>,
}

impl fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTokens")
            .field("access_key_id", &self.credentials.access_key_id())
            .field("expiration", &rfc3339(self.expiration))
            .field("refresh_expiration", &self.refresh_expiration.map(rfc3339))
            .finish_non_exhaustive()
    }
}

impl SessionTokens {
    /// Tokens read back from storage (e.g. a profile): the session credentials, their
    /// `expiration` and the refresh token, with times as RFC 3339 (`2026-11-29T05:45:00Z`).
    ///
    /// # Errors
    /// [`ClientError::Credentials`] when a time does not parse.
    pub fn from_stored(
        credentials: Credentials,
        expiration: &str,
        refresh_token: &str,
        refresh_expiration: Option<&str>,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            credentials,
            expiration: parse_time("expiration", expiration)?,
            refresh_token: Zeroizing::new(refresh_token.to_owned()),
            refresh_expiration: refresh_expiration
                .map(|t| parse_time("refresh_expiration", t))
                .transpose()?,
        })
    }

    /// `expiration` as RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`), as the server writes it.
    pub fn expiration_text(&self) -> String {
        rfc3339(self.expiration)
    }

    /// `refresh_expiration` as RFC 3339, when known.
    pub fn refresh_expiration_text(&self) -> Option<String> {
        self.refresh_expiration.map(rfc3339)
    }

    /// Parses the JSON body of a login or refresh answer.
    fn from_json(body: &[u8]) -> Result<Self, ClientError> {
        let bad = |what: &str| ClientError::Credentials(format!("unexpected login answer: {what}"));
        let value: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("no `{key}`")))
        };
        let credentials = Credentials::new(text("access_key_id")?, text("secret_access_key")?)
            .with_session_token(text("session_token")?);
        Self::from_stored(
            credentials,
            text("expiration")?,
            text("refresh_token")?,
            value.get("refresh_expiration").and_then(Value::as_str),
        )
    }
}

/// Settings of a [`SessionCredentials`] provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Base URL of the countersign server (`https://cs.example.com`), no trailing `/`.
    pub endpoint: String,
    /// TLS, timeout and user agent of the login and refresh calls (region and service unused).
    pub client: ClientConfig,
    /// Refresh when the credentials expire within this margin. Default:
    /// [`DEFAULT_REFRESH_MARGIN`] (60 s), but never more than half of the time the credentials
    /// had left when the provider received them (from the server, or as stored tokens), so
    /// short sessions are not refreshed on every request. A request that still arrives after
    /// the expiry gets `ExpiredToken` and is signed again after a refresh.
    pub refresh_margin: Duration,
}

impl SessionConfig {
    /// Defaults for `endpoint` with `client`'s TLS settings.
    pub fn new(endpoint: impl Into<String>, client: ClientConfig) -> Self {
        Self {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            client,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// Called with the new tokens after every login and refresh, e.g. to persist the rotated
/// refresh token (the old one is spent).
pub type OnRefresh = Box<dyn Fn(&SessionTokens) + Send + Sync>;

/// A [`ProvideCredentials`] that signs with session credentials and refreshes them shortly
/// before they expire, or when the server answers `ExpiredToken`.
///
/// Safe under concurrent use: one refresh runs at a time, and callers that wait for it reuse
/// its result (the refresh token is single-use, so two refreshes would race). Cheap to clone;
/// clones share the session.
///
/// ```no_run
/// use countersign_client::{Call, Client, ClientConfig, SessionConfig, SessionCredentials};
///
/// # async fn example() -> Result<(), countersign_client::ClientError> {
/// let config = ClientConfig::new("local", "countersign");
/// let session = SessionConfig::new("https://cs.example.com", config.clone());
/// let provider = SessionCredentials::login(session, "alice", "correct horse").await?;
/// let client = Client::new(config, provider)?;
/// let reply = client.send(Call::new("GET", "https://cs.example.com/v1/whoami")?).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client<Unsigned>,
    endpoint: String,
    margin: Duration,
    state: Mutex<State>,
    on_refresh: std::sync::Mutex<Option<OnRefresh>>,
    refreshes: AtomicU64,
}

struct State {
    tokens: SessionTokens,
    /// Local time the tokens were received (their lifetime bounds the refresh margin).
    received: SystemTime,
}

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("endpoint", &self.inner.endpoint)
            .field("margin", &self.inner.margin)
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

impl SessionCredentials {
    /// Logs in as `principal` with `password` (`POST /v1/auth/login`). Must be called within
    /// a tokio runtime.
    ///
    /// # Errors
    /// [`ClientError::Auth`] when the server refuses (`InvalidCredentials`, `AccessDenied`,
    /// `TooManyRequests`), or a transport error.
    pub async fn login(
        config: SessionConfig,
        principal: &str,
        password: &str,
    ) -> Result<Self, ClientError> {
        let http = Client::new(config.client.clone(), Unsigned)?;
        let body =
            Zeroizing::new(json!({"principal": principal, "password": password}).to_string());
        let tokens = post(&http, &config.endpoint, "/v1/auth/login", body).await?;
        Ok(Self::with_client(http, config, tokens))
    }

    /// Starts from stored tokens (no call is made until they need a refresh).
    ///
    /// # Errors
    /// [`ClientError::CaFile`] / [`ClientError::Tls`] when the TLS configuration cannot be built.
    pub fn from_tokens(config: SessionConfig, tokens: SessionTokens) -> Result<Self, ClientError> {
        let http = Client::new(config.client.clone(), Unsigned)?;
        Ok(Self::with_client(http, config, tokens))
    }

    /// Calls `hook` with the new tokens after every refresh (and not for the login or the
    /// stored tokens this provider started from), replacing any earlier hook; clones share it.
    /// The hook runs while the refresh lock is held, so writes from it are never reordered.
    pub fn on_refresh(self, hook: OnRefresh) -> Self {
        *self
            .inner
            .on_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(hook);
        self
    }

    /// The current tokens (to store them after a login).
    pub async fn tokens(&self) -> SessionTokens {
        self.inner.state.lock().await.tokens.clone()
    }

    /// How many refreshes this provider (and its clones) made.
    pub fn refreshes(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    /// The session credentials, refreshed first when they expire within the margin.
    ///
    /// # Errors
    /// [`ClientError::Auth`] when the refresh is refused (log in again), or a transport error.
    pub async fn current(&self) -> Result<Credentials, ClientError> {
        let mut state = self.inner.state.lock().await;
        if self.needs_refresh(&state, SystemTime::now()) {
            self.refresh(&mut state).await?;
        }
        Ok(state.tokens.credentials.clone())
    }

    /// The server said `rejected` (an access key id) expired: refreshes unless another caller
    /// already replaced those credentials. Returns whether newer credentials are available.
    ///
    /// # Errors
    /// As [`Self::current`].
    pub async fn expired(&self, rejected: &str) -> Result<bool, ClientError> {
        let mut state = self.inner.state.lock().await;
        if state.tokens.credentials.access_key_id() == rejected {
            self.refresh(&mut state).await?;
        }
        Ok(true)
    }

    fn with_client(http: Client<Unsigned>, config: SessionConfig, tokens: SessionTokens) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                endpoint: config.endpoint,
                margin: config.refresh_margin,
                state: Mutex::new(State {
                    tokens,
                    received: SystemTime::now(),
                }),
                on_refresh: std::sync::Mutex::new(None),
                refreshes: AtomicU64::new(0),
            }),
        }
    }

    fn needs_refresh(&self, state: &State, now: SystemTime) -> bool {
        let lifetime = state
            .tokens
            .expiration
            .duration_since(state.received)
            .unwrap_or_default();
        refresh_due(
            state.tokens.expiration,
            now,
            self.inner.margin.min(lifetime / 2),
        )
    }

    async fn refresh(&self, state: &mut State) -> Result<(), ClientError> {
        let inner = &self.inner;
        let body =
            Zeroizing::new(json!({"refresh_token": *state.tokens.refresh_token}).to_string());
        let tokens = post(&inner.http, &inner.endpoint, "/v1/auth/refresh", body).await?;
        inner.refreshes.fetch_add(1, Ordering::Relaxed);
        let hook = inner
            .on_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(hook) = hook.as_ref() {
            hook(&tokens);
        }
        drop(hook);
        *state = State {
            tokens,
            received: SystemTime::now(),
        };
        Ok(())
    }
}

impl ProvideCredentials for SessionCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Credentials, ClientError>> + Send + '_>> {
        Box::pin(self.current())
    }

    fn expired<'a>(
        &'a self,
        rejected: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ClientError>> + Send + 'a>> {
        Box::pin(SessionCredentials::expired(self, rejected))
    }
}

/// Whether credentials expiring at `expiration` must be refreshed at `now`.
fn refresh_due(expiration: SystemTime, now: SystemTime, margin: Duration) -> bool {
    now + margin >= expiration
}

/// No credentials: the login and refresh calls are sent unsigned.
struct Unsigned;

impl ProvideCredentials for Unsigned {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Credentials, ClientError>> + Send + '_>> {
        Box::pin(std::future::ready(Err(ClientError::Credentials(
            "login and refresh calls are unsigned".to_owned(),
        ))))
    }
}

/// An unsigned JSON `POST` to an auth route; the new tokens, or [`ClientError::Auth`].
async fn post(
    http: &Client<Unsigned>,
    endpoint: &str,
    path: &'static str,
    body: Zeroizing<String>,
) -> Result<SessionTokens, ClientError> {
    let call = Call::new("POST", &format!("{endpoint}{path}"))?
        .header("Content-Type", "application/json")
        .body(Body::Bytes(Bytes::from(body.as_bytes().to_vec())));
    let reply = http.send_unsigned(call).await?;
    let status = reply.response.status();
    let bytes = reply
        .response
        .into_body()
        .collect()
        .await
        .map_err(|err| ClientError::Network {
            url: format!("{endpoint}{path}"),
            source: err,
        })?
        .to_bytes();
    if status.is_success() {
        return SessionTokens::from_json(&bytes);
    }
    let (code, message) = match reply.error {
        Some(e) => (e.code, e.message),
        None => (String::new(), String::from_utf8_lossy(&bytes).into_owned()),
    };
    Err(ClientError::Auth {
        path,
        status: status.as_u16(),
        code,
        message,
    })
}

fn parse_time(what: &str, text: &str) -> Result<SystemTime, ClientError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(SystemTime::from)
        .map_err(|_| {
            ClientError::Credentials(format!(
                "{what} `{text}` is not an RFC 3339 time such as 2026-11-29T05:45:00Z"
            ))
        })
}

fn rfc3339(t: SystemTime) -> String {
    countersign::AmzDate::from_system_time(t).to_rfc3339()
}

#[cfg(test)]
mod tests;
