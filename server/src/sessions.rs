//! Login, session credentials and refresh tokens (issue #5): the HTTP side.
//!
//! - `POST /v1/auth/login` and `POST /v1/auth/refresh` are unsigned (the caller has no
//!   credentials yet); both answer with short-lived credentials and a new refresh token.
//! - `POST /v1/auth/logout` and `POST /v1/auth/logout-all` are signed like every other call.
//! - [`session_claims`] opens the sealed `x-amz-security-token` of a request signed with session
//!   credentials, so `crate::auth::authenticate` checks the signature without a database
//!   query; [`session_caller`] then looks up only the family's revocation state, through a TTL
//!   cache.
//!
//! The design and its reasons are in `spec/protocol.md`, section "Sessions".

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use countersign::{AmzDate, SecretKey, SigningKeys};
use foldhash::HashMap;
use http::{HeaderValue, StatusCode, header};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::app::App;
use crate::auth::{AuthMethod, Caller, read_body};
use crate::clock::unix_seconds;
use crate::error::{ApiError, Response, json_response};
use crate::policy::Policy;
use crate::session_token::{SESSION_KEY_ID_PREFIX, SessionClaims, is_session_key_id};
use crate::store::StoreError;
use crate::store::keys::new_secret;
use crate::store::policies::Subject;
use crate::store::sessions::{FamilyState, RefreshOutcome, RefreshPolicy};

/// `POST` path of login.
pub const LOGIN_PATH: &str = "/v1/auth/login";
/// `POST` path of refresh.
pub const REFRESH_PATH: &str = "/v1/auth/refresh";
/// Largest login or refresh body.
const MAX_AUTH_BODY: u64 = 16 * 1024;
/// Bytes of entropy in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

/// Serves the unsigned login and refresh paths; `None` for any other path. `peer` is the
/// client's address (failed logins are throttled per address; an unknown one counts as
/// `0.0.0.0`).
pub async fn unsigned(
    app: &App,
    request: http::Request<Incoming>,
    peer: Option<IpAddr>,
) -> Result<Response, ApiError> {
    let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if request.method() != http::Method::POST {
        return Err(ApiError::MethodNotAllowed { allowed: &["POST"] });
    }
    let login = request.uri().path() == LOGIN_PATH;
    let body = read_body(request.into_body(), MAX_AUTH_BODY).await?;
    if login {
        return self::login(app, &body.bytes, peer).await;
    }
    refresh(app, &body.bytes).await
}

/// Whether `path` is served by [`unsigned`].
pub fn is_unsigned_path(path: &str) -> bool {
    path == LOGIN_PATH || path == REFRESH_PATH
}

/// A session token opened once and kept for the requests that follow: its claims and the
/// secret's signing keys (derived once per day rather than once per request).
pub struct OpenedSession {
    token_sha256: [u8; 32],
    /// What the token holds.
    pub claims: SessionClaims,
    /// The token's secret with its derived signing keys.
    pub keys: SigningKeys,
}

/// Opened session tokens by temporary access key id. A request whose token hashes to the
/// cached one skips decryption and key derivation; any other token is opened in full. No
/// database is involved: this only saves CPU. Entries go when their credentials expire.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Arc<OpenedSession>>>,
}

/// Most opened sessions kept; past it (after dropping expired ones) new ones are not cached.
const MAX_OPENED_SESSIONS: usize = 10_000;

impl SessionCache {
    fn get(&self, access_key_id: &str, token_sha256: &[u8; 32]) -> Option<Arc<OpenedSession>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = entries.get(access_key_id)?;
        bool::from(hit.token_sha256.ct_eq(token_sha256)).then(|| hit.clone())
    }

    fn insert(&self, opened: Arc<OpenedSession>, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_OPENED_SESSIONS {
            entries.retain(|_, s| s.claims.expires_at > now);
        }
        if entries.len() < MAX_OPENED_SESSIONS {
            entries.insert(opened.claims.access_key_id.clone(), opened);
        }
    }
}

