//! Authentication: the one layer between the socket and the routes.
//!
//! It reads the body under `--max-body` while hashing it, verifies the signature with the
//! SDK's sans-IO core, checks the key and principal, and hands a [`Caller`] to the routes.
//! Routes never see an unauthenticated request or an unchecked body.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use countersign::http::{request_view, request_view_of};
use countersign::{
    Alternative, EMPTY_SHA256_DIGEST, PayloadClaim, Pending, SignatureLocation, SigningKeys,
    UnsignedPayload, Verified, Verifier, VerifyPolicy,
};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::clock::unix_seconds;
use crate::config::ServeArgs;
use crate::error::ApiError;
use crate::proxy::ForwardBody;
use crate::sessions::{self, OpenedSession};
use crate::store::KeyStatus;
use crate::store::cache::CachedKey;

/// Who made an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The principal's name.
    pub principal: Arc<str>,
    /// The access key that signed.
    pub access_key_id: Arc<str>,
    /// Where the signature was.
    pub auth: AuthMethod,
    /// Whether the principal may call the admin API.
    pub admin: bool,
    /// The session family (login) for session credentials; `None` for long-term keys.
    pub family: Option<String>,
    /// The clock reading the request was authenticated at (caches compare ages with it).
    pub authenticated_at: SystemTime,
}

/// Where a request carried its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The `Authorization` header.
    Header,
    /// Presigned URL query parameters.
    Query,
    /// Session credentials from `/v1/auth/login` (header or presigned).
    Session,
}

impl AuthMethod {
    /// `header` or `query`, as `whoami` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Query => "query",
            Self::Session => "session",
        }
    }
}

/// The verifier for the `serve` flags: scope region and service, skew, and whether
/// `UNSIGNED-PAYLOAD` is accepted.
pub fn verifier(args: &ServeArgs) -> Verifier {
    let unsigned = if args.require_signed_payload {
        UnsignedPayload::Refuse
    } else {
        UnsignedPayload::Accept
    };
    let policy = VerifyPolicy::new(&args.region, &args.service)
        .max_skew(args.max_skew)
        .unsigned_payload(unsigned);
    Verifier::new(policy)
}

