//! The verifier: split where the I/O happens.
//!
//! [`Verifier::begin`] parses the signature and checks scope, signed headers and time (pure);
//! the caller then looks the secret up by [`Pending::access_key_id`] (its I/O); and
//! [`Pending::finish`] rebuilds the canonical request and compares signatures in constant time.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use smallvec::SmallVec;

use crate::authorization::{Authorization, Credential, SignedOrder};
use crate::bytes::{eq_ignore_case, split_byte};
use crate::canonical::headers::{push_header, push_separate_lines, push_value};
use crate::canonical::query::{QueryReading, Unsigned, canonical_query, canonical_query_without};
use crate::canonical::uri::canonical_uri;
use crate::canonical::{
    CanonicalRequest, EMPTY_SHA256, EMPTY_SHA256_DIGEST, Request, UNSIGNED_PAYLOAD, UriEncoding,
};
use crate::chunked::{Seed, StreamingMode};
use crate::date::AmzDate;
use crate::error::{Mismatch, SignatureLocation, VerifyError};
use crate::presigned_query::{PresignedQuery, is_presigned};
use crate::signing_key::{SigningKey, SigningKeys, decode_hex, hex_bytes, hex_str};
use crate::string_to_sign::{Scope, StringToSign};

/// `x-amz-*` headers that only describe the body encoding and may travel unsigned.
pub const UNSIGNED_AMZ_ALLOWED: &[&str] = &[
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
];

/// Default allowed clock skew: 15 minutes each way.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Whether `UNSIGNED-PAYLOAD` is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnsignedPayload {
    /// Accepted (default), as AWS does.
    #[default]
    Accept,
    /// Refused with `AccessDenied`.
    Refuse,
}

/// Which readings of the request the verifier tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Readings {
    /// Only the strict canonical form.
    Strict,
    /// The strict form first, then the readings real clients use where they disagree
    /// (`spec/protocol.md`, "Alternative readings"). Default.
    #[default]
    ClientCompatible,
}

/// What the verifier accepts. Defaults: ±15 min skew, double URI encoding, `UNSIGNED-PAYLOAD`
/// accepted, client-compatible readings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyPolicy {
    region: String,
    service: String,
    max_skew: Duration,
    uri_encoding: UriEncoding,
    unsigned_payload: UnsignedPayload,
    readings: Readings,
}

impl VerifyPolicy {
    /// A policy for requests scoped to `region` and `service`.
    pub fn new(region: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            service: service.into(),
            max_skew: DEFAULT_MAX_SKEW,
            uri_encoding: UriEncoding::Double,
            unsigned_payload: UnsignedPayload::Accept,
            readings: Readings::ClientCompatible,
        }
    }

    /// Maximum clock difference for header-signed requests, in both directions; also how far
    /// in the future a presigned URL's `X-Amz-Date` may be. Default 15 minutes.
    pub fn max_skew(mut self, skew: Duration) -> Self {
        self.max_skew = skew;
        self
    }

    /// The strict URI mode. Default [`UriEncoding::Double`].
    pub fn uri_encoding(mut self, encoding: UriEncoding) -> Self {
        self.uri_encoding = encoding;
        self
    }

    /// Whether `UNSIGNED-PAYLOAD` is accepted. Default [`UnsignedPayload::Accept`].
    pub fn unsigned_payload(mut self, choice: UnsignedPayload) -> Self {
        self.unsigned_payload = choice;
        self
    }

    /// Which readings are tried. Default [`Readings::ClientCompatible`].
    pub fn readings(mut self, readings: Readings) -> Self {
        self.readings = readings;
        self
    }

    /// The expected region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The expected service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The allowed skew.
    pub fn skew(&self) -> Duration {
        self.max_skew
    }
}

/// Verifies SigV4 requests under one [`VerifyPolicy`].
#[derive(Clone, Debug)]
pub struct Verifier {
    policy: VerifyPolicy,
}

enum Auth<'r> {
    Header(Authorization<'r>, AmzDate),
    Query(PresignedQuery<'r>),
}

/// A request whose signature parsed and whose scope, signed headers and time are acceptable;
/// [`Pending::finish`] checks the signature itself.
pub struct Pending<'r> {
    policy: &'r VerifyPolicy,
    req: &'r Request<'r>,
    auth: Auth<'r>,
    /// Read once in `begin`, from `x-amz-content-sha256`.
    claim: PayloadClaim,
    /// `x-amz-decoded-content-length` of a streaming body, read in `begin`.
    decoded_len: Option<u64>,
    /// The request timestamp as on the wire, `YYYYMMDDTHHMMSSZ` (a line of the string to sign).
    stamp: [u8; 16],
    /// The trimmed `x-amz-content-sha256` value, read in `begin`.
    declared: Option<&'r str>,
    /// The first `x-amz-security-token` header, read in `begin`.
    token: Option<&'r str>,
}

