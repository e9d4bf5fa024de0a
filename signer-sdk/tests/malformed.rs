//! Malformed and refused requests: each row names the exact `VerifyError` variant and wire code,
//! and no input may panic. Then the time rules, the payload rules, and the alternative readings
//! real clients need (`spec/protocol.md` sections 10 and 11).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings as AwsSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use countersign::{
    AmzDate, AuthParseError, ContentSha256Header, Credentials, DateError, Payload, PresignPayload,
    Request, SecretKey, SignatureLocation, Signer, SigningKeys, SigningSettings, UnsignedPayload,
    UriEncoding, Verified, Verifier, VerifyError, VerifyPolicy,
};

const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "example.amazonaws.com";
const DATE: &str = "20150830T123600Z";
/// Well-formed, but not the signature of any request here (the suite's get-vanilla one ends in `31`).
const SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf30";
const CRED: &str = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
const CRED_Q: &str = "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request";

fn now() -> SystemTime {
    AmzDate::parse(DATE).unwrap().to_system_time()
}

fn policy() -> VerifyPolicy {
    VerifyPolicy::new(REGION, SERVICE)
}

/// An owned request for the table.
#[derive(Clone, Debug)]
struct Raw {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
}

impl Raw {
    fn get(target: impl Into<String>) -> Self {
        Self {
            method: "GET",
            target: target.into(),
            headers: vec![("Host".into(), HOST.into())],
        }
    }

    fn h(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// A header-signed request with the given Authorization value and `X-Amz-Date`.
    fn auth(value: impl Into<String>) -> Self {
        Self::get("/")
            .h("X-Amz-Date", DATE)
            .h("Authorization", value)
    }

    fn verify_with(&self, policy: VerifyPolicy, at: SystemTime) -> Result<Verified, VerifyError> {
        let mut req = Request::new(self.method, &self.target);
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        let keys = SigningKeys::new(SecretKey::new(SECRET));
        let body = countersign::sha256(b"");
        Verifier::new(policy).verify(
            &req,
            at,
            |id| (id == ACCESS_KEY_ID).then_some(&keys),
            Some(&body),
        )
    }
}

fn authz(credential: &str, signed: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    )
}

fn good_auth() -> String {
    authz(CRED, "host;x-amz-date", SIG)
}

/// Presign parameters, in order; rows edit the list.
fn presign_params() -> Vec<(&'static str, String)> {
    vec![
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".into()),
        ("X-Amz-Credential", CRED_Q.into()),
        ("X-Amz-Date", DATE.into()),
        ("X-Amz-Expires", "3600".into()),
        ("X-Amz-SignedHeaders", "host".into()),
        ("X-Amz-Signature", SIG.into()),
    ]
}

fn presigned(params: &[(&str, String)]) -> Raw {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Raw::get(format!("/?{}", q.join("&")))
}

fn presigned_with(name: &str, value: &str) -> Raw {
    let mut p = presign_params();
    p.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.into();
    presigned(&p)
}

fn presigned_without(name: &str) -> Raw {
    let mut p = presign_params();
    p.retain(|(k, _)| *k != name);
    presigned(&p)
}

type Check = fn(&VerifyError) -> bool;

/// Runs one row: the request must be refused with the variant `check` accepts and `code`.
fn row(name: &str, raw: &Raw, check: Check, code: &str) {
    let result = catch_unwind(AssertUnwindSafe(|| raw.verify_with(policy(), now())));
    let Ok(result) = result else {
        panic!("{name}: the verifier panicked on {raw:?}");
    };
    let err = match result {
        Ok(v) => panic!("{name}: accepted ({v:?}): {raw:?}"),
        Err(e) => e,
    };
    assert!(check(&err), "{name}: unexpected variant {err:?}");
    assert_eq!(err.code().as_str(), code, "{name}: {err}");
}

use AuthParseError as P;
use SignatureLocation::{Header, Query};
use VerifyError as E;

