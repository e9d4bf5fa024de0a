//! Conformance: walks `spec/vectors/` and, for every case, compares the canonical request, the
//! string to sign and the signature (reporting the first stage that differs), verifies the
//! signed request, and checks that a one-byte change to any signed part is refused.
//!
//! A case added to a suite folder is picked up with no code change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a panic is a failure"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use countersign::{
    AmzDate, ContentSha256Header, Credentials, Payload, PresignPayload, Request, SecretKey, Signer,
    SigningKeys, SigningSettings, UriEncoding, Verifier, VerifyPolicy,
};
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A raw HTTP request from a suite file, owned.
#[derive(Clone, Debug)]
struct RawRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    /// Parses the suites' `.req` / `request.txt` format (LF, obs-fold continuation lines).
    fn parse(text: &str) -> Self {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let first = lines.next().expect("request line");
        let (method, rest) = first.split_once(' ').expect("method");
        let target = rest.rsplit_once(" HTTP/").map_or(rest, |(t, _)| t);
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push(' ');
                last.1.push_str(line);
                continue;
            }
            let (n, v) = line.split_once(':').expect("header line");
            headers.push((n.to_owned(), v.to_owned()));
        }
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn view(&self) -> Request<'_> {
        Request::new(&self.method, &self.target)
            .headers(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Compares stages in order and names the first that differs.
fn check_stages(name: &str, creq: (&str, &str), sts: (&str, &str), sig: (&str, &str)) {
    assert_eq!(creq.0, creq.1, "{name}: canonical request differs");
    assert_eq!(sts.0, sts.1, "{name}: string to sign differs");
    assert_eq!(sig.0, sig.1, "{name}: signature differs");
}

/// Verifies `received`, then checks that one-byte mutations of every signed part fail.
fn check_verification(
    name: &str,
    policy: &VerifyPolicy,
    received: &RawRequest,
    now: SystemTime,
    body: &[u8],
) {
    let verifier = Verifier::new(policy.clone());
    let keys = SigningKeys::new(SecretKey::new(SECRET));
    let digest = countersign::sha256(body);
    let verify = |r: &RawRequest| {
        let view = r.view();
        verifier.verify(&view, now, |_| Some(&keys), Some(&digest))
    };
    if let Err(e) = verify(received) {
        panic!("{name}: verifier refused the signed request: {e}");
    }
    let mut mutants: Vec<(String, RawRequest)> = Vec::new();
    let mut m = received.clone();
    m.method.pop();
    m.method.push('X');
    mutants.push(("method".into(), m));
    let (path, query) = received
        .target
        .split_once('?')
        .unwrap_or((&received.target, ""));
    let mut m = received.clone();
    m.target = if query.is_empty() {
        format!("{path}x")
    } else {
        format!("{path}x?{query}")
    };
    mutants.push(("path".into(), m));
    let mut m = received.clone();
    m.target = format!("{path}?zz=1&{query}");
    mutants.push(("query".into(), m));
    let signed = signed_header_names(received);
    for (i, (n, _)) in received.headers.iter().enumerate() {
        if signed.iter().any(|s| s.eq_ignore_ascii_case(n)) {
            let mut m = received.clone();
            m.headers[i].1.push('x');
            mutants.push((format!("header {n}"), m));
        }
    }
    let mut m = received.clone();
    flip_signature(&mut m);
    mutants.push(("signature".into(), m));
    for (what, m) in mutants {
        assert!(
            verify(&m).is_err(),
            "{name}: a changed {what} still verified"
        );
    }
}

fn signed_header_names(r: &RawRequest) -> Vec<String> {
    if let Some(auth) = r.header("authorization") {
        let list = auth.split("SignedHeaders=").nth(1).unwrap_or("");
        return list
            .split([',', ' '])
            .next()
            .unwrap_or("")
            .split(';')
            .map(str::to_owned)
            .collect();
    }
    let q = r.target.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap_or("")
        .split("%3B")
        .map(str::to_owned)
        .collect()
}

fn flip_signature(r: &mut RawRequest) {
    let flip = |s: &mut String, at: usize| {
        let c = if s.as_bytes()[at] == b'0' { "1" } else { "0" };
        s.replace_range(at..=at, c);
    };
    if let Some(h) = r
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        let at = h.1.len() - 1;
        flip(&mut h.1, at);
    } else {
        let at = r.target.find("X-Amz-Signature=").expect("presigned") + "X-Amz-Signature=".len();
        flip(&mut r.target, at);
    }
}