/// Is the request header `name` the signed name `signed` (lowercase)? Length first: most
/// names differ in it.
fn same_name(name: &str, signed: &str) -> bool {
    name.len() == signed.len() && eq_ignore_case(name.as_bytes(), signed.as_bytes())
}

/// One header `begin` reads: its first value, and whether it is repeated.
#[derive(Clone, Copy, Default)]
struct Single<'r> {
    first: Option<&'r str>,
    repeated: bool,
}

impl<'r> Single<'r> {
    fn add(&mut self, value: &'r str) {
        if self.first.is_some() {
            self.repeated = true;
        } else {
            self.first = Some(value);
        }
    }

    /// As [`Request::single`]: `Ok(None)` when absent, `Err(())` when repeated.
    fn get(self) -> Result<Option<&'r str>, ()> {
        if self.repeated {
            Err(())
        } else {
            Ok(self.first)
        }
    }
}

/// The headers `begin` reads, found in one pass over the request's headers (names compared
/// case-insensitively).
#[derive(Default)]
struct HeaderScan<'r> {
    authorization: Single<'r>,
    date: Single<'r>,
    content_sha256: Single<'r>,
    token: Option<&'r str>,
    /// An `x-amz-*` header other than `x-amz-date` and [`UNSIGNED_AMZ_ALLOWED`] is present:
    /// only then can a header be an unsigned `x-amz-*` one (`x-amz-date` itself must be signed
    /// in the header form, so it needs a look in the presigned form only).
    other_amz: bool,
}

impl<'r> HeaderScan<'r> {
    fn of(req: &Request<'r>) -> Self {
        let mut scan = Self::default();
        for &(name, value) in req.header_list() {
            if !is_amz(name) {
                if same_name(name, "authorization") {
                    scan.authorization.add(value);
                }
            } else if same_name(name, "x-amz-date") {
                scan.date.add(value);
            } else if same_name(name, "x-amz-content-sha256") {
                scan.content_sha256.add(value);
            } else {
                if same_name(name, "x-amz-security-token") && scan.token.is_none() {
                    scan.token = Some(value);
                }
                scan.other_amz |= !is_allowed_unsigned(name);
            }
        }
        scan
    }
}

/// `str::trim`, without its search when the text starts and ends with a visible ASCII
/// character (every Unicode space is either ASCII or starts and ends with a non-ASCII byte).
fn trim(text: &str) -> &str {
    let b = text.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Does the header name start with `x-amz-` (any case)?
fn is_amz(name: &str) -> bool {
    name.as_bytes()
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"x-amz-"))
}

/// Is the header name one of [`UNSIGNED_AMZ_ALLOWED`] (any case)?
fn is_allowed_unsigned(name: &str) -> bool {
    UNSIGNED_AMZ_ALLOWED
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
}

/// What the request declares about its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadClaim {
    /// `x-amz-content-sha256` carries this digest: the signature can be checked before the
    /// body is read, and the body must then hash to it.
    Declared([u8; 32]),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Nothing declared: the body's digest is part of the signature, read the body first.
    BodyHash,
    /// A `STREAMING-*` keyword: the body is `aws-chunked`, to be decoded with a
    /// [`ChunkedDecoder`](crate::chunked::ChunkedDecoder) seeded from [`Verified::seed`] and
    /// checked against `x-amz-decoded-content-length` ([`Verified::decoded_content_length`]).
    Streaming(StreamingMode),
}

/// A verified request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Verified {
    /// Where the signature was.
    pub location: SignatureLocation,
    /// A digest the body must still match when `finish` was called without one (streaming).
    pub body_must_hash_to: Option<[u8; 32]>,
    /// Whether the body is covered by the signature.
    pub payload_signed: bool,
    /// The reading that matched, `None` for the strict one. Some readings leave query pairs
    /// out of the signature (a bare name, an empty name): read the query through
    /// [`Alternative::signed_query`] before trusting its parameters.
    pub alternative: Option<Alternative>,
    /// For a signed streaming body ([`PayloadClaim::Streaming`] with
    /// [`StreamingMode::Signed`] or [`StreamingMode::SignedWithTrailer`]): the start of the
    /// chunk signature chain, to seed the [`ChunkedDecoder`](crate::chunked::ChunkedDecoder).
    /// Boxed: it holds a copy of the signing key, and a `Verified` is moved on every request.
    pub seed: Option<Box<Seed>>,
    /// For a streaming body: `x-amz-decoded-content-length`, the length the chunks must carry.
    pub decoded_content_length: Option<u64>,
}

