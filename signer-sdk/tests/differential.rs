//! Differential property tests against the `aws-sigv4` crate (an independent implementation):
//! the same canonical request (read from aws-sigv4's trace log) and the same signature; plus the
//! protocol's laws for our own signer and verifier: sign-then-verify always verifies,
//! and any single change to a signed part is refused.
//!
//! Inputs both signers are given (see `spec/protocol.md` for where real clients differ):
//! - paths are origin-form and ASCII, as sent on the wire: non-ASCII text is percent-encoded;
//! - query components percent-encode only bytes that form valid UTF-8: aws-sigv4 decodes the
//!   query with `form_urlencoded`, which replaces invalid UTF-8 by U+FFFD, where countersign keeps
//!   the raw byte (`%FF` stays `%FF`);
//! - header values pad with spaces only, not tabs: aws-sigv4 trims only `' '`, countersign also
//!   trims `\t` (RFC 9110 optional whitespace);
//! - header names are never in either signer's unsigned set, nor `x-amz-date`,
//!   `x-amz-security-token`, `x-amz-content-sha256` (set by the signers), `x-amz-user-agent` or
//!   `x-amz-checksum-mode` (which aws-sigv4 leaves out of presigned URLs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings as AwsSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use countersign::{
    AmzDate, Credentials, ErrorCode, Payload, Request, SecretKey, Signer, SigningKeys, UriEncoding,
    Verified, Verifier, VerifyError, VerifyPolicy,
};
use proptest::prelude::*;

const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const EXPIRES: u64 = 3600;

/// Header names, besides `countersign::UNSIGNED_BY_DEFAULT`, that either signer leaves
/// unsigned or sets itself.
const RESERVED: &[&str] = &[
    "host",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amz-user-agent",
    "x-amz-checksum-mode",
    // aws-sigv4 redacts these in the canonical request it logs.
    "cookie",
    "set-cookie",
];

fn is_reserved(lower: &str) -> bool {
    RESERVED.contains(&lower) || countersign::UNSIGNED_BY_DEFAULT.contains(&lower)
}

/// One random request, owned.
#[derive(Clone, Debug)]
struct Case {
    method: String,
    host: String,
    path: String,
    query: String,
    /// Request headers other than `Host`, in order.
    headers: Vec<(String, String)>,
    /// Where the `Host` header goes among them, and the case of its name.
    host_at: usize,
    host_name: &'static str,
    body: Vec<u8>,
    token: Option<String>,
    time: SystemTime,
}

impl Case {
    fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// All headers as sent, `Host` included.
    fn all_headers(&self) -> Vec<(String, String)> {
        let mut all = self.headers.clone();
        let at = self.host_at.min(all.len());
        all.insert(at, (self.host_name.to_owned(), self.host.clone()));
        all
    }

    fn credentials(&self) -> Credentials {
        let c = Credentials::new(ACCESS_KEY_ID, SECRET);
        match &self.token {
            Some(t) => c.with_session_token(t.clone()),
            None => c,
        }
    }

    fn identity(&self) -> Identity {
        aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET,
            self.token.clone(),
            None,
            "differential",
        )
        .into()
    }

    fn now(&self) -> AmzDate {
        AmzDate::from_system_time(self.time)
    }
}

/// A request as received by the verifier, owned so it can be mutated.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    fn verify(&self, now: SystemTime) -> Result<Verified, VerifyError> {
        let target = self.target();
        let mut req = Request::new(&self.method, &target);
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        let verifier = Verifier::new(VerifyPolicy::new(REGION, SERVICE));
        let keys = SigningKeys::new(SecretKey::new(SECRET));
        let body = countersign::sha256(&self.body);
        verifier.verify(
            &req,
            now,
            |id| (id == ACCESS_KEY_ID).then_some(&keys),
            Some(&body),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        Just("PATCH".to_owned()),
        "[A-Z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,9}",
    ]
}