/// The opened session when `pending` is signed with session credentials (`ASCS…`), `None`
/// for a long-term key (whose request goes to the key store as before; a session token it
/// carries is signed but not interpreted).
///
/// # Errors
/// 401 `InvalidToken` when the token is missing, does not decrypt or belongs to another
/// access key id; 401 `ExpiredToken` past its expiry.
pub fn session_claims(
    app: &App,
    access_key_id: &str,
    token: Option<&str>,
    now: SystemTime,
) -> Result<Option<Arc<OpenedSession>>, ApiError> {
    if !is_session_key_id(access_key_id) {
        return Ok(None);
    }
    let Some(token) = token else {
        return Err(ApiError::InvalidToken(format!(
            "access key id `{}` is temporary: send its session token in x-amz-security-token",
            clip(access_key_id)
        )));
    };
    let token_sha256: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let opened = match app.opened_sessions().get(access_key_id, &token_sha256) {
        Some(hit) => hit,
        None => open(app, access_key_id, token, token_sha256, now)?,
    };
    let claims = &opened.claims;
    if unix_seconds(now) >= claims.expires_at {
        return Err(ApiError::ExpiredToken(format!(
            "the session credentials expired at {}: refresh them or log in again",
            rfc3339(claims.expires_at)
        )));
    }
    Ok(Some(opened))
}

fn open(
    app: &App,
    access_key_id: &str,
    token: &str,
    token_sha256: [u8; 32],
    now: SystemTime,
) -> Result<Arc<OpenedSession>, ApiError> {
    let claims = app
        .sealer()
        .open(token)
        .map_err(|err| ApiError::InvalidToken(err.to_string()))?;
    if claims.access_key_id != access_key_id {
        return Err(ApiError::InvalidToken(format!(
            "the session token was not issued for access key id `{}`",
            clip(access_key_id)
        )));
    }
    let keys = SigningKeys::new(SecretKey::new(claims.secret.expose()));
    let opened = Arc::new(OpenedSession {
        token_sha256,
        claims,
        keys,
    });
    app.opened_sessions()
        .insert(opened.clone(), unix_seconds(now));
    Ok(opened)
}

/// The caller of a request whose signature checked out under session credentials: the
/// session must not be revoked and its principal must be enabled (cached like keys).
///
/// # Errors
/// 401 `InvalidToken` for a revoked session, 403 for a disabled principal, 503 when the store
/// cannot answer.
pub async fn session_caller(
    app: &App,
    opened: &OpenedSession,
    now: SystemTime,
) -> Result<Caller, ApiError> {
    let state = app.families().lookup(&opened.claims.family).await?;
    caller_of(opened, state, now)
}

/// [`session_caller`] when the family's state is cached, without waiting; `None` when the
/// store must be asked.
pub fn session_caller_cached(
    app: &App,
    opened: &OpenedSession,
    now: SystemTime,
) -> Option<Result<Caller, ApiError>> {
    let state = app.families().lookup_cached(&opened.claims.family, now)?;
    Some(caller_of(opened, state, now))
}

/// The caller of a session whose family is in `state` (`None`: the family does not exist).
fn caller_of(
    opened: &OpenedSession,
    state: Option<Arc<FamilyState>>,
    now: SystemTime,
) -> Result<Caller, ApiError> {
    let claims = &opened.claims;
    let state = state.filter(|state| !state.revoked).ok_or_else(|| {
        ApiError::InvalidToken("the session was revoked (logged out): log in again".into())
    })?;
    if !state.principal_enabled {
        return Err(ApiError::access_denied(format!(
            "principal `{}` is disabled",
            claims.principal
        )));
    }
    Ok(Caller {
        principal: claims.principal.as_str().into(),
        access_key_id: claims.access_key_id.as_str().into(),
        auth: AuthMethod::Session,
        admin: state.admin,
        family: Some(claims.family.clone()),
        authenticated_at: now,
    })
}

/// `POST /v1/auth/logout`: revokes the caller's session family.
///
/// # Errors
/// 400 `InvalidRequest` when not signed with session credentials; 503 when the store fails.
pub async fn logout(app: &App, caller: &Caller) -> Result<Response, ApiError> {
    let Some(family) = &caller.family else {
        return Err(ApiError::InvalidRequest(
            "logout needs session credentials (from /v1/auth/login); to end every session of \
             the principal, call /v1/auth/logout-all"
                .into(),
        ));
    };
    let now = unix_seconds(app.clock().now());
    app.store()
        .revoke_family(family, &caller.principal, now)
        .await?;
    app.families().invalidate(family);
    Ok(no_content())
}

/// `POST /v1/auth/logout-all`: revokes every session family of the caller's principal.
///
/// # Errors
/// 503 when the store fails.
pub async fn logout_all(app: &App, caller: &Caller) -> Result<Response, ApiError> {
    let now = unix_seconds(app.clock().now());
    let revoked = app
        .store()
        .revoke_principal_families(&caller.principal, now)
        .await?;
    app.families().invalidate_principal(&caller.principal);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "revoked_sessions": revoked }),
    ))
}