/// A non-strict reading that made the signature match (see `spec/protocol.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Alternative {
    /// The path was signed in the other URI mode (e.g. as sent, single-encoded).
    pub path_other_mode: bool,
    /// A raw `+` in the query was signed as a literal plus.
    pub query_plus_literal: bool,
    /// The query was signed as sent, without re-encoding.
    pub query_as_sent: bool,
    /// The query was signed as sent, without re-encoding or sorting.
    pub query_unsorted: bool,
    /// The query was signed without its pairs that have an empty name (`=value`).
    pub query_empty_names_dropped: bool,
    /// The query was signed without its bare names (no `=`).
    pub query_bare_names_dropped: bool,
    /// `host` was signed with this default port appended.
    pub host_port: Option<u16>,
}

impl Alternative {
    /// The raw query `query` (without `?`) as far as this reading signed it: the pairs that
    /// readings 7 and 8 of `spec/protocol.md` left out of the canonical query (an empty name,
    /// a bare name) are removed, so that no unsigned parameter is handed on. Any other reading
    /// signs every non-empty piece, and the query comes back as it is.
    pub fn signed_query<'q>(&self, query: &'q str) -> Cow<'q, str> {
        let unsigned = Unsigned {
            empty_names: self.query_empty_names_dropped,
            bare_names: self.query_bare_names_dropped,
        };
        if !split_byte(query, b'&').any(|p| unsigned.leaves_out(p)) {
            return Cow::Borrowed(query);
        }
        let kept: Vec<&str> = split_byte(query, b'&')
            .filter(|p| !unsigned.leaves_out(p))
            .collect();
        Cow::Owned(kept.join("&"))
    }
}

impl Verifier {
    /// A verifier with `policy`.
    pub fn new(policy: VerifyPolicy) -> Self {
        Self { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &VerifyPolicy {
        &self.policy
    }

    /// Parses the request's signature and checks everything that needs no secret.
    ///
    /// # Errors
    /// A [`VerifyError`] for a missing, repeated or malformed signature, a wrong scope, an
    /// unsigned `host`/date/`x-amz-*` header, or a time outside the skew or expiry.
    pub fn begin<'r>(
        &'r self,
        req: &'r Request<'r>,
        now: SystemTime,
    ) -> Result<Pending<'r>, VerifyError> {
        let scan = HeaderScan::of(req);
        let (auth, stamp) = self.parse_auth(req, &scan)?;
        let declared = scan
            .content_sha256
            .get()
            .map_err(|()| VerifyError::DuplicateHeader("x-amz-content-sha256"))?
            .map(trim);
        let claim = read_payload_claim(declared)?;
        let mut pending = Pending {
            policy: &self.policy,
            req,
            auth,
            claim,
            decoded_len: None,
            stamp,
            declared,
            token: scan.token,
        };
        if let PayloadClaim::Streaming(mode) = claim {
            if pending.location() == SignatureLocation::Query {
                return Err(VerifyError::StreamingNotSupported(mode.to_string()));
            }
            pending.decoded_len = Some(pending.read_decoded_length()?);
        }
        pending.check_scope()?;
        let amz_check = scan.other_amz
            || (pending.location() == SignatureLocation::Query && scan.date.first.is_some());
        pending.check_signed_headers(amz_check)?;
        pending.check_time(AmzDate::from_system_time(now))?;
        Ok(pending)
    }

    /// One-call verification with a key lookup closure (which returns `None` for an unknown or
    /// inactive key) and the body's SHA-256.
    ///
    /// # Errors
    /// As [`Verifier::begin`] and [`Pending::finish`], plus
    /// [`VerifyError::InvalidAccessKeyId`] when `lookup` finds nothing.
    pub fn verify<K: AsRef<SigningKeys>>(
        &self,
        req: &Request<'_>,
        now: SystemTime,
        lookup: impl FnOnce(&str) -> Option<K>,
        body_sha256: Option<&[u8; 32]>,
    ) -> Result<Verified, VerifyError> {
        let pending = self.begin(req, now)?;
        let keys = lookup(pending.access_key_id())
            .ok_or_else(|| VerifyError::InvalidAccessKeyId(pending.access_key_id().to_owned()))?;
        pending.finish(keys.as_ref(), body_sha256)
    }

    /// The signature and the request timestamp as on the wire.
    fn parse_auth<'r>(
        &self,
        req: &'r Request<'r>,
        scan: &HeaderScan<'r>,
    ) -> Result<(Auth<'r>, [u8; 16]), VerifyError> {
        let (first, second) = (scan.authorization.first, scan.authorization.repeated);
        let presigned = is_presigned(req.query());
        match (first, second, presigned) {
            (None, _, false) => Err(VerifyError::MissingAuthentication),
            (Some(_), true, _) => Err(VerifyError::MultipleAuthMethods(
                "two Authorization headers",
            )),
            (Some(_), false, true) => Err(VerifyError::MultipleAuthMethods(
                "an Authorization header and presigned query parameters",
            )),
            (Some(value), false, false) => {
                let auth =
                    Authorization::parse(value).map_err(VerifyError::MalformedAuthorization)?;
                let text = match scan.date.get() {
                    Err(()) => return Err(VerifyError::DuplicateHeader("X-Amz-Date")),
                    Ok(None) => return Err(VerifyError::MissingDate),
                    Ok(Some(v)) => trim(v),
                };
                let date = AmzDate::parse(text).map_err(VerifyError::InvalidDateHeader)?;
                // A timestamp that parses is its own rendering.
                let stamp = text
                    .as_bytes()
                    .try_into()
                    .unwrap_or_else(|_| date.to_bytes());
                Ok((Auth::Header(auth, date), stamp))
            }
            (None, _, true) => {
                let query = PresignedQuery::parse(req.query())
                    .map_err(VerifyError::MalformedPresignedQuery)?;
                let stamp = query.date().to_bytes();
                Ok((Auth::Query(query), stamp))
            }
        }
    }
}

