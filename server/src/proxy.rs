//! The verifying gateway: requests under a `--route` prefix are authenticated like any other
//! and then forwarded to the upstream with the caller's identity.
//!
//! What the upstream receives:
//! - `X-Countersign-Principal`, `X-Countersign-Access-Key-Id` and `X-Countersign-Auth`
//!   (`header`, `query` or `session`), and never a copy of those sent by the client: every
//!   client header whose name starts with `x-countersign-` is dropped first;
//! - no `Authorization` header, session token or presign query parameters, unless
//!   `--forward-auth`;
//! - no hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the headers it names,
//!   `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`);
//! - `X-Forwarded-For` (appended), `X-Forwarded-Host` and `X-Forwarded-Proto`.
//!
//! Bodies: a body is handed on only once its hash is known to match, except when it is larger
//! than `--buffer-limit` with a signed `x-amz-content-sha256`; such a body streams through while
//! hashed, and the last frame is held back until the hash is checked, so on a mismatch the
//! upstream sees an aborted request, never a complete one (`spec/protocol.md`, "Gateway").
//! An `aws-chunked` body streams through the same check *decoded*: the chunk signatures, the
//! decoded length and the trailer are checked on the way, the last data is held back until the
//! decoder has seen the whole body, and the upstream gets the plain body with `Content-Length`
//! set to the decoded length, `aws-chunked` removed from `Content-Encoding`, and no
//! `x-amz-decoded-content-length` or `x-amz-trailer` (`spec/protocol.md` section 18).

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use countersign::Alternative;
use countersign::chunked::ChunkedDecoder;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Uri};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use sha2::{Digest, Sha256};

use crate::app::Origin;
use crate::auth::Caller;
use crate::config::{GatewayArgs, GatewayRoute};
use crate::error::{ApiError, Response, ResponseBody};

/// Header with the authenticated principal's name.
pub const PRINCIPAL_HEADER: &str = "x-countersign-principal";
/// Header with the access key id that signed.
pub const ACCESS_KEY_HEADER: &str = "x-countersign-access-key-id";
/// Header with where the signature was (`header`, `query`, `session`).
pub const AUTH_HEADER: &str = "x-countersign-auth";

/// Presign query parameters (compared case-insensitively), removed unless `--forward-auth`.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

const PRESIGN_PARAMS: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
];

