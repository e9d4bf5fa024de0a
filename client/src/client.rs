//! The client: sign, send, and handle skew retries and redirects.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use countersign::chunked::{CHECKSUM_SHA256, ChunkSigner, Seed, StreamingMode};
use countersign::{
    AmzDate, ClockOffset, ContentSha256Header, Payload, Request as SigRequest, Scope, Signer,
    SigningKey, SigningSettings,
};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::{Body, ChunkedBody, OutBody, PayloadSigning, ResponseBody};
use crate::call::{Call, host_header, resolve_location, target};
use crate::credentials::ProvideCredentials;
use crate::error::ClientError;
use crate::tls::{Trust, client_config};

/// Most redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// Largest error body the client reads to look for `server_time` / `canonical_request`.
const MAX_ERROR_BODY: usize = 256 * 1024;
/// Connect timeout when no request timeout is set.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Client settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signer settings (URI encoding, `x-amz-content-sha256`). Default: the SDK's.
    pub settings: SigningSettings,
    /// Server certificate verification. Default: [`Trust::Platform`].
    pub trust: Trust,
    /// Time allowed until the response headers arrive, per hop (the upload counts, the
    /// response body does not). Default: none.
    pub timeout: Option<Duration>,
    /// Follow 301/302/303/307/308, re-signing each hop (up to [`MAX_REDIRECTS`]). Default: off.
    pub follow_redirects: bool,
    /// `User-Agent` sent when the call sets none. Default: `countersign-client/<version>`.
    pub user_agent: String,
}

impl ClientConfig {
    /// Defaults for a region and service.
    pub fn new(region: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            service: service.into(),
            settings: SigningSettings::default(),
            trust: Trust::default(),
            timeout: None,
            follow_redirects: false,
            user_agent: concat!("countersign-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// A response, and what the client learnt while getting it.
#[derive(Debug)]
pub struct Reply {
    /// Status, headers and body. Error bodies the client inspected are already read.
    pub response: http::Response<ResponseBody>,
    /// The canonical request the client signed for the last hop (for mismatch diagnosis).
    pub canonical_request: String,
    /// The server's JSON error, when the response is an error the client read.
    pub error: Option<ServerError>,
    /// Seconds the signing clock was moved (positive: forward, the local clock was behind) when
    /// a `RequestTimeTooSkewed` made the client retry. With no earlier correction this is how
    /// far off the local clock is.
    pub clock_correction: Option<i64>,
}

/// A countersign error body: `{"error": {"code", "message", ...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// `error.code`, e.g. `SignatureDoesNotMatch`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.canonical_request` (servers with debug errors on, for `SignatureDoesNotMatch`).
    pub canonical_request: Option<String>,
    /// `error.server_time` (`RequestTimeTooSkewed`), `YYYYMMDDTHHMMSSZ`.
    pub server_time: Option<String>,
}

/// A signing HTTP(S) client. Cheap to share behind an `Arc`; the connection pool and the
/// clock offset are shared by all calls.
pub struct Client<P> {
    http: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, OutBody>,
    credentials: P,
    config: ClientConfig,
    offset: Arc<ClockOffset>,
}

impl<P> std::fmt::Debug for Client<P> {
    /// The configuration and clock offset; never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<P: ProvideCredentials> Client<P> {
    /// A client with `config`, signing with `credentials`. Must be called within a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`ClientError::CaFile`] / [`ClientError::Tls`] when the TLS configuration cannot be built.
    pub fn new(config: ClientConfig, credentials: P) -> Result<Self, ClientError> {
        let tls = client_config(&config.trust)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.timeout.unwrap_or(CONNECT_TIMEOUT)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            credentials,
            config,
            offset: Arc::new(ClockOffset::default()),
        })
    }

    /// Shares `offset` with this client: corrections learnt by one client apply to every
    /// client holding the same offset (e.g. one per credentials set, same server).
    pub fn with_clock_offset(mut self, offset: Arc<ClockOffset>) -> Self {
        self.offset = offset;
        self
    }

    /// The clock offset learnt from `RequestTimeTooSkewed` errors (used by later calls).
    pub fn clock_offset(&self) -> &Arc<ClockOffset> {
        &self.offset
    }