impl<'r> Pending<'r> {
    /// The access key id to look the secret up by.
    pub fn access_key_id(&self) -> &str {
        self.credential().access_key_id()
    }

    /// The session token (`x-amz-security-token` header or `X-Amz-Security-Token` parameter).
    pub fn session_token(&self) -> Option<&str> {
        match &self.auth {
            Auth::Header(..) => self.token,
            Auth::Query(q) => q.session_token(),
        }
    }

    /// Where the signature is.
    pub fn location(&self) -> SignatureLocation {
        match self.auth {
            Auth::Header(..) => SignatureLocation::Header,
            Auth::Query(_) => SignatureLocation::Query,
        }
    }

    /// The request timestamp.
    pub fn date(&self) -> AmzDate {
        match &self.auth {
            Auth::Header(_, date) => *date,
            Auth::Query(q) => q.date(),
        }
    }

    /// What the request declares about its body (see [`PayloadClaim`]); validated by `begin`.
    pub fn payload_claim(&self) -> PayloadClaim {
        self.claim
    }

    /// `x-amz-decoded-content-length` of a streaming body (checked by `begin`), else `None`.
    pub fn decoded_content_length(&self) -> Option<u64> {
        self.decoded_len
    }

    /// Checks the signature with the caller's keys for [`Pending::access_key_id`].
    ///
    /// `body_sha256` is the SHA-256 of the body as received. It may be `None` only when
    /// [`Pending::payload_claim`] is `Declared` or `Unsigned`; with `Declared`, the result's
    /// `body_must_hash_to` then tells the caller what the body must hash to.
    ///
    /// # Errors
    /// [`VerifyError::SignatureDoesNotMatch`] with the verifier's canonical request and string
    /// to sign; [`VerifyError::ContentSha256Mismatch`] when the body is not the declared one;
    /// [`VerifyError::UnsignedPayloadRefused`]; [`VerifyError::BodyDigestRequired`].
    pub fn finish(
        self,
        keys: &SigningKeys,
        body_sha256: Option<&[u8; 32]>,
    ) -> Result<Verified, VerifyError> {
        let claim = self.claim;
        let (first, second) = self.payload_lines(claim, body_sha256)?;
        let payloads: SmallVec<[&str; 2]> = [Some(first.as_str()), second]
            .into_iter()
            .flatten()
            .collect();
        let cred = self.credential();
        let scope = Scope {
            date: cred.date(),
            region: cred.region(),
            service: cred.service(),
        };
        let signature = match &self.auth {
            Auth::Header(a, _) => a.signature(),
            Auth::Query(q) => q.signature(),
        };
        let seed = |payload: &str, alternative, key: &SigningKey| {
            let mut verified = self.accepted(claim, body_sha256, payload, alternative)?;
            if let PayloadClaim::Streaming(mode) = claim {
                verified.decoded_content_length = self.decoded_len;
                if mode.signs_chunks() {
                    let seed = Seed::new(key.clone(), self.date(), scope, *signature);
                    verified.seed = Some(Box::new(seed));
                }
            }
            Ok(verified)
        };
        // The strict reading, written once into this thread's buffer: only the payload line
        // differs between the candidates. The common case signs under the key cache's read
        // lock, without copying the key.
        let strict = with_text_buffer(|text| {
            self.write_strict_text(text);
            let prefix = text.len();
            // The one buffer must read as the strict variant's lines (which the alternatives
            // and the mismatch report use).
            debug_assert_eq!(
                self.canonical(&self.strict_variant(), "").to_string(),
                *text
            );
            keys.with_key(scope.date, scope.region, scope.service, |key| {
                let strict_match = payloads.iter().find(|payload| {
                    text.truncate(prefix);
                    text.push_str(payload);
                    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
                    let sts = StringToSign::with_date_bytes(self.stamp, scope, &digest);
                    sts.sign(key).ct_eq(signature)
                });
                strict_match.map(|p| seed(p, None, key))
            })
        });
        if let Some(verified) = strict {
            return verified;
        }
        // The alternative readings (rare: a client that canonicalizes differently, or a
        // wrong signature) build each line separately, with a copy of the key.
        let key = keys.signing_key(scope.date, scope.region, scope.service);
        let strict = self.strict_variant();
        let matches = |v: &Variant<'r>, payload: &str| {
            let creq = self.canonical(v, payload);
            let sts = StringToSign::new(self.date(), scope, &creq.digest());
            sts.sign(&key).ct_eq(signature)
        };
        for v in self.alternatives(&strict) {
            if let Some(p) = payloads.iter().find(|p| matches(&v, p)) {
                return seed(p, v.alternative, &key);
            }
        }
        let creq = self.canonical(&strict, payloads[0]);
        let sts = StringToSign::new(self.date(), scope, &creq.digest());
        Err(VerifyError::SignatureDoesNotMatch(Box::new(Mismatch {
            canonical_request: creq.to_string(),
            string_to_sign: sts.to_string(),
        })))
    }

    fn accepted(
        &self,
        claim: PayloadClaim,
        body: Option<&[u8; 32]>,
        payload: &str,
        alternative: Option<Alternative>,
    ) -> Result<Verified, VerifyError> {
        let mut body_must_hash_to = None;
        if let PayloadClaim::Declared(declared) = claim {
            match body {
                Some(actual) if actual != &declared => {
                    return Err(VerifyError::ContentSha256Mismatch {
                        declared: hex_str(&hex_bytes(&declared)).to_owned(),
                        computed: hex_str(&hex_bytes(actual)).to_owned(),
                    });
                }
                Some(_) => {}
                None => body_must_hash_to = Some(declared),
            }
        }
        Ok(Verified {
            location: self.location(),
            body_must_hash_to,
            payload_signed: match claim {
                PayloadClaim::Streaming(mode) => mode.signs_chunks(),
                _ => payload != UNSIGNED_PAYLOAD,
            },
            alternative,
            seed: None,
            decoded_content_length: None,
        })
    }

    /// `x-amz-decoded-content-length`, required with a streaming payload.
    fn read_decoded_length(&self) -> Result<u64, VerifyError> {
        let value = self
            .req
            .single("x-amz-decoded-content-length")
            .map_err(|()| VerifyError::DuplicateHeader("x-amz-decoded-content-length"))?
            .ok_or(VerifyError::MissingDecodedContentLength)?
            .trim();
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match value.parse::<u64>() {
            Ok(length) if digits => Ok(length),
            _ => Err(VerifyError::InvalidDecodedContentLength(
                crate::authorization::clip(value),
            )),
        }
    }

    fn credential(&self) -> &Credential<'r> {
        match &self.auth {
            Auth::Header(a, _) => a.credential(),
            Auth::Query(q) => q.credential(),
        }
    }

    fn signed_headers(&self) -> &str {
        match &self.auth {
            Auth::Header(a, _) => a.signed_headers(),
            Auth::Query(q) => q.signed_headers(),
        }
    }

    /// Whether the signed-headers list is in curl 7.x's order (told by the parser).
    fn curl_lines(&self) -> bool {
        let order = match &self.auth {
            Auth::Header(a, _) => a.signed_order(),
            Auth::Query(q) => q.signed_order(),
        };
        order == SignedOrder::CurlLines
    }

    /// Candidate payload lines, most likely first: one, and a second one to try after it.
    fn payload_lines(
        &self,
        claim: PayloadClaim,
        body: Option<&[u8; 32]>,
    ) -> Result<(PayloadLine<'r>, Option<&'static str>), VerifyError> {
        let unsigned_ok = self.policy.unsigned_payload == UnsignedPayload::Accept;
        let line = match claim {
            PayloadClaim::Unsigned if !unsigned_ok => {
                return Err(VerifyError::UnsignedPayloadRefused);
            }
            PayloadClaim::Unsigned => PayloadLine::Text(UNSIGNED_PAYLOAD),
            PayloadClaim::Declared(_) => PayloadLine::Text(self.declared.unwrap_or_default()),
            PayloadClaim::Streaming(mode) => PayloadLine::Text(mode.content_sha256()),
            PayloadClaim::BodyHash => {
                let body = body.ok_or(VerifyError::BodyDigestRequired)?;
                let unsigned = self.location() == SignatureLocation::Query && unsigned_ok;
                // The empty body (most requests): its line is a constant.
                let line = if *body == EMPTY_SHA256_DIGEST {
                    PayloadLine::Text(EMPTY_SHA256)
                } else {
                    PayloadLine::Hex(hex_bytes(body))
                };
                return Ok((line, unsigned.then_some(UNSIGNED_PAYLOAD)));
            }
        };
        Ok((line, None))
    }

    fn check_scope(&self) -> Result<(), VerifyError> {
        let (cred, location) = (self.credential(), self.location());
        if cred.region() != self.policy.region {
            return Err(VerifyError::WrongRegion {
                location,
                found: cred.region().to_owned(),
                expected: self.policy.region.clone(),
            });
        }
        if cred.service() != self.policy.service {
            return Err(VerifyError::WrongService {
                location,
                found: cred.service().to_owned(),
                expected: self.policy.service.clone(),
            });
        }
        if cred.date().as_bytes()[..] != self.stamp[..8] {
            return Err(VerifyError::ScopeDateMismatch {
                location,
                scope_date: cred.date().to_string(),
                request_date: self.date().date_stamp().to_string(),
            });
        }
        Ok(())
    }

    /// Checks that `host` (and `x-amz-date` in the header form) is signed, that every signed
    /// header is present, and, when `amz_check` (see [`HeaderScan::other_amz`]), that no
    /// `x-amz-*` header is unsigned.
    fn check_signed_headers(&self, amz_check: bool) -> Result<(), VerifyError> {
        let (signed, location) = (self.signed_headers(), self.location());
        let list = self.req.header_list();
        // One walk over the list: the required names, and the first name without a header.
        let (mut host, mut date, mut missing) = (false, false, None);
        for name in split_byte(signed, b';') {
            host |= name == "host";
            date |= name == "x-amz-date";
            if missing.is_none() && !list.iter().any(|(n, _)| same_name(n, name)) {
                missing = Some(name);
            }
        }
        let date_required = location == SignatureLocation::Header;
        for (name, needed, signed_it) in [("host", true, host), ("x-amz-date", date_required, date)]
        {
            if needed && !signed_it {
                return Err(VerifyError::RequiredHeaderNotSigned {
                    location,
                    required: name,
                    signed_headers: signed.to_owned(),
                });
            }
        }
        if let Some(name) = missing {
            return Err(VerifyError::SignedHeaderMissing {
                location,
                name: name.to_owned(),
            });
        }
        if !amz_check {
            return Ok(());
        }
        let mut unsigned: Vec<String> = Vec::new();
        for (name, _) in self.req.header_list() {
            if !is_amz(name) {
                continue;
            }
            if is_allowed_unsigned(name) || split_byte(signed, b';').any(|s| same_name(name, s)) {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if !unsigned.contains(&lower) {
                unsigned.push(lower);
            }
        }
        if unsigned.is_empty() {
            Ok(())
        } else {
            Err(VerifyError::UnsignedAmzHeaders(unsigned))
        }
    }

    fn check_time(&self, now: AmzDate) -> Result<(), VerifyError> {
        let date = self.date();
        let skew = self.policy.max_skew.as_secs();
        let too_skewed = || VerifyError::RequestTimeTooSkewed {
            request_time: date,
            server_time: now,
            max_skew: self.policy.max_skew,
        };
        match &self.auth {
            Auth::Header(..) if date.unix().abs_diff(now.unix()) > skew => Err(too_skewed()),
            Auth::Header(..) => Ok(()),
            Auth::Query(_) if date.unix() > now.unix().saturating_add(skew) => Err(too_skewed()),
            Auth::Query(q) => {
                // Without `X-Amz-Expires`, the URL lives as long as the skew allows.
                let lifetime = q.expires().unwrap_or(skew);
                let expires_at = date.plus_secs(lifetime);
                if now > expires_at {
                    return Err(VerifyError::RequestExpired {
                        expired_at: expires_at,
                        server_time: now,
                    });
                }
                Ok(())
            }
        }
    }

    /// Writes the strict reading's canonical request up to its payload line into `text`
    /// (empty).
    fn write_strict_text(&self, text: &mut String) {
        let req = self.req;
        let (method, path, query, signed) =
            (req.method(), req.path(), req.query(), self.signed_headers());
        let list = req.header_list();
        let values: usize = list.iter().map(|(_, v)| v.len() + 1).sum();
        // Room for some encoding of the path and query and for a 64-digit payload line.
        text.reserve(method.len() + path.len() + query.len() + 2 * signed.len() + values + 128);
        text.push_str(method);
        text.push('\n');
        text.push_str(&canonical_uri(path, self.policy.uri_encoding));
        text.push('\n');
        let skip = self.location() == SignatureLocation::Query;
        canonical_query(query, QueryReading::PlusIsSpace, skip, text);
        text.push('\n');
        // Each signed name with its values in order of appearance (every name has one at
        // least: `begin` checked); a list in curl 7.x's order, as curl 7.x writes it.
        if self.curl_lines() {
            push_separate_lines(signed, req, None, text);
        } else {
            for name in split_byte(signed, b';') {
                text.push_str(name);
                text.push(':');
                let mut first = true;
                for (_, value) in list.iter().filter(|(n, _)| same_name(n, name)) {
                    if !first {
                        text.push(',');
                    }
                    first = false;
                    push_value(value, text);
                }
                text.push('\n');
            }
        }
        text.push('\n');
        text.push_str(signed);
        text.push('\n');
    }

    /// The strict reading of the request, line by line (for the alternatives).
    fn strict_variant(&self) -> Variant<'r> {
        Variant {
            uri: canonical_uri(self.req.path(), self.policy.uri_encoding),
            query: self.query(QueryReading::PlusIsSpace, Unsigned::NONE),
            headers: self.headers(None),
            alternative: None,
        }
    }

    /// The other readings, tried only after the strict one failed: one alternative at a time,
    /// then path and query alternatives together.
    fn alternatives(&self, strict: &Variant<'r>) -> Vec<Variant<'r>> {
        if self.policy.readings == Readings::Strict {
            return Vec::new();
        }
        let mut uris = Vec::new();
        let other = match self.policy.uri_encoding {
            UriEncoding::S3 => UriEncoding::Double,
            _ => UriEncoding::S3,
        };
        let alt_uri = canonical_uri(self.req.path(), other);
        if alt_uri != strict.uri {
            uris.push(alt_uri);
        }
        // Each query reading, then each again without the pairs some clients leave unsigned
        // (only when the query has such pairs).
        let raw = self.req.query();
        let present = |u: Unsigned| split_byte(raw, b'&').any(|p| u.leaves_out(p));
        let leave_out = [Unsigned::EMPTY_NAMES, Unsigned::BARE_NAMES]
            .into_iter()
            .filter(|u| present(*u));
        let mut queries = Vec::new();
        for unsigned in std::iter::once(Unsigned::NONE).chain(leave_out) {
            for reading in [
                QueryReading::PlusIsSpace,
                QueryReading::PlusIsLiteral,
                QueryReading::AsSent,
                QueryReading::AsSentUnsorted,
            ] {
                let q = self.query(reading, unsigned);
                if q != strict.query && !queries.iter().any(|(x, _)| x == &q) {
                    queries.push((q, (reading, unsigned)));
                }
            }
        }
        let mut hosts = Vec::new();
        for port in self.host_ports() {
            hosts.push((self.headers(Some(port)), port));
        }
        let mut out = Vec::new();
        for uri in &uris {
            out.push(strict.with_uri(uri.clone()));
        }
        for (q, plus) in &queries {
            out.push(strict.with_query(q.clone(), *plus));
        }
        for (h, port) in &hosts {
            out.push(strict.with_host(h.clone(), *port));
        }
        for uri in &uris {
            for (q, plus) in &queries {
                out.push(strict.with_uri(uri.clone()).with_query(q.clone(), *plus));
            }
        }
        out
    }

    fn query(&self, reading: QueryReading, unsigned: Unsigned) -> Cow<'r, str> {
        let mut out = String::with_capacity(self.req.query().len() + 8);
        let skip = self.location() == SignatureLocation::Query;
        canonical_query_without(self.req.query(), reading, unsigned, skip, &mut out);
        Cow::Owned(out)
    }

    fn headers(&self, host_port: Option<u16>) -> Cow<'r, str> {
        let mut out = String::with_capacity(256);
        let host = host_port.map(|port| {
            let host = self.req.values("host").next().unwrap_or("").trim();
            format!("{host}:{port}")
        });
        if self.curl_lines() {
            push_separate_lines(self.signed_headers(), self.req, host.as_deref(), &mut out);
            return Cow::Owned(out);
        }
        for name in self.signed_headers().split(';') {
            match &host {
                Some(host) if name == "host" => {
                    push_header(name, std::iter::once(host.as_str()), &mut out);
                }
                _ => push_header(name, self.req.values(name), &mut out),
            }
        }
        Cow::Owned(out)
    }

    /// Default ports a client may have signed in `host` without sending them.
    fn host_ports(&self) -> Vec<u16> {
        if !self.signed_headers().split(';').any(|s| s == "host") {
            return Vec::new();
        }
        let host = self.req.values("host").next().unwrap_or("").trim();
        let has_port = match host.rfind(']') {
            Some(end) => host[end..].contains(':'),
            None => host.contains(':'),
        };
        if has_port || host.is_empty() {
            Vec::new()
        } else {
            vec![80, 443]
        }
    }

    fn canonical<'v>(&'v self, v: &'v Variant<'r>, payload: &'v str) -> CanonicalRequest<'v> {
        CanonicalRequest {
            method: self.req.method(),
            uri: Cow::Borrowed(&v.uri),
            query: Cow::Borrowed(&v.query),
            headers: Cow::Borrowed(&v.headers),
            signed_headers: Cow::Borrowed(self.signed_headers()),
            payload: Cow::Borrowed(payload),
        }
    }
}