/// The configured routes and the pooled upstream clients.
pub struct Gateway {
    routes: Vec<GatewayRoute>,
    http1: Client<HttpConnector, ForwardBody>,
    h2c: Client<HttpConnector, ForwardBody>,
    forward_auth: bool,
    timeout: Duration,
    buffer_limit: u64,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// The gateway for `args`; `None` without routes.
    pub fn new(args: &GatewayArgs) -> Option<Self> {
        if args.routes.is_empty() {
            return None;
        }
        let mut routes = args.routes.clone();
        // Longest prefix first, so the first match is the most specific.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(args.upstream_timeout));
        let http1 = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector.clone());
        let h2c = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http2_only(true)
            .build(connector);
        Some(Self {
            routes,
            http1,
            h2c,
            forward_auth: args.forward_auth,
            timeout: args.upstream_timeout,
            buffer_limit: args.buffer_limit,
        })
    }

    /// The route prefixes (the `route` label of the upstream metrics).
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.prefix.as_str())
    }

    /// The route for `path`, if any (never for the server's own endpoints).
    pub fn route(&self, path: &str) -> Option<&GatewayRoute> {
        if is_own_endpoint(path) {
            return None;
        }
        self.routes.iter().find(|r| prefix_matches(&r.prefix, path))
    }

    /// `--buffer-limit` in bytes.
    pub fn buffer_limit(&self) -> u64 {
        self.buffer_limit
    }

    /// Forwards an authenticated request and returns the upstream's response; `alternative` is
    /// the reading its signature matched (the query pairs it left unsigned are not forwarded).
    ///
    /// # Errors
    /// [`ForwardError::Upstream`]: 502 `UpstreamUnavailable` when the upstream cannot be reached
    /// or fails, 504 `UpstreamTimeout` when it does not answer in time;
    /// [`ForwardError::Body`]: the body's own error (400 `XAmzContentSHA256Mismatch`, a chunk's
    /// `SignatureDoesNotMatch`, 413) when the body failed its check while streaming.
    pub async fn forward(
        &self,
        route: &GatewayRoute,
        parts: Parts,
        alternative: Option<Alternative>,
        body: ForwardBody,
        caller: &Caller,
        origin: Origin,
    ) -> Result<Response, ForwardError> {
        let failure = body.failure.clone();
        let request = self
            .upstream_request(route, parts, alternative, body, caller, origin)
            .map_err(ForwardError::Upstream)?;
        let client = if route.h2c { &self.h2c } else { &self.http1 };
        let answer = tokio::time::timeout(self.timeout, client.request(request)).await;
        let response = match answer {
            Err(_) => {
                return Err(ForwardError::Upstream(ApiError::UpstreamTimeout(format!(
                    "the upstream `{}` did not answer within {}s",
                    route.authority,
                    self.timeout.as_secs_f64()
                ))));
            }
            Ok(Err(err)) => {
                if let Some(body_error) = failure.take() {
                    return Err(ForwardError::Body(body_error));
                }
                tracing::warn!(upstream = %route.authority, error = %crate::error_chain(&err), "upstream request failed");
                return Err(ForwardError::Upstream(ApiError::UpstreamUnavailable(
                    format!("the upstream `{}` is unavailable", route.authority),
                )));
            }
            Ok(Ok(response)) => response,
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, ResponseBody::Right(body)))
    }

    fn upstream_request(
        &self,
        route: &GatewayRoute,
        parts: Parts,
        alternative: Option<Alternative>,
        body: ForwardBody,
        caller: &Caller,
        origin: Origin,
    ) -> Result<Request<ForwardBody>, ApiError> {
        let Parts {
            method,
            uri,
            mut headers,
            ..
        } = parts;
        let path = uri.path();
        let rest = if route.prefix == "/" {
            path
        } else {
            path.get(route.prefix.len()..).unwrap_or("")
        };
        let mut target = String::with_capacity(path.len() + route.base_path.len() + 16);
        if route.base_path.is_empty() {
            target.push_str(path);
        } else {
            target.push_str(&route.base_path);
            target.push_str(rest);
            if target.is_empty() {
                target.push('/');
            }
        }
        if let Some(query) = uri.query() {
            push_forwarded_query(&mut target, query, self.forward_auth, alternative.as_ref());
        }
        let upstream_uri = Uri::builder()
            .scheme("http")
            .authority(route.authority.as_str())
            .path_and_query(target)
            .build()
            .map_err(|err| ApiError::InvalidRequest(format!("cannot forward this path: {err}")))?;
        let original_host = headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut headers);
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("x-countersign-"))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
        if !self.forward_auth {
            headers.remove(header::AUTHORIZATION);
            headers.remove("x-amz-security-token");
        }
        if let Some(length) = body.decoded_length() {
            decoded_body_headers(&mut headers, length);
        }
        headers.remove(header::HOST);
        if route.h2c {
            // HTTP/2 has no Host header: the authority travels in the URI.
        } else if let Ok(host) = HeaderValue::from_str(&route.authority) {
            headers.insert(header::HOST, host);
        }
        let identity =
            |value: &str| HeaderValue::from_str(value).map_err(|_| ApiError::InternalError);
        headers.insert(
            HeaderName::from_static(PRINCIPAL_HEADER),
            identity(&caller.principal)?,
        );
        headers.insert(
            HeaderName::from_static(ACCESS_KEY_HEADER),
            identity(&caller.access_key_id)?,
        );
        headers.insert(
            HeaderName::from_static(AUTH_HEADER),
            HeaderValue::from_static(caller.auth.as_str()),
        );
        forwarded_headers(&mut headers, origin, original_host);
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = upstream_uri;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

/// Headers for an `aws-chunked` body forwarded decoded: its length, no `aws-chunked` coding,
/// no header that describes the encoding.
fn decoded_body_headers(headers: &mut HeaderMap, length: u64) {
    let codings: Vec<String> = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .map(str::to_owned)
        .collect();
    headers.remove(header::CONTENT_ENCODING);
    if let Ok(value) = HeaderValue::from_str(&codings.join(", "))
        && !codings.is_empty()
    {
        headers.insert(header::CONTENT_ENCODING, value);
    }
    headers.remove("x-amz-decoded-content-length");
    headers.remove("x-amz-trailer");
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
}

