//! Secrets never leak (STYLE P8): a marker planted as the secret key, and as the session token
//! where a token must not be shown, appears in no `Debug` or `Display` output of the signer,
//! the credentials, the key types, or the errors of a tampered request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

use std::time::Duration;

use countersign::{
    AmzDate, Credentials, Payload, PresignedQuery, Request, SecretKey, Signer, SigningKey,
    SigningKeys, Verifier, VerifyError, VerifyPolicy,
};

const MARKER: &str = "LEAK-MARKER-7f3a";
const DATE: &str = "20240102T030405Z";

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARKER), "{what} leaks the marker: {text}");
}

fn credentials() -> Credentials {
    Credentials::new("AKIDEXAMPLE", MARKER).with_session_token(MARKER)
}

fn now() -> AmzDate {
    AmzDate::parse(DATE).unwrap()
}

/// Verifies a tampered copy of a signed request and returns the error.
fn tampered_header_error() -> VerifyError {
    let signer = Signer::new(credentials(), "local", "countersign").unwrap();
    let req = Request::new("POST", "/items?x=1").header("Host", "api.example.com");
    let signed = signer.sign(&req, Payload::Bytes(b"{}"), now()).unwrap();
    let mut tampered = Request::new("POST", "/items?x=2").header("Host", "api.example.com");
    for (n, v) in signed.headers() {
        tampered = tampered.header(n, v);
    }
    let keys = SigningKeys::new(SecretKey::new(MARKER));
    Verifier::new(VerifyPolicy::new("local", "countersign"))
        .verify(
            &tampered,
            now().to_system_time(),
            |_| Some(&keys),
            Some(&countersign::sha256(b"{}")),
        )
        .unwrap_err()
}

fn tampered_presigned_error() -> (VerifyError, String) {
    let signer = Signer::new(credentials(), "local", "countersign").unwrap();
    let req = Request::new("GET", "/items").header("Host", "api.example.com");
    let signed = signer
        .presign(&req, Payload::Bytes(b""), now(), Duration::from_secs(60))
        .unwrap();
    let query = signed.query().to_owned();
    let target = format!("/other?{query}");
    let tampered = Request::new("GET", &target).header("Host", "api.example.com");
    let keys = SigningKeys::new(SecretKey::new(MARKER));
    let err = Verifier::new(VerifyPolicy::new("local", "countersign"))
        .verify(
            &tampered,
            now().to_system_time(),
            |_| Some(&keys),
            Some(&countersign::sha256(b"")),
        )
        .unwrap_err();
    (err, query)
}

#[test]
fn secret_key_and_derived_keys_never_show_the_secret() {
    let secret = SecretKey::new(MARKER);
    assert_clean("SecretKey Debug", &format!("{secret:?} {secret:#?}"));
    let keys = SigningKeys::new(secret.clone());
    let date = now().date_stamp();
    let key: SigningKey = keys.signing_key(date, "local", "countersign");
    assert_clean("SigningKeys Debug", &format!("{keys:?} {keys:#?}"));
    assert_clean("SigningKey Debug", &format!("{key:?} {key:#?}"));
    let derived = SigningKey::derive(&secret, date, "local", "countersign");
    let hex: String = derived
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!format!("{derived:?} {keys:?}").contains(&hex));
}

#[test]
fn credentials_and_signer_never_show_the_secret_or_the_token() {
    let creds = credentials();
    assert_clean("Credentials Debug", &format!("{creds:?} {creds:#?}"));
    let signer = Signer::new(creds, "local", "countersign").unwrap();
    assert_clean("Signer Debug", &format!("{signer:?} {signer:#?}"));
}

#[test]
fn signing_output_never_shows_the_secret() {
    // The session token is sent on the wire, so the signer's output may carry it; the secret
    // never.
    let signer = Signer::new(
        Credentials::new("AKIDEXAMPLE", MARKER).with_session_token("token"),
        "local",
        "countersign",
    )
    .unwrap();
    let req = Request::new("GET", "/").header("Host", "h");
    let signed = signer.sign(&req, Payload::Bytes(b""), now()).unwrap();
    let shown = format!(
        "{signed:?} {} {} {}",
        signed.canonical_request(),
        signed.string_to_sign(),
        signed.authorization()
    );
    assert_clean("SignedRequest", &shown);
    let presigned = signer
        .presign(&req, Payload::Bytes(b""), now(), Duration::from_secs(60))
        .unwrap();
    let shown = format!(
        "{presigned:?} {} {}",
        presigned.canonical_request(),
        presigned.query()
    );
    assert_clean("PresignedRequest", &shown);
}

#[test]
fn errors_of_a_tampered_header_signed_request_show_neither_secret_nor_token() {
    let err = tampered_header_error();
    assert!(
        matches!(err, VerifyError::SignatureDoesNotMatch(_)),
        "{err:?}"
    );
    assert_clean("VerifyError Display", &err.to_string());
    assert_clean("VerifyError Debug", &format!("{err:?} {err:#?}"));
    assert_clean("ErrorCode", &format!("{:?} {}", err.code(), err.code()));
}

#[test]
fn errors_of_a_tampered_presigned_request_show_neither_secret_nor_token() {
    let (err, query) = tampered_presigned_error();
    assert!(
        matches!(err, VerifyError::SignatureDoesNotMatch(_)),
        "{err:?}"
    );
    assert_clean("VerifyError Display", &err.to_string());
    assert_clean("VerifyError Debug", &format!("{err:?} {err:#?}"));
    let parsed = PresignedQuery::parse(&query).unwrap();
    assert_eq!(parsed.session_token(), Some(MARKER));
    assert_clean("PresignedQuery Debug", &format!("{parsed:?} {parsed:#?}"));
}
