//! The signer: `Authorization` header signing and presigned URLs.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};
use smallvec::SmallVec;

#[cfg(doc)]
use crate::canonical::UNSIGNED_BY_DEFAULT;
use crate::canonical::headers::{
    NameSet, TokenCase, UNSIGNED_SET, ValueKind, is_token, lowercase, prefix_key, push_value,
    token_case, value_kind,
};
use crate::canonical::query::{QueryReading, canonical_query, encode_value};
use crate::canonical::uri::canonical_uri;
use crate::canonical::{CanonicalRequest, Payload, PayloadLine, Request, UriEncoding};
use crate::credentials::Credentials;
use crate::date::{AmzDate, DateStamp};
use crate::error::SignError;
use crate::signing_key::{Signature, SigningKey, hex_str};
use crate::string_to_sign::{Scope, StringToSign};

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
    keys: DateKeys,
}

/// The result of header signing: headers to set on the request, and what was signed.
#[derive(Debug)]
pub struct SignedRequest<'r> {
    headers: Vec<(&'static str, String)>,
    signature: Signature,
    canonical_request: CanonicalText<'r>,
    string_to_sign: StringToSign<'r>,
    string_to_sign_text: OnceCell<String>,
}

/// The result of presigning: the new query string and what was signed.
#[derive(Debug)]
pub struct PresignedRequest<'r> {
    query: String,
    signature: Signature,
    canonical_request: CanonicalText<'r>,
    string_to_sign: StringToSign<'r>,
    string_to_sign_text: OnceCell<String>,
}

/// Headers the signer sets itself; a copy already on the request is replaced, never signed twice.
const SIGNER_HEADERS: NameSet<3> =
    NameSet::new(&["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]);

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
            keys: DateKeys::default(),
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
            added.push(("x-amz-content-sha256", payload_line.as_str().to_owned()));
        }
        let mut headers = SignedHeaders::new();
        headers.collect(req, &added, &SIGNER_HEADERS)?;
        let creq = self.canonical(req, req.query(), &headers, &payload_line);
        drop(headers);
        let (signature, sts) = self.signature(&creq, date_bytes);
        let id = self.credentials.access_key_id();
        let signed = creq.signed_headers();
        let date = added.first().and_then(|(_, d)| d.get(..8)).unwrap_or("");
        let auth_len = CREDENTIAL_PREFIX.len()
            + id.len()
            + "/YYYYMMDD//".len()
            + self.region.len()
            + self.service.len()
            + SIGNED_HEADERS_PREFIX.len()
            + signed.len()
            + SIGNATURE_PREFIX.len()
            + 64;
        let mut auth = String::with_capacity(auth_len);
        auth.push_str(CREDENTIAL_PREFIX);
        auth.push_str(id);
        auth.push('/');
        auth.push_str(date);
        auth.push('/');
        auth.push_str(&self.region);
        auth.push('/');
        auth.push_str(&self.service);
        auth.push_str(SIGNED_HEADERS_PREFIX);
        auth.push_str(signed);
        auth.push_str(SIGNATURE_PREFIX);
        auth.push_str(hex_str(&signature.to_hex()));
        debug_assert_eq!(
            auth.len(),
            auth_len,
            "the Authorization value was sized exactly"
        );
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
        let mut headers = SignedHeaders::new();
        headers.collect(req, &[], &NameSet::<0>::new(&[]))?;
        let mut signed = String::with_capacity(headers.names_len);
        headers.write_names(&mut signed);
        let mut query = String::with_capacity(req.query().len() + 256);
        query.push_str(req.query());
        self.push_auth_params(&mut query, now, secs, &signed);
        let creq = self.canonical(req, &query, &headers, &payload_line);
        drop(headers);
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

    /// The canonical request, written once into one buffer: method, URI, query, headers,
    /// signed headers and payload lines.
    fn canonical<'r>(
        &self,
        req: &'r Request<'r>,
        raw_query: &str,
        headers: &SignedHeaders<'_>,
        payload: &PayloadLine,
    ) -> CanonicalText<'r> {
        let (method, path, payload) = (req.method(), req.path(), payload.as_str());
        let mut text = String::with_capacity(
            method.len()
                + path.len()
                + raw_query.len()
                + headers.lines_len
                + headers.names_len
                + payload.len()
                + 24,
        );
        text.push_str(method);
        text.push('\n');
        text.push_str(&canonical_uri(path, self.settings.uri_encoding));
        let uri_end = text.len();
        text.push('\n');
        canonical_query(raw_query, QueryReading::PlusIsSpace, false, &mut text);
        let query_end = text.len();
        text.push('\n');
        headers.write_lines(&mut text);
        let headers_end = text.len();
        text.push('\n');
        headers.write_names(&mut text);
        let signed_end = text.len();
        text.push('\n');
        text.push_str(payload);
        CanonicalText {
            method,
            text,
            ends: [uri_end, query_end, headers_end, signed_end],
            request: OnceCell::new(),
        }
    }

    fn signature(
        &self,
        creq: &CanonicalText<'_>,
        date_bytes: [u8; 16],
    ) -> (Signature, StringToSign<'_>) {
        let scope = Scope {
            date: DateStamp::of(&date_bytes),
            region: &self.region,
            service: &self.service,
        };
        let digest: [u8; 32] = Sha256::digest(creq.text.as_bytes()).into();
        let sts = StringToSign::with_date_bytes(date_bytes, scope, &digest);
        let signature = self.keys.with_key(
            scope.date,
            |date| SigningKey::derive(self.credentials.secret(), date, scope.region, scope.service),
            |key| sts.sign(key),
        );
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

    /// What was signed (split into its lines on first use).
    pub fn canonical_request(&self) -> &CanonicalRequest<'r> {
        self.canonical_request.request()
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

    /// What was signed (split into its lines on first use).
    pub fn canonical_request(&self) -> &CanonicalRequest<'r> {
        self.canonical_request.request()
    }

    /// The string to sign (rendered on first use).
    pub fn string_to_sign(&self) -> &str {
        self.string_to_sign_text
            .get_or_init(|| self.string_to_sign.to_string())
    }
}

