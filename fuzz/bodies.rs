//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly) and
//! `signer-sdk/tests/fuzz_bodies.rs` (proptest, stable), so CI exercises them without nightly.
//!
//! Each body takes any text (or bytes) and may only fail by panicking on a broken law.

use std::time::{Duration, SystemTime};

use countersign::chunked::{ChunkedDecoder, ChunkedError, Finished, Seed, StreamingMode};
use countersign::internal;
use countersign::{
    AmzDate, Authorization, PresignedQuery, Request, Scope, SecretKey, Signature, SigningKey,
    SigningKeys, UriEncoding, Verifier, VerifyPolicy,
};

/// `Authorization::parse` never panics, and rendering is a fixed point of parsing.
pub(crate) fn authorization(text: &str) {
    let Ok(auth) = Authorization::parse(text) else {
        return;
    };
    let rendered = auth.to_string();
    let again = match Authorization::parse(&rendered) {
        Ok(a) => a,
        Err(e) => panic!("the rendered form of {:?}… does not parse: {e}", clip(text)),
    };
    assert_eq!(again.to_string(), rendered, "render is not a fixed point");
    assert_eq!(again.credential(), auth.credential());
    assert_eq!(again.signed_headers(), auth.signed_headers());
    assert!(again.signature().ct_eq(auth.signature()));
}

/// `PresignedQuery::parse` never panics, nor does the whole verifier on a request built from
/// the text: the first line is the request target (a bare query when it does not start with
/// `/`), each further line a `Name: value` header.
pub(crate) fn presigned_query(text: &str) {
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    if let Ok(q) = PresignedQuery::parse(first) {
        assert!(q.expires().is_none_or(|e| (1..=604_800).contains(&e)));
        let _ = (
            q.credential().to_string(),
            q.signed_headers(),
            q.session_token(),
        );
    }
    let target = if first.starts_with('/') {
        first.to_owned()
    } else {
        format!("/?{first}")
    };
    let mut req = Request::new("GET", &target);
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        req = req.header(name, value);
    }
    let keys = SigningKeys::new(SecretKey::new("secret"));
    let body = countersign::sha256(b"");
    for policy in [
        VerifyPolicy::new("us-east-1", "service"),
        VerifyPolicy::new("us-east-1", "service")
            .uri_encoding(UriEncoding::S3)
            .max_skew(Duration::from_secs(u64::MAX)),
    ] {
        let verifier = Verifier::new(policy);
        for now in [SystemTime::UNIX_EPOCH, date_of(&req)] {
            let Ok(pending) = verifier.begin(&req, now) else {
                continue;
            };
            let _ = (
                pending.access_key_id(),
                pending.session_token(),
                pending.date(),
            );
            let _ = pending.payload_claim();
            if let Err(e) = pending.finish(&keys, Some(&body)) {
                let _ = (e.to_string(), e.code().as_str(), e.code().http_status());
            }
        }
    }
}

/// `canonical_uri` and `canonical_query` never panic, give ASCII, and are idempotent where
/// the mode says they must be (S3 paths, queries).
pub(crate) fn canonical_uri(text: &str) {
    let double = internal::canonical_uri(text, UriEncoding::Double);
    assert!(double.is_ascii() && double.starts_with('/'), "{double:?}");
    assert!(
        !double.contains("//"),
        "double mode merges slashes: {double:?}"
    );
    let s3 = internal::canonical_uri(text, UriEncoding::S3);
    assert!(s3.is_ascii(), "{s3:?}");
    let again = internal::canonical_uri(&s3, UriEncoding::S3);
    assert_eq!(again, s3, "S3 mode is not idempotent");
    let query = internal::canonical_query(text);
    assert!(query.is_ascii(), "{query:?}");
    let again = internal::canonical_query(&query);
    assert_eq!(again, query, "canonical query is not a fixed point");
}

/// The `aws-chunked` decoder never panics on any bytes, always makes progress, never yields
/// more data than it consumed or than the declared length, gives the same outcome whatever
/// the input split, and accepts a body only if it decoded to exactly the declared length.
///
/// The first byte picks the mode (bits 0-1) and the declared length (bits 2-7); the rest is
/// the encoded body.
pub(crate) fn chunked(input: &[u8]) {
    let Some((&control, body)) = input.split_first() else {
        return;
    };
    let mode = CHUNKED_MODES[usize::from(control & 3) % 3];
    let declared = u64::from(control >> 2);
    let whole = decode_chunked(chunked_decoder(mode, declared), body, body.len().max(1));
    let bytewise = decode_chunked(chunked_decoder(mode, declared), body, 1);
    assert_eq!(whole, bytewise, "the outcome depends on the input split");
    let (data, end) = whole;
    assert!(data.len() as u64 <= declared, "more data than declared");
    if let Ok(done) = end {
        assert_eq!(done.decoded_length, declared);
        assert_eq!(data.len() as u64, declared);
    }
}

/// The modes in the order the control byte of [`chunked`] picks them.
pub(crate) const CHUNKED_MODES: [StreamingMode; 3] = [
    StreamingMode::Signed,
    StreamingMode::SignedWithTrailer,
    StreamingMode::UnsignedWithTrailer,
];

/// The fixed seed of [`chunked`]'s decoder, so that tests can sign bodies it accepts.
pub(crate) fn chunked_seed() -> Seed {
    let date = AmzDate::parse("20130524T000000Z").expect("a valid date");
    let scope = Scope {
        date: date.date_stamp(),
        region: "us-east-1",
        service: "s3",
    };
    let key = SigningKey::derive(&SecretKey::new("secret"), scope.date, "us-east-1", "s3");
    let signature = Signature::from_hex(&"5a".repeat(32)).expect("64 hex digits");
    Seed::new(key, date, scope, signature)
}

fn chunked_decoder(mode: StreamingMode, declared: u64) -> ChunkedDecoder {
    ChunkedDecoder::new(mode, Some(chunked_seed()), declared)
}

/// Feeds `body` in pieces of `split` bytes; returns the data and the outcome.
fn decode_chunked(
    mut decoder: ChunkedDecoder,
    body: &[u8],
    split: usize,
) -> (Vec<u8>, Result<Finished, ChunkedError>) {
    let mut data = Vec::new();
    for piece in body.chunks(split) {
        let mut rest = piece;
        while !rest.is_empty() {
            match decoder.decode(rest) {
                Ok(step) => {
                    assert!(step.consumed > 0, "no progress");
                    assert!(step.data.len() <= step.consumed, "data not from the input");
                    data.extend_from_slice(step.data);
                    rest = &rest[step.consumed..];
                }
                Err(e) => {
                    let _ = (e.to_string(), e.code().as_str(), e.code().http_status());
                    assert_eq!(decoder.decode(rest).err(), Some(e.clone()), "not sticky");
                    return (data, Err(e));
                }
            }
        }
    }
    (data, decoder.finish())
}

fn clip(text: &str) -> String {
    text.chars().take(160).collect()
}

/// A plausible "now" for the request: its `X-Amz-Date` or `X-Amz-Date=` parameter, if any.
fn date_of(req: &Request<'_>) -> SystemTime {
    let from_header = req.values("x-amz-date").next().map(str::trim);
    let from_query = req
        .query()
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Date="));
    from_header
        .or(from_query)
        .and_then(|d| AmzDate::parse(d).ok())
        .map_or(SystemTime::UNIX_EPOCH, AmzDate::to_system_time)
}
