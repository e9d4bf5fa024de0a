//! Errors of the signer and the verifier, and the wire error codes they map to.

use std::fmt;
use std::time::Duration;

use crate::date::{AmzDate, DateError};

/// Where a signature travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureLocation {
    /// The `Authorization` header (with `X-Amz-Date`).
    Header,
    /// Presigned URL query parameters (`X-Amz-Signature` and friends).
    Query,
}

impl SignatureLocation {
    /// `header` or `query`, as in API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Query => "query",
        }
    }
}

impl fmt::Display for SignatureLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "Authorization header",
            Self::Query => "presigned query",
        })
    }
}

/// The wire error codes of the verification core (`spec/protocol.md` has the full table,
/// including the server's own codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No signature of any kind.
    MissingAuthenticationToken,
    /// The `Authorization` header cannot be parsed or names the wrong scope.
    AuthorizationHeaderMalformed,
    /// The presigned query parameters cannot be parsed or name the wrong scope.
    AuthorizationQueryParametersError,
    /// A required part of the header signature is missing.
    IncompleteSignature,
    /// A request field is malformed or contradictory (two auth methods, bad date header).
    InvalidArgument,
    /// The access key id is not known or not active.
    InvalidAccessKeyId,
    /// The signature is not the one the server computed.
    SignatureDoesNotMatch,
    /// The timestamp is too far from the server's clock.
    RequestTimeTooSkewed,
    /// The presigned URL has expired.
    RequestExpired,
    /// The body's SHA-256 differs from `x-amz-content-sha256`.
    XAmzContentSHA256Mismatch,
    /// Authenticated but not allowed (unsigned `x-amz-*` headers, refused unsigned payload).
    AccessDenied,
    /// A streaming body carries fewer or more bytes than `x-amz-decoded-content-length`.
    IncompleteBody,
    /// A streaming body's trailer is malformed or lacks its signature.
    MalformedTrailerError,
    /// A streaming body's `x-amz-checksum-*` trailer does not match the body.
    BadDigest,
    /// A streaming body's chunk is larger than the verifier accepts.
    EntityTooLarge,
    /// The caller misused the API (a bug in the embedding code, not in the request).
    InternalError,
}

