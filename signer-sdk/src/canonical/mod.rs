//! The one canonicalizer that both the signer and the verifier call.
//!
//! A [`CanonicalRequest`] holds the six lines of SigV4's canonical request. `Display` writes
//! the exact bytes that are hashed, and [`CanonicalRequest::digest`] hashes the same pieces
//! without building a string.

pub(crate) mod headers;
pub(crate) mod query;
pub(crate) mod uri;

use std::borrow::Cow;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::bytes::{find_byte, split_once_byte};
use crate::signing_key::{hex_bytes, hex_str};

pub use headers::{UNSIGNED_BY_DEFAULT, is_token};
pub use uri::UriEncoding;

/// SHA-256 of the empty body, hex (the payload line of most GETs).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// SHA-256 of the empty body, as bytes ([`EMPTY_SHA256`] decoded).
pub const EMPTY_SHA256_DIGEST: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];
/// The payload line keyword for bodies that are not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The payload line of an aws-chunked body with chunk signatures.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// The payload line of an aws-chunked body with chunk signatures and signed trailers.
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// The payload line of an aws-chunked body without chunk signatures, with trailers.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// A request as it is (or will be) on the wire: method, path and query exactly as sent
/// (already percent-encoded), and headers in order of appearance.
///
/// Both roles take this view: the signer signs it, the verifier checks it.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    /// A request for `method` and the request target `path_and_query` (origin form, e.g.
    /// `/a/b?x=1`). A `#fragment` is dropped, as HTTP clients never send it.
    pub fn new(method: &'a str, path_and_query: &'a str) -> Self {
        Self::with_capacity(method, path_and_query, 8)
    }

    /// As [`Request::new`], with room for `headers` headers.
    pub(crate) fn with_capacity(method: &'a str, path_and_query: &'a str, headers: usize) -> Self {
        let target = match find_byte(path_and_query.as_bytes(), b'#') {
            Some(end) => path_and_query.get(..end).unwrap_or(""),
            None => path_and_query,
        };
        let (path, query) = split_once_byte(target, b'?').unwrap_or((target, ""));
        Self {
            method,
            path,
            query,
            headers: Vec::with_capacity(headers),
        }
    }

    /// Adds a header in place.
    #[cfg(feature = "http")]
    pub(crate) fn push_header(&mut self, name: &'a str, value: &'a str) {
        self.headers.push((name, value));
    }

    /// Adds a header (repeat the call for repeated headers).
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds headers in order.
    pub fn headers(mut self, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// The method.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The path as sent.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query as sent, without `?` (empty when none).
    pub fn query(&self) -> &'a str {
        self.query
    }

    /// All headers in order.
    pub fn header_list(&self) -> &[(&'a str, &'a str)] {
        &self.headers
    }

    /// Values of the header `name` (compared case-insensitively), in order.
    pub fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        Values {
            headers: self.headers.iter(),
            name,
        }
    }

    /// The single value of header `name`: `Ok(None)` when absent, `Err(())` when repeated.
    pub(crate) fn single(&self, name: &str) -> Result<Option<&'a str>, ()> {
        let mut it = self.values(name);
        match (it.next(), it.next()) {
            (None, _) => Ok(None),
            (Some(v), None) => Ok(Some(v)),
            (Some(_), Some(_)) => Err(()),
        }
    }
}

/// Values of one header, compared case-insensitively (length first: most names differ in it).
struct Values<'a, 's> {
    headers: std::slice::Iter<'s, (&'a str, &'a str)>,
    name: &'s str,
}

impl<'a> Iterator for Values<'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let name = self.name;
        self.headers
            .by_ref()
            .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// What the payload line of the canonical request says about the body.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// The body bytes; the signer hashes them.
    Bytes(&'a [u8]),
    /// The body's SHA-256, computed by the caller (for example while streaming a file).
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// An `aws-chunked` body: the payload line is the mode's `STREAMING-*` value and the
    /// signature is the seed of [`crate::chunked::ChunkSigner`]. The signer always sends
    /// (and signs) `x-amz-content-sha256` for it, whatever [`crate::ContentSha256Header`] says.
    Streaming(crate::chunked::StreamingMode),
}

impl Payload<'_> {
    /// The payload line, without allocating (a computed hash is held inline).
    pub(crate) fn line(&self) -> PayloadLine {
        let digest: [u8; 32] = match self {
            Self::Bytes([]) => return PayloadLine::Keyword(EMPTY_SHA256),
            Self::Unsigned => return PayloadLine::Keyword(UNSIGNED_PAYLOAD),
            Self::Streaming(mode) => return PayloadLine::Keyword(mode.content_sha256()),
            Self::Bytes(body) => Sha256::digest(body).into(),
            Self::Sha256(digest) => *digest,
        };
        PayloadLine::Hex(hex_bytes(&digest))
    }
}

/// The payload line of a canonical request: a constant (keyword or the empty-body hash) or
/// the lowercase hex of a computed digest.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PayloadLine {
    /// A constant line.
    Keyword(&'static str),
    /// 64 lowercase hex digits.
    Hex([u8; 64]),
}

impl PayloadLine {
    /// The line as text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Keyword(k) => k,
            Self::Hex(hex) => hex_str(hex),
        }
    }
}

/// SigV4's canonical request. `Display` is the exact text that is hashed.
#[derive(Clone, Debug)]
pub struct CanonicalRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: Cow<'a, str>,
    pub(crate) query: Cow<'a, str>,
    /// `name:value\n` for every signed header, sorted.
    pub(crate) headers: Cow<'a, str>,
    pub(crate) signed_headers: Cow<'a, str>,
    pub(crate) payload: Cow<'a, str>,
}

impl CanonicalRequest<'_> {
    /// The method line.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The canonical URI line.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The canonical query line.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The canonical headers, `name:value` lines each ending in `\n`.
    pub fn canonical_headers(&self) -> &str {
        &self.headers
    }

    /// The signed-headers line.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// The payload line (a SHA-256 hex digest or a keyword).
    pub fn payload_hash(&self) -> &str {
        &self.payload
    }

    /// SHA-256 of the canonical request, hashing the same pieces `Display` writes.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in self.parts() {
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    fn parts(&self) -> [&str; 11] {
        [
            self.method,
            "\n",
            &self.uri,
            "\n",
            &self.query,
            "\n",
            &self.headers,
            "\n",
            &self.signed_headers,
            "\n",
            &self.payload,
        ]
    }
}

impl fmt::Display for CanonicalRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts().iter().try_for_each(|p| f.write_str(p))
    }
}
