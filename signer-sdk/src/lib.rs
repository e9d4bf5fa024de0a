//! # countersign
//!
//! AWS Signature Version 4 (SigV4) signing, presigning and verification, byte-compatible with
//! AWS SDKs, curl `--aws-sigv4` and the aws-sigv4 crate.
//!
//! The crate is **sans-IO**: it does no network or file I/O, reads no clock or environment and
//! spawns nothing. Time comes in as an argument (`now`), secrets come in as values, and the
//! verifier is split where the key lookup (your I/O) happens. Signer and verifier share one
//! canonicalizer, so the two roles cannot drift apart.
//!
//! ```text
//!  signer:   Request ─► CanonicalRequest ─► StringToSign ─► HMAC(kSigning) ─► Authorization
//!  verifier: Request ─► Verifier::begin (parse, scope, skew) ─► your key lookup
//!                    ─► Pending::finish (same CanonicalRequest, constant-time compare)
//! ```
//!
//! ## Sign and verify a request
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use countersign::{AmzDate, Credentials, Payload, Request, SecretKey, Signer, SigningKeys,
//!                   Verifier, VerifyPolicy};
//!
//! let signer = Signer::new(Credentials::new("AKIDEXAMPLE", "secret"), "local", "countersign")?;
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let body = br#"{"title":"hello"}"#;
//! let req = Request::new("POST", "/topics?draft=1")
//!     .header("Host", "api.example.com")
//!     .header("Content-Type", "application/json");
//! let signed = signer.sign(&req, Payload::Bytes(body), AmzDate::from_system_time(now))?;
//!
//! // The server receives the request with the added headers…
//! let mut received = req.clone();
//! for (name, value) in signed.headers() {
//!     received = received.header(name, value);
//! }
//! // …and verifies it: parse + skew (pure), look up the secret (your I/O), then finish.
//! let verifier = Verifier::new(VerifyPolicy::new("local", "countersign"));
//! let pending = verifier.begin(&received, now)?;
//! assert_eq!(pending.access_key_id(), "AKIDEXAMPLE");
//! let keys = SigningKeys::new(SecretKey::new("secret"));
//! let body_sha256 = countersign::sha256(body);
//! let verified = pending.finish(&keys, Some(&body_sha256))?;
//! assert!(verified.payload_signed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What countersign does not do
//! It does not send requests, store keys, or read clocks: the server (`countersign-server`)
//! and the CLI (`countersign`) do, on top of this crate. SigV4a (ECDSA) is not implemented.
//! Streaming (`aws-chunked`) bodies are framed and verified by [`chunked`].

#![forbid(unsafe_code)]

mod authorization;
mod bytes;
mod canonical;
pub mod chunked;
mod clock_offset;
mod credentials;
mod date;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod presigned_query;
mod sign;
mod signing_key;
mod string_to_sign;
mod verify;

pub use authorization::{Authorization, Credential, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS};
pub use canonical::{
    CanonicalRequest, EMPTY_SHA256, EMPTY_SHA256_DIGEST, Payload, Request, STREAMING_PAYLOAD,
    STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_PAYLOAD_TRAILER, UNSIGNED_BY_DEFAULT,
    UNSIGNED_PAYLOAD, UriEncoding, is_token,
};
pub use clock_offset::ClockOffset;
pub use credentials::{Credentials, SecretKey};
pub use date::{AmzDate, DateError, DateStamp};
pub use error::{AuthParseError, ErrorCode, Mismatch, SignError, SignatureLocation, VerifyError};
pub use presigned_query::PresignedQuery;
pub use sign::{
    ContentSha256Header, MAX_PRESIGN_EXPIRY, PresignPayload, PresignedRequest, SignedRequest,
    Signer, SigningSettings,
};
pub use signing_key::{Signature, SigningKey, SigningKeys};
pub use string_to_sign::{ALGORITHM, Scope, StringToSign};
pub use verify::{
    Alternative, DEFAULT_MAX_SKEW, PayloadClaim, Pending, Readings, UNSIGNED_AMZ_ALLOWED,
    UnsignedPayload, Verified, Verifier, VerifyPolicy,
};

/// SHA-256 of `data` (the body hash verifiers and signers need).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// Lowercase hex of a SHA-256 digest (the payload-hash form).
pub fn hex_digest(digest: &[u8; 32]) -> String {
    signing_key::hex_str(&signing_key::hex_bytes(digest)).to_owned()
}

/// Hooks for fuzzing and benchmarks; not a stable API.
#[doc(hidden)]
pub mod internal {
    /// Canonical query string of a raw query (strict reading).
    pub fn canonical_query(raw: &str) -> String {
        let mut out = String::new();
        crate::canonical::query::canonical_query(
            raw,
            crate::canonical::query::QueryReading::PlusIsSpace,
            false,
            &mut out,
        );
        out
    }

    /// Canonical URI of a raw path.
    pub fn canonical_uri(path: &str, encoding: crate::UriEncoding) -> String {
        crate::canonical::uri::canonical_uri(path, encoding).into_owned()
    }
}

/// The repository README's Rust snippet, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