fn signed_with(raw: &RawRequest, headers: &[(&'static str, String)]) -> RawRequest {
    let mut out = raw.clone();
    for (n, v) in headers {
        out.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(n));
        out.headers.push(((*n).to_owned(), v.clone()));
    }
    out
}

fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable vector folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            }
        }
        out.push(dir);
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn legacy_aws_suite_matches_every_stage_and_verifies() {
    let root = vectors().join("aws-sig-v4-test-suite");
    let now = AmzDate::parse("20150830T123600Z").unwrap();
    let mut count = 0;
    for dir in case_dirs(&root) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let req_file = dir.join(format!("{name}.req"));
        if !req_file.exists() {
            continue;
        }
        let raw = RawRequest::parse(&read(&req_file));
        let creq = read(&dir.join(format!("{name}.creq")));
        let mut creds = Credentials::new("AKIDEXAMPLE", SECRET);
        if let Some(line) = creq
            .lines()
            .find(|l| l.starts_with("x-amz-security-token:"))
        {
            creds = creds.with_session_token(&line["x-amz-security-token:".len()..]);
        }
        let signer = Signer::new(creds, "us-east-1", "service").unwrap();
        let mut unsigned = raw.clone();
        if !creq.contains("x-amz-security-token") {
            unsigned
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-security-token"));
        }
        let view = unsigned.view();
        let signed = signer.sign(&view, Payload::Bytes(&raw.body), now).unwrap();
        let authz = read(&dir.join(format!("{name}.authz")));
        let sig = authz.rsplit("Signature=").next().unwrap().trim();
        check_stages(
            &name,
            (&signed.canonical_request().to_string(), &creq),
            (
                signed.string_to_sign(),
                &read(&dir.join(format!("{name}.sts"))),
            ),
            (&signed.signature().to_string(), sig),
        );
        assert_eq!(
            signed.authorization(),
            authz.trim(),
            "{name}: Authorization differs"
        );
        let received = signed_with(&unsigned, signed.headers());
        let policy = VerifyPolicy::new("us-east-1", "service");
        check_verification(&name, &policy, &received, now.to_system_time(), &raw.body);
        count += 1;
    }
    assert!(
        count >= 34,
        "legacy suite folder looks empty or mis-pathed: {count} cases"
    );
}