/// `%XX` for every UTF-8 byte of `c`, hex digits in random case.
fn pct_char() -> impl Strategy<Value = String> {
    (any::<char>(), any::<bool>()).prop_map(|(c, lower)| {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf)
            .bytes()
            .map(|b| {
                let s = format!("%{b:02X}");
                if lower { s.to_ascii_lowercase() } else { s }
            })
            .collect()
    })
}

/// A `%` that does not start a valid escape, so both readers keep it literal.
fn lone_percent() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["%g", "%z0", "%-", "%.", "%_", "%~", "%%g"]).prop_map(String::from)
}

fn path_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9._~-]{1,6}",
        2 => prop::sample::select(vec!["!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@", "~"])
            .prop_map(String::from),
        2 => pct_char(),
        1 => "%[0-7][0-9A-Fa-f]",
        1 => "%[89A-Fa-f][0-9A-Fa-f]",
        1 => lone_percent(),
    ]
}

fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(path_atom(), 1..4).prop_map(|v| v.concat()),
        1 => Just(String::new()),
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(path_segment(), 0..6), any::<bool>()).prop_map(|(segs, trailing)| {
        let mut p = String::from("/");
        p.push_str(&segs.join("/"));
        if trailing && !segs.is_empty() {
            p.push('/');
        }
        p
    })
}

fn query_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9._~-]{1,6}",
        2 => prop::sample::select(vec!["!", "$", "'", "(", ")", "*", ",", ";", ":", "@", "/", "?", "+"])
            .prop_map(String::from),
        2 => pct_char(),
        1 => "%[0-7][0-9A-Fa-f]",
        1 => lone_percent(),
    ]
}

fn query_component() -> impl Strategy<Value = String> {
    prop::collection::vec(query_atom(), 0..4).prop_map(|v| v.concat())
}

fn query() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        // key=value, possibly empty on either side
        4 => (query_component(), query_component()).prop_map(|(k, v)| format!("{k}={v}")),
        // key without `=`
        1 => query_component(),
    ];
    // Repeated keys: draw from a small pool too.
    let repeated = (
        prop::sample::select(vec!["a", "A", "key", "a b"]),
        query_component(),
    )
        .prop_map(|(k, v)| format!("{}={v}", k.replace(' ', "+")));
    prop::collection::vec(prop_oneof![3 => pair, 2 => repeated], 0..6).prop_map(|p| p.join("&"))
}

fn header_name() -> impl Strategy<Value = String> {
    let fixed = (
        prop::sample::select(vec![
            "content-type",
            "x-amz-meta-a",
            "my-header",
            "accept",
            "x-custom",
        ]),
        any::<u64>(),
    )
        .prop_map(|(n, case)| {
            n.chars()
                .enumerate()
                .map(|(i, c)| {
                    if case >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect::<String>()
        });
    prop_oneof![fixed, "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}"]
        .prop_filter("reserved header", |n| !is_reserved(&n.to_ascii_lowercase()))
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,16}",
        (
            "[ ]{0,3}",
            "[!-~]{1,5}",
            "[ ]{1,4}",
            "[!-~]{1,5}",
            "[ ]{0,3}"
        )
            .prop_map(|(a, b, c, d, e)| format!("{a}{b}{c}{d}{e}")),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "example.amazonaws.com",
        "Example.Amazonaws.com",
        "localhost:8080",
        "127.0.0.1:9000",
        "api.example.com",
    ])
    .prop_map(String::from)
}

fn case() -> impl Strategy<Value = Case> {
    (
        (method(), host(), path(), query()),
        (
            prop::collection::vec((header_name(), header_value()), 0..6),
            0usize..7,
            prop::sample::select(vec!["Host", "host", "HOST"]),
        ),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::of("[A-Za-z0-9+/=]{1,40}"),
        946_684_800u64..4_102_444_800,
    )
        .prop_map(
            |((method, host, path, query), (headers, host_at, host_name), body, token, secs)| {
                Case {
                    method,
                    host,
                    path,
                    query,
                    headers,
                    host_at,
                    host_name,
                    body,
                    token,
                    time: UNIX_EPOCH + Duration::from_secs(secs),
                }
            },
        )
}