/// A body read in full with its SHA-256.
#[derive(Debug, Clone)]
pub struct HashedBody {
    /// The bytes.
    pub bytes: Bytes,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

/// Authenticates `request`, returning the caller and the checked body.
///
/// Session credentials (`ASCS…` ids) are opened from their token; the key store is not
/// consulted for them.
///
/// Order: parse and check the signature's form, scope and time (no I/O); look the key up
/// (cache, then store); read and hash the body under the size limit; check the signature
/// and the body hash; then the principal's flags. A request without a valid signature
/// never learns whether a principal is disabled.
///
/// The common request (a cached key, no body) is authenticated without waiting on anything;
/// each step that must wait (a key store query, a body, a session's revocation state) is
/// boxed, so that the common request's future stays small: it is built and moved on every
/// request.
///
/// # Errors
/// The [`ApiError`] to send: 401/400/403 for authentication failures, 413 for a body over
/// the limit, 503 when the key store cannot answer.
pub async fn authenticate(
    app: &App,
    request: Request<Incoming>,
) -> Result<(Caller, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    let view = request_view(&parts);
    let now = app.clock().now();
    let pending = app.verifier().begin(&view, now)?;
    let holder = Holder::resolve(app, &pending, now).await?;
    let streaming = matches!(pending.payload_claim(), PayloadClaim::Streaming(_));
    // No body (a GET, most often): `read_body`'s own shortcut, taken here so that the common
    // request does not build the boxed read's future.
    let (verified, body) = if body.is_end_stream() && !streaming {
        let verified = pending.finish(holder.keys(), Some(&EMPTY_SHA256_DIGEST))?;
        (verified, Bytes::new())
    } else {
        Box::pin(finish_and_read(app, pending, holder.keys(), &parts, body)).await?
    };
    let caller = holder.caller(app, verified.location, now).await?;
    Ok((caller, body))
}

/// [`authenticate`] for the common request, without waiting and so without building its
/// future: no body, and a long-term key the cache knows or session credentials whose family
/// the cache knows. The request is only borrowed: `None` when it needs something to wait for
/// (the key store, a body, a session's uncached family), and then [`authenticate`] starts
/// over with it. The refusals it gives are the ones [`authenticate`] would give, in the same
/// order.
pub fn authenticate_now(
    app: &App,
    request: &Request<Incoming>,
) -> Option<Result<Caller, ApiError>> {
    if !request.body().is_end_stream() {
        return None;
    }
    let view = request_view_of(request);
    let now = app.clock().now();
    let pending = match app.verifier().begin(&view, now) {
        Ok(pending) => pending,
        Err(err) => return Some(Err(err.into())),
    };
    if matches!(pending.payload_claim(), PayloadClaim::Streaming(_)) {
        return None;
    }
    let holder = match Holder::known(app, &pending, now) {
        Ok(Some(holder)) => holder,
        // A key the cache does not know: the store.
        Ok(None) => return None,
        Err(err) => return Some(Err(err)),
    };
    let check = |keys: &SigningKeys| {
        pending
            .finish(keys, Some(&EMPTY_SHA256_DIGEST))
            .map_err(ApiError::from)
    };
    Some(match holder {
        Holder::Key(key) => check(&key.signing_keys)
            .and_then(|verified| key_caller(app, &key, verified.location, now)),
        Holder::Session(session) => {
            // The family's revocation state must be cached too (else the store, on the async
            // path): read before the signature is checked, told only after it.
            let caller = sessions::session_caller_cached(app, &session, now)?;
            check(&session.keys).and(caller)
        }
    })
}

/// Whose secret signed a request: a long-term access key, or session credentials (`ASCS…`
/// ids, opened from their token without the key store).
enum Holder {
    Key(Arc<CachedKey>),
    Session(Arc<OpenedSession>),
}

impl Holder {
    /// Finds the holder of the request's access key id (cache, then store, for keys). The
    /// store query is boxed: a holder the cache knows costs no large future.
    async fn resolve(app: &App, pending: &Pending<'_>, now: SystemTime) -> Result<Self, ApiError> {
        match Self::known(app, pending, now)? {
            Some(holder) => Ok(holder),
            None => Box::pin(Self::fetch(app, pending, now)).await,
        }
    }

    /// The holder when it is known without waiting: session credentials (opened from their
    /// token), or a key the cache answers for (an unknown or inactive one is an error).
    /// `None` when the key store must be asked.
    fn known(app: &App, pending: &Pending<'_>, now: SystemTime) -> Result<Option<Self>, ApiError> {
        let id = pending.access_key_id();
        if let Some(session) = sessions::session_claims(app, id, pending.session_token(), now)? {
            return Ok(Some(Self::Session(session)));
        }
        match app.cache().lookup_cached(id, now) {
            Some(found) => Ok(Some(Self::Key(active_key(id, found)?))),
            None => Ok(None),
        }
    }

    /// The key from the store (through the cache, which remembers the answer).
    async fn fetch(app: &App, pending: &Pending<'_>, now: SystemTime) -> Result<Self, ApiError> {
        let id = pending.access_key_id();
        let found = app.cache().lookup_at(id, now).await?;
        Ok(Self::Key(active_key(id, found)?))
    }

    /// The signing keys to check the signature with.
    fn keys(&self) -> &SigningKeys {
        match self {
            Self::Key(key) => &key.signing_keys,
            Self::Session(session) => &session.keys,
        }
    }