#[test]
#[allow(clippy::too_many_lines, reason = "one table")]
fn malformed_inputs_are_refused_with_their_exact_error() {
    let long = authz(CRED, "host;x-amz-date", &"a".repeat(9000));
    let nine_k = format!("{}{}", good_auth(), " ".repeat(9000));
    let rows: Vec<(&str, Raw, Check, &str)> = vec![
        // --- no or several authentication methods
        (
            "no authentication",
            Raw::get("/").h("X-Amz-Date", DATE),
            |e| matches!(e, E::MissingAuthentication),
            "MissingAuthenticationToken",
        ),
        (
            "two Authorization headers",
            Raw::auth(good_auth()).h("Authorization", good_auth()),
            |e| matches!(e, E::MultipleAuthMethods(_)),
            "InvalidArgument",
        ),
        (
            "Authorization header and presign parameters",
            presigned(&presign_params())
                .h("X-Amz-Date", DATE)
                .h("Authorization", good_auth()),
            |e| matches!(e, E::MultipleAuthMethods(_)),
            "InvalidArgument",
        ),
        // --- Authorization header syntax
        (
            "empty Authorization",
            Raw::auth(""),
            |e| matches!(e, E::MalformedAuthorization(P::Empty)),
            "AuthorizationHeaderMalformed",
        ),
        (
            "blank Authorization",
            Raw::auth("   "),
            |e| matches!(e, E::MalformedAuthorization(P::Empty)),
            "AuthorizationHeaderMalformed",
        ),
        (
            "too-long Authorization",
            Raw::auth(nine_k),
            |e| matches!(e, E::MalformedAuthorization(P::TooLong { max: 8192, .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "SigV2-style algorithm",
            Raw::auth("AWS AKIDEXAMPLE:c2lnbmF0dXJl"),
            |e| matches!(e, E::MalformedAuthorization(P::UnsupportedAlgorithm(a)) if a == "AWS"),
            "AuthorizationHeaderMalformed",
        ),
        (
            "SHA-1 algorithm",
            Raw::auth(good_auth().replace("SHA256", "SHA1")),
            |e| matches!(e, E::MalformedAuthorization(P::UnsupportedAlgorithm(_))),
            "AuthorizationHeaderMalformed",
        ),
        (
            "lower-case algorithm",
            Raw::auth(good_auth().replace("AWS4-HMAC-SHA256", "aws4-hmac-sha256")),
            |e| matches!(e, E::MalformedAuthorization(P::UnsupportedAlgorithm(_))),
            "AuthorizationHeaderMalformed",
        ),
        (
            "missing Credential",
            Raw::auth(format!(
                "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature={SIG}"
            )),
            |e| {
                matches!(
                    e,
                    E::MalformedAuthorization(P::MissingParameter("Credential"))
                )
            },
            "IncompleteSignature",
        ),
        (
            "missing SignedHeaders",
            Raw::auth(format!(
                "AWS4-HMAC-SHA256 Credential={CRED}, Signature={SIG}"
            )),
            |e| {
                matches!(
                    e,
                    E::MalformedAuthorization(P::MissingParameter("SignedHeaders"))
                )
            },
            "IncompleteSignature",
        ),
        (
            "missing Signature",
            Raw::auth(format!(
                "AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host;x-amz-date"
            )),
            |e| {
                matches!(
                    e,
                    E::MalformedAuthorization(P::MissingParameter("Signature"))
                )
            },
            "IncompleteSignature",
        ),
        (
            "algorithm only",
            Raw::auth("AWS4-HMAC-SHA256"),
            |e| matches!(e, E::MalformedAuthorization(P::MalformedParameter(_))),
            "AuthorizationHeaderMalformed",
        ),
        (
            "duplicate Signature",
            Raw::auth(format!("{}, Signature={SIG}", good_auth())),
            |e| matches!(e, E::MalformedAuthorization(P::DuplicateParameter(p)) if p == "Signature"),
            "AuthorizationHeaderMalformed",
        ),
        (
            "unknown parameter",
            Raw::auth(format!("{}, Expires=1", good_auth())),
            |e| matches!(e, E::MalformedAuthorization(P::UnknownParameter(p)) if p == "Expires"),
            "AuthorizationHeaderMalformed",
        ),
        (
            "parameter without =",
            Raw::auth(format!(
                "AWS4-HMAC-SHA256 Credential, SignedHeaders=host;x-amz-date, Signature={SIG}"
            )),
            |e| matches!(e, E::MalformedAuthorization(P::MalformedParameter(_))),
            "AuthorizationHeaderMalformed",
        ),
        (
            "credential with four parts",
            Raw::auth(authz(
                "AKIDEXAMPLE/20150830/us-east-1/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidCredential { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "credential with a wrong terminator",
            Raw::auth(authz(
                "AKIDEXAMPLE/20150830/us-east-1/service/aws5_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidCredential { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "credential with month 13",
            Raw::auth(authz(
                "AKIDEXAMPLE/20151330/us-east-1/service/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidCredential { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "credential with an empty key id",
            Raw::auth(authz(
                "/20150830/us-east-1/service/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidCredential { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signed headers unsorted",
            Raw::auth(authz(CRED, "x-amz-date;host", SIG)),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidSignedHeaders { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signed headers upper-case",
            Raw::auth(authz(CRED, "Host;x-amz-date", SIG)),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidSignedHeaders { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signed headers neither sorted nor in curl 7's line order",
            Raw::auth(authz(CRED, "host;x-amz-date;host", SIG)),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidSignedHeaders { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signed headers empty",
            Raw::auth(authz(CRED, "", SIG)),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidSignedHeaders { .. })),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signature not hex",
            Raw::auth(authz(CRED, "host;x-amz-date", &"z".repeat(64))),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidSignature(_))),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signature 63 digits",
            Raw::auth(authz(CRED, "host;x-amz-date", &SIG[1..])),
            |e| matches!(e, E::MalformedAuthorization(P::InvalidSignature(_))),
            "AuthorizationHeaderMalformed",
        ),
        (
            "signature 9000 digits",
            Raw::auth(long),
            |e| matches!(e, E::MalformedAuthorization(P::TooLong { .. })),
            "AuthorizationHeaderMalformed",
        ),
        // --- date header
        (
            "no X-Amz-Date",
            Raw::auth(good_auth()).without("X-Amz-Date"),
            |e| matches!(e, E::MissingDate),
            "IncompleteSignature",
        ),
        (
            "ISO 8601 extended date",
            Raw::auth(good_auth())
                .without("X-Amz-Date")
                .h("X-Amz-Date", "2015-08-30T12:36:00Z"),
            |e| matches!(e, E::InvalidDateHeader(DateError::Format(_))),
            "InvalidArgument",
        ),
        (
            "HTTP-date instead of X-Amz-Date",
            Raw::auth(good_auth())
                .without("X-Amz-Date")
                .h("X-Amz-Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
            |e| matches!(e, E::InvalidDateHeader(DateError::Format(_))),
            "InvalidArgument",
        ),
        (
            "February 30",
            Raw::auth(good_auth())
                .without("X-Amz-Date")
                .h("X-Amz-Date", "20150230T123600Z"),
            |e| matches!(e, E::InvalidDateHeader(DateError::Range(_))),
            "InvalidArgument",
        ),
        (
            "two X-Amz-Date headers",
            Raw::auth(good_auth()).h("x-amz-date", DATE),
            |e| matches!(e, E::DuplicateHeader("X-Amz-Date")),
            "InvalidArgument",
        ),
        // --- scope and signed headers
        (
            "wrong region",
            Raw::auth(authz(
                "AKIDEXAMPLE/20150830/eu-west-1/service/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::WrongRegion { location: Header, found, .. } if found == "eu-west-1"),
            "AuthorizationHeaderMalformed",
        ),
        (
            "wrong service",
            Raw::auth(authz(
                "AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::WrongService { location: Header, found, .. } if found == "s3"),
            "AuthorizationHeaderMalformed",
        ),
        (
            "scope date is not the request date",
            Raw::auth(authz(
                "AKIDEXAMPLE/20150829/us-east-1/service/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| {
                matches!(
                    e,
                    E::ScopeDateMismatch {
                        location: Header,
                        ..
                    }
                )
            },
            "AuthorizationHeaderMalformed",
        ),
        (
            "host not signed",
            Raw::auth(authz(CRED, "x-amz-date", SIG)),
            |e| {
                matches!(
                    e,
                    E::RequiredHeaderNotSigned {
                        location: Header,
                        required: "host",
                        ..
                    }
                )
            },
            "IncompleteSignature",
        ),
        (
            "date not signed",
            Raw::auth(authz(CRED, "host", SIG)),
            |e| {
                matches!(
                    e,
                    E::RequiredHeaderNotSigned {
                        location: Header,
                        required: "x-amz-date",
                        ..
                    }
                )
            },
            "IncompleteSignature",
        ),
        (
            "signed header absent",
            Raw::auth(authz(CRED, "host;x-amz-date;x-custom", SIG)),
            |e| matches!(e, E::SignedHeaderMissing { location: Header, name } if name == "x-custom"),
            "AuthorizationHeaderMalformed",
        ),
        (
            "unsigned x-amz-* header",
            Raw::auth(good_auth()).h("X-Amz-Meta-Owner", "eve"),
            |e| matches!(e, E::UnsignedAmzHeaders(h) if h == &["x-amz-meta-owner"]),
            "AccessDenied",
        ),
        (
            "unsigned x-amz-security-token",
            Raw::auth(good_auth()).h("x-amz-security-token", "t"),
            |e| matches!(e, E::UnsignedAmzHeaders(h) if h == &["x-amz-security-token"]),
            "AccessDenied",
        ),
        // --- payload declaration
        (
            "x-amz-content-sha256 not hex",
            Raw::auth(good_auth()).h("x-amz-content-sha256", "abc"),
            |e| matches!(e, E::InvalidContentSha256(v) if v == "abc"),
            "InvalidArgument",
        ),
        (
            "streaming payload without x-amz-decoded-content-length",
            Raw::auth(good_auth()).h("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            |e| matches!(e, E::MissingDecodedContentLength),
            "InvalidArgument",
        ),
        (
            "streaming payload with a non-numeric x-amz-decoded-content-length",
            Raw::auth(good_auth())
                .h("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
                .h("x-amz-decoded-content-length", "+12"),
            |e| matches!(e, E::InvalidDecodedContentLength(v) if v == "+12"),
            "InvalidArgument",
        ),
        (
            "streaming payload with two x-amz-decoded-content-length headers",
            Raw::auth(good_auth())
                .h("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
                .h("x-amz-decoded-content-length", "1")
                .h("x-amz-decoded-content-length", "1"),
            |e| matches!(e, E::DuplicateHeader("x-amz-decoded-content-length")),
            "InvalidArgument",
        ),
        (
            "streaming payload on a presigned URL",
            presigned(&presign_params())
                .h("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
                .h("x-amz-decoded-content-length", "1"),
            |e| matches!(e, E::StreamingNotSupported(m) if m == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            "InvalidArgument",
        ),
        (
            "two x-amz-content-sha256 headers",
            Raw::auth(good_auth())
                .h("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
                .h("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            |e| matches!(e, E::DuplicateHeader("x-amz-content-sha256")),
            "InvalidArgument",
        ),
        // --- key and signature
        (
            "unknown access key id",
            Raw::auth(authz(
                "AKIDUNKNOWN/20150830/us-east-1/service/aws4_request",
                "host;x-amz-date",
                SIG,
            )),
            |e| matches!(e, E::InvalidAccessKeyId(id) if id == "AKIDUNKNOWN"),
            "InvalidAccessKeyId",
        ),
        (
            "well-formed but wrong signature",
            Raw::auth(good_auth()),
            |e| matches!(e, E::SignatureDoesNotMatch(m) if m.canonical_request.starts_with("GET\n/\n")),
            "SignatureDoesNotMatch",
        ),
        // --- presigned query
        (
            "presigned without X-Amz-Signature",
            presigned_without("X-Amz-Signature"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::MissingParameter("X-Amz-Signature"))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned without X-Amz-Credential",
            presigned_without("X-Amz-Credential"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::MissingParameter("X-Amz-Credential"))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned without X-Amz-Date",
            presigned_without("X-Amz-Date"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::MissingParameter("X-Amz-Date"))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned without X-Amz-SignedHeaders",
            presigned_without("X-Amz-SignedHeaders"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::MissingParameter("X-Amz-SignedHeaders"))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned without X-Amz-Algorithm",
            presigned_without("X-Amz-Algorithm"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::MissingParameter("X-Amz-Algorithm"))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned expires 0",
            presigned_with("X-Amz-Expires", "0"),
            |e| matches!(e, E::MalformedPresignedQuery(P::InvalidExpires(v)) if v == "0"),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned expires 604801",
            presigned_with("X-Amz-Expires", "604801"),
            |e| matches!(e, E::MalformedPresignedQuery(P::InvalidExpires(_))),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned expires not numeric",
            presigned_with("X-Amz-Expires", "1h"),
            |e| matches!(e, E::MalformedPresignedQuery(P::InvalidExpires(_))),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned expires negative",
            presigned_with("X-Amz-Expires", "-60"),
            |e| matches!(e, E::MalformedPresignedQuery(P::InvalidExpires(_))),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned algorithm wrong",
            presigned_with("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256"),
            |e| matches!(e, E::MalformedPresignedQuery(P::UnsupportedAlgorithm(_))),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned credential not UTF-8",
            presigned_with(
                "X-Amz-Credential",
                "AKID%FF%2F20150830%2Fus-east-1%2Fservice%2Faws4_request",
            ),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::NotUtf8("X-Amz-Credential"))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned credential unencoded but malformed",
            presigned_with("X-Amz-Credential", "AKIDEXAMPLE/20150830/us-east-1"),
            |e| matches!(e, E::MalformedPresignedQuery(P::InvalidCredential { .. })),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned date malformed",
            presigned_with("X-Amz-Date", "20150830T1236Z"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::InvalidDate(DateError::Format(_)))
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned signature not hex",
            presigned_with("X-Amz-Signature", &"g".repeat(64)),
            |e| matches!(e, E::MalformedPresignedQuery(P::InvalidSignature(_))),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned signed headers unsorted",
            presigned_with("X-Amz-SignedHeaders", "x-a%3Bhost"),
            |e| {
                matches!(
                    e,
                    E::MalformedPresignedQuery(P::InvalidSignedHeaders { .. })
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned parameter repeated",
            {
                let mut p = presign_params();
                p.push(("X-Amz-Date", DATE.into()));
                presigned(&p)
            },
            |e| matches!(e, E::MalformedPresignedQuery(P::DuplicateParameter(p)) if p == "X-Amz-Date"),
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned wrong region",
            presigned_with(
                "X-Amz-Credential",
                "AKIDEXAMPLE%2F20150830%2Fus-west-2%2Fservice%2Faws4_request",
            ),
            |e| {
                matches!(
                    e,
                    E::WrongRegion {
                        location: Query,
                        ..
                    }
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned wrong service",
            presigned_with(
                "X-Amz-Credential",
                "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fs3%2Faws4_request",
            ),
            |e| {
                matches!(
                    e,
                    E::WrongService {
                        location: Query,
                        ..
                    }
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned scope date wrong",
            presigned_with(
                "X-Amz-Credential",
                "AKIDEXAMPLE%2F20150831%2Fus-east-1%2Fservice%2Faws4_request",
            ),
            |e| {
                matches!(
                    e,
                    E::ScopeDateMismatch {
                        location: Query,
                        ..
                    }
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned host not signed",
            presigned_with("X-Amz-SignedHeaders", "x-custom").h("X-Custom", "1"),
            |e| {
                matches!(
                    e,
                    E::RequiredHeaderNotSigned {
                        location: Query,
                        required: "host",
                        ..
                    }
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned signed header absent",
            presigned_with("X-Amz-SignedHeaders", "host%3Bx-custom"),
            |e| {
                matches!(
                    e,
                    E::SignedHeaderMissing {
                        location: Query,
                        ..
                    }
                )
            },
            "AuthorizationQueryParametersError",
        ),
        (
            "presigned with an unsigned x-amz-* header",
            presigned(&presign_params()).h("x-amz-copy-source", "/other/object"),
            |e| matches!(e, E::UnsignedAmzHeaders(h) if h == &["x-amz-copy-source"]),
            "AccessDenied",
        ),
        (
            "presigned, well-formed but wrong signature",
            presigned(&presign_params()),
            |e| matches!(e, E::SignatureDoesNotMatch(_)),
            "SignatureDoesNotMatch",
        ),
    ];
    assert!(rows.len() >= 30, "the table shrank: {}", rows.len());
    for (name, raw, check, code) in &rows {
        row(name, raw, *check, code);
    }
}

// ---------------------------------------------------------------------------------------------
// Time rules

fn signer() -> Signer {
    Signer::new(Credentials::new(ACCESS_KEY_ID, SECRET), REGION, SERVICE).unwrap()
}

/// A GET signed in the header at `DATE`, as received.
fn header_signed(signer: &Signer) -> Raw {
    let req = Request::new("GET", "/a?b=c").header("Host", HOST);
    let signed = signer
        .sign(&req, Payload::Bytes(b""), AmzDate::parse(DATE).unwrap())
        .unwrap();
    let mut raw = Raw::get("/a?b=c");
    for (n, v) in signed.headers() {
        raw = raw.h(n, v.clone());
    }
    raw
}

/// A GET presigned at `DATE` for `expires` seconds, as received.
fn presigned_for(expires: u64) -> Raw {
    let signer = signer();
    let req = Request::new("GET", "/a?b=c").header("Host", HOST);
    let signed = signer
        .presign(
            &req,
            Payload::Bytes(b""),
            AmzDate::parse(DATE).unwrap(),
            Duration::from_secs(expires),
        )
        .unwrap();
    Raw::get(format!("/a?{}", signed.query()))
}

fn at(offset: i64) -> SystemTime {
    let t = now();
    let d = Duration::from_secs(offset.unsigned_abs());
    if offset < 0 { t - d } else { t + d }
}

#[test]
fn header_auth_sixteen_minutes_off_either_way_is_too_skewed() {
    let raw = header_signed(&signer());
    for offset in [-16 * 60, 16 * 60, -15 * 60 - 1, 15 * 60 + 1] {
        let err = raw.verify_with(policy(), at(offset)).unwrap_err();
        assert!(
            matches!(err, E::RequestTimeTooSkewed { .. }),
            "{offset}: {err:?}"
        );
        assert_eq!(err.code().as_str(), "RequestTimeTooSkewed");
    }
}

#[test]
fn header_auth_exactly_fifteen_minutes_off_is_accepted() {
    let raw = header_signed(&signer());
    for offset in [-15 * 60, 0, 15 * 60] {
        let v = raw.verify_with(policy(), at(offset)).unwrap();
        assert_eq!(v.location, Header);
        assert_eq!(v.alternative, None);
    }
}

#[test]
fn presigned_url_expired_one_second_ago_is_refused() {
    let raw = presigned_for(60);
    let err = raw.verify_with(policy(), at(61)).unwrap_err();
    assert!(matches!(err, E::RequestExpired { .. }), "{err:?}");
    assert_eq!(err.code().as_str(), "RequestExpired");
}

#[test]
fn presigned_url_is_valid_at_its_last_second() {
    let raw = presigned_for(60);
    for offset in [0, 59, 60] {
        let v = raw.verify_with(policy(), at(offset)).unwrap();
        assert_eq!(v.location, Query);
    }
}

#[test]
fn presigned_url_dated_beyond_the_skew_in_the_future_is_too_skewed() {
    let raw = presigned_for(604_800);
    let err = raw.verify_with(policy(), at(-15 * 60 - 1)).unwrap_err();
    assert!(matches!(err, E::RequestTimeTooSkewed { .. }), "{err:?}");
    assert_eq!(err.code().as_str(), "RequestTimeTooSkewed");
    // Exactly at the skew it is accepted.
    raw.verify_with(policy(), at(-15 * 60)).unwrap();
}

#[test]
fn presigned_url_for_seven_days_is_valid_on_the_last_day() {
    let raw = presigned_for(604_800);
    raw.verify_with(policy(), at(604_800)).unwrap();
    let err = raw.verify_with(policy(), at(604_801)).unwrap_err();
    assert!(matches!(err, E::RequestExpired { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Payload rules

fn signed_with_sha_header(payload: Payload<'_>) -> Raw {
    let signer = signer()
        .with_settings(SigningSettings::default().content_sha256(ContentSha256Header::Send));
    let req = Request::new("PUT", "/obj").header("Host", HOST);
    let signed = signer
        .sign(&req, payload, AmzDate::parse(DATE).unwrap())
        .unwrap();
    let mut raw = Raw::get("/obj");
    raw.method = "PUT";
    for (n, v) in signed.headers() {
        raw = raw.h(n, v.clone());
    }
    raw
}

fn verify_body(raw: &Raw, policy: VerifyPolicy, body: &[u8]) -> Result<Verified, VerifyError> {
    let mut req = Request::new(raw.method, &raw.target);
    for (n, v) in &raw.headers {
        req = req.header(n, v);
    }
    let keys = SigningKeys::new(SecretKey::new(SECRET));
    Verifier::new(policy).verify(
        &req,
        now(),
        |_| Some(&keys),
        Some(&countersign::sha256(body)),
    )
}

#[test]
fn body_not_matching_x_amz_content_sha256_is_refused() {
    let raw = signed_with_sha_header(Payload::Bytes(b"hello"));
    verify_body(&raw, policy(), b"hello").unwrap();
    let err = verify_body(&raw, policy(), b"hellO").unwrap_err();
    assert!(matches!(err, E::ContentSha256Mismatch { .. }), "{err:?}");
    assert_eq!(err.code().as_str(), "XAmzContentSHA256Mismatch");
}

#[test]
fn unsigned_payload_refused_by_policy() {
    let raw = signed_with_sha_header(Payload::Unsigned);
    let v = verify_body(&raw, policy(), b"anything").unwrap();
    assert!(!v.payload_signed);
    let refuse = policy().unsigned_payload(UnsignedPayload::Refuse);
    let err = verify_body(&raw, refuse, b"anything").unwrap_err();
    assert!(matches!(err, E::UnsignedPayloadRefused), "{err:?}");
    assert_eq!(err.code().as_str(), "AccessDenied");
}

// ---------------------------------------------------------------------------------------------
// Alternative readings

#[test]
fn curl_like_single_encoded_path_verifies_under_double_policy() {
    // aws-sigv4 configured as curl signs: the path as sent, encoded once, not normalized.
    let identity: Identity =
        aws_credential_types::Credentials::new(ACCESS_KEY_ID, SECRET, None, None, "curl-like")
            .into();
    let mut settings = AwsSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let path = "/docs/caf%C3%A9%20menu.txt";
    let signable = SignableRequest::new(
        "GET",
        format!("https://{HOST}{path}"),
        std::iter::once(("host", HOST)),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut raw = Raw::get(path);
    for (n, v) in instructions.headers() {
        raw = raw.h(n, v);
    }
    let v = raw.verify_with(policy(), now()).unwrap();
    let alt = v.alternative.expect("an alternative reading");
    assert!(alt.path_other_mode, "{alt:?}");
    assert!(!alt.query_plus_literal && !alt.query_as_sent && alt.host_port.is_none());
    assert_strict_refuses(&raw);
}

/// A GET for `sent`, carrying the headers our signer made for `signed`: a client that built
/// the canonical request of `sent` as we would build that of `signed`.
fn sent_as_signed(signed: &str, sent: &str) -> Raw {
    let req = Request::new("GET", signed).header("Host", HOST);
    let signer = signer();
    let out = signer
        .sign(&req, Payload::Bytes(b""), AmzDate::parse(DATE).unwrap())
        .unwrap();
    out.headers()
        .iter()
        .fold(Raw::get(sent), |raw, (n, v)| raw.h(n, v.clone()))
}

/// Refused under the strict policy, which tries no alternative reading.
fn assert_strict_refuses(raw: &Raw) {
    let strict = policy().readings(countersign::Readings::Strict);
    let err = raw.verify_with(strict, now()).unwrap_err();
    assert!(matches!(err, E::SignatureDoesNotMatch(_)), "{err:?}");
}

#[test]
fn raw_plus_signed_as_literal_plus_verifies() {
    // Signed as `q=a%2Bb` (a literal plus), sent with the raw `+`.
    let raw = sent_as_signed("/search?q=a%2Bb", "/search?q=a+b");
    let v = raw.verify_with(policy(), now()).unwrap();
    let alt = v.alternative.expect("an alternative reading");
    assert!(alt.query_plus_literal, "{alt:?}");
    assert!(!alt.path_other_mode && alt.host_port.is_none());
    // This reading signs every piece: the query is handed on as it came.
    assert_eq!(alt.signed_query("q=a+b&flag&=x"), "q=a+b&flag&=x");
}

/// aws4fetch presigns without `X-Amz-Expires` for services other than S3: the URL then lives
/// as long as the clock skew allows, either way. The signature is computed here by hand, from
/// the AWS documentation's steps.
#[test]
fn presigned_without_expires_lives_within_the_skew() {
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={CRED_Q}&X-Amz-Date={DATE}\
         &X-Amz-SignedHeaders=host&a=1"
    );
    let empty = countersign::EMPTY_SHA256;
    let creq = format!("GET\n/list\n{query}\nhost:{HOST}\n\nhost\n{empty}");
    let signature = sign_by_hand(&creq);
    let raw = Raw::get(format!("/list?{query}&X-Amz-Signature={signature}"));
    let skew = Duration::from_secs(15 * 60);
    let policy = || policy().max_skew(skew);
    for at in [now(), now() + skew, now() - skew] {
        let v = raw.verify_with(policy(), at).unwrap();
        assert_eq!(v.location, SignatureLocation::Query);
        assert!(v.alternative.is_none(), "the strict reading");
    }
    let late = raw.verify_with(policy(), now() + skew + Duration::from_secs(1));
    assert!(matches!(late, Err(E::RequestExpired { .. })), "{late:?}");
    let early = raw.verify_with(policy(), now() - skew - Duration::from_secs(1));
    assert!(
        matches!(early, Err(E::RequestTimeTooSkewed { .. })),
        "{early:?}"
    );
    // With `X-Amz-Expires`, that parameter (signed) decides, not the skew.
    let with = Raw::get(format!(
        "/list?{query}&X-Amz-Expires=60&X-Amz-Signature={signature}"
    ));
    let err = with.verify_with(policy(), now()).unwrap_err();
    assert!(matches!(err, E::SignatureDoesNotMatch(_)), "{err:?}");
}

/// The signature of `creq` under the suite's secret and scope, computed here by hand from the
/// AWS documentation's steps (not by the signer under test).
fn sign_by_hand(creq: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let mac = |key: &[u8], data: &str| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let sts = format!(
        "AWS4-HMAC-SHA256\n{DATE}\n20150830/{REGION}/{SERVICE}/aws4_request\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let mut key = mac(format!("AWS4{SECRET}").as_bytes(), "20150830");
    for part in [REGION, SERVICE, "aws4_request"] {
        key = mac(&key, part);
    }
    hex(&mac(&key, &sts))
}

/// curl before 8.3 (Debian 12's 7.88) signs each value of a repeated header on a line of its
/// own and sorts its `name:value` lines as bytes: the list names `x-a` twice, and `x-b-c`
/// before `x-b` (`-` sorts before `:`). Such a list is read that way; the same request signed
/// with the repeated values merged (the standard reading, curl 8.3 and later) verifies too.
#[test]
fn curl_7_header_lines_verify_and_bind_every_value() {
    let empty = countersign::EMPTY_SHA256;
    let request = |signed: &str, signature: &str| {
        Raw::get("/p")
            .h("X-A", "2")
            .h("x-a", "1")
            .h("X-B-C", "c")
            .h("X-B", "  spaced   out ")
            .h("X-Amz-Date", DATE)
            .h("Authorization", authz(CRED, signed, signature))
    };
    let curl7 = "host;x-a;x-a;x-amz-date;x-b-c;x-b";
    let creq = format!(
        "GET\n/p\n\nhost:{HOST}\nx-a:1\nx-a:2\nx-amz-date:{DATE}\nx-b-c:c\nx-b:spaced out\n\n\
         {curl7}\n{empty}"
    );
    let raw = request(curl7, &sign_by_hand(&creq));
    let v = raw.verify_with(policy(), now()).unwrap();
    assert!(v.alternative.is_none(), "read as curl 7 writes it: {v:?}");
    // The strict policy reads such a list the same way (it is the list's only reading).
    raw.verify_with(policy().readings(countersign::Readings::Strict), now())
        .unwrap();

    // Every value is bound: another value of `x-a`, one more, or one fewer, is refused.
    for changed in [
        request(curl7, &sign_by_hand(&creq))
            .without("x-a")
            .h("x-a", "1")
            .h("x-a", "3"),
        request(curl7, &sign_by_hand(&creq)).h("x-a", "0"),
        request(curl7, &sign_by_hand(&creq))
            .without("x-a")
            .h("x-a", "1"),
    ] {
        let err = changed.verify_with(policy(), now()).unwrap_err();
        assert!(matches!(err, E::SignatureDoesNotMatch(_)), "{err:?}");
    }

    // curl 8.3 and later: one line per name, repeated values merged in the order sent.
    let merged = "host;x-a;x-amz-date;x-b;x-b-c";
    let creq = format!(
        "GET\n/p\n\nhost:{HOST}\nx-a:2,1\nx-amz-date:{DATE}\nx-b:spaced out\nx-b-c:c\n\n\
         {merged}\n{empty}"
    );
    request(merged, &sign_by_hand(&creq))
        .verify_with(policy(), now())
        .unwrap();

    // A list in neither order is malformed, before any key is looked up.
    let err = request("host;x-amz-date;x-a", SIG)
        .verify_with(policy(), now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            E::MalformedAuthorization(P::InvalidSignedHeaders { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn query_signed_without_its_empty_name_pairs_verifies() {
    // aws4fetch signs `a=1&k=v` for the query `=novalue&k=v&a=1` it sends.
    let raw = sent_as_signed("/list?k=v&a=1", "/list?=novalue&k=v&a=1");
    let v = raw.verify_with(policy(), now()).unwrap();
    let alt = v.alternative.expect("an alternative reading");
    assert!(alt.query_empty_names_dropped, "{alt:?}");
    assert!(!alt.query_plus_literal && !alt.query_as_sent && !alt.path_other_mode);
    // What may be handed on is what was signed.
    assert_eq!(alt.signed_query("=novalue&k=v&a=1&=&flag"), "k=v&a=1&flag");
    assert_strict_refuses(&raw);
    // A pair with a name is never dropped: signed without `b=2`, the request is refused.
    let other = sent_as_signed("/list?k=v&a=1", "/list?=novalue&k=v&a=1&b=2");
    let err = other.verify_with(policy(), now()).unwrap_err();
    assert!(matches!(err, E::SignatureDoesNotMatch(_)), "{err:?}");
}

#[test]
fn query_signed_without_its_bare_names_verifies() {
    // @smithy/signature-v4 (AWS SDK for JavaScript v3) signs `a=1&k=v` for a query with a
    // null-valued `flag`, which its query builder sends as a bare name.
    let raw = sent_as_signed("/list?k=v&a=1", "/list?a=1&flag&k=v");
    let v = raw.verify_with(policy(), now()).unwrap();
    let alt = v.alternative.expect("an alternative reading");
    assert!(alt.query_bare_names_dropped, "{alt:?}");
    assert!(!alt.query_empty_names_dropped && !alt.query_as_sent && !alt.path_other_mode);
    assert_eq!(alt.signed_query("a=1&flag&k=v&&=x"), "a=1&k=v&&=x");
    assert_eq!(alt.signed_query("a=1&k=v"), "a=1&k=v");
    assert_strict_refuses(&raw);
    // `flag=` (with the sign) is a pair, never dropped.
    let other = sent_as_signed("/list?k=v&a=1", "/list?a=1&flag=&k=v");
    let err = other.verify_with(policy(), now()).unwrap_err();
    assert!(matches!(err, E::SignatureDoesNotMatch(_)), "{err:?}");
}

#[test]
fn host_signed_with_default_port_verifies() {
    let signer = signer();
    let req = Request::new("GET", "/").header("Host", "example.amazonaws.com:443");
    let signed = signer
        .sign(&req, Payload::Bytes(b""), AmzDate::parse(DATE).unwrap())
        .unwrap();
    let mut raw = Raw::get("/");
    for (n, v) in signed.headers() {
        raw = raw.h(n, v.clone());
    }
    let v = raw.verify_with(policy(), now()).unwrap();
    let alt = v.alternative.expect("an alternative reading");
    assert_eq!(alt.host_port, Some(443));
    assert!(!alt.path_other_mode && !alt.query_plus_literal && !alt.query_as_sent);
}

#[test]
fn s3_policy_accepts_an_s3_mode_signature_strictly() {
    let signer = signer().with_settings(
        SigningSettings::default()
            .uri_encoding(UriEncoding::S3)
            .content_sha256(ContentSha256Header::Send),
    );
    let req = Request::new("GET", "/bucket/a%20b//c").header("Host", HOST);
    let signed = signer
        .sign(&req, Payload::Bytes(b""), AmzDate::parse(DATE).unwrap())
        .unwrap();
    let mut raw = Raw::get("/bucket/a%20b//c");
    for (n, v) in signed.headers() {
        raw = raw.h(n, v.clone());
    }
    let s3 = policy().uri_encoding(UriEncoding::S3);
    assert_eq!(raw.verify_with(s3, now()).unwrap().alternative, None);
    let v = raw.verify_with(policy(), now()).unwrap();
    assert!(v.alternative.unwrap().path_other_mode);
}

/// A presigned URL signed with `UNSIGNED-PAYLOAD` verifies through alternative 5 and is
/// reported as not covering the body; one signed with the body's hash covers it.
#[test]
fn presigned_unsigned_payload_is_reported_as_not_covering_the_body() {
    let signer =
        signer().with_settings(SigningSettings::default().presign_payload(PresignPayload::AsGiven));
    let req = Request::new("PUT", "/a").header("Host", HOST);
    let at = AmzDate::parse(DATE).unwrap();
    let ten = Duration::from_secs(600);
    let unsigned = signer.presign(&req, Payload::Unsigned, at, ten).unwrap();
    let mut raw = Raw::get(format!("/a?{}", unsigned.query()));
    raw.method = "PUT";
    let v = verify_body(&raw, policy(), b"any body").unwrap();
    assert!(!v.payload_signed);
    let hashed = signer
        .presign(&req, Payload::Bytes(b"body"), at, ten)
        .unwrap();
    let mut raw = Raw::get(format!("/a?{}", hashed.query()));
    raw.method = "PUT";
    let v = verify_body(&raw, policy(), b"body").unwrap();
    assert!(v.payload_signed);
}