/// `/v1/…`, `/livez`, `/readyz` and `/metrics` are always the server's own.
fn is_own_endpoint(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/") || matches!(path, "/livez" | "/readyz" | "/metrics")
}

/// Whether `prefix` covers `path` on a segment boundary (`/api` covers `/api` and `/api/x`,
/// not `/apix`).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Appends to `target` the query the upstream gets (with its `?`, unless nothing is left):
/// only the pairs the signature covers (the reading that matched may have left some out, see
/// [`Alternative::signed_query`]), and the presign parameters (names compared
/// case-insensitively) only with `keep_presign`. Pieces are copied as received.
fn push_forwarded_query(
    target: &mut String,
    query: &str,
    keep_presign: bool,
    alternative: Option<&Alternative>,
) {
    let signed = alternative.map_or(Cow::Borrowed(query), |a| a.signed_query(query));
    if signed.is_empty() {
        return;
    }
    let is_presign = |pair: &str| {
        let name = pair.split('=').next().unwrap_or("");
        PRESIGN_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name))
    };
    let kept = signed
        .split('&')
        .filter(|pair| keep_presign || !is_presign(pair));
    for (i, pair) in kept.enumerate() {
        target.push(if i == 0 { '?' } else { '&' });
        target.push_str(pair);
    }
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), including those named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

fn forwarded_headers(headers: &mut HeaderMap, origin: Origin, original_host: Option<HeaderValue>) {
    if let Some(peer) = origin.peer {
        let ip = peer.to_string();
        let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    if let Some(host) = original_host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    let proto = if origin.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
}

/// Where a failed body check is reported to [`Gateway::forward`].
#[derive(Debug, Clone, Default)]
pub struct FailureSlot(Arc<Mutex<Option<ApiError>>>);

impl FailureSlot {
    fn set(&self, err: ApiError) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
    }

    fn take(&self) -> Option<ApiError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The body handed to the upstream: bytes already checked, or a stream checked on the way.
pub struct ForwardBody {
    kind: Kind,
    failure: FailureSlot,
}

enum Kind {
    Checked(Full<Bytes>),
    Streaming(Box<StreamCheck>),
}

/// A streamed body: counted against the size limit, and, when `expected` is set, hashed, or,
/// with a `decoder`, decoded from `aws-chunked`; in both cases the latest frame is held back
/// until the end so that a mismatch aborts the upstream request before it is complete.
struct StreamCheck {
    inner: Incoming,
    expected: Option<[u8; 32]>,
    decoder: Option<ChunkedDecoder>,
    hasher: Sha256,
    held: Option<Bytes>,
    seen: u64,
    limit: u64,
    done: bool,
}

impl ForwardBody {
    /// A body whose bytes were already read and checked.
    pub fn checked(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Checked(Full::new(bytes)),
            failure: FailureSlot::default(),
        }
    }

    /// A body streamed through, at most `limit` bytes; with `expected`, it must hash to it.
    pub fn streaming(inner: Incoming, expected: Option<[u8; 32]>, limit: u64) -> Self {
        Self {
            kind: Kind::Streaming(Box::new(StreamCheck {
                inner,
                expected,
                decoder: None,
                hasher: Sha256::new(),
                held: None,
                seen: 0,
                limit,
                done: false,
            })),
            failure: FailureSlot::default(),
        }
    }
}

impl ForwardBody {
    /// An `aws-chunked` body decoded (and its signatures checked) by `decoder` while it
    /// streams through; at most `limit` decoded bytes.
    pub fn chunked(inner: Incoming, decoder: ChunkedDecoder, limit: u64) -> Self {
        let mut body = Self::streaming(inner, None, limit);
        if let Kind::Streaming(check) = &mut body.kind {
            check.decoder = Some(decoder);
        }
        body
    }

