//! The signed routes: `whoami`, logout and the admin API. Only authenticated requests get here.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::auth::Caller;
use crate::clock::unix_seconds;
use crate::error::{ApiError, Response, bytes_json_response, json_response, typed_json_response};
use crate::policy::Policy;
use crate::sessions;
use crate::store::policies::Subject;
use crate::store::{KeyStatus, KeyStore};

/// A route of the signed API, with its path parameters decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v1/whoami`
    Whoami,
    /// `/v1/principals`
    Principals,
    /// `/v1/principals/{name}`
    Principal(String),
    /// `/v1/principals/{name}/keys`
    PrincipalKeys(String),
    /// `/v1/keys/{id}`
    Key(String),
    /// `/v1/principals/{name}/password`
    PrincipalPassword(String),
    /// `/v1/principals/{name}/policy`
    PrincipalPolicy(String),
    /// `/v1/keys/{id}/policy`
    KeyPolicy(String),
    /// `/v1/auth/logout`
    Logout,
    /// `/v1/auth/logout-all`
    LogoutAll,
}

impl Route {
    /// Matches a request path (without query); `None` for an unknown path.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/v1/")?;
        let mut parts = rest.split('/');
        let segments = [parts.next(), parts.next(), parts.next()];
        if parts.next().is_some() {
            return None;
        }
        let segments: &[&str] = match segments {
            [Some(a), None, None] => &[a],
            [Some(a), Some(b), None] => &[a, b],
            [Some(a), Some(b), Some(c)] => &[a, b, c],
            _ => return None,
        };
        match segments {
            ["whoami"] => Some(Self::Whoami),
            ["principals"] => Some(Self::Principals),
            ["principals", name] => decode(name).map(Self::Principal),
            ["principals", name, "keys"] => decode(name).map(Self::PrincipalKeys),
            ["keys", id] => decode(id).map(Self::Key),
            ["principals", name, "password"] => decode(name).map(Self::PrincipalPassword),
            ["principals", name, "policy"] => decode(name).map(Self::PrincipalPolicy),
            ["keys", id, "policy"] => decode(id).map(Self::KeyPolicy),
            ["auth", "logout"] => Some(Self::Logout),
            ["auth", "logout-all"] => Some(Self::LogoutAll),
            _ => None,
        }
    }

    /// The methods this route accepts (for 405 and its `Allow` header).
    pub fn methods(&self) -> &'static [&'static str] {
        match self {
            Self::Whoami => &["GET"],
            Self::Principals | Self::PrincipalKeys(_) => &["GET", "POST"],
            Self::Principal(_) => &["PATCH"],
            Self::Key(_) => &["PATCH", "DELETE"],
            Self::PrincipalPassword(_) => &["PUT"],
            Self::PrincipalPolicy(_) | Self::KeyPolicy(_) => &["GET", "PUT", "DELETE"],
            Self::Logout | Self::LogoutAll => &["POST"],
        }
    }

    fn is_admin(&self) -> bool {
        !matches!(self, Self::Whoami | Self::Logout | Self::LogoutAll)
    }
}

/// Where an authenticated request goes ([`route`]).
pub enum Routed {
    /// Answered without the store: an unknown path (404), a wrong method (405), an admin route
    /// for a non-admin (403), `whoami`.
    Answer(Result<Response, ApiError>),
    /// A store-backed route, for [`dispatch`].
    Dispatch(Route),
}

/// Routes an authenticated request.
pub fn route(caller: &Caller, method: &Method, path: &str) -> Routed {
    let Some(route) = Route::parse(path) else {
        let message = format!("no route for `{path}`");
        return Routed::Answer(Err(ApiError::NotFound(message)));
    };
    if !route.methods().contains(&method.as_str()) {
        return Routed::Answer(Err(ApiError::MethodNotAllowed {
            allowed: route.methods(),
        }));
    }
    if route.is_admin() && !caller.admin {
        return Routed::Answer(Err(ApiError::access_denied(format!(
            "principal `{}` is not an admin",
            caller.principal
        ))));
    }
    if route == Route::Whoami {
        return Routed::Answer(Ok(whoami(caller)));
    }
    Routed::Dispatch(route)
}

