//! Signing and verification speed, countersign against the aws-sigv4 crate in the same run.
//!
//! Run: `cargo bench -p countersign --bench sign`. Compare medians within one run only: the
//! machines are shared, so report ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use countersign::{
    AmzDate, Credentials, Payload, Request, SecretKey, Signer, SigningKeys, Verifier, VerifyPolicy,
};

fn main() {
    divan::main();
}

const NOW_SECS: u64 = 1_700_000_000;
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const GET_TARGET: &str = "/v1/topics?limit=20&after=abc%2F123";
const GET_HEADERS: [(&str, &str); 4] = [
    ("host", "api.example.com"),
    ("accept", "application/json"),
    ("cache-control", "no-cache"),
    ("x-request-id", "9f1c2a7e-41b5-4d1e-9a3f-2b8c6d0e1f42"),
];
const POST_HEADERS: [(&str, &str); 4] = [
    ("host", "api.example.com"),
    ("accept", "application/json"),
    ("content-type", "application/json"),
    ("content-length", "1024"),
];

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn body_1k() -> Vec<u8> {
    let mut body = br#"{"title":"hello","body":""#.to_vec();
    body.resize(1022, b'x');
    body.extend_from_slice(b"\"}");
    body
}

fn our_signer() -> Signer {
    Signer::new(
        Credentials::new("AKIDEXAMPLE", SECRET),
        "local",
        "countersign",
    )
    .unwrap()
}

fn aws_identity() -> Identity {
    AwsCredentials::new("AKIDEXAMPLE", SECRET, None, None, "bench").into()
}

fn aws_sign(
    identity: &Identity,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> usize {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region("local")
        .name("countersign")
        .time(now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("https://api.example.com{target}");
    let req = SignableRequest::new(
        method,
        uri,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _sig) = sign(req, &params).unwrap().into_parts();
    instructions.headers().count()
}

mod sign_get {
    use super::*;

    #[divan::bench(sample_count = 1000, sample_size = 20)]
    fn countersign(b: divan::Bencher) {
        let signer = our_signer();
        let now = AmzDate::from_system_time(now());
        b.bench_local(|| {
            let req = Request::new("GET", GET_TARGET).headers(GET_HEADERS);
            let signed = signer.sign(&req, Payload::Bytes(b""), now).unwrap();
            divan::black_box(signed.authorization().len())
        });
    }

    #[divan::bench(sample_count = 1000, sample_size = 20)]
    fn aws_sigv4(b: divan::Bencher) {
        let identity = aws_identity();
        b.bench_local(|| aws_sign(&identity, "GET", GET_TARGET, &GET_HEADERS, b""));
    }
}

mod sign_post_1k {
    use super::*;

    #[divan::bench(sample_count = 1000, sample_size = 20)]
    fn countersign(b: divan::Bencher) {
        let signer = our_signer();
        let now = AmzDate::from_system_time(now());
        let body = body_1k();
        b.bench_local(|| {
            let req = Request::new("POST", "/v1/topics").headers(POST_HEADERS);
            let signed = signer.sign(&req, Payload::Bytes(&body), now).unwrap();
            divan::black_box(signed.authorization().len())
        });
    }

    #[divan::bench(sample_count = 1000, sample_size = 20)]
    fn aws_sigv4(b: divan::Bencher) {
        let identity = aws_identity();
        let body = body_1k();
        b.bench_local(|| aws_sign(&identity, "POST", "/v1/topics", &POST_HEADERS, &body));
    }
}

/// Verification of a header-signed GET with the signing key cached; the body hash is not
/// part of the measurement (an empty body's digest is passed in).
mod verify_get {
    use super::*;

    fn signed_headers() -> Vec<(String, String)> {
        let signer = our_signer();
        let req = Request::new("GET", GET_TARGET).headers(GET_HEADERS);
        let signed = signer
            .sign(&req, Payload::Bytes(b""), AmzDate::from_system_time(now()))
            .unwrap();
        let mut all: Vec<(String, String)> = GET_HEADERS
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        all.extend(
            signed
                .headers()
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone())),
        );
        all
    }

    #[divan::bench(sample_count = 1000, sample_size = 20)]
    fn countersign(b: divan::Bencher) {
        let headers = signed_headers();
        let verifier = Verifier::new(VerifyPolicy::new("local", "countersign"));
        let keys = SigningKeys::new(SecretKey::new(SECRET));
        let empty = countersign::sha256(b"");
        let now = now();
        b.bench_local(|| {
            let req = Request::new("GET", GET_TARGET)
                .headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let pending = verifier.begin(&req, now).unwrap();
            let verified = pending.finish(&keys, Some(&empty)).unwrap();
            divan::black_box(verified.payload_signed)
        });
    }
}
