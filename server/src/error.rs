//! The server's one error type and its one mapping to HTTP.
//!
//! Every failure a client can see is an [`ApiError`]. [`ApiError::code`] and
//! [`ApiError::status`] are exhaustive matches, so a new variant cannot compile without a
//! wire code and a status. Bodies are `{"error": {"code", "message", "request_id", …}}`.

use std::time::SystemTime;

use bytes::Bytes;
use countersign::chunked::ChunkedError;
use countersign::{ErrorCode, VerifyError};
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use serde_json::{Map, Value, json};

use crate::clock::amz_date;
use crate::store::StoreError;

/// The response type of every route.
pub type Response = http::Response<ResponseBody>;

/// A response body: bytes the server wrote, or an upstream's body streamed back (gateway).
pub type ResponseBody = http_body_util::Either<Full<Bytes>, hyper::body::Incoming>;

/// Everything that can go wrong with a request, as the client is told.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No `Authorization` header and no presigned query parameters.
    #[error("request is not signed: expected an Authorization header or X-Amz-* query parameters")]
    MissingAuthenticationToken,
    /// The `Authorization` header cannot be parsed; the message says which part.
    #[error("{0}")]
    AuthorizationHeaderMalformed(String),
    /// The presigned query parameters cannot be parsed; the message says which one.
    #[error("{0}")]
    AuthorizationQueryParametersError(String),
    /// A required part of the signature is missing.
    #[error("{0}")]
    IncompleteSignature(String),
    /// A value in the request is not acceptable.
    #[error("{0}")]
    InvalidArgument(String),
    /// The access key id is unknown or inactive.
    #[error("the access key id `{0}` does not exist or is not active")]
    InvalidAccessKeyId(String),
    /// The signature does not match; carries the server's view for debugging.
    #[error("the request signature we calculated does not match the signature you provided")]
    SignatureDoesNotMatch {
        /// The canonical request as the server built it.
        canonical_request: String,
        /// The string to sign as the server built it.
        string_to_sign: String,
    },
    /// An aws-chunked body's chunk or trailer signature does not match; the message names the
    /// chunk. Same wire code and status as [`ApiError::SignatureDoesNotMatch`].
    #[error("{0}")]
    ChunkSignatureDoesNotMatch(String),
    /// The request time is too far from the server's clock.
    #[error(
        "the difference between the request time `{request_time}` and the server's time is too large"
    )]
    RequestTimeTooSkewed {
        /// The request's `X-Amz-Date` as sent.
        request_time: String,
        /// The server's time.
        server_time: SystemTime,
        /// The accepted difference.
        max_skew_seconds: u64,
    },
    /// A presigned URL has expired.
    #[error("{0}")]
    RequestExpired(String),
    /// The body does not hash to the signed `x-amz-content-sha256`.
    #[error(
        "the body's SHA-256 is `{computed}`, not the `{claimed}` that x-amz-content-sha256 claims"
    )]
    XAmzContentSha256Mismatch {
        /// The header's value.
        claimed: String,
        /// The body's actual hash.
        computed: String,
    },
    /// Authenticated, but not allowed (non-admin, disabled principal, unsigned x-amz-*).
    #[error("{message}")]
    AccessDenied {
        /// Why.
        message: String,
        /// The `x-amz-*` headers that must be signed but were not, when that is the cause.
        headers_not_signed: Vec<String>,
    },
    /// The session or refresh token is not valid: altered, not ours, not matching the
    /// access key id, spent, or its session was revoked.
    #[error("{0}")]
    InvalidToken(String),
    /// The session or refresh token has expired.
    #[error("{0}")]
    ExpiredToken(String),
    /// Login failed: unknown principal, no password set, or wrong password (never says which).
    #[error("the principal name or password is wrong")]
    InvalidCredentials,
    /// The body exceeds `--max-body`.
    #[error("the request body exceeds the maximum of {limit} bytes")]
    EntityTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The request is malformed (e.g. a JSON body that does not parse).
    #[error("{0}")]
    InvalidRequest(String),
    /// No such route or entity.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method not allowed: expected one of {}", allowed.join(", "))]
    MethodNotAllowed {
        /// The methods the route accepts.
        allowed: &'static [&'static str],
    },
    /// The request conflicts with the current state (duplicate name, key limit).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests (failed logins); retry after `retry_after` seconds.
    #[error("too many failed logins: retry in {retry_after} seconds")]
    TooManyRequests {
        /// Seconds until a retry may succeed; also sent as `Retry-After`.
        retry_after: u64,
    },
    /// A server bug or misconfiguration; details are logged, not returned.
    #[error("internal error")]
    InternalError,
    /// The key store cannot answer; retry later.
    #[error("the key store is unavailable: retry later")]
    ServiceUnavailable,
    /// An aws-chunked body ended early or its decoded length differs from the declared one.
    #[error("{0}")]
    IncompleteBody(String),
    /// An aws-chunked body's trailer is malformed or not the declared one.
    #[error("{0}")]
    MalformedTrailerError(String),
    /// A body's checksum (e.g. `x-amz-checksum-sha256`) does not match.
    #[error("{0}")]
    BadDigest(String),
    /// The gateway's upstream cannot be reached or failed.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// The gateway's upstream did not answer within `--upstream-timeout`.
    #[error("{0}")]
    UpstreamTimeout(String),
}