/// Serves a store-backed route.
///
/// # Errors
/// The route's [`ApiError`]s.
pub async fn dispatch(
    app: &App,
    caller: &Caller,
    method: &Method,
    route: Route,
    body: &[u8],
) -> Result<Response, ApiError> {
    match (route, method.as_str()) {
        (Route::Whoami, _) => Ok(whoami(caller)),
        (Route::Principals, "POST") => create_principal(app, body).await,
        (Route::Principals, _) => list_principals(app).await,
        (Route::Principal(name), _) => patch_principal(app, &name, body).await,
        (Route::PrincipalKeys(name), "POST") => create_key(app, &name).await,
        (Route::PrincipalKeys(name), _) => list_keys(app, &name).await,
        (Route::Key(id), "PATCH") => patch_key(app, &id, body).await,
        (Route::Key(id), _) => delete_key(app, &id).await,
        (Route::PrincipalPassword(name), _) => sessions::set_password(app, &name, body).await,
        (Route::PrincipalPolicy(name), m) => policy(app, Subject::Principal, &name, m, body).await,
        (Route::KeyPolicy(id), m) => policy(app, Subject::Key, &id, m, body).await,
        (Route::Logout, _) => sessions::logout(app, caller).await,
        (Route::LogoutAll, _) => sessions::logout_all(app, caller).await,
    }
}

/// The `whoami` body, serialized straight from borrowed fields (no JSON tree).
#[derive(Serialize)]
struct Whoami<'a> {
    principal: &'a str,
    access_key_id: &'a str,
    auth: &'a str,
}

fn whoami(caller: &Caller) -> Response {
    let body = Whoami {
        principal: &caller.principal,
        access_key_id: &caller.access_key_id,
        auth: caller.auth.as_str(),
    };
    match body.plain_json() {
        Some(json) => bytes_json_response(StatusCode::OK, Bytes::from(json)),
        None => typed_json_response(StatusCode::OK, &body),
    }
}

impl Whoami<'_> {
    /// The JSON text written directly, in one allocation of the exact size, when no field
    /// needs escaping (principal names, key ids and the method name always qualify: their
    /// alphabets are checked when they are created); `None` otherwise.
    fn plain_json(&self) -> Option<Vec<u8>> {
        let (principal, id, auth) = (self.principal, self.access_key_id, self.auth);
        if ![principal, id, auth].into_iter().all(is_plain_json) {
            return None;
        }
        Some(
            [
                br#"{"principal":""#.as_slice(),
                principal.as_bytes(),
                br#"","access_key_id":""#,
                id.as_bytes(),
                br#"","auth":""#,
                auth.as_bytes(),
                br#""}"#,
            ]
            .concat(),
        )
    }
}

/// Whether `text` can stand between JSON quotes as is (printable ASCII, no `"` or `\`).
fn is_plain_json(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePrincipal {
    name: String,
    #[serde(default)]
    admin: bool,
}

async fn create_principal(app: &App, body: &[u8]) -> Result<Response, ApiError> {
    let request: CreatePrincipal = parse_json(body)?;
    let now = unix_seconds(app.clock().now());
    let principal = app
        .store()
        .create_principal(&request.name, request.admin, now)
        .await?;
    Ok(json_response(StatusCode::CREATED, &json!(principal)))
}

async fn list_principals(app: &App) -> Result<Response, ApiError> {
    let principals = app.store().list_principals().await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "principals": principals }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchPrincipal {
    enabled: bool,
}

async fn patch_principal(app: &App, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let request: PatchPrincipal = parse_json(body)?;
    let principal = app
        .store()
        .set_principal_enabled(name, request.enabled)
        .await?;
    app.cache().invalidate_principal(name);
    app.families().invalidate_principal(name);
    Ok(json_response(StatusCode::OK, &json!(principal)))
}

async fn create_key(app: &App, principal: &str) -> Result<Response, ApiError> {
    let now = unix_seconds(app.clock().now());
    let key = app
        .store()
        .create_key(principal, app.max_keys_per_principal(), now)
        .await?;
    Ok(json_response(StatusCode::CREATED, &key.to_json()))
}

async fn list_keys(app: &App, principal: &str) -> Result<Response, ApiError> {
    let keys = app.store().list_keys(Some(principal)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "keys": keys })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchKey {
    status: KeyStatus,
}

async fn patch_key(app: &App, id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let request: PatchKey = parse_json(body)?;
    let key = app.store().set_key_status(id, request.status).await?;
    app.cache().invalidate(id);
    Ok(json_response(StatusCode::OK, &json!(key)))
}

async fn delete_key(app: &App, id: &str) -> Result<Response, ApiError> {
    app.store().delete_key(id).await?;
    app.cache().invalidate(id);
    let mut response = json_response(StatusCode::NO_CONTENT, &json!(null));
    *response.body_mut() = http_body_util::Either::Left(http_body_util::Full::default());
    response.headers_mut().remove(http::header::CONTENT_TYPE);
    Ok(response)
}

/// `GET|PUT|DELETE /v1/principals/{name}/policy` and `/v1/keys/{id}/policy`.
async fn policy(
    app: &App,
    kind: Subject,
    subject: &str,
    method: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let now = unix_seconds(app.clock().now());
    let stored = match method {
        "PUT" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::InvalidRequest("the policy must be UTF-8 JSON".into()))?;
            let policy =
                Policy::parse(text).map_err(|err| ApiError::InvalidRequest(err.to_string()))?;
            let canonical = serde_json::to_string(&policy).map_err(|_| ApiError::InternalError)?;
            app.store()
                .set_policy(kind, subject, Some(&canonical), now)
                .await?;
            app.policies().invalidate(kind, subject);
            Some(policy)
        }
        "DELETE" => {
            app.store().set_policy(kind, subject, None, now).await?;
            app.policies().invalidate(kind, subject);
            None
        }
        _ => {
            let exists = app.store().policy_subject_exists(kind, subject).await?;
            if !exists {
                return Err(ApiError::NotFound(format!(
                    "no {} `{subject}`",
                    kind.as_str()
                )));
            }
            match app.store().policy(kind, subject).await? {
                Some(text) => Some(Policy::parse(&text).map_err(|_| ApiError::InternalError)?),
                None => None,
            }
        }
    };
    let field = match kind {
        Subject::Principal => "principal",
        Subject::Key => "access_key_id",
        Subject::Session => "session",
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ field: subject, "policy": stored }),
    ))
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::InvalidRequest(format!("invalid JSON body: {err}")))
}