/// The signer's derived signing keys for its two most recent scope dates (its region and
/// service never change, so the date is the whole cache key).
#[derive(Default)]
struct DateKeys {
    cache: Mutex<[Option<(DateStamp, SigningKey)>; 2]>,
}

impl DateKeys {
    /// Runs `f` with the key for `date`, derived by `derive` on a miss, under the cache lock.
    fn with_key<R>(
        &self,
        date: DateStamp,
        derive: impl FnOnce(DateStamp) -> SigningKey,
        f: impl FnOnce(&SigningKey) -> R,
    ) -> R {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, key)) = cache.iter().flatten().find(|(d, _)| *d == date) {
            return f(key);
        }
        let key = derive(date);
        let result = f(&key);
        cache.swap(0, 1);
        cache[0] = Some((date, key));
        result
    }
}

impl fmt::Debug for DateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKeys(***)")
    }
}

/// The canonical request as the one text that is hashed, with its line boundaries; split into
/// a [`CanonicalRequest`] only when asked for.
#[derive(Debug)]
struct CanonicalText<'r> {
    method: &'r str,
    /// `method\nuri\nquery\nheaders\nsigned\npayload`.
    text: String,
    /// Where the URI, query, header block and signed-headers lines end.
    ends: [usize; 4],
    request: OnceCell<CanonicalRequest<'r>>,
}

impl<'r> CanonicalText<'r> {
    fn line(&self, start: usize, end: usize) -> &str {
        self.text.get(start + 1..end).unwrap_or("")
    }

    fn signed_headers(&self) -> &str {
        self.line(self.ends[2], self.ends[3])
    }

    fn request(&self) -> &CanonicalRequest<'r> {
        self.request.get_or_init(|| {
            let [uri, query, headers, signed] = self.ends;
            let owned = |start, end| Cow::Owned(self.line(start, end).to_owned());
            CanonicalRequest {
                method: self.method,
                uri: owned(self.method.len(), uri),
                query: owned(uri, query),
                headers: owned(query, headers),
                signed_headers: owned(headers, signed),
                payload: owned(signed, self.text.len()),
            }
        })
    }
}

/// One header the signer signs.
struct SignedHeader<'a> {
    /// [`prefix_key`] of the name: most comparisons end here.
    key: u64,
    /// The lowercase name.
    name: Cow<'a, str>,
    value: &'a str,
    /// The value has no space, tab, CR or LF: it is written as it is.
    plain: bool,
}

impl SignedHeader<'_> {
    fn same_name(&self, other: &Self) -> bool {
        self.key == other.key && self.name == other.name
    }

    fn push_value(&self, out: &mut String) {
        if self.plain {
            out.push_str(self.value);
        } else {
            push_value(self.value, out);
        }
    }
}

/// The signer's signed headers: every request header except the unsigned-by-default ones and
/// `skip`, plus `added`, sorted by name (stable, so repeated headers keep their order).
struct SignedHeaders<'a> {
    list: SmallVec<[SignedHeader<'a>; 12]>,
    /// Upper bound of the canonical header block's length.
    lines_len: usize,
    /// Upper bound of the signed-headers line's length.
    names_len: usize,
}

