//! The signer: `Authorization` header signing and presigned URLs.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::time::Duration;

use smallvec::SmallVec;

#[cfg(doc)]
use crate::canonical::UNSIGNED_BY_DEFAULT;
use crate::canonical::headers::{is_token, is_unsigned_by_default, lowercase, push_header};
use crate::canonical::query::{QueryReading, canonical_query, encode_value};
use crate::canonical::uri::canonical_uri;
use crate::canonical::{CanonicalRequest, Payload, Request, UriEncoding};
use crate::credentials::Credentials;
use crate::date::{AmzDate, DateStamp};
use crate::error::SignError;
use crate::signing_key::{Signature, SigningKeys, hex_str};
use crate::string_to_sign::{ALGORITHM, Scope, StringToSign};

/// Longest presign validity SigV4 allows: 7 days.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(604_800);

/// Whether the signer sends and signs `x-amz-content-sha256`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ContentSha256Header {
    /// Not sent (the payload hash is still in the canonical request). Default outside S3 mode.
    #[default]
    Omit,
    /// Sent and signed. S3 requires it: use it with [`UriEncoding::S3`] when talking to S3.
    Send,
}

/// The payload line of a presigned URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PresignPayload {
    /// As AWS does it: the body's hash in [`UriEncoding::Double`] mode (the empty-body hash
    /// for a GET), `UNSIGNED-PAYLOAD` in [`UriEncoding::S3`] mode. Default.
    #[default]
    ByUriMode,
    /// Exactly the [`Payload`] passed to [`Signer::presign`].
    AsGiven,
}

/// Signing options. Defaults: double URI encoding, no `x-amz-content-sha256`, presigned
/// payload by URI mode.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct SigningSettings {
    /// How the path is canonicalized.
    pub uri_encoding: UriEncoding,
    /// Whether `x-amz-content-sha256` is sent (header signing only).
    pub content_sha256: ContentSha256Header,
    /// The payload line of presigned URLs.
    pub presign_payload: PresignPayload,
}

impl SigningSettings {
    /// Settings with the given URI encoding.
    pub fn uri_encoding(mut self, encoding: UriEncoding) -> Self {
        self.uri_encoding = encoding;
        self
    }

    /// Settings with the given presigned payload rule.
    pub fn presign_payload(mut self, rule: PresignPayload) -> Self {
        self.presign_payload = rule;
        self
    }

    /// Settings with the given `x-amz-content-sha256` choice.
    pub fn content_sha256(mut self, choice: ContentSha256Header) -> Self {
        self.content_sha256 = choice;
        self
    }
}

/// Signs requests for one set of credentials and one region and service.
///
/// Caches the derived signing key, so signing many requests costs one SHA-256 of the canonical
/// request and one HMAC each.
#[derive(Debug)]
pub struct Signer {
    credentials: Credentials,
    region: String,
    service: String,
    settings: SigningSettings,
    keys: SigningKeys,
}

/// The result of header signing: headers to set on the request, and what was signed.
#[derive(Debug)]
pub struct SignedRequest<'r> {
    headers: Vec<(&'static str, String)>,
    signature: Signature,
    canonical_request: CanonicalRequest<'r>,
    string_to_sign: StringToSign<'r>,
    string_to_sign_text: OnceCell<String>,
}

/// The result of presigning: the new query string and what was signed.
#[derive(Debug)]
pub struct PresignedRequest<'r> {
    query: String,
    signature: Signature,
    canonical_request: CanonicalRequest<'r>,
    string_to_sign: StringToSign<'r>,
    string_to_sign_text: OnceCell<String>,
}