    /// Signs and sends `call`; retries once after correcting the clock on
    /// `RequestTimeTooSkewed`, and follows redirects when configured.
    ///
    /// # Errors
    /// [`ClientError`] when the request cannot be built, signed or sent, or no response comes.
    /// HTTP error statuses are not errors: they are in [`Reply::response`].
    pub async fn send(&self, call: Call) -> Result<Reply, ClientError> {
        let mut call = call;
        let mut payload_hash = self.payload_hash(&call).await?;
        let mut correction = None;
        let mut hops = 0;
        let mut renewed = false;
        loop {
            let (response, creq, access_key_id) = self.send_once(&call, payload_hash).await?;
            let (response, error) = read_error(response).await;
            if let Some(seconds) = self.skew_to_correct(error.as_ref(), correction) {
                correction = Some(seconds);
                continue;
            }
            if !renewed && is_expired_token(error.as_ref()) {
                renewed = true;
                if self.credentials.expired(&access_key_id).await? {
                    continue;
                }
            }
            if let Some(next) = self.redirect(&call, &response)? {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(ClientError::TooManyRedirects(MAX_REDIRECTS));
                }
                if matches!(next.body, Body::Empty) && !matches!(call.body, Body::Empty) {
                    payload_hash = Body::Empty.sha256().await?;
                }
                call = next;
                continue;
            }
            return Ok(Reply {
                response,
                canonical_request: creq,
                error,
                clock_correction: correction,
            });
        }
    }

    /// Sends `call` without signing it (no credentials are asked for), e.g. a login. Redirects
    /// are not followed and there is no skew retry.
    ///
    /// # Errors
    /// As [`Self::send`].
    pub async fn send_unsigned(&self, call: Call) -> Result<Reply, ClientError> {
        let headers = with_host(&call);
        let request = self.assemble(&call, &headers, &[], None).await?;
        let response = self.dispatch(&call, request).await?;
        let (response, error) = read_error(response).await;
        Ok(Reply {
            response,
            canonical_request: String::new(),
            error,
            clock_correction: None,
        })
    }

    async fn payload_hash(&self, call: &Call) -> Result<[u8; 32], ClientError> {
        match call.payload {
            PayloadSigning::Signed => call.body.sha256().await,
            PayloadSigning::Unsigned | PayloadSigning::Chunked { .. } => Ok([0; 32]),
        }
    }

    /// On the first `RequestTimeTooSkewed` with a readable `server_time`: records the offset,
    /// warns, and returns how far the signing clock moved (the caller retries). `None`
    /// otherwise.
    fn skew_to_correct(&self, error: Option<&ServerError>, done: Option<i64>) -> Option<i64> {
        let error = error.filter(|e| e.code == "RequestTimeTooSkewed")?;
        if done.is_some() {
            return None;
        }
        let server_time = AmzDate::parse(error.server_time.as_deref()?).ok()?;
        let before = self.offset.seconds();
        let after = self
            .offset
            .observe(server_time.to_system_time(), SystemTime::now());
        let seconds = after.saturating_sub(before);
        let direction = if seconds >= 0 { "behind" } else { "ahead of" };
        tracing::warn!(
            seconds = seconds.unsigned_abs(),
            "the local clock is {direction} the server's; retrying with the server's time"
        );
        Some(seconds)
    }

    async fn send_once(
        &self,
        call: &Call,
        payload_hash: [u8; 32],
    ) -> Result<(http::Response<hyper::body::Incoming>, String, String), ClientError> {
        let (request, creq, access_key_id) = self.build(call, payload_hash).await?;
        let response = self.dispatch(call, request).await?;
        Ok((response, creq, access_key_id))
    }

    async fn dispatch(
        &self,
        call: &Call,
        request: http::Request<OutBody>,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let url = call.uri.to_string();
        let pending = self.http.request(request);
        let result =
            match self.config.timeout {
                Some(limit) => tokio::time::timeout(limit, pending).await.map_err(|_| {
                    ClientError::Timeout {
                        url: url.clone(),
                        seconds: limit.as_secs_f64(),
                    }
                })?,
                None => pending.await,
            };
        result.map_err(|err| ClientError::Network {
            url,
            source: Box::new(err),
        })
    }

    /// The signed `http::Request`, its canonical request text and the access key id used.
    async fn build(
        &self,
        call: &Call,
        payload_hash: [u8; 32],
    ) -> Result<(http::Request<OutBody>, String, String), ClientError> {
        let credentials = self.credentials.credentials().await?;
        let access_key_id = credentials.access_key_id().to_owned();
        let mut headers = with_host(call);
        let mut decoded_len = 0;
        let (payload, settings) = match call.payload {
            PayloadSigning::Signed => (Payload::Sha256(payload_hash), self.config.settings),
            PayloadSigning::Unsigned => (
                Payload::Unsigned,
                self.config
                    .settings
                    .content_sha256(ContentSha256Header::Send),
            ),
            PayloadSigning::Chunked { mode, .. } => {
                decoded_len = call.body.len().await?;
                Self::chunked_headers(&mut headers, mode, decoded_len);
                (Payload::Streaming(mode), self.config.settings)
            }
        };
        let secret = credentials.secret().clone();
        let signer = Signer::new(credentials, &self.config.region, &self.config.service)?
            .with_settings(settings);
        let now = AmzDate::from_system_time(self.offset.now(SystemTime::now()));
        let view = SigRequest::new(call.method.as_str(), target(&call.uri))
            .headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let signed = signer.sign(&view, payload, now)?;
        let creq = signed.canonical_request().to_string();
        let chunking = match call.payload {
            PayloadSigning::Chunked { mode, chunk_size } => {
                let chunks = if mode.signs_chunks() {
                    let date = now.date_stamp();
                    let (region, service) =
                        (self.config.region.as_str(), self.config.service.as_str());
                    let key = SigningKey::derive(&secret, date, region, service);
                    let scope = Scope {
                        date,
                        region,
                        service,
                    };
                    ChunkSigner::new(mode, Seed::new(key, now, scope, signed.signature()))
                } else {
                    ChunkSigner::unsigned()
                };
                Some(Chunking {
                    chunks,
                    mode,
                    decoded_len,
                    chunk_size,
                })
            }
            _ => None,
        };
        let request = self
            .assemble(call, &headers, signed.headers(), chunking)
            .await?;
        Ok((request, creq, access_key_id))
    }

    /// The `http::Request` with `headers`, then `extra` (the signature's), a `User-Agent` and
    /// the body (framed as aws-chunked with `chunking`).
    async fn assemble(
        &self,
        call: &Call,
        headers: &[(String, String)],
        extra: &[(&'static str, String)],
        chunking: Option<Chunking>,
    ) -> Result<http::Request<OutBody>, ClientError> {
        let mut builder = http::Request::builder()
            .method(call.method.clone())
            .uri(call.uri.clone());
        for (name, value) in headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(extra.iter().map(|(n, v)| (*n, v.as_str())))
        {
            builder = builder.header(header_name(name)?, header_value(name, value)?);
        }
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        {
            builder = builder.header(
                USER_AGENT,
                header_value("user-agent", &self.config.user_agent)?,
            );
        }
        let mut body = call.body.open(call.progress.clone()).await?;
        if let Some(c) = chunking {
            let chunked = ChunkedBody::new(body, c.chunks, c.mode, c.decoded_len, c.chunk_size)?;
            builder = builder.header(CONTENT_LENGTH, chunked.encoded_len());
            body = OutBody::Chunked(Box::new(chunked));
        }
        builder
            .body(body)
            .map_err(|err| ClientError::Header(err.to_string()))
    }

    /// The headers an `aws-chunked` body needs, added (and signed) unless the caller set them.
    fn chunked_headers(headers: &mut Vec<(String, String)>, mode: StreamingMode, decoded_len: u64) {
        let mut add = |name: &str, value: String| {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                headers.push((name.to_owned(), value));
            }
        };
        add("Content-Encoding", "aws-chunked".to_owned());
        add("x-amz-decoded-content-length", decoded_len.to_string());
        if mode.has_trailer() {
            add("x-amz-trailer", CHECKSUM_SHA256.to_owned());
        }
    }

    /// The next hop when redirects are followed and `response` is one.
    fn redirect(
        &self,
        call: &Call,
        response: &http::Response<ResponseBody>,
    ) -> Result<Option<Call>, ClientError> {
        let status = response.status();
        if !self.config.follow_redirects || !is_redirect(status) {
            return Ok(None);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::BadRedirect(format!("{status} has no Location")))?;
        let mut next = call.clone();
        next.uri = resolve_location(&call.uri, location)?;
        if next.uri.authority() != call.uri.authority() {
            next.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        }
        let becomes_get = status == StatusCode::SEE_OTHER
            || (matches!(status.as_u16(), 301 | 302) && call.method == Method::POST);
        if becomes_get && call.method != Method::HEAD {
            next.method = Method::GET;
            next.body = Body::Empty;
            next.headers.retain(|(n, _)| {
                !n.eq_ignore_ascii_case("content-type") && !n.eq_ignore_ascii_case("content-length")
            });
        }
        Ok(Some(next))
    }
}