/// How error bodies are rendered.
#[derive(Debug, Clone, Copy)]
pub struct ErrorRendering {
    /// Include `canonical_request` / `string_to_sign` in `SignatureDoesNotMatch` bodies.
    pub debug_errors: bool,
}

impl ApiError {
    /// The wire code, e.g. `SignatureDoesNotMatch`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::InvalidAccessKeyId(_) => "InvalidAccessKeyId",
            Self::SignatureDoesNotMatch { .. } | Self::ChunkSignatureDoesNotMatch(_) => {
                "SignatureDoesNotMatch"
            }
            Self::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            Self::RequestExpired(_) => "RequestExpired",
            Self::XAmzContentSha256Mismatch { .. } => "XAmzContentSHA256Mismatch",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::InvalidToken(_) => "InvalidToken",
            Self::ExpiredToken(_) => "ExpiredToken",
            Self::InvalidCredentials => "InvalidCredentials",
            Self::EntityTooLarge { .. } => "EntityTooLarge",
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::NotFound(_) => "NotFound",
            Self::MethodNotAllowed { .. } => "MethodNotAllowed",
            Self::Conflict(_) => "Conflict",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::IncompleteBody(_) => "IncompleteBody",
            Self::MalformedTrailerError(_) => "MalformedTrailerError",
            Self::BadDigest(_) => "BadDigest",
            Self::UpstreamUnavailable(_) => "UpstreamUnavailable",
            Self::UpstreamTimeout(_) => "UpstreamTimeout",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AuthorizationHeaderMalformed(_)
            | Self::AuthorizationQueryParametersError(_)
            | Self::IncompleteSignature(_)
            | Self::InvalidArgument(_)
            | Self::XAmzContentSha256Mismatch { .. }
            | Self::IncompleteBody(_)
            | Self::MalformedTrailerError(_)
            | Self::BadDigest(_)
            | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::MissingAuthenticationToken
            | Self::InvalidAccessKeyId(_)
            | Self::SignatureDoesNotMatch { .. }
            | Self::ChunkSignatureDoesNotMatch(_)
            | Self::RequestTimeTooSkewed { .. }
            | Self::RequestExpired(_)
            | Self::InvalidToken(_)
            | Self::ExpiredToken(_)
            | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::EntityTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// A 403 `AccessDenied` with a message.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::AccessDenied {
            message: message.into(),
            headers_not_signed: Vec::new(),
        }
    }

    /// The JSON error response, with `x-request-id` and, for 401, `WWW-Authenticate`.
    pub fn into_response(self, request_id: &str, rendering: ErrorRendering) -> Response {
        let status = self.status();
        let mut response = json_response(status, &self.body(request_id, rendering));
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("AWS4-HMAC-SHA256"),
            );
        }
        if let Self::MethodNotAllowed { allowed } = self
            && let Ok(value) = HeaderValue::try_from(allowed.join(", "))
        {
            headers.insert(header::ALLOW, value);
        }
        if let Self::TooManyRequests { retry_after } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }

    fn body(&self, request_id: &str, rendering: ErrorRendering) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code().into());
        error.insert("message".into(), self.to_string().into());
        error.insert("request_id".into(), request_id.into());
        self.add_details(&mut error, rendering);
        json!({ "error": error })
    }

    fn add_details(&self, error: &mut Map<String, Value>, rendering: ErrorRendering) {
        match self {
            Self::SignatureDoesNotMatch {
                canonical_request,
                string_to_sign,
            } if rendering.debug_errors => {
                error.insert(
                    "canonical_request".into(),
                    canonical_request.as_str().into(),
                );
                error.insert("string_to_sign".into(), string_to_sign.as_str().into());
            }
            Self::RequestTimeTooSkewed {
                server_time,
                max_skew_seconds,
                request_time,
            } => {
                error.insert("server_time".into(), amz_date(*server_time).into());
                error.insert("request_time".into(), request_time.as_str().into());
                error.insert("max_skew_seconds".into(), (*max_skew_seconds).into());
            }
            Self::AccessDenied {
                headers_not_signed, ..
            } if !headers_not_signed.is_empty() => {
                error.insert(
                    "headers_not_signed".into(),
                    headers_not_signed.clone().into(),
                );
            }
            _ => {}
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::SignatureDoesNotMatch(mismatch) => Self::SignatureDoesNotMatch {
                canonical_request: mismatch.canonical_request,
                string_to_sign: mismatch.string_to_sign,
            },
            VerifyError::RequestTimeTooSkewed {
                request_time,
                server_time,
                max_skew,
            } => Self::RequestTimeTooSkewed {
                request_time: request_time.to_string(),
                server_time: server_time.to_system_time(),
                max_skew_seconds: max_skew.as_secs(),
            },
            VerifyError::UnsignedAmzHeaders(headers) => Self::AccessDenied {
                message: VerifyError::UnsignedAmzHeaders(headers.clone()).to_string(),
                headers_not_signed: headers,
            },
            VerifyError::ContentSha256Mismatch { declared, computed } => {
                Self::XAmzContentSha256Mismatch {
                    claimed: declared,
                    computed,
                }
            }
            VerifyError::InvalidAccessKeyId(id) => Self::InvalidAccessKeyId(id),
            other => Self::from_code(other.code(), other.to_string()),
        }
    }
}