/// Headers the signer sets itself; a copy already on the request is replaced, never signed twice.
const SIGNER_HEADERS: &[&str] = &["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];

impl Signer {
    /// A signer for `credentials` in `region` and `service`.
    ///
    /// # Errors
    /// [`SignError::InvalidScopeField`] when a field cannot appear in a credential scope.
    pub fn new(
        credentials: Credentials,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Result<Self, SignError> {
        let (region, service) = (region.into(), service.into());
        check_scope_field("access key id", credentials.access_key_id())?;
        check_scope_field("region", &region)?;
        check_scope_field("service", &service)?;
        Ok(Self {
            keys: SigningKeys::new(credentials.secret().clone()),
            credentials,
            region,
            service,
            settings: SigningSettings::default(),
        })
    }

    /// Replaces the settings.
    pub fn with_settings(mut self, settings: SigningSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Signs `req` for the `Authorization` header at time `now`.
    ///
    /// Signs `host` and every header except [`UNSIGNED_BY_DEFAULT`], adds `x-amz-date`,
    /// `x-amz-security-token` with a session token, and `x-amz-content-sha256` when the settings
    /// ask for it.
    ///
    /// # Errors
    /// [`SignError`] when the request has no `Host` header or a malformed method, path or header.
    pub fn sign<'r>(
        &'r self,
        req: &'r Request<'r>,
        payload: Payload<'_>,
        now: AmzDate,
    ) -> Result<SignedRequest<'r>, SignError> {
        check_request(req)?;
        let payload_line = payload.line();
        let date_bytes = now.to_bytes();
        let date = String::from(std::str::from_utf8(&date_bytes).unwrap_or_default());
        // A streaming body cannot be decoded without its mode: the header is always sent.
        let send_sha = self.settings.content_sha256 == ContentSha256Header::Send
            || matches!(payload, Payload::Streaming(_));
        let mut added: Vec<(&'static str, String)> = Vec::with_capacity(4);
        added.push(("x-amz-date", date));
        if let Some(token) = self.credentials.session_token() {
            added.push(("x-amz-security-token", token.to_owned()));
        }
        if send_sha {
            added.push(("x-amz-content-sha256", payload_line.clone().into_owned()));
        }
        let (headers, signed) = canonical_headers(req, &added, SIGNER_HEADERS)?;
        let creq = self.canonical(req, req.query(), headers, signed, payload_line);
        let (signature, sts) = self.signature(&creq, date_bytes);
        let id = self.credentials.access_key_id();
        let mut auth = String::with_capacity(160 + id.len() + creq.signed_headers().len());
        auth.push_str(ALGORITHM);
        auth.push_str(" Credential=");
        auth.push_str(id);
        auth.push('/');
        push_scope(&mut auth, &sts_scope(&sts));
        auth.push_str(", SignedHeaders=");
        auth.push_str(creq.signed_headers());
        auth.push_str(", Signature=");
        auth.push_str(hex_str(&signature.to_hex()));
        added.push(("authorization", auth));
        Ok(SignedRequest {
            headers: added,
            signature,
            canonical_request: creq,
            string_to_sign: sts,
            string_to_sign_text: OnceCell::new(),
        })
    }

    /// Presigns `req` as a URL valid for `expires_in` from `now`.
    ///
    /// Signs `host` plus the request's other headers (except [`UNSIGNED_BY_DEFAULT`]); the
    /// client must send those headers with the URL. The payload line follows
    /// [`SigningSettings::presign_payload`]: by default the body hash in double-encoding mode
    /// and `UNSIGNED-PAYLOAD` in S3 mode, as AWS does it.
    ///
    /// # Errors
    /// [`SignError::InvalidExpiry`] outside 1 s..=7 days, [`SignError::AlreadyPresigned`] when
    /// the query already has `X-Amz-*` auth parameters, and the errors of [`Signer::sign`].
    pub fn presign<'r>(
        &'r self,
        req: &'r Request<'r>,
        payload: Payload<'_>,
        now: AmzDate,
        expires_in: Duration,
    ) -> Result<PresignedRequest<'r>, SignError> {
        check_request(req)?;
        let secs = expires_in.as_secs();
        if secs == 0 || expires_in > MAX_PRESIGN_EXPIRY {
            return Err(SignError::InvalidExpiry(secs));
        }
        if let Some(p) = crate::presigned_query::auth_param_in(req.query()) {
            return Err(SignError::AlreadyPresigned(p.to_owned()));
        }
        let payload = match (self.settings.presign_payload, self.settings.uri_encoding) {
            (PresignPayload::ByUriMode, UriEncoding::S3) => Payload::Unsigned,
            _ => payload,
        };
        let payload_line = payload.line();
        let (headers, signed) = canonical_headers(req, &[], &[])?;
        let mut query = String::with_capacity(req.query().len() + 256);
        query.push_str(req.query());
        self.push_auth_params(&mut query, now, secs, &signed);
        let creq = self.canonical(req, &query, headers, signed, payload_line);
        let (signature, sts) = self.signature(&creq, now.to_bytes());
        query.push_str("&X-Amz-Signature=");
        query.push_str(hex_str(&signature.to_hex()));
        Ok(PresignedRequest {
            query,
            signature,
            canonical_request: creq,
            string_to_sign: sts,
            string_to_sign_text: OnceCell::new(),
        })
    }

    fn scope(&self, now: AmzDate) -> Scope<'_> {
        Scope {
            date: now.date_stamp(),
            region: &self.region,
            service: &self.service,
        }
    }

    fn canonical<'r>(
        &self,
        req: &'r Request<'r>,
        raw_query: &str,
        headers: String,
        signed: String,
        payload_line: Cow<'static, str>,
    ) -> CanonicalRequest<'r> {
        let mut query = String::with_capacity(raw_query.len() + 16);
        canonical_query(raw_query, QueryReading::PlusIsSpace, false, &mut query);
        CanonicalRequest {
            method: req.method(),
            uri: canonical_uri(req.path(), self.settings.uri_encoding),
            query: Cow::Owned(query),
            headers: Cow::Owned(headers),
            signed_headers: Cow::Owned(signed),
            payload: payload_line,
        }
    }

    fn signature(
        &self,
        creq: &CanonicalRequest<'_>,
        date_bytes: [u8; 16],
    ) -> (Signature, StringToSign<'_>) {
        let scope = Scope {
            date: DateStamp::of(&date_bytes),
            region: &self.region,
            service: &self.service,
        };
        let sts = StringToSign::with_date_bytes(date_bytes, scope, &creq.digest());
        let signature = self
            .keys
            .with_key(scope.date, scope.region, scope.service, |key| sts.sign(key));
        (signature, sts)
    }

    fn push_auth_params(&self, query: &mut String, now: AmzDate, secs: u64, signed: &str) {
        let sep = |q: &mut String| {
            if !q.is_empty() {
                q.push('&');
            }
        };
        sep(query);
        query.push_str("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
        let credential = format!("{}/{}", self.credentials.access_key_id(), self.scope(now));
        encode_value(&credential, query);
        query.push_str("&X-Amz-Date=");
        query.push_str(&now.to_string());
        query.push_str("&X-Amz-Expires=");
        query.push_str(&secs.to_string());
        query.push_str("&X-Amz-SignedHeaders=");
        encode_value(signed, query);
        if let Some(token) = self.credentials.session_token() {
            query.push_str("&X-Amz-Security-Token=");
            encode_value(token, query);
        }
    }
}