    /// The caller, once the signature checked out: the principal must be enabled (and a
    /// session not revoked). A request without a valid signature never learns either.
    async fn caller(
        self,
        app: &App,
        location: SignatureLocation,
        now: SystemTime,
    ) -> Result<Caller, ApiError> {
        match self {
            // Its store fallback makes a large future: boxed, so a key's stays small.
            Self::Session(session) => Box::pin(sessions::session_caller(app, &session, now)).await,
            Self::Key(key) => key_caller(app, &key, location, now),
        }
    }
}

/// The caller a long-term key's signature stands for, once it checked out: the principal must
/// be enabled. Queues the key's `last used` (off the hot path, at most once a minute).
fn key_caller(
    app: &App,
    key: &CachedKey,
    location: SignatureLocation,
    now: SystemTime,
) -> Result<Caller, ApiError> {
    if !key.principal_enabled {
        return Err(ApiError::access_denied(format!(
            "principal `{}` is disabled",
            key.principal
        )));
    }
    app.last_used().touch_cached(key, unix_seconds(now));
    Ok(Caller {
        principal: key.principal.clone(),
        access_key_id: key.access_key_id.clone(),
        auth: AuthMethod::from(location),
        admin: key.admin,
        family: None,
        authenticated_at: now,
    })
}

/// Authenticates a request for the gateway, deciding how its body may travel on.
///
/// The signature is checked before the body is touched whenever it can be: with a signed
/// `x-amz-content-sha256` the body up to `buffer_limit` is read and compared, and a larger one
/// streams through hashed ([`ForwardBody::streaming`]); with `UNSIGNED-PAYLOAD` it streams as
/// is; an `aws-chunked` body streams decoded ([`ForwardBody::chunked`]). Without a declared
/// hash the body is part of the signature, so it is read (up to `buffer_limit`) before the
/// signature can be checked. Also returns the alternative reading that matched, if any: the
/// query to forward is what it signed ([`Alternative::signed_query`]).
///
/// # Errors
/// As [`authenticate`]; 413 for an undeclared body larger than `buffer_limit`.
pub async fn authenticate_for_gateway(
    app: &App,
    parts: &http::request::Parts,
    body: Incoming,
    buffer_limit: u64,
) -> Result<(Caller, ForwardBody, Option<Alternative>), ApiError> {
    let view = request_view(parts);
    let now = app.clock().now();
    let pending = app.verifier().begin(&view, now)?;
    let holder = Holder::resolve(app, &pending, now).await?;
    let keys = holder.keys();
    let max_body = app.max_body();
    let (verified, body) = match pending.payload_claim() {
        PayloadClaim::BodyHash => {
            let limit = buffer_limit.min(max_body);
            let read = read_body(body, limit).await.map_err(|err| match err {
                ApiError::EntityTooLarge { .. } if limit < max_body => {
                    ApiError::EntityTooLarge { limit }
                }
                other => other,
            })?;
            let verified = pending.finish(keys, Some(&read.sha256))?;
            (verified, ForwardBody::checked(read.bytes))
        }
        PayloadClaim::Declared(declared) => {
            let verified = pending.finish(keys, None)?;
            let small = body.size_hint().upper().is_some_and(|n| n <= buffer_limit);
            let body = if small {
                let read = read_body(body, max_body).await?;
                if read.sha256 != declared {
                    return Err(ApiError::XAmzContentSha256Mismatch {
                        claimed: hex::encode(declared),
                        computed: hex::encode(read.sha256),
                    });
                }
                ForwardBody::checked(read.bytes)
            } else {
                ForwardBody::streaming(body, Some(declared), max_body)
            };
            (verified, body)
        }
        PayloadClaim::Streaming(mode) => {
            let verified = pending.finish(keys, None)?;
            let decoder = crate::chunked::decoder(parts, mode, &verified, max_body)?;
            (verified, ForwardBody::chunked(body, decoder, max_body))
        }
        _ => {
            let verified = pending.finish(keys, None)?;
            (verified, ForwardBody::streaming(body, None, max_body))
        }
    };
    let caller = holder.caller(app, verified.location, now).await?;
    Ok((caller, body, verified.alternative))
}

/// Checks the signature and reads the body under `--max-body`: hashed (the hash is part of
/// the check), or, for an `aws-chunked` body, decoded and verified chunk by chunk after the
/// seed signature checked out.
///
/// # Errors
/// As [`authenticate`]; the body's own errors (section 18.3 of `spec/protocol.md`).
pub async fn finish_and_read(
    app: &App,
    pending: Pending<'_>,
    keys: &SigningKeys,
    parts: &http::request::Parts,
    body: Incoming,
) -> Result<(Verified, Bytes), ApiError> {
    if let PayloadClaim::Streaming(mode) = pending.payload_claim() {
        let verified = pending.finish(keys, None)?;
        let decoder = crate::chunked::decoder(parts, mode, &verified, app.max_body())?;
        let body = ForwardBody::chunked(body, decoder, app.max_body());
        // The decoder's future is large and rare: boxed, so that every other request's
        // future (copied on each call) stays small.
        return Ok((verified, Box::pin(body.read_all()).await?));
    }
    let body = read_body(body, app.max_body()).await?;
    let verified = pending.finish(keys, Some(&body.sha256))?;
    Ok((verified, body.bytes))
}

/// The key the cache or store found for `id`, when it is active.
fn active_key(id: &str, found: Option<Arc<CachedKey>>) -> Result<Arc<CachedKey>, ApiError> {
    match found {
        Some(key) if key.status == KeyStatus::Active => Ok(key),
        _ => Err(ApiError::InvalidAccessKeyId(clip(id))),
    }
}

/// At most 64 characters of a peer-supplied id, for messages.
fn clip(id: &str) -> String {
    id.chars().take(64).collect()
}

impl From<SignatureLocation> for AuthMethod {
    fn from(location: SignatureLocation) -> Self {
        match location {
            SignatureLocation::Query => Self::Query,
            _ => Self::Header,
        }
    }
}

/// Reads a body while hashing it, refusing more than `limit` bytes with 413.
///
/// # Errors
/// [`ApiError::EntityTooLarge`] past the limit, [`ApiError::InvalidRequest`] when the
/// connection fails mid-body.
pub async fn read_body<B>(mut body: B, limit: u64) -> Result<HashedBody, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    if body.size_hint().lower() > limit {
        return Err(ApiError::EntityTooLarge { limit });
    }
    if body.is_end_stream() {
        return Ok(HashedBody {
            bytes: Bytes::new(),
            sha256: EMPTY_SHA256_DIGEST,
        });
    }
    let mut hasher = Sha256::new();
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|err| ApiError::InvalidRequest(format!("reading the body failed: {err}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if u64::try_from(buffer.len() + data.len()).map_or(true, |len| len > limit) {
            return Err(ApiError::EntityTooLarge { limit });
        }
        hasher.update(&data);
        buffer.extend_from_slice(&data);
    }
    Ok(HashedBody {
        bytes: buffer.freeze(),
        sha256: hasher.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    #[tokio::test]
    async fn body_is_hashed_while_read() {
        let body = read_body(Full::new(Bytes::from_static(b"")), 10)
            .await
            .unwrap();
        assert_eq!(
            hex::encode(body.sha256),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let body = read_body(Full::new(Bytes::from_static(b"abc")), 3)
            .await
            .unwrap();
        assert_eq!(&body.bytes[..], b"abc");
        assert_eq!(
            hex::encode(body.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn body_over_the_limit_is_413() {
        let err = read_body(Full::new(Bytes::from_static(b"abcd")), 3)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 413);
        assert_eq!(err.code(), "EntityTooLarge");
    }

    /// A body of `n` two-byte chunks with no size hint, like a chunked upload.
    struct Chunked(usize);

    impl hyper::body::Body for Chunked {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.0 -= 1;
            let frame = hyper::body::Frame::data(Bytes::from_static(b"xx"));
            std::task::Poll::Ready(Some(Ok(frame)))
        }
    }

    #[tokio::test]
    async fn streamed_body_over_the_limit_is_413() {
        assert_eq!(read_body(Chunked(4), 8).await.unwrap().bytes.len(), 8);
        let err = read_body(Chunked(5), 9).await.unwrap_err();
        assert_eq!(err.code(), "EntityTooLarge");
    }
}