/// What `x-amz-content-sha256` (its trimmed value) declares about the body.
/// Largest buffer [`with_text_buffer`] keeps for the next call on its thread.
const MAX_KEPT_BUFFER: usize = 16 * 1024;

/// Runs `f` with an empty string buffer: this thread's, so that a verification builds its
/// canonical request without an allocation, or a new one if that is in use.
fn with_text_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    thread_local! {
        static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let mut text = BUFFER
        .try_with(|b| b.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)).ok())
        .ok()
        .flatten()
        .unwrap_or_default();
    text.clear();
    let result = f(&mut text);
    if text.capacity() <= MAX_KEPT_BUFFER {
        let _ = BUFFER.try_with(|b| {
            if let Ok(mut kept) = b.try_borrow_mut() {
                *kept = text;
            }
        });
    }
    result
}

fn read_payload_claim(declared: Option<&str>) -> Result<PayloadClaim, VerifyError> {
    let Some(declared) = declared else {
        return Ok(PayloadClaim::BodyHash);
    };
    if declared == UNSIGNED_PAYLOAD {
        return Ok(PayloadClaim::Unsigned);
    }
    if let Some(mode) = StreamingMode::from_content_sha256(declared) {
        return Ok(PayloadClaim::Streaming(mode));
    }
    let mut digest = [0u8; 32];
    if decode_hex(declared.as_bytes(), &mut digest) {
        return Ok(PayloadClaim::Declared(digest));
    }
    Err(VerifyError::InvalidContentSha256(
        crate::authorization::clip(declared),
    ))
}