impl ErrorCode {
    /// Every code, for tables and exhaustiveness tests.
    pub const ALL: &'static [ErrorCode] = &[
        Self::MissingAuthenticationToken,
        Self::AuthorizationHeaderMalformed,
        Self::AuthorizationQueryParametersError,
        Self::IncompleteSignature,
        Self::InvalidArgument,
        Self::InvalidAccessKeyId,
        Self::SignatureDoesNotMatch,
        Self::RequestTimeTooSkewed,
        Self::RequestExpired,
        Self::XAmzContentSHA256Mismatch,
        Self::AccessDenied,
        Self::IncompleteBody,
        Self::MalformedTrailerError,
        Self::BadDigest,
        Self::EntityTooLarge,
        Self::InternalError,
    ];

    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::InvalidArgument => "InvalidArgument",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::RequestExpired => "RequestExpired",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Self::AccessDenied => "AccessDenied",
            Self::IncompleteBody => "IncompleteBody",
            Self::MalformedTrailerError => "MalformedTrailerError",
            Self::BadDigest => "BadDigest",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::InternalError => "InternalError",
        }
    }

    /// The HTTP status the server answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::AuthorizationHeaderMalformed
            | Self::AuthorizationQueryParametersError
            | Self::IncompleteSignature
            | Self::InvalidArgument
            | Self::XAmzContentSHA256Mismatch
            | Self::IncompleteBody
            | Self::MalformedTrailerError
            | Self::BadDigest => 400,
            Self::MissingAuthenticationToken
            | Self::InvalidAccessKeyId
            | Self::SignatureDoesNotMatch
            | Self::RequestTimeTooSkewed
            | Self::RequestExpired => 401,
            Self::AccessDenied => 403,
            Self::EntityTooLarge => 413,
            Self::InternalError => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an `Authorization` header or a presigned query could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthParseError {
    /// The value is empty.
    #[error("the value is empty")]
    Empty,
    /// Too long to be a real signature (limit in the message).
    #[error("the value is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Length received.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not `AWS4-HMAC-SHA256`.
    #[error("algorithm `{0}` is not supported; expected `AWS4-HMAC-SHA256`")]
    UnsupportedAlgorithm(String),
    /// A required parameter is absent.
    #[error("the `{0}` parameter is missing")]
    MissingParameter(&'static str),
    /// A parameter appears twice.
    #[error("the `{0}` parameter appears more than once")]
    DuplicateParameter(String),
    /// A parameter we do not know.
    #[error("unknown parameter `{0}`; expected Credential, SignedHeaders and Signature")]
    UnknownParameter(String),
    /// A piece without `name=value` form.
    #[error("`{0}` is not of the form Name=Value")]
    MalformedParameter(String),
    /// The credential is not `<key id>/<YYYYMMDD>/<region>/<service>/aws4_request`.
    #[error(
        "credential `{value}` is malformed: {reason}; expected <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request"
    )]
    InvalidCredential {
        /// What was received (truncated).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signed-headers list is not a sorted, `;`-separated list of lowercase names.
    #[error("signed headers `{value}` are malformed: {reason}")]
    InvalidSignedHeaders {
        /// What was received (truncated).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signature is not 64 hex digits.
    #[error("signature `{0}` is not 64 hexadecimal digits")]
    InvalidSignature(String),
    /// `X-Amz-Date` cannot be parsed.
    #[error("X-Amz-Date: {0}")]
    InvalidDate(#[from] DateError),
    /// `X-Amz-Expires` is not a whole number of seconds in 1..=604800.
    #[error("X-Amz-Expires `{0}` must be a whole number of seconds from 1 to 604800 (7 days)")]
    InvalidExpires(String),
    /// A parameter does not decode to UTF-8.
    #[error("the `{0}` parameter is not valid percent-encoded UTF-8")]
    NotUtf8(&'static str),
}

/// The verifier's signature mismatch report: what it computed, for the client to compare.
///
/// The fields hold the exact text (the client needs it to find the difference), including a
/// session token the request carried; `Debug`, which ends up in logs, redacts the token.
#[derive(Clone)]
pub struct Mismatch {
    /// The canonical request the verifier built from the received request.
    pub canonical_request: String,
    /// The string to sign the verifier built.
    pub string_to_sign: String,
}

impl fmt::Debug for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mismatch")
            .field("canonical_request", &redact_token(&self.canonical_request))
            .field("string_to_sign", &self.string_to_sign)
            .finish()
    }
}

/// The canonical request with the session token's value (the `x-amz-security-token` header
/// line or the `X-Amz-Security-Token` query parameter) replaced by its length.
fn redact_token(creq: &str) -> String {
    const HEADER: &str = "\nx-amz-security-token:";
    const PARAM: &str = "X-Amz-Security-Token=";
    let mut out = String::with_capacity(creq.len());
    let mut rest = creq;
    loop {
        let next = [HEADER, PARAM]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i + m.len(), *m)))
            .min();
        let Some((start, marker)) = next else {
            out.push_str(rest);
            return out;
        };
        let stop: &[char] = if marker == HEADER {
            &['\n']
        } else {
            &['&', '\n']
        };
        let len = rest[start..].find(stop).unwrap_or(rest.len() - start);
        out.push_str(&rest[..start]);
        out.push_str(&format!("** redacted (length={len}) **"));
        rest = &rest[start + len..];
    }
}