    /// The decoded length of an `aws-chunked` body, which the upstream is told.
    pub fn decoded_length(&self) -> Option<u64> {
        match &self.kind {
            Kind::Streaming(check) => check.decoder.as_ref().map(ChunkedDecoder::declared_length),
            Kind::Checked(_) => None,
        }
    }

    /// Reads the whole body into memory (the server's own API), checked as it streams.
    ///
    /// # Errors
    /// The check's [`ApiError`] (e.g. a bad chunk signature, a truncated body, 413).
    pub async fn read_all(self) -> Result<Bytes, ApiError> {
        use http_body_util::BodyExt as _;
        let failure = self.failure.clone();
        match self.collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(rejected) => Err(failure
                .take()
                .unwrap_or_else(|| ApiError::InvalidRequest(rejected.to_string()))),
        }
    }
}

/// Why a forwarded request failed.
#[derive(Debug)]
pub enum ForwardError {
    /// The body failed its check while streaming to the upstream (a hash or chunk signature
    /// mismatch, a truncated or oversized body): part of authentication, like the same failure
    /// on the own API.
    Body(ApiError),
    /// The upstream request could not be made, failed or timed out.
    Upstream(ApiError),
}

/// Why a streamed body was cut off (the upstream sees the connection fail).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyRejected(String);

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = BodyRejected;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyRejected>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Checked(full) => Pin::new(full)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|never| match never {}))),
            Kind::Streaming(check) => check.poll(cx, &this.failure),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Checked(full) => full.is_end_stream(),
            Kind::Streaming(check) => check.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Checked(full) => full.size_hint(),
            Kind::Streaming(check) => match &check.decoder {
                Some(decoder) => SizeHint::with_exact(decoder.declared_length()),
                None => check.inner.size_hint(),
            },
        }
    }
}