/// A candidate payload line: a keyword or declared digest from the request, or a computed
/// digest in hex (kept on the stack).
enum PayloadLine<'r> {
    Text(&'r str),
    Hex([u8; 64]),
}

impl PayloadLine<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Text(text) => text,
            Self::Hex(hex) => hex_str(hex),
        }
    }
}

#[derive(Clone)]
struct Variant<'r> {
    uri: Cow<'r, str>,
    query: Cow<'r, str>,
    headers: Cow<'r, str>,
    alternative: Option<Alternative>,
}

impl<'r> Variant<'r> {
    fn alt(&self) -> Alternative {
        self.alternative.unwrap_or_default()
    }

    fn with_uri(&self, uri: Cow<'r, str>) -> Self {
        let alternative = Some(Alternative {
            path_other_mode: true,
            ..self.alt()
        });
        Self {
            uri,
            alternative,
            ..self.clone()
        }
    }

    fn with_query(
        &self,
        query: Cow<'r, str>,
        (reading, unsigned): (QueryReading, Unsigned),
    ) -> Self {
        let alternative = Some(Alternative {
            query_plus_literal: reading == QueryReading::PlusIsLiteral,
            query_as_sent: reading == QueryReading::AsSent,
            query_unsorted: reading == QueryReading::AsSentUnsorted,
            query_empty_names_dropped: unsigned.empty_names,
            query_bare_names_dropped: unsigned.bare_names,
            ..self.alt()
        });
        Self {
            query,
            alternative,
            ..self.clone()
        }
    }