/// The call's headers, with `Host` from the URL first unless the call sets one.
/// How to frame an aws-chunked body: the chunk signer and sizes.
struct Chunking {
    chunks: ChunkSigner,
    mode: StreamingMode,
    decoded_len: u64,
    chunk_size: usize,
}

fn with_host(call: &Call) -> Vec<(String, String)> {
    let mut headers = call.headers.clone();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        headers.insert(0, ("Host".to_owned(), host_header(&call.uri)));
    }
    headers
}

/// A 401 `ExpiredToken`: the session credentials expired (the provider may renew them).
fn is_expired_token(error: Option<&ServerError>) -> bool {
    error.is_some_and(|e| e.code == "ExpiredToken")
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn header_name(name: &str) -> Result<HeaderName, ClientError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| ClientError::Header(name.to_owned()))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value).map_err(|_| ClientError::Header(name.to_owned()))
}

/// Reads small JSON error bodies (4xx/5xx) so the client and its caller can inspect them;
/// anything else keeps streaming.
async fn read_error(
    response: http::Response<hyper::body::Incoming>,
) -> (http::Response<ResponseBody>, Option<ServerError>) {
    let (parts, body) = response.into_parts();
    if !looks_like_json_error(&parts) {
        return (http::Response::from_parts(parts, Either::Left(body)), None);
    }
    let bytes = match Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let error = parse_server_error(&bytes);
    (
        http::Response::from_parts(parts, Either::Right(Full::new(bytes))),
        error,
    )
}