fn config() -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases: base.cases.max(256),
        ..base
    }
}

// ---------------------------------------------------------------------------------------------
// The two signers

/// Captures the `canonical_request` field aws-sigv4 logs at trace level (its only public view of
/// the canonical request), with sensitive header values redacted by aws-sigv4.
#[derive(Clone, Default)]
struct CanonicalRequestCapture(Arc<Mutex<Option<String>>>);

impl tracing::field::Visit for CanonicalRequestCapture {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "canonical_request" {
            *self.0.lock().unwrap() = Some(format!("{value:?}"));
        }
    }
}

impl tracing::Subscriber for CanonicalRequestCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut self.clone());
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Our canonical request as aws-sigv4 logs it: the session token's value redacted.
fn redacted(creq: &str) -> String {
    creq.split('\n')
        .map(|line| match line.strip_prefix("x-amz-security-token:") {
            Some(v) => format!("x-amz-security-token:** redacted (length={}) **", v.len()),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// aws-sigv4's signature (hex), its canonical request (redacted) and the request it produced,
/// as received by a server.
fn aws_sign(case: &Case, location: SignatureLocation) -> (String, String, Received) {
    let identity = case.identity();
    let mut settings = AwsSettings::default();
    settings.signature_location = location;
    if location == SignatureLocation::QueryParams {
        settings.expires_in = Some(Duration::from_secs(EXPIRES));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(case.time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("https://{}{}", case.host, case.target());
    let all = case.all_headers();
    let signable = SignableRequest::new(
        &case.method,
        url.clone(),
        all.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&case.body),
    )
    .unwrap();
    let capture = CanonicalRequestCapture::default();
    let output = tracing::subscriber::with_default(capture.clone(), || sign(signable, &params));
    let (instructions, signature) = output.unwrap().into_parts();
    let creq = capture
        .0
        .lock()
        .unwrap()
        .take()
        .expect("aws-sigv4 logged no canonical request");
    let mut req = http::Request::builder()
        .method(case.method.as_str())
        .uri(&url);
    for (n, v) in &all {
        req = req.header(n.as_str(), v.as_str());
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let (parts, ()) = req.into_parts();
    let pq = parts.uri.path_and_query().unwrap();
    // Keep the case's own header order and spelling; add what aws-sigv4 set.
    let mut headers = all.clone();
    for (n, v) in &parts.headers {
        let n = n.as_str();
        if !all.iter().any(|(a, _)| a.eq_ignore_ascii_case(n)) {
            headers.push((n.to_owned(), v.to_str().unwrap().to_owned()));
        }
    }
    let received = Received {
        method: case.method.clone(),
        path: pq.path().to_owned(),
        query: pq.query().unwrap_or("").to_owned(),
        headers,
        body: case.body.clone(),
    };
    (signature, creq, received)
}

/// Our header signature (hex), canonical request and the request as received.
fn our_sign(case: &Case) -> (String, String, Received) {
    let signer = Signer::new(case.credentials(), REGION, SERVICE).unwrap();
    let target = case.target();
    let all = case.all_headers();
    let mut req = Request::new(&case.method, &target);
    for (n, v) in &all {
        req = req.header(n, v);
    }
    let signed = signer
        .sign(&req, Payload::Bytes(&case.body), case.now())
        .unwrap();
    let mut headers = all.clone();
    headers.extend(
        signed
            .headers()
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone())),
    );
    let received = Received {
        method: case.method.clone(),
        path: case.path.clone(),
        query: case.query.clone(),
        headers,
        body: case.body.clone(),
    };
    (
        signed.signature().to_string(),
        signed.canonical_request().to_string(),
        received,
    )
}

/// Our presigned signature (hex), canonical request and the request as received.
fn our_presign(case: &Case) -> (String, String, Received) {
    let signer = Signer::new(case.credentials(), REGION, SERVICE).unwrap();
    let target = case.target();
    let all = case.all_headers();
    let mut req = Request::new(&case.method, &target);
    for (n, v) in &all {
        req = req.header(n, v);
    }
    let signed = signer
        .presign(
            &req,
            Payload::Bytes(&case.body),
            case.now(),
            Duration::from_secs(EXPIRES),
        )
        .unwrap();
    let received = Received {
        method: case.method.clone(),
        path: case.path.clone(),
        query: signed.query().to_owned(),
        headers: all.clone(),
        body: case.body.clone(),
    };
    (
        signed.signature().to_string(),
        signed.canonical_request().to_string(),
        received,
    )
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// A letter that is not a hex digit and differs from `b` in any case, so the change is never
/// an equivalent spelling (`%c3` / `%C3`) and never a `+` / `%20` swap.
fn other_letter(b: u8) -> u8 {
    if b.eq_ignore_ascii_case(&b'x') {
        b'q'
    } else {
        b'x'
    }
}

fn mutate_byte(text: &str, at: usize) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let i = at % text.len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[i] = other_letter(bytes[i]);
    String::from_utf8(bytes).ok()
}

#[derive(Clone, Copy, Debug)]
enum Mutation {
    Method,
    Path(usize),
    Query(usize),
    HeaderValue(usize, usize),
    Body(usize),
    Signature(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Method),
        any::<usize>().prop_map(Mutation::Path),
        any::<usize>().prop_map(Mutation::Query),
        (any::<usize>(), any::<usize>()).prop_map(|(h, b)| Mutation::HeaderValue(h, b)),
        any::<usize>().prop_map(Mutation::Body),
        any::<usize>().prop_map(Mutation::Signature),
    ]
}

/// Applies `m` to a copy of `r`; `None` when the change would not alter what is signed (a byte in
/// a segment that `..` removes, an empty header value).
fn apply(r: &Received, m: Mutation, signed: &[String]) -> Option<Received> {
    let mut out = r.clone();
    match m {
        Mutation::Method => out.method.push('X'),
        Mutation::Path(at) => {
            out.path = mutate_byte(&r.path, at)?;
            let canon = |p: &str| countersign::internal::canonical_uri(p, UriEncoding::Double);
            if canon(&out.path) == canon(&r.path) {
                return None;
            }
        }
        Mutation::Query(at) => {
            out.query = mutate_byte(&r.query, at)?;
            let canon = countersign::internal::canonical_query;
            if canon(&out.query) == canon(&r.query) {
                return None;
            }
        }
        Mutation::HeaderValue(h, at) => {
            let name = signed.get(h % signed.len().max(1))?;
            let slot = out
                .headers
                .iter_mut()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .find(|(_, v)| !v.trim_matches(' ').is_empty())?;
            let trimmed = slot.1.trim_matches(' ');
            let start = slot.1.len() - slot.1.trim_start_matches(' ').len();
            let i = start + at % trimmed.len();
            slot.1 = mutate_byte(&slot.1, i)?;
        }
        Mutation::Body(at) => match out.body.len() {
            0 => out.body.push(b'x'),
            n => out.body[at % n] ^= 0x01,
        },
        Mutation::Signature(at) => mutate_signature(&mut out, at),
    }
    Some(out)
}

/// Changes one hex digit of the signature, in the header or the query.
fn mutate_signature(r: &mut Received, at: usize) {
    let flip = |s: &mut String, start: usize| {
        let i = start + at % 64;
        let c = s.as_bytes()[i];
        let new = if c == b'0' { "1" } else { "0" };
        s.replace_range(i..=i, new);
    };
    if let Some(pos) = r.query.find("X-Amz-Signature=") {
        let start = pos + "X-Amz-Signature=".len();
        flip(&mut r.query, start);
        return;
    }
    let auth = r
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .unwrap();
    let start = auth.1.find("Signature=").unwrap() + "Signature=".len();
    flip(&mut auth.1, start);
}

fn percent_decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn signed_header_names(r: &Received) -> Vec<String> {
    let list = if let Some(pos) = r.query.find("X-Amz-SignedHeaders=") {
        let rest = &r.query[pos + "X-Amz-SignedHeaders=".len()..];
        percent_decode(rest.split('&').next().unwrap())
    } else {
        let auth = &r
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .unwrap()
            .1;
        let start = auth.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
        auth[start..].split(',').next().unwrap().to_owned()
    };
    list.split(';').map(str::to_owned).collect()
}

/// Checks that `m` applied to `r` is refused; with header auth, as `SignatureDoesNotMatch`
/// unless the changed header is the timestamp itself.
fn assert_mutation_refused(
    r: &Received,
    m: Mutation,
    now: SystemTime,
) -> Result<(), TestCaseError> {
    let signed = signed_header_names(r);
    let Some(mutated) = apply(r, m, &signed) else {
        return Ok(());
    };
    let result = mutated.verify(now);
    let Err(err) = result else {
        return Err(TestCaseError::fail(format!(
            "mutation {m:?} verified: {mutated:#?}"
        )));
    };
    let presigned = r.query.contains("X-Amz-Signature=");
    let date_changed = matches!(m, Mutation::HeaderValue(..))
        && mutated
            .headers
            .iter()
            .zip(&r.headers)
            .any(|(a, b)| a != b && a.0.eq_ignore_ascii_case("x-amz-date"));
    if !presigned && !date_changed {
        prop_assert_eq!(
            err.code(),
            ErrorCode::SignatureDoesNotMatch,
            "mutation {:?}: {}",
            m,
            err
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config())]

    /// Header signing: both signers give the same signature, and each verifies the other's.
    #[test]
    fn header_signature_matches_aws_sigv4(case in case()) {
        let (aws_sig, aws_creq, aws_received) = aws_sign(&case, SignatureLocation::Headers);
        let (our_sig, our_creq, our_received) = our_sign(&case);
        prop_assert_eq!(redacted(&our_creq), aws_creq);
        prop_assert_eq!(&our_sig, &aws_sig, "canonical request:\n{}", our_creq);
        let verified = our_received.verify(case.time);
        prop_assert!(verified.is_ok(), "{:?}\n{}", verified, our_creq);
        prop_assert_eq!(verified.unwrap().alternative, None);
        let verified = aws_received.verify(case.time);
        prop_assert!(verified.is_ok(), "aws-sigv4 request refused: {:?}", verified);
        prop_assert_eq!(verified.unwrap().alternative, None);
    }

    /// Presigning: both signers give the same signature, and our verifier accepts both URLs.
    #[test]
    fn presigned_signature_matches_aws_sigv4(case in case()) {
        let (aws_sig, aws_creq, aws_received) = aws_sign(&case, SignatureLocation::QueryParams);
        let (our_sig, our_creq, our_received) = our_presign(&case);
        prop_assert_eq!(redacted(&our_creq), aws_creq);
        prop_assert_eq!(&our_sig, &aws_sig, "canonical request:\n{}", our_creq);
        let verified = our_received.verify(case.time);
        prop_assert!(verified.is_ok(), "{:?}\n{}", verified, our_creq);
        prop_assert_eq!(verified.unwrap().alternative, None);
        let verified = aws_received.verify(case.time);
        prop_assert!(verified.is_ok(), "aws-sigv4 URL refused: {:?}", verified);
        prop_assert_eq!(verified.unwrap().alternative, None);
    }

    /// Any single change to a header-signed request is refused.
    #[test]
    fn header_signed_request_refuses_any_mutation(case in case(), m in mutation()) {
        let (_, _, received) = our_sign(&case);
        assert_mutation_refused(&received, m, case.time)?;
    }

    /// Any single change to a presigned request is refused.
    #[test]
    fn presigned_request_refuses_any_mutation(case in case(), m in mutation()) {
        let (_, _, received) = our_presign(&case);
        assert_mutation_refused(&received, m, case.time)?;
    }
}