    fn with_host(&self, headers: Cow<'r, str>, port: u16) -> Self {
        let alternative = Some(Alternative {
            host_port: Some(port),
            ..self.alt()
        });
        Self {
            headers,
            alternative,
            ..self.clone()
        }
    }
}

impl AsRef<SigningKeys> for SigningKeys {
    fn as_ref(&self) -> &SigningKeys {
        self
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::{EMPTY_SHA256, EMPTY_SHA256_DIGEST, MAX_KEPT_BUFFER, hex_bytes, with_text_buffer};

    #[test]
    fn the_empty_body_constants_are_the_hash_of_nothing_in_both_forms() {
        let digest: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(EMPTY_SHA256_DIGEST, digest);
        assert_eq!(hex_bytes(&digest), EMPTY_SHA256.as_bytes());
    }

    #[test]
    fn the_text_buffer_is_reused_empty_and_a_nested_call_gets_its_own() {
        let first = with_text_buffer(|text| {
            text.push_str("first");
            // Nested (cannot happen in `finish`, but must not panic): a fresh buffer.
            let inner = with_text_buffer(|inner| {
                assert!(inner.is_empty());
                inner.push_str("inner");
                inner.as_ptr() as usize
            });
            assert_ne!(inner, text.as_ptr() as usize);
            assert_eq!(text, "first");
            text.as_ptr() as usize
        });
        // The thread keeps one buffer and hands it out again, emptied.
        let again = with_text_buffer(|text| {
            assert!(text.is_empty());
            text.as_ptr() as usize
        });
        assert_eq!(again, first);
        // A buffer grown past the limit is dropped, not kept for the thread.
        with_text_buffer(|text| text.push_str(&"x".repeat(MAX_KEPT_BUFFER + 1)));
        with_text_buffer(|text| assert!(text.capacity() <= MAX_KEPT_BUFFER));
    }

    #[test]
    fn trim_is_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a",
            "a\u{a0}",
            "a\u{3000}",
            "\u{85}",
            "\u{1c}a",
            "a\u{1f}",
            "\ta\r\n",
            "ab",
            "a b",
        ] {
            assert_eq!(super::trim(text), text.trim(), "{text:?}");
        }
    }
}