fn looks_like_json_error(parts: &http::response::Parts) -> bool {
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len <= MAX_ERROR_BODY);
    (parts.status.is_client_error() || parts.status.is_server_error()) && is_json && small
}

/// The `error` object of a countersign error body.
pub(crate) fn parse_server_error(body: &[u8]) -> Option<ServerError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |key: &str| error.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    Some(ServerError {
        code: text("code")?,
        message: text("message").unwrap_or_default(),
        canonical_request: text("canonical_request"),
        server_time: text("server_time"),
    })
}

#[cfg(test)]
mod tests {
    use countersign::Credentials;

    use super::*;
    use crate::credentials::StaticCredentials;

    #[tokio::test]
    async fn the_secret_never_appears_in_the_request_or_any_debug_output() {
        let marker = "LEAK-MARKER-7f3a";
        let credentials = StaticCredentials::new(Credentials::new("AKID", marker));
        let client = Client::new(ClientConfig::new("local", "countersign"), credentials).unwrap();
        let call = Call::new("POST", "http://h:8080/p?q=1")
            .unwrap()
            .header("X-Tag", "blue")
            .body(Body::Bytes(Bytes::from_static(b"body")));
        let hash = call.body.sha256().await.unwrap();
        let (request, creq, _) = client.build(&call, hash).await.unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
            "{auth}"
        );
        assert!(
            creq.contains("host:h:8080\n") && creq.contains("x-tag:blue\n"),
            "{creq}"
        );
        let shown = [
            format!("{request:?}"),
            creq,
            format!("{client:?}"),
            format!("{call:?}"),
        ];
        assert!(!shown.iter().any(|s| s.contains(marker)), "{shown:?}");
    }

    #[test]
    fn error_bodies_are_read_for_code_canonical_request_and_server_time() {
        let body = br#"{"error":{"code":"RequestTimeTooSkewed","message":"m","server_time":"20231114T221320Z"}}"#;
        let error = parse_server_error(body).unwrap();
        assert_eq!(error.code, "RequestTimeTooSkewed");
        assert_eq!(error.server_time.as_deref(), Some("20231114T221320Z"));
        assert_eq!(error.canonical_request, None);
        assert_eq!(parse_server_error(b"not json"), None);
        assert_eq!(
            parse_server_error(br#"{"error":{"message":"no code"}}"#),
            None
        );
    }
}