impl From<ChunkedError> for ApiError {
    /// The wire code is the SDK's ([`ChunkedError::code`]); the message names the chunk.
    fn from(err: ChunkedError) -> Self {
        let message = format!("aws-chunked body: {err}");
        match err {
            ChunkedError::ChunkSignatureMismatch { .. }
            | ChunkedError::TrailerSignatureMismatch => Self::ChunkSignatureDoesNotMatch(message),
            // The server sets the chunk limit to --max-body: a larger chunk is a larger body.
            ChunkedError::ChunkTooLarge { limit, .. } => Self::EntityTooLarge { limit },
            other => Self::from_code(other.code(), message),
        }
    }
}

impl ApiError {
    /// The variant for an SDK wire code, with the SDK's message.
    fn from_code(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::MissingAuthenticationToken => Self::MissingAuthenticationToken,
            ErrorCode::AuthorizationHeaderMalformed => Self::AuthorizationHeaderMalformed(message),
            ErrorCode::AuthorizationQueryParametersError => {
                Self::AuthorizationQueryParametersError(message)
            }
            ErrorCode::IncompleteSignature => Self::IncompleteSignature(message),
            ErrorCode::InvalidArgument => Self::InvalidArgument(message),
            ErrorCode::InvalidAccessKeyId => Self::InvalidAccessKeyId(message),
            ErrorCode::RequestExpired => Self::RequestExpired(message),
            ErrorCode::AccessDenied => Self::access_denied(message),
            ErrorCode::IncompleteBody => Self::IncompleteBody(message),
            ErrorCode::MalformedTrailerError => Self::MalformedTrailerError(message),
            ErrorCode::BadDigest => Self::BadDigest(message),
            ErrorCode::SignatureDoesNotMatch
            | ErrorCode::RequestTimeTooSkewed
            | ErrorCode::XAmzContentSHA256Mismatch => {
                // Carried with their details by the caller; reaching here is a mapping bug.
                tracing::error!(code = %code, "verify error without its details");
                Self::InternalError
            }
            // `ErrorCode` is `#[non_exhaustive]` (another crate), so a wildcard is required:
            // an SDK code this server does not know yet is a server bug, never a 4xx guess.
            _ => {
                tracing::error!(code = %code, "verify error code unknown to the server");
                Self::InternalError
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::PrincipalExists(_) | StoreError::KeyLimit { .. } => {
                Self::Conflict(err.to_string())
            }
            StoreError::PrincipalNotFound(_) | StoreError::KeyNotFound(_) => {
                Self::NotFound(err.to_string())
            }
            StoreError::InvalidName(_) => Self::InvalidArgument(err.to_string()),
            StoreError::Database(_) => {
                tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "key store unavailable");
                Self::ServiceUnavailable
            }
            StoreError::Decrypt(_) | StoreError::Random => {
                tracing::error!(error = %err, "key store failure");
                Self::InternalError
            }
        }
    }
}