/// `PUT /v1/principals/{name}/password` (admin): sets the password and ends its sessions.
///
/// # Errors
/// 400 for a bad body or password length, 404 for an unknown principal.
pub async fn set_password(app: &App, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SetPassword {
        password: String,
    }
    let request: SetPassword = parse_json(body)?;
    let password = Zeroizing::new(request.password);
    let hash = app
        .passwords()
        .hash(password)
        .await
        .map_err(|err| ApiError::InvalidArgument(err.to_string()))?;
    let now = unix_seconds(app.clock().now());
    app.store().set_password(name, &hash, now).await?;
    app.families().invalidate_principal(name);
    Ok(no_content())
}

async fn login(app: &App, body: &[u8], peer: IpAddr) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        principal: String,
        password: String,
        /// Narrows what these session credentials may do (never widens the principal's).
        #[serde(default)]
        policy: Option<serde_json::Value>,
    }
    let request: Login = parse_json(body)?;
    let narrowing = match &request.policy {
        Some(document) => Some(
            Policy::parse(&document.to_string())
                .map_err(|err| ApiError::InvalidRequest(format!("login policy: {err}")))?,
        ),
        None => None,
    };
    let (name, password) = (request.principal, Zeroizing::new(request.password));
    let now = app.clock().now();
    app.throttle()
        .check(&name, peer, now)
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    let record = app.store().login_record(&name).await?;
    let (enabled, hash) = record.map_or((false, None), |r| (r.enabled, r.password_hash));
    if !app.passwords().verify(password, hash).await {
        app.throttle().failed(&name, peer, now);
        tracing::info!(principal = %clip(&name), peer = %peer, "login failed");
        return Err(ApiError::InvalidCredentials);
    }
    app.throttle().succeeded(&name);
    if !enabled {
        return Err(ApiError::access_denied(format!(
            "principal `{name}` is disabled"
        )));
    }
    let family = new_family_id(now)?;
    let refresh = new_refresh_token()?;
    let started = app
        .store()
        .start_family(
            &name,
            &family,
            &token_hash(&refresh),
            refresh_policy(app, now),
            app.sessions().max_sessions_per_principal,
        )
        .await?;
    started
        .revoked
        .iter()
        .for_each(|id| app.families().invalidate(id));
    if let Some(narrowing) = narrowing {
        let document = serde_json::to_string(&narrowing).map_err(|_| ApiError::InternalError)?;
        app.store()
            .set_policy(
                Subject::Session,
                &family,
                Some(&document),
                unix_seconds(now),
            )
            .await?;
    }
    credentials(app, &name, family, &refresh, started.expires_at, now)
}

async fn refresh(app: &App, body: &[u8]) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Refresh {
        refresh_token: String,
    }
    let request: Refresh = parse_json(body)?;
    let old = Zeroizing::new(request.refresh_token);
    if !looks_like_refresh_token(&old) {
        return Err(ApiError::InvalidToken(
            "the refresh token is malformed: expected the `refresh_token` returned by login".into(),
        ));
    }
    let now = app.clock().now();
    let new = new_refresh_token()?;
    let policy = refresh_policy(app, now);
    let outcome = app
        .store()
        .rotate_refresh(&token_hash(&old), &token_hash(&new), policy)
        .await?;
    match outcome {
        RefreshOutcome::Rotated {
            family,
            principal,
            expires_at,
        } => credentials(app, &principal, family, &new, expires_at, now),
        RefreshOutcome::Expired => Err(ApiError::ExpiredToken(
            "the refresh token has expired, or its session reached --session-max-lifetime: \
             log in again"
                .into(),
        )),
        RefreshOutcome::Revoked => Err(ApiError::InvalidToken(
            "the refresh token's session was revoked (logout, reuse of a spent token, or too \
             many sessions): log in again"
                .into(),
        )),
        RefreshOutcome::Replayed { family } => {
            app.families().invalidate(&family);
            tracing::warn!(family = %family, "spent refresh token presented again: session revoked");
            Err(ApiError::InvalidToken(
                "the refresh token was already used: its session is now revoked (a copy of it \
                 may have been stolen); log in again"
                    .into(),
            ))
        }
        RefreshOutcome::Disabled(principal) => Err(ApiError::access_denied(format!(
            "principal `{principal}` is disabled"
        ))),
        RefreshOutcome::Unknown => Err(ApiError::InvalidToken(
            "the refresh token is not valid: log in again".into(),
        )),
    }
}

