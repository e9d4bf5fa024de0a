//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly) and
//! `signer-sdk/tests/fuzz_bodies.rs` (proptest, stable), so CI exercises them without nightly.
//!
//! Each body takes any text and may only fail by panicking on a broken law.

use std::time::{Duration, SystemTime};

use countersign::internal;
use countersign::{
    AmzDate, Authorization, PresignedQuery, Request, SecretKey, SigningKeys, UriEncoding, Verifier,
    VerifyPolicy,
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
        assert!((1..=604_800).contains(&q.expires()));
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