#[test]
fn crt_suite_header_and_presigned_variants_match_and_verify() {
    let root = vectors().join("aws-signing-test-suite/v4");
    let mut count = 0;
    for dir in case_dirs(&root) {
        if !dir.join("context.json").exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let ctx: Value = serde_json::from_str(&read(&dir.join("context.json"))).unwrap();
        let raw = RawRequest::parse(&read(&dir.join("request.txt")));
        let now =
            AmzDate::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160));
        assert_eq!(
            ctx["timestamp"], "2015-08-30T12:36:00Z",
            "{name}: timestamp"
        );
        let mut creds = Credentials::new("AKIDEXAMPLE", SECRET);
        let omit_token = ctx["omit_session_token"].as_bool().unwrap_or(false);
        if let (Some(token), false) = (ctx["credentials"]["token"].as_str(), omit_token) {
            creds = creds.with_session_token(token);
        }
        let encoding = if ctx["normalize"] == true {
            UriEncoding::Double
        } else {
            UriEncoding::S3
        };
        let sha = if ctx["sign_body"] == true {
            ContentSha256Header::Send
        } else {
            ContentSha256Header::Omit
        };
        let settings = SigningSettings::default()
            .uri_encoding(encoding)
            .content_sha256(sha);
        let signer = Signer::new(creds, "us-east-1", "service")
            .unwrap()
            .with_settings(settings);
        let policy = VerifyPolicy::new("us-east-1", "service").uri_encoding(encoding);
        let view = raw.view();

        let signed = signer.sign(&view, Payload::Bytes(&raw.body), now).unwrap();
        check_stages(
            &format!("{name} (header)"),
            (
                &signed.canonical_request().to_string(),
                &read(&dir.join("header-canonical-request.txt")),
            ),
            (
                signed.string_to_sign(),
                &read(&dir.join("header-string-to-sign.txt")),
            ),
            (
                &signed.signature().to_string(),
                read(&dir.join("header-signature.txt")).trim(),
            ),
        );
        let received = signed_with(&raw, signed.headers());
        check_verification(
            &format!("{name} (header)"),
            &policy,
            &received,
            now.to_system_time(),
            &raw.body,
        );

        let expires = Duration::from_secs(ctx["expiration_in_seconds"].as_u64().unwrap());
        // The CRT suite's `normalize: false` is a URI rule only: its presigned payload line stays
        // the body hash.
        let presign_settings = SigningSettings::default()
            .uri_encoding(encoding)
            .presign_payload(PresignPayload::AsGiven);
        let presign_signer = Signer::new(
            Credentials::new("AKIDEXAMPLE", SECRET),
            "us-east-1",
            "service",
        )
        .unwrap()
        .with_settings(presign_settings);
        let presign_signer = match ctx["credentials"]["token"].as_str() {
            Some(t) if !omit_token => Signer::new(
                Credentials::new("AKIDEXAMPLE", SECRET).with_session_token(t),
                "us-east-1",
                "service",
            )
            .unwrap()
            .with_settings(presign_settings),
            _ => presign_signer,
        };
        let presigned = presign_signer
            .presign(&view, Payload::Bytes(&raw.body), now, expires)
            .unwrap();
        check_stages(
            &format!("{name} (query)"),
            (
                &presigned.canonical_request().to_string(),
                &read(&dir.join("query-canonical-request.txt")),
            ),
            (
                presigned.string_to_sign(),
                &read(&dir.join("query-string-to-sign.txt")),
            ),
            (
                &presigned.signature().to_string(),
                read(&dir.join("query-signature.txt")).trim(),
            ),
        );
        let mut received = raw.clone();
        received.target = format!(
            "{}?{}",
            raw.target.split('?').next().unwrap(),
            presigned.query()
        );
        check_verification(
            &format!("{name} (query)"),
            &policy,
            &received,
            now.to_system_time(),
            &raw.body,
        );
        count += 1;
    }
    assert!(
        count >= 38,
        "CRT suite folder looks empty or mis-pathed: {count} cases"
    );
}