impl StreamCheck {
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        failure: &FailureSlot,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyRejected>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                Some(Err(err)) => {
                    self.done = true;
                    let err = ApiError::InvalidRequest(format!("reading the body failed: {err}"));
                    let message = err.to_string();
                    failure.set(err);
                    return Poll::Ready(Some(Err(BodyRejected(message))));
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // Trailers are not forwarded.
                    };
                    let data = match self.decode(data) {
                        Ok(data) => data,
                        Err(err) => return self.reject(err, failure),
                    };
                    self.seen = self.seen.saturating_add(data.len() as u64);
                    if self.seen > self.limit {
                        return self
                            .reject(ApiError::EntityTooLarge { limit: self.limit }, failure);
                    }
                    if self.decoder.is_some() && data.is_empty() {
                        continue;
                    }
                    if self.expected.is_none() && self.decoder.is_none() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    if self.expected.is_some() {
                        self.hasher.update(&data);
                    }
                    if let Some(previous) = self.held.replace(data) {
                        return Poll::Ready(Some(Ok(Frame::data(previous))));
                    }
                }
                None => {
                    self.done = true;
                    if let Some(decoder) = self.decoder.take() {
                        if let Err(err) = decoder.finish() {
                            return self.reject(err.into(), failure);
                        }
                        return Poll::Ready(self.held.take().map(|data| Ok(Frame::data(data))));
                    }
                    let Some(expected) = self.expected else {
                        return Poll::Ready(None);
                    };
                    let actual: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
                    if actual != expected {
                        return self.reject(
                            ApiError::XAmzContentSha256Mismatch {
                                claimed: hex::encode(expected),
                                computed: hex::encode(actual),
                            },
                            failure,
                        );
                    }
                    return Poll::Ready(self.held.take().map(|data| Ok(Frame::data(data))));
                }
            }
        }
    }

    /// The decoded data of an `aws-chunked` frame (the frame itself without a decoder).
    fn decode(&mut self, data: Bytes) -> Result<Bytes, ApiError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(data);
        };
        let mut runs: Vec<Bytes> = Vec::new();
        let mut input = &data[..];
        while !input.is_empty() {
            let step = decoder.decode(input)?;
            if !step.data.is_empty() {
                runs.push(data.slice_ref(step.data));
            }
            input = input.get(step.consumed..).unwrap_or_default();
        }
        Ok(match runs.len() {
            0 => Bytes::new(),
            1 => runs.swap_remove(0),
            _ => {
                let mut joined = BytesMut::with_capacity(runs.iter().map(Bytes::len).sum());
                runs.iter().for_each(|run| joined.extend_from_slice(run));
                joined.freeze()
            }
        })
    }

    fn reject(
        &mut self,
        err: ApiError,
        failure: &FailureSlot,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyRejected>>> {
        self.done = true;
        self.held = None;
        let message = err.to_string();
        failure.set(err);
        Poll::Ready(Some(Err(BodyRejected(message))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_route;

    #[test]
    fn forwarded_headers_tell_the_connections_peer_and_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("192.0.2.1"));
        let origin = Origin {
            peer: Some([198, 51, 100, 7].into()),
            tls: true,
        };
        let host = HeaderValue::from_static("api.example");
        forwarded_headers(&mut headers, origin, Some(host));
        assert_eq!(headers[X_FORWARDED_FOR], "192.0.2.1, 198.51.100.7");
        assert_eq!(headers[X_FORWARDED_PROTO], "https");
        assert_eq!(headers[X_FORWARDED_HOST], "api.example");

        let mut headers = HeaderMap::new();
        forwarded_headers(&mut headers, Origin::default(), None);
        assert_eq!(
            headers.get(X_FORWARDED_FOR),
            None,
            "no peer, nothing to append"
        );
        assert_eq!(headers.get(X_FORWARDED_HOST), None);
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/x"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/", "/anything"));
    }

    #[test]
    fn own_endpoints_win_over_a_catch_all_route() {
        let args = GatewayArgs {
            routes: vec![parse_route("/=http://127.0.0.1:1").unwrap()],
            ..GatewayArgs::default()
        };
        let gateway = Gateway::new(&args).unwrap();
        for own in ["/v1/whoami", "/v1", "/livez", "/readyz", "/metrics"] {
            assert!(gateway.route(own).is_none(), "{own}");
        }
        assert!(gateway.route("/v1x").is_some());
        assert!(gateway.route("/other").is_some());
    }

    #[test]
    fn the_longest_prefix_wins() {
        let args = GatewayArgs {
            routes: vec![
                parse_route("/api=http://a:1").unwrap(),
                parse_route("/api/v2=http://b:1").unwrap(),
            ],
            ..GatewayArgs::default()
        };
        let gateway = Gateway::new(&args).unwrap();
        assert_eq!(gateway.route("/api/v2/x").unwrap().authority, "b:1");
        assert_eq!(gateway.route("/api/v3").unwrap().authority, "a:1");
    }

    #[test]
    fn route_flags_are_checked() {
        let route = parse_route("/api/=h2c://up:9000/base/").unwrap();
        assert_eq!(route.prefix, "/api");
        assert!(route.h2c);
        assert_eq!(route.authority, "up:9000");
        assert_eq!(route.base_path, "/base");
        for bad in [
            "api=http://x",
            "/v1=http://x",
            "/v1/things=http://x",
            "/api",
            "/api=https://x",
            "/api=http://",
            "/api=http://user@x",
            "/api=http://x?y",
        ] {
            assert!(parse_route(bad).is_err(), "{bad}");
        }
        let message = parse_route("/v1/x=http://up").unwrap_err();
        assert!(message.contains("/v1/"), "{message}");
    }

    /// The query `push_forwarded_query` writes after a path.
    fn forwarded(query: &str, keep_presign: bool, alternative: Option<&Alternative>) -> String {
        let mut target = String::from("/p");
        push_forwarded_query(&mut target, query, keep_presign, alternative);
        target
    }

    #[test]
    fn presign_parameters_are_removed_case_insensitively() {
        assert_eq!(
            forwarded(
                "a=1&X-Amz-Signature=abc&x-amz-credential=k&b=2",
                false,
                None
            ),
            "/p?a=1&b=2"
        );
        assert_eq!(forwarded("X-Amz-Date=1", false, None), "/p");
        // With --forward-auth the query goes as received.
        let all = "a=1&X-Amz-Signature=abc&&b";
        assert_eq!(forwarded(all, true, None), format!("/p?{all}"));
        assert_eq!(forwarded("", true, None), "/p");
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