/// Why a request did not verify. [`VerifyError::code`] gives the wire code.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Neither an `Authorization` header nor presign parameters. Sign the request.
    #[error(
        "the request is not signed: send an Authorization header or presigned X-Amz-* query parameters"
    )]
    MissingAuthentication,
    /// Two authentication methods at once.
    #[error("only one authentication method is allowed per request, found {0}")]
    MultipleAuthMethods(&'static str),
    /// The `Authorization` header is malformed.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(AuthParseError),
    /// The presign query parameters are malformed.
    #[error("malformed presigned query: {0}")]
    MalformedPresignedQuery(AuthParseError),
    /// No `X-Amz-Date` header with header authentication.
    #[error(
        "the X-Amz-Date header is missing; header-signed requests must carry it (YYYYMMDDTHHMMSSZ)"
    )]
    MissingDate,
    /// The `X-Amz-Date` header cannot be parsed.
    #[error("the X-Amz-Date header is malformed: {0}")]
    InvalidDateHeader(DateError),
    /// A header that must appear once appears more often.
    #[error("the {0} header appears more than once")]
    DuplicateHeader(&'static str),
    /// `host` or the date is not among the signed headers.
    #[error("signed headers `{signed_headers}` must include `{required}`")]
    RequiredHeaderNotSigned {
        /// Where the signature was.
        location: SignatureLocation,
        /// `host` or `x-amz-date`.
        required: &'static str,
        /// The list received.
        signed_headers: String,
    },
    /// A header listed as signed is not in the request.
    #[error("signed header `{name}` is not present in the request")]
    SignedHeaderMissing {
        /// Where the signature was.
        location: SignatureLocation,
        /// The missing header.
        name: String,
    },
    /// The scope's region is not the verifier's.
    #[error("credential scope region `{found}` is wrong; expected `{expected}`")]
    WrongRegion {
        /// Where the signature was.
        location: SignatureLocation,
        /// Region received.
        found: String,
        /// Region expected.
        expected: String,
    },
    /// The scope's service is not the verifier's.
    #[error("credential scope service `{found}` is wrong; expected `{expected}`")]
    WrongService {
        /// Where the signature was.
        location: SignatureLocation,
        /// Service received.
        found: String,
        /// Service expected.
        expected: String,
    },
    /// The scope's date is not the timestamp's date.
    #[error(
        "credential scope date `{scope_date}` does not match the request date `{request_date}`"
    )]
    ScopeDateMismatch {
        /// Where the signature was.
        location: SignatureLocation,
        /// Date in the credential scope.
        scope_date: String,
        /// Date of the timestamp.
        request_date: String,
    },
    /// `x-amz-*` headers that are present but not signed.
    #[error("x-amz-* headers must be signed: {}", .0.join(", "))]
    UnsignedAmzHeaders(Vec<String>),
    /// `x-amz-content-sha256` is neither a SHA-256 hex digest nor a known keyword.
    #[error(
        "x-amz-content-sha256 `{0}` must be 64 hex digits, UNSIGNED-PAYLOAD or a STREAMING-* keyword"
    )]
    InvalidContentSha256(String),
    /// `UNSIGNED-PAYLOAD` while the policy requires signed payloads.
    #[error("this server requires a signed payload; UNSIGNED-PAYLOAD is refused")]
    UnsignedPayloadRefused,
    /// A streaming (aws-chunked) payload on a presigned URL: chunk signatures chain from a
    /// header signature only. User action: sign the request with an `Authorization` header.
    #[error(
        "streaming payload `{0}` needs an Authorization header; it is not supported with presigned URLs"
    )]
    StreamingNotSupported(String),
    /// A streaming payload without `x-amz-decoded-content-length`.
    #[error("a streaming (aws-chunked) payload needs the x-amz-decoded-content-length header")]
    MissingDecodedContentLength,
    /// `x-amz-decoded-content-length` is not a decimal byte count.
    #[error("x-amz-decoded-content-length `{0}` must be a decimal byte count")]
    InvalidDecodedContentLength(String),
    /// The timestamp is outside the allowed clock skew.
    #[error("request time {request_time} is more than {}s from the server time {server_time}", max_skew.as_secs())]
    RequestTimeTooSkewed {
        /// The request's timestamp.
        request_time: AmzDate,
        /// The verifier's clock.
        server_time: AmzDate,
        /// The allowed skew.
        max_skew: Duration,
    },
    /// The presigned URL expired.
    #[error("the presigned URL expired at {expired_at}; server time is {server_time}")]
    RequestExpired {
        /// Expiry instant.
        expired_at: AmzDate,
        /// The verifier's clock.
        server_time: AmzDate,
    },
    /// The key lookup found no active key with this id.
    #[error("access key id `{0}` does not exist or is not active")]
    InvalidAccessKeyId(String),
    /// The signature differs from the one computed.
    #[error(
        "the request signature does not match the signature computed by the server; compare your canonical request with the one returned"
    )]
    SignatureDoesNotMatch(Box<Mismatch>),
    /// The body's SHA-256 is not the declared one.
    #[error("x-amz-content-sha256 `{declared}` does not match the body's SHA-256 `{computed}`")]
    ContentSha256Mismatch {
        /// Declared hash.
        declared: String,
        /// Hash of the body received.
        computed: String,
    },
    /// The embedding code called `finish` without the body digest the request needs.
    #[error(
        "the body's SHA-256 is needed to verify this request but was not supplied by the caller"
    )]
    BodyDigestRequired,
}