#[test]
fn countersign_json_vectors_match_and_verify() {
    let root = vectors().join("countersign");
    let mut count = 0;
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let v: Value = serde_json::from_str(&read(&path)).unwrap();
        let c = &v["credentials"];
        let secret = c["secret_access_key"].as_str().unwrap();
        let mut creds = Credentials::new(c["access_key_id"].as_str().unwrap(), secret);
        if let Some(t) = c["session_token"].as_str() {
            creds = creds.with_session_token(t);
        }
        let (region, service) = (
            v["region"].as_str().unwrap(),
            v["service"].as_str().unwrap(),
        );
        let now = AmzDate::parse(v["timestamp"].as_str().unwrap()).unwrap();
        let encoding = if v["uri_encoding"] == "s3" {
            UriEncoding::S3
        } else {
            UriEncoding::Double
        };
        let sha = if v["content_sha256_header"] == true {
            ContentSha256Header::Send
        } else {
            ContentSha256Header::Omit
        };
        let signer = Signer::new(creds, region, service).unwrap().with_settings(
            SigningSettings::default()
                .uri_encoding(encoding)
                .content_sha256(sha),
        );
        let r = &v["request"];
        let query = r["query"].as_str().unwrap();
        let path_str = r["path"].as_str().unwrap();
        let target = if query.is_empty() {
            path_str.to_owned()
        } else {
            format!("{path_str}?{query}")
        };
        let extra: Vec<&str> = v["signed_headers_extra"]
            .as_array()
            .map_or(vec![], |a| a.iter().filter_map(Value::as_str).collect());
        let is_query = v["location"] == "query";
        let headers: Vec<(String, String)> = r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_owned(),
                    h[1].as_str().unwrap().to_owned(),
                )
            })
            .filter(|(n, _)| {
                !is_query
                    || n.eq_ignore_ascii_case("host")
                    || extra.iter().any(|e| e.eq_ignore_ascii_case(n))
            })
            .collect();
        let raw = RawRequest {
            method: r["method"].as_str().unwrap().to_owned(),
            target,
            headers,
            body: r["body"].as_str().unwrap_or("").as_bytes().to_vec(),
        };
        let payload = if r["payload"] == "UNSIGNED-PAYLOAD" {
            Payload::Unsigned
        } else {
            Payload::Bytes(&raw.body)
        };
        let e = &v["expected"];
        let view = raw.view();
        let policy = VerifyPolicy::new(region, service).uri_encoding(encoding);
        let verifier = Verifier::new(policy.clone());
        let keys = SigningKeys::new(SecretKey::new(secret));
        let received = if is_query {
            let expires = Duration::from_secs(v["expires_in"].as_u64().unwrap());
            let p = signer.presign(&view, payload, now, expires).unwrap();
            check_stages(
                &name,
                (
                    &p.canonical_request().to_string(),
                    e["canonical_request"].as_str().unwrap(),
                ),
                (p.string_to_sign(), e["string_to_sign"].as_str().unwrap()),
                (&p.signature().to_string(), e["signature"].as_str().unwrap()),
            );
            let mut rec = raw.clone();
            rec.target = format!("{path_str}?{}", p.query());
            rec
        } else {
            let s = signer.sign(&view, payload, now).unwrap();
            check_stages(
                &name,
                (
                    &s.canonical_request().to_string(),
                    e["canonical_request"].as_str().unwrap(),
                ),
                (s.string_to_sign(), e["string_to_sign"].as_str().unwrap()),
                (&s.signature().to_string(), e["signature"].as_str().unwrap()),
            );
            assert_eq!(
                s.authorization(),
                e["authorization"].as_str().unwrap(),
                "{name}: Authorization"
            );
            signed_with(&raw, s.headers())
        };
        let rec_view = received.view();
        let digest = countersign::sha256(&raw.body);
        if let Err(err) = verifier.verify(
            &rec_view,
            now.to_system_time(),
            |_| Some(&keys),
            Some(&digest),
        ) {
            panic!("{name}: verifier refused the signed request: {err}");
        }
        let _ = &policy;
        count += 1;
    }
    assert!(
        count >= 16,
        "countersign vector folder looks empty or mis-pathed: {count} cases"
    );
}

#[test]
fn aws_documentation_s3_examples_reproduce_the_published_signatures() {
    let doc: Value = serde_json::from_str(&read(
        &vectors().join("aws-doc-examples/aws-doc-examples.json"),
    ))
    .unwrap();
    let creds = &doc["credentials_s3"];
    let secret = creds["secret_access_key"].as_str().unwrap();
    let mut count = 0;
    for ex in doc["header_examples"].as_array().unwrap() {
        let name = ex["name"].as_str().unwrap();
        let headers: Vec<(String, String)> = ex["signed_headers_values"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(n, _)| n.as_str() != "x-amz-date")
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let q = ex["canonical_query"].as_str().unwrap();
        let uri = ex["canonical_uri"].as_str().unwrap();
        let raw = RawRequest {
            method: ex["method"].as_str().unwrap().to_owned(),
            target: if q.is_empty() {
                uri.to_owned()
            } else {
                format!("{uri}?{q}")
            },
            headers,
            body: Vec::new(),
        };
        let mut digest = [0u8; 32];
        let hash = ex["payload_hash"].as_str().unwrap();
        for (i, b) in digest.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap();
        }
        let signer = Signer::new(
            Credentials::new(creds["access_key_id"].as_str().unwrap(), secret),
            "us-east-1",
            "s3",
        )
        .unwrap()
        .with_settings(
            SigningSettings::default()
                .uri_encoding(UriEncoding::S3)
                .content_sha256(ContentSha256Header::Send),
        );
        let view = raw.view();
        let now =
            AmzDate::parse(ex["signed_headers_values"]["x-amz-date"].as_str().unwrap()).unwrap();
        let signed = signer.sign(&view, Payload::Sha256(digest), now).unwrap();
        check_stages(
            name,
            (
                &signed.canonical_request().to_string(),
                ex["canonical_request"].as_str().unwrap(),
            ),
            (
                signed.string_to_sign(),
                ex["string_to_sign"].as_str().unwrap(),
            ),
            (
                &signed.signature().to_string(),
                ex["signature"].as_str().unwrap(),
            ),
        );
        count += 1;
    }
    assert!(count >= 4, "doc examples missing: {count}");
}