/// New session credentials for `principal` in `family`, with `refresh` as the refresh token.
fn credentials(
    app: &App,
    principal: &str,
    family: String,
    refresh: &str,
    refresh_expires_at: i64,
    now: SystemTime,
) -> Result<Response, ApiError> {
    let issued_at = unix_seconds(now);
    let expires_at = unix_seconds(now + app.sessions().session_ttl);
    let claims = SessionClaims {
        access_key_id: new_session_key_id()?,
        secret: new_secret()?,
        principal: principal.to_owned(),
        family,
        issued_at,
        expires_at,
    };
    let token = app.sealer().seal(&claims)?;
    let body = json!({
        "access_key_id": claims.access_key_id,
        "secret_access_key": claims.secret.expose(),
        "session_token": token,
        "expiration": rfc3339(expires_at),
        "refresh_token": refresh,
        "refresh_expiration": rfc3339(refresh_expires_at),
    });
    let mut response = json_response(StatusCode::OK, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The policy of a token issued at `now`; the store caps its expiry at the family's end.
fn refresh_policy(app: &App, now: SystemTime) -> RefreshPolicy {
    let sessions = app.sessions();
    let expires = now
        .checked_add(sessions.refresh_ttl)
        .unwrap_or(now + Duration::from_secs(86_400 * 365));
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    RefreshPolicy {
        now: unix_seconds(now),
        expires_at: unix_seconds(expires),
        grace: secs(sessions.refresh_grace),
        max_lifetime: secs(sessions.session_max_lifetime),
    }
}

/// A temporary access key id: `ASCS` and 16 random base32 characters.
fn new_session_key_id() -> Result<String, StoreError> {
    let long_term = crate::store::keys::new_key_id()?;
    let random = long_term
        .get(crate::store::keys::KEY_ID_PREFIX.len()..)
        .ok_or(StoreError::Random)?;
    Ok(format!("{SESSION_KEY_ID_PREFIX}{random}"))
}

/// A refresh token: 256 random bits, unpadded base64url (43 characters).
fn new_refresh_token() -> Result<Zeroizing<String>, StoreError> {
    let mut bytes = Zeroizing::new([0u8; REFRESH_TOKEN_BYTES]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| StoreError::Random)?;
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice())))
}

fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the store keeps of a refresh token: its SHA-256 in hex. The token has 256 bits of
/// entropy, so a fast hash is enough (nothing to brute-force).
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A family id: the login time in microseconds (16 hex digits, so ids sort by age within a
/// second, which the family limit relies on) and 64 random bits.
fn new_family_id(now: SystemTime) -> Result<String, StoreError> {
    let micros = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(format!("{micros:016x}{}", hex::encode(bytes)))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as AWS STS writes `Expiration` (clamped to 1970..=9999).
pub fn rfc3339(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    AmzDate::from_unix(secs)
        .map_or_else(|| String::from("9999-12-31T23:59:59Z"), AmzDate::to_rfc3339)
}

fn no_content() -> Response {
    let mut response = json_response(StatusCode::NO_CONTENT, &json!(null));
    *response.body_mut() = http_body_util::Either::Left(http_body_util::Full::default());
    response.headers_mut().remove(header::CONTENT_TYPE);
    response
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::InvalidRequest(format!("invalid JSON body: {err}")))
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_have_256_bits_and_only_their_hash_is_kept() {
        let token = new_refresh_token().unwrap();
        assert!(looks_like_refresh_token(&token), "{}", token.as_str());
        assert_ne!(token.as_str(), new_refresh_token().unwrap().as_str());
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(token.as_str()));
    }

    #[test]
    fn session_key_ids_never_look_like_stored_keys() {
        let id = new_session_key_id().unwrap();
        assert!(id.starts_with("ASCS") && id.len() == 20, "{id}");
        assert!(!crate::store::keys::looks_like_key_id(&id));
    }

    #[test]
    fn family_ids_sort_by_login_time() {
        let early = new_family_id(SystemTime::UNIX_EPOCH + Duration::from_micros(1)).unwrap();
        let late = new_family_id(SystemTime::UNIX_EPOCH + Duration::from_micros(2)).unwrap();
        assert!(early < late && early.len() == 32, "{early} {late}");
    }

    #[test]
    fn expiration_is_rfc3339_utc() {
        assert_eq!(rfc3339(1_440_938_160), "2015-08-30T12:36:00Z");
    }
}