impl<'r> SignedRequest<'r> {
    /// Headers to set on the request (replacing any existing ones of the same name):
    /// `x-amz-date`, then `x-amz-security-token` and `x-amz-content-sha256` when used, then
    /// `authorization`.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> &str {
        self.headers.last().map_or("", |(_, v)| v.as_str())
    }

    /// The signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// What was signed.
    pub fn canonical_request(&self) -> &CanonicalRequest<'r> {
        &self.canonical_request
    }

    /// The string to sign (rendered on first use).
    pub fn string_to_sign(&self) -> &str {
        self.string_to_sign_text
            .get_or_init(|| self.string_to_sign.to_string())
    }
}

impl<'r> PresignedRequest<'r> {
    /// The full query string for the presigned URL (without `?`): the original query, then the
    /// `X-Amz-*` parameters, `X-Amz-Signature` last.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// What was signed.
    pub fn canonical_request(&self) -> &CanonicalRequest<'r> {
        &self.canonical_request
    }

    /// The string to sign (rendered on first use).
    pub fn string_to_sign(&self) -> &str {
        self.string_to_sign_text
            .get_or_init(|| self.string_to_sign.to_string())
    }
}

/// Canonical header block and signed-header list for the signer: every request header except
/// the unsigned-by-default ones and `skip`, plus `added`, sorted by name (stable, so repeated
/// headers keep their order) and joined with `,`. Validates every header on the way (one pass
/// over each name and value) and that there is exactly one `Host`.
fn canonical_headers(
    req: &Request<'_>,
    added: &[(&'static str, String)],
    skip: &[&str],
) -> Result<(String, String), SignError> {
    let mut all: SmallVec<[(Cow<'_, str>, &str); 16]> = SmallVec::new();
    let mut hosts = 0;
    let mut len = 0;
    for (name, value) in req.header_list() {
        if !is_token(name) {
            return Err(SignError::InvalidHeaderName((*name).to_owned()));
        }
        if value.bytes().any(is_control) {
            return Err(SignError::InvalidHeaderValue((*name).to_owned()));
        }
        let name = lowercase(name);
        hosts += usize::from(name == "host");
        if !is_unsigned_by_default(&name) && !skip.contains(&&*name) {
            len += name.len() + value.len() + 2;
            all.push((name, value));
        }
    }
    match hosts {
        0 => return Err(SignError::MissingHost),
        1 => {}
        _ => return Err(SignError::DuplicateHost),
    }
    for (name, value) in added {
        len += name.len() + value.len() + 2;
        all.push((Cow::Borrowed(*name), value.as_str()));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut headers = String::with_capacity(len);
    let mut signed = String::with_capacity(len / 2);
    let mut i = 0;
    while i < all.len() {
        let name = &all[i].0;
        let run = all[i..].iter().take_while(|(n, _)| n == name).count();
        push_header(name, all[i..i + run].iter().map(|(_, v)| *v), &mut headers);
        if !signed.is_empty() {
            signed.push(';');
        }
        signed.push_str(name);
        i += run;
    }
    Ok((headers, signed))
}

/// The method must be a token and the path absolute and free of control characters.
fn check_request(req: &Request<'_>) -> Result<(), SignError> {
    let method = req.method();
    if !is_token(method) {
        return Err(SignError::InvalidMethod(method.to_owned()));
    }
    let path = req.path();
    if !path.starts_with('/') || path.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(SignError::InvalidPath(path.to_owned()));
    }
    Ok(())
}

/// A control character other than tab: never allowed in a header value.
fn is_control(b: u8) -> bool {
    (b < b' ' && b != b'\t') || b == 0x7f
}

fn sts_scope<'a>(sts: &StringToSign<'a>) -> Scope<'a> {
    sts.scope()
}

fn push_scope(out: &mut String, scope: &Scope<'_>) {
    out.push_str(scope.date.as_str());
    out.push('/');
    out.push_str(scope.region);
    out.push('/');
    out.push_str(scope.service);
    out.push_str("/aws4_request");
}

fn check_scope_field(field: &'static str, value: &str) -> Result<(), SignError> {
    let bad = value.is_empty()
        || value
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(SignError::InvalidScopeField {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}