/// A JSON response with `content-type: application/json`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    typed_json_response(status, body)
}

/// A JSON response from any serializable value, written in one pass into one buffer.
pub fn typed_json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    bytes_json_response(status, Bytes::from(bytes))
}

/// A JSON response from text already serialized.
pub fn bytes_json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = http::Response::new(ResponseBody::Left(Full::new(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use http_body_util::BodyExt;

    use super::*;

    async fn body_of(response: Response) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    const DEBUG: ErrorRendering = ErrorRendering { debug_errors: true };
    const QUIET: ErrorRendering = ErrorRendering {
        debug_errors: false,
    };

    #[tokio::test]
    async fn unauthorized_carries_www_authenticate_and_request_id() {
        let response = ApiError::InvalidAccessKeyId("AKCSX".into()).into_response("rid-1", DEBUG);
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "AWS4-HMAC-SHA256");
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "InvalidAccessKeyId");
        assert_eq!(body["error"]["request_id"], "rid-1");
    }

    #[tokio::test]
    async fn signature_mismatch_debug_fields_follow_the_flag() {
        let err = || ApiError::SignatureDoesNotMatch {
            canonical_request: "GET\n/".into(),
            string_to_sign: "AWS4-HMAC-SHA256\n…".into(),
        };
        let shown = body_of(err().into_response("r", DEBUG)).await;
        assert_eq!(shown["error"]["canonical_request"], "GET\n/");
        let hidden = body_of(err().into_response("r", QUIET)).await;
        assert!(hidden["error"].get("canonical_request").is_none());
        assert!(hidden["error"].get("string_to_sign").is_none());
    }

    #[tokio::test]
    async fn skew_reports_server_time_and_limit() {
        let err = ApiError::RequestTimeTooSkewed {
            request_time: "20150830T123600Z".into(),
            server_time: UNIX_EPOCH + Duration::from_secs(1_440_938_160 + 16 * 60),
            max_skew_seconds: 900,
        };
        let body = body_of(err.into_response("r", QUIET)).await;
        assert_eq!(body["error"]["server_time"], "20150830T125200Z");
        assert_eq!(body["error"]["max_skew_seconds"], 900);
    }

    #[tokio::test]
    async fn unsigned_amz_headers_are_listed() {
        let err = ApiError::AccessDenied {
            message: "x-amz-meta-a must be signed".into(),
            headers_not_signed: vec!["x-amz-meta-a".into()],
        };
        let response = err.into_response("r", QUIET);
        assert_eq!(response.status(), 403);
        let body = body_of(response).await;
        assert_eq!(body["error"]["headers_not_signed"][0], "x-amz-meta-a");
    }

    #[test]
    fn store_errors_map_to_statuses() {
        let limit = StoreError::KeyLimit {
            principal: "p".into(),
            limit: 2,
        };
        assert_eq!(ApiError::from(limit).status(), 409);
        let db = StoreError::Database(sea_orm::DbErr::Custom("down".into()));
        assert_eq!(ApiError::from(db).status(), 503);
        let missing = StoreError::PrincipalNotFound("p".into());
        assert_eq!(ApiError::from(missing).code(), "NotFound");
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let response = ApiError::TooManyRequests { retry_after: 42 }.into_response("r", QUIET);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "42");
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let response = ApiError::MethodNotAllowed {
            allowed: &["GET", "POST"],
        }
        .into_response("r", QUIET);
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST");
    }

    /// One of each variant. The match below has no wildcard, so a new variant fails to
    /// compile here until it is added to the list (and so to the spec check).
    fn one_of_each() -> Vec<ApiError> {
        let all = vec![
            ApiError::MissingAuthenticationToken,
            ApiError::AuthorizationHeaderMalformed(String::new()),
            ApiError::AuthorizationQueryParametersError(String::new()),
            ApiError::IncompleteSignature(String::new()),
            ApiError::InvalidArgument(String::new()),
            ApiError::InvalidAccessKeyId(String::new()),
            ApiError::SignatureDoesNotMatch {
                canonical_request: String::new(),
                string_to_sign: String::new(),
            },
            ApiError::RequestTimeTooSkewed {
                request_time: String::new(),
                server_time: UNIX_EPOCH,
                max_skew_seconds: 0,
            },
            ApiError::RequestExpired(String::new()),
            ApiError::XAmzContentSha256Mismatch {
                claimed: String::new(),
                computed: String::new(),
            },
            ApiError::access_denied(""),
            ApiError::InvalidToken(String::new()),
            ApiError::ExpiredToken(String::new()),
            ApiError::InvalidCredentials,
            ApiError::EntityTooLarge { limit: 0 },
            ApiError::InvalidRequest(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed { allowed: &["GET"] },
            ApiError::Conflict(String::new()),
            ApiError::TooManyRequests { retry_after: 1 },
            ApiError::InternalError,
            ApiError::ServiceUnavailable,
            ApiError::UpstreamUnavailable(String::new()),
            ApiError::UpstreamTimeout(String::new()),
            ApiError::IncompleteBody(String::new()),
            ApiError::MalformedTrailerError(String::new()),
            ApiError::BadDigest(String::new()),
            ApiError::ChunkSignatureDoesNotMatch(String::new()),
        ];
        for err in &all {
            match err {
                ApiError::MissingAuthenticationToken
                | ApiError::AuthorizationHeaderMalformed(_)
                | ApiError::AuthorizationQueryParametersError(_)
                | ApiError::IncompleteSignature(_)
                | ApiError::InvalidArgument(_)
                | ApiError::InvalidAccessKeyId(_)
                | ApiError::SignatureDoesNotMatch { .. }
                | ApiError::RequestTimeTooSkewed { .. }
                | ApiError::RequestExpired(_)
                | ApiError::XAmzContentSha256Mismatch { .. }
                | ApiError::AccessDenied { .. }
                | ApiError::InvalidToken(_)
                | ApiError::ExpiredToken(_)
                | ApiError::InvalidCredentials
                | ApiError::EntityTooLarge { .. }
                | ApiError::InvalidRequest(_)
                | ApiError::NotFound(_)
                | ApiError::MethodNotAllowed { .. }
                | ApiError::Conflict(_)
                | ApiError::TooManyRequests { .. }
                | ApiError::InternalError
                | ApiError::ServiceUnavailable
                | ApiError::UpstreamUnavailable(_)
                | ApiError::UpstreamTimeout(_)
                | ApiError::IncompleteBody(_)
                | ApiError::MalformedTrailerError(_)
                | ApiError::BadDigest(_)
                | ApiError::ChunkSignatureDoesNotMatch(_) => {}
            }
        }
        all
    }

    #[test]
    fn openapi_lists_every_code_with_its_status() {
        let spec = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi.yaml"),
        )
        .unwrap();
        let all = one_of_each();
        assert_eq!(all.len(), 28);
        for err in all {
            let code = err.code();
            assert!(
                spec.contains(&format!("        - {code}\n")),
                "{code} not in the enum"
            );
            let with_status = format!("{code} {}", err.status().as_u16());
            assert!(spec.contains(&with_status), "spec lacks `{with_status}`");
        }
    }

    #[test]
    fn chunked_errors_map_to_their_wire_codes_with_the_chunk_in_the_message() {
        let cases = [
            (
                ChunkedError::ChunkSignatureMismatch { chunk: 3 },
                401,
                "SignatureDoesNotMatch",
            ),
            (
                ChunkedError::TrailerSignatureMismatch,
                401,
                "SignatureDoesNotMatch",
            ),
            (
                ChunkedError::DecodedLengthMismatch {
                    declared: 5,
                    received: 4,
                    at_least: false,
                },
                400,
                "IncompleteBody",
            ),
            (
                ChunkedError::Truncated { decoded: 2 },
                400,
                "IncompleteBody",
            ),
            (
                ChunkedError::MalformedTrailer {
                    reason: "no colon".into(),
                },
                400,
                "MalformedTrailerError",
            ),
            (
                ChunkedError::ChecksumMismatch {
                    declared: "a".into(),
                    computed: "b".into(),
                },
                400,
                "BadDigest",
            ),
            (
                ChunkedError::MissingChunkEnd { chunk: 0 },
                400,
                "InvalidArgument",
            ),
            (ChunkedError::DataAfterFinalChunk, 400, "InvalidArgument"),
            (
                ChunkedError::ChunkTooLarge {
                    chunk: 0,
                    size: 9,
                    limit: 8,
                },
                413,
                "EntityTooLarge",
            ),
        ];
        for (err, status, code) in cases {
            let text = err.to_string();
            let api = ApiError::from(err);
            assert_eq!(
                (api.status().as_u16(), api.code()),
                (status, code),
                "{text}"
            );
            if code != "EntityTooLarge" {
                assert!(api.to_string().contains(&text), "{api} lacks {text}");
            }
        }
        let api = ApiError::from(ChunkedError::ChunkSignatureMismatch { chunk: 3 });
        assert!(api.to_string().contains("chunk 3"), "{api}");
    }

    #[test]
    fn sdk_codes_map_to_the_same_wire_code_and_status() {
        for code in countersign::ErrorCode::ALL {
            let err = ApiError::from_code(*code, "m".into());
            let expected = match code.as_str() {
                // Carried with details in `From<VerifyError>`, never through `from_code`.
                // EntityTooLarge carries the server's limit and comes from the body reader.
                "SignatureDoesNotMatch"
                | "RequestTimeTooSkewed"
                | "XAmzContentSHA256Mismatch"
                | "EntityTooLarge" => {
                    continue;
                }
                other => other,
            };
            assert_eq!(err.code(), expected);
            assert_eq!(err.status().as_u16(), code.http_status(), "{expected}");
        }
    }
}