impl VerifyError {
    /// The wire code (one total match: a new variant does not compile until it has one).
    pub fn code(&self) -> ErrorCode {
        use SignatureLocation::{Header, Query};
        match self {
            Self::MissingAuthentication => ErrorCode::MissingAuthenticationToken,
            Self::MalformedAuthorization(AuthParseError::MissingParameter(_)) => {
                ErrorCode::IncompleteSignature
            }
            Self::MalformedAuthorization(_) => ErrorCode::AuthorizationHeaderMalformed,
            Self::MalformedPresignedQuery(_) => ErrorCode::AuthorizationQueryParametersError,
            Self::MissingDate => ErrorCode::IncompleteSignature,
            Self::MultipleAuthMethods(_)
            | Self::InvalidDateHeader(_)
            | Self::DuplicateHeader(_)
            | Self::InvalidContentSha256(_)
            | Self::StreamingNotSupported(_)
            | Self::MissingDecodedContentLength
            | Self::InvalidDecodedContentLength(_) => ErrorCode::InvalidArgument,
            Self::RequiredHeaderNotSigned {
                location: Header, ..
            } => ErrorCode::IncompleteSignature,
            Self::SignedHeaderMissing {
                location: Header, ..
            }
            | Self::WrongRegion {
                location: Header, ..
            }
            | Self::WrongService {
                location: Header, ..
            }
            | Self::ScopeDateMismatch {
                location: Header, ..
            } => ErrorCode::AuthorizationHeaderMalformed,
            Self::RequiredHeaderNotSigned {
                location: Query, ..
            }
            | Self::SignedHeaderMissing {
                location: Query, ..
            }
            | Self::WrongRegion {
                location: Query, ..
            }
            | Self::WrongService {
                location: Query, ..
            }
            | Self::ScopeDateMismatch {
                location: Query, ..
            } => ErrorCode::AuthorizationQueryParametersError,
            Self::UnsignedAmzHeaders(_) | Self::UnsignedPayloadRefused => ErrorCode::AccessDenied,
            Self::RequestTimeTooSkewed { .. } => ErrorCode::RequestTimeTooSkewed,
            Self::RequestExpired { .. } => ErrorCode::RequestExpired,
            Self::InvalidAccessKeyId(_) => ErrorCode::InvalidAccessKeyId,
            Self::SignatureDoesNotMatch(_) => ErrorCode::SignatureDoesNotMatch,
            Self::ContentSha256Mismatch { .. } => ErrorCode::XAmzContentSHA256Mismatch,
            Self::BodyDigestRequired => ErrorCode::InternalError,
        }
    }

    /// The verifier's canonical request and string to sign, on a signature mismatch.
    pub fn mismatch(&self) -> Option<&Mismatch> {
        match self {
            Self::SignatureDoesNotMatch(m) => Some(m),
            _ => None,
        }
    }
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No `Host` header (HTTP/1.1 requires one; the `http` adapter adds it from the URI).
    #[error("the request has no Host header; add one or use an absolute URI")]
    MissingHost,
    /// More than one `Host` header.
    #[error("the request has more than one Host header")]
    DuplicateHost,
    /// The method is not an HTTP token.
    #[error("method `{0}` is not a valid HTTP method token")]
    InvalidMethod(String),
    /// The path is not an origin-form path.
    #[error("path `{0}` must start with `/` and contain no control characters")]
    InvalidPath(String),
    /// A header name is not an HTTP token.
    #[error("header name `{0}` is not a valid HTTP token")]
    InvalidHeaderName(String),
    /// A header value has control characters.
    #[error("the value of header `{0}` contains control characters")]
    InvalidHeaderValue(String),
    /// The URL already carries presign parameters.
    #[error("the URL already carries `{0}`; presign an unsigned URL")]
    AlreadyPresigned(String),
    /// `X-Amz-Expires` out of range.
    #[error("expiry of {0} seconds is out of range; it must be 1 to 604800 (7 days)")]
    InvalidExpiry(u64),
    /// Credential fields unusable in a scope.
    #[error(
        "{field} `{value}` must be non-empty and contain no `/`, whitespace or control characters"
    )]
    InvalidScopeField {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_debug_redacts_the_session_token_in_headers_and_query() {
        let m = Mismatch {
            canonical_request: "GET\n/\na=1&X-Amz-Security-Token=zq%2B11&b=2\nhost:h\nx-amz-security-token:zq+11\n\nhost;x-amz-security-token\nUNSIGNED-PAYLOAD".into(),
            string_to_sign: String::new(),
        };
        let shown = format!("{m:?}");
        assert!(!shown.contains("zq"), "{shown}");
        assert!(shown.contains("a=1&X-Amz-Security-Token=** redacted (length=7) **&b=2"));
        assert!(shown.contains("x-amz-security-token:** redacted (length=5) **\\n\\nhost;"));
    }
}