impl<'a> SignedHeaders<'a> {
    /// No headers yet (filled in place by [`SignedHeaders::collect`]: the list is a few
    /// hundred bytes, not worth moving).
    fn new() -> Self {
        Self {
            list: SmallVec::new(),
            lines_len: 0,
            names_len: 0,
        }
    }

    /// Collects and sorts the headers. Validates every header on the way (one pass over each
    /// name and value) and that there is exactly one `Host`.
    fn collect<const N: usize>(
        &mut self,
        req: &'a Request<'_>,
        added: &'a [(&'static str, String)],
        skip: &NameSet<N>,
    ) -> Result<(), SignError> {
        const HOST: u64 = u64::from_be_bytes(*b"host\0\0\0\0");
        let mut hosts = 0;
        for &(name, value) in req.header_list() {
            let case = token_case(name);
            if case == TokenCase::Invalid {
                return Err(SignError::InvalidHeaderName(name.to_owned()));
            }
            let plain = match value_kind(value) {
                ValueKind::Invalid => return Err(SignError::InvalidHeaderValue(name.to_owned())),
                ValueKind::Plain => true,
                ValueKind::Spaced => false,
            };
            let name = match case {
                TokenCase::Mixed => lowercase(name),
                _ => Cow::Borrowed(name),
            };
            let key = prefix_key(&name);
            hosts += usize::from(key == HOST && name.len() == 4);
            if UNSIGNED_SET.contains(&name, key) || skip.contains(&name, key) {
                continue;
            }
            self.lines_len += name.len() + value.len() + 2;
            self.names_len += name.len() + 1;
            self.list.push(SignedHeader {
                key,
                name,
                value,
                plain,
            });
        }
        match hosts {
            0 => return Err(SignError::MissingHost),
            1 => {}
            _ => return Err(SignError::DuplicateHost),
        }
        for (name, value) in added {
            self.lines_len += name.len() + value.len() + 2;
            self.names_len += name.len() + 1;
            self.list.push(SignedHeader {
                key: prefix_key(name),
                name: Cow::Borrowed(name),
                value,
                plain: value_kind(value) == ValueKind::Plain,
            });
        }
        self.list
            .sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.name.cmp(&b.name)));
        Ok(())
    }

    /// Appends `name:v1,v2\n` per name, repeated values joined in order of appearance.
    fn write_lines(&self, out: &mut String) {
        let mut prev: Option<&SignedHeader<'_>> = None;
        for h in &self.list {
            match prev {
                Some(p) if p.same_name(h) => out.push(','),
                _ => {
                    if prev.is_some() {
                        out.push('\n');
                    }
                    out.push_str(&h.name);
                    out.push(':');
                }
            }
            h.push_value(out);
            prev = Some(h);
        }
        if prev.is_some() {
            out.push('\n');
        }
    }

    /// Appends the signed-headers list: each name once, joined with `;`.
    fn write_names(&self, out: &mut String) {
        let mut prev: Option<&SignedHeader<'_>> = None;
        for h in &self.list {
            match prev {
                Some(p) if p.same_name(h) => {}
                Some(_) => {
                    out.push(';');
                    out.push_str(&h.name);
                }
                None => out.push_str(&h.name),
            }
            prev = Some(h);
        }
    }
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

/// The `Authorization` value up to the access key id: the algorithm, then the credential.
const CREDENTIAL_PREFIX: &str = "AWS4-HMAC-SHA256 Credential=";
/// What follows the scope's region and service in the `Authorization` value.
const SIGNED_HEADERS_PREFIX: &str = "/aws4_request, SignedHeaders=";
/// What follows the signed headers in the `Authorization` value.
const SIGNATURE_PREFIX: &str = ", Signature=";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_prefix_names_the_algorithm() {
        assert_eq!(
            CREDENTIAL_PREFIX,
            format!("{} Credential=", crate::ALGORITHM)
        );
    }

    #[test]
    fn the_date_key_cache_signs_as_a_fresh_signer_across_dates() {
        let signer = || Signer::new(Credentials::new("AKID", "secret"), "r", "s").unwrap();
        let shared = signer();
        let req = Request::new("GET", "/").header("Host", "h");
        let sig = |s: &Signer, secs| {
            let now = AmzDate::from_unix(secs).unwrap();
            s.sign(&req, Payload::Unsigned, now).unwrap().signature()
        };
        for secs in [0, 86_400, 2 * 86_400, 86_400 + 1, 0, 2 * 86_400 + 5] {
            assert!(sig(&shared, secs).ct_eq(&sig(&signer(), secs)), "{secs}");
        }
    }
}