fn decode(segment: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    (!decoded.is_empty()).then(|| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_json_written_directly_equals_serde_json() {
        for (principal, id, auth) in [
            ("alice", "AKCSAAAAAAAAAAAAAAAA", "header"),
            ("a.b_c-d@e", "ASCSZZZZZZZZZZZZZZZZ", "session"),
            ("x", "", "query"),
        ] {
            let body = Whoami {
                principal,
                access_key_id: id,
                auth,
            };
            let direct = body.plain_json().expect("plain fields");
            assert_eq!(direct, serde_json::to_vec(&body).unwrap());
            assert_eq!(direct.len(), direct.capacity(), "one exact allocation");
        }
    }

    #[test]
    fn whoami_fields_that_need_escaping_go_through_serde_json() {
        for odd in [
            "quo\"te",
            "back\\slash",
            "tab\there",
            "caf\u{e9}",
            "del\u{7f}",
        ] {
            let body = Whoami {
                principal: odd,
                access_key_id: "AKCSAAAAAAAAAAAAAAAA",
                auth: "header",
            };
            assert_eq!(body.plain_json(), None, "{odd:?}");
        }
        let caller = Caller {
            principal: "quo\"te".into(),
            access_key_id: "AKCSAAAAAAAAAAAAAAAA".into(),
            auth: crate::auth::AuthMethod::Header,
            admin: false,
            family: None,
            authenticated_at: std::time::UNIX_EPOCH,
        };
        let response = whoami(&caller);
        let http_body_util::Either::Left(full) = response.into_body() else {
            panic!("a whoami body is in memory");
        };
        let bytes = futures_body_bytes(full);
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed["principal"], "quo\"te");
    }

    /// The bytes of a `Full` body (ready at once).
    fn futures_body_bytes(full: http_body_util::Full<Bytes>) -> Bytes {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async { full.collect().await.unwrap().to_bytes() })
    }

    #[test]
    fn routes_parse_with_decoded_parameters() {
        assert_eq!(Route::parse("/v1/whoami"), Some(Route::Whoami));
        assert_eq!(
            Route::parse("/v1/principals/a%40b.c/keys"),
            Some(Route::PrincipalKeys("a@b.c".into()))
        );
        assert_eq!(
            Route::parse("/v1/keys/AKCSAAAAAAAAAAAAAAAA"),
            Some(Route::Key("AKCSAAAAAAAAAAAAAAAA".into()))
        );
        assert_eq!(Route::parse("/v1/whoami/"), None);
        assert_eq!(Route::parse("/v1/principals/"), None);
        assert_eq!(Route::parse("/v1/keys/%ff"), None);
        assert_eq!(Route::parse("/other"), None);
    }

    #[test]
    fn patch_key_body_accepts_only_known_statuses() {
        let ok: PatchKey = parse_json(br#"{"status":"Inactive"}"#).unwrap();
        assert_eq!(ok.status, KeyStatus::Inactive);
        let err = parse_json::<PatchKey>(br#"{"status":"Paused"}"#).unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        let err = parse_json::<PatchPrincipal>(br#"{"enabled":true,"x":1}"#).unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
    }
}
