//! Real clients that no one here wrote must verify: curl `--aws-sigv4`, botocore's `SigV4Auth`
//! and `SigV4QueryAuth`, awscurl, the aws-sigv4 crate, aws4fetch and the AWS SDK for JavaScript
//! v3 signer (`@smithy/signature-v4`), the AWS CLI, and requests-aws4auth and aws-requests-auth.
//!
//! A request that verifies gets 200 (`GET /v1/whoami`), 405 (`POST /v1/whoami`: signed, wrong
//! method) or 404 (signed, unknown path); one that does not gets 401. Without the tools these
//! tests print loudly what they skipped and how to install it; with
//! `COUNTERSIGN_REQUIRE_INTEROP=1` (set by `scripts/test`) a missing tool fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::support::server::{RawRequest, Server, Store, TempDir};

/// (method, target, body, status that proves the signature verified)
const CASES: &[(&str, &str, &str, u16)] = &[
    (
        "GET",
        "/v1/whoami?b=2&a=1&empty=&x=%7Etilde%20space",
        "",
        200,
    ),
    ("POST", "/v1/whoami", r#"{"title":"hello","n":1}"#, 405),
    ("GET", "/v1/caf%C3%A9/%E1%88%B4/a%20b%2Bc/x%3Dy", "", 404),
];

fn required() -> bool {
    std::env::var("COUNTERSIGN_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// A client is missing: a failure with `COUNTERSIGN_REQUIRE_INTEROP=1`, else a loud skip.
fn skip(msg: &str) {
    assert!(!required(), "{msg} (COUNTERSIGN_REQUIRE_INTEROP=1)");
    eprintln!("SKIPPED {msg}");
}

/// The tool's path, or `None` after saying loudly that it was skipped.
fn tool(env: &str, fallback: &str, test: &str) -> Option<PathBuf> {
    let path = std::env::var(env)
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(fallback));
    let ok = Command::new(&path)
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(path);
    }
    let msg = format!(
        "{test}: `{}` not found; run `scripts/test` (it installs every client the interop tests use) or set {env}",
        path.display()
    );
    skip(&msg);
    None
}

fn setup() -> (TempDir, Server, (String, String)) {
    let dir = TempDir::new("clients");
    let store = Store::sqlite(dir.path());
    let creds = store.principal_with_key("interop", false);
    let server = Server::start(&store, &[]);
    (dir, server, creds)
}

fn status_of(out: &std::process::Output, what: &str) -> (u16, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() || !stdout.is_empty(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (first, rest) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    let status = first.trim().parse().unwrap_or_else(|_| {
        panic!(
            "{what}: no status in {stdout:?} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (status, rest.to_owned())
}

#[test]
fn curl_aws_sigv4_requests_verify() {
    let Some(curl) = tool("COUNTERSIGN_CURL", "curl", "curl_aws_sigv4_requests_verify") else {
        return;
    };
    let (_dir, server, creds) = setup();
    // HTTP/1.1 (`Host`) and cleartext HTTP/2 (`:authority`, no `Host` header).
    let versions = ["--http1.1", "--http2-prior-knowledge"];
    for ((method, target, body, want), version) in CASES
        .iter()
        .flat_map(|case| versions.iter().map(move |v| (case, v)))
    {
        let url = format!("http://{}{target}", server.addr);
        let mut cmd = Command::new(&curl);
        cmd.args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            version,
            "-X",
            method,
        ])
        .args(["--aws-sigv4", "aws:amz:local:countersign", "--user"])
        .arg(format!("{}:{}", creds.0, creds.1))
        .arg(&url);
        if !body.is_empty() {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ]);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let (resp, code) = text.rsplit_once('\n').unwrap();
        assert_eq!(
            code.trim().parse::<u16>().unwrap(),
            *want,
            "curl {version} {method} {target}: {resp}"
        );
    }
}

/// A repeated header, and a name that one signed name extends (`x-b`, `x-b-c`): curl 8.3 and
/// later merge the repeated values into one line (the standard reading), curl 7.x (Debian
/// 12's) signs each value on a line of its own and sorts its lines as bytes, listing the name
/// twice and `x-b-c` before `x-b` (spec section 6.2). Either must verify.
#[test]
fn curl_requests_with_repeated_and_extended_header_names_verify() {
    let Some(curl) = tool(
        "COUNTERSIGN_CURL",
        "curl",
        "curl_requests_with_repeated_and_extended_header_names_verify",
    ) else {
        return;
    };
    let (_dir, server, creds) = setup();
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = Command::new(&curl)
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", version])
            .args(["--aws-sigv4", "aws:amz:local:countersign", "--user"])
            .arg(format!("{}:{}", creds.0, creds.1))
            .args(["-H", "X-A: 2", "-H", "x-a: 1", "-H", "X-B-C: c"])
            .args(["-H", "X-B:  spaced   out "])
            .arg(format!("http://{}/v1/whoami", server.addr))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let (resp, code) = text.rsplit_once('\n').unwrap();
        assert_eq!(code.trim(), "200", "curl {version}: {resp}");
        assert!(
            resp.contains("\"principal\":\"interop\""),
            "curl {version}: {resp}"
        );
    }
}

#[test]
fn botocore_sigv4auth_and_query_auth_requests_verify() {
    let Some(python) = tool(
        "COUNTERSIGN_PYTHON",
        "python3",
        "botocore_sigv4auth_and_query_auth_requests_verify",
    ) else {
        return;
    };
    let has_botocore = Command::new(&python)
        .args(["-c", "import botocore"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_botocore {
        let msg = "botocore_sigv4auth_and_query_auth_requests_verify: botocore is not importable; run `scripts/test`";
        skip(msg);
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/botocore_send.py");
    let (_dir, server, creds) = setup();
    let run = |method: &str, target: &str, body: &str, presign: bool| {
        let mut cmd = Command::new(&python);
        cmd.arg(script)
            .args([method, &format!("http://{}{target}", server.addr)])
            .args(["--access-key", &creds.0, "--secret-key", &creds.1]);
        if !body.is_empty() {
            cmd.args(["--data", body, "--header", "Content-Type: application/json"]);
        }
        if presign {
            cmd.args(["--presign", "300"]);
        }
        status_of(&cmd.output().unwrap(), "botocore")
    };
    for (method, target, body, want) in CASES {
        let (status, text) = run(method, target, body, false);
        assert_eq!(
            status, *want,
            "botocore SigV4Auth {method} {target}: {text}"
        );
    }
    let (status, text) = run("GET", "/v1/whoami?list-type=2&prefix=a%2Fb", "", true);
    assert_eq!(status, 200, "botocore SigV4QueryAuth: {text}");
    assert!(text.contains("\"query\""), "{text}");

    // A session token is signed as x-amz-security-token (header) / X-Amz-Security-Token (query).
    for presign in [false, true] {
        let mut cmd = Command::new(&python);
        cmd.arg(script)
            .args(["GET", &format!("http://{}/v1/whoami", server.addr)])
            .args([
                "--access-key",
                &creds.0,
                "--secret-key",
                &creds.1,
                "--token",
                "tok/en+with=chars",
            ]);
        if presign {
            cmd.args(["--presign", "300"]);
        }
        let (status, text) = status_of(&cmd.output().unwrap(), "botocore with token");
        assert_eq!(
            status, 200,
            "botocore with a session token (presign {presign}): {text}"
        );
    }
}

/// awscurl percent-encodes the query and path it is given (`%` included), so it is handed
/// URLs the way its users write them: the query unencoded (requests encodes it on the wire).
/// It prints only the body, so the outcome is read from the body.
#[test]
fn awscurl_requests_verify() {
    let Some(awscurl) = tool("COUNTERSIGN_AWSCURL", "awscurl", "awscurl_requests_verify") else {
        return;
    };
    let (_dir, server, creds) = setup();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "GET",
            "/v1/whoami?b=2&a=1&empty=&x=~tilde space",
            "",
            "\"principal\":\"interop\"",
        ),
        (
            "POST",
            "/v1/whoami",
            r#"{"title":"hello","n":1}"#,
            "MethodNotAllowed",
        ),
        ("GET", "/v1/caf%C3%A9/%E1%88%B4/a%20b%2Bc", "", "NotFound"),
    ];
    for (method, target, body, want) in cases {
        let mut cmd = Command::new(&awscurl);
        cmd.args(["--service", "countersign", "--region", "local"])
            .args(["--access_key", &creds.0, "--secret_key", &creds.1])
            .args(["-X", method]);
        if !body.is_empty() {
            cmd.args(["-d", body, "-H", "Content-Type: application/json"]);
        }
        cmd.arg(format!("http://{}{target}", server.addr));
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(want),
            "awscurl {method} {target}: expected {want} in {text} / {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn aws_sigv4_crate_requests_verify() {
    let (_dir, server, creds) = setup();
    let identity: Identity = AwsCredentials::new(&creds.0, &creds.1, None, None, "e2e").into();
    for (method, target, body, want) in CASES {
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("local")
            .name("countersign")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let host = server.host();
        let mut headers = vec![("host".to_owned(), host.clone())];
        if !body.is_empty() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        let signable = SignableRequest::new(
            method,
            format!("http://{host}{target}"),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (signing_headers, _) = instructions.into_parts();
        headers.extend(
            signing_headers
                .iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned())),
        );
        let req = RawRequest {
            method: (*method).to_owned(),
            target: (*target).to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        };
        let r = server.send(&req);
        assert_eq!(
            r.status,
            *want,
            "aws-sigv4 {method} {target}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// Node and the npm package `package` from `tests/interop/node` (`npm ci` there; `scripts/test`
/// runs it), or `None` after saying loudly that the test was skipped.
fn node_client(package: &str, test: &str) -> Option<(PathBuf, PathBuf)> {
    let node = tool("COUNTERSIGN_NODE", "node", test)?;
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/node"));
    if dir
        .join("node_modules")
        .join(package)
        .join("package.json")
        .is_file()
    {
        return Some((node, dir));
    }
    let msg = format!(
        "{test}: {package} is not installed; run `scripts/test` or `npm ci --prefix {}`",
        dir.display()
    );
    skip(&msg);
    None
}

/// Runs `script` of `tests/interop/node` for one request to `server` signed with `creds`:
/// the status and the body.
fn node_send(
    (node, dir): &(PathBuf, PathBuf),
    script: &str,
    server: &Server,
    creds: (&str, &str),
    (method, target, body): (&str, &str, &str),
    extra: &[&str],
) -> (u16, String) {
    let mut cmd = Command::new(node);
    cmd.arg(dir.join(script))
        .args([method, &format!("http://{}{target}", server.addr)])
        .args(["--access-key", creds.0, "--secret-key", creds.1])
        .args(extra);
    if !body.is_empty() {
        cmd.args(["--data", body, "--header", "Content-Type: application/json"]);
    }
    status_of(&cmd.output().unwrap(), script)
}

/// [`node_send`] with the script, server and credentials fixed: `run(method, target, body,
/// extra)`.
fn node_runner<'a>(
    client: &'a (PathBuf, PathBuf),
    script: &'a str,
    server: &'a Server,
    creds: &'a (String, String),
) -> impl Fn(&str, &str, &str, &[&str]) -> (u16, String) + 'a {
    move |method, target, body, extra| {
        let creds = (creds.0.as_str(), creds.1.as_str());
        node_send(client, script, server, creds, (method, target, body), extra)
    }
}

/// aws4fetch (the SigV4 client for `fetch`). Besides the common cases, what it signs its own
/// way: pairs with an empty name left out of the canonical query, a path character the URL
/// parser leaves raw (`$`, `(`, `@`) encoded once, and presigned URLs without `X-Amz-Expires`.
#[test]
fn aws4fetch_requests_verify() {
    let Some(client) = node_client("aws4fetch", "aws4fetch_requests_verify") else {
        return;
    };
    let (_dir, server, creds) = setup();
    let run = node_runner(&client, "aws4fetch_send.mjs", &server, &creds);
    let own: &[(&str, &str, &str, u16)] = &[
        ("GET", "/v1/whoami?=novalue&k=v&q=a+b", "", 200),
        ("GET", "/v1/a$b/(c)/d@e/f!g*", "", 404),
        ("GET", "/v1//double//slash", "", 404),
        ("PUT", "/v1/x", "a body that is hashed", 404),
    ];
    for (method, target, body, want) in CASES.iter().chain(own) {
        let (status, text) = run(method, target, body, &[]);
        assert_eq!(status, *want, "aws4fetch {method} {target}: {text}");
    }
    for (target, extra) in [
        ("/v1/whoami", &["--presign"][..]),
        ("/v1/whoami?a=1&b=x+y", &["--presign", "300"][..]),
        ("/v1/whoami", &["--token", "tok/en+with=chars"][..]),
        (
            "/v1/whoami",
            &["--presign", "300", "--token", "tok/en+with=chars"][..],
        ),
    ] {
        let (status, text) = run("GET", target, "", extra);
        assert_eq!(status, 200, "aws4fetch GET {target} {extra:?}: {text}");
        let auth = if extra.contains(&"--presign") {
            "\"query\""
        } else {
            "\"header\""
        };
        assert!(text.contains(auth), "{extra:?}: {text}");
    }
    // A wrong secret is still refused, with the server's canonical request.
    let wrong = (creds.0.as_str(), "not-the-secret");
    let request = ("GET", "/v1/whoami", "");
    let (status, text) = node_send(&client, "aws4fetch_send.mjs", &server, wrong, request, &[]);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("SignatureDoesNotMatch") && text.contains("canonical_request"));
}

/// @smithy/signature-v4, the AWS SDK for JavaScript v3 signer, its query written by the SDK's
/// own builder: header and presigned forms, a session token, and a null-valued parameter (sent
/// as a bare name, not signed).
#[test]
fn aws_sdk_js_v3_signer_requests_verify() {
    let test = "aws_sdk_js_v3_signer_requests_verify";
    let Some(client) = node_client("@smithy/signature-v4", test) else {
        return;
    };
    let (_dir, server, creds) = setup();
    let run = node_runner(&client, "smithy_send.mjs", &server, &creds);
    for (method, target, body, want) in CASES {
        for extra in [&[][..], &["--presign", "300"][..]] {
            let (status, text) = run(method, target, body, extra);
            assert_eq!(status, *want, "smithy {method} {target} {extra:?}: {text}");
        }
    }
    for extra in [
        &["--bare", "flag"][..],
        &["--bare", "flag", "--presign", "300"][..],
        &["--token", "tok/en+with=chars"][..],
        &["--token", "tok/en+with=chars", "--presign", "300"][..],
    ] {
        let (status, text) = run("GET", "/v1/whoami?empty=&q=a%20b", "", extra);
        assert_eq!(status, 200, "smithy GET {extra:?}: {text}");
        let auth = if extra.contains(&"--presign") {
            "\"query\""
        } else {
            "\"header\""
        };
        assert!(text.contains(auth), "{extra:?}: {text}");
    }
}

/// The AWS CLI (v1, from the venv of `scripts/test`; it carries its own botocore) against a
/// server whose service is `s3`, so that its S3 commands sign as they would for S3: a listing
/// with an encoded prefix, an upload (its body hashed and checked), `s3 presign`, and a wrong
/// secret. A verified request gets 404 (no such route), a refused one 401.
#[test]
fn aws_cli_requests_verify() {
    let test = "aws_cli_requests_verify";
    let aws = std::env::var("COUNTERSIGN_AWS").map_or_else(|_| PathBuf::from("aws"), PathBuf::from);
    let found = Command::new(&aws)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = format!(
            "{test}: `{}` not found; run `scripts/test` (it installs awscli in .venv) or set COUNTERSIGN_AWS",
            aws.display()
        );
        skip(&msg);
        return;
    }
    let dir = TempDir::new("aws-cli");
    let store = Store::sqlite(dir.path());
    let (id, secret) = store.principal_with_key("interop", false);
    let server = Server::start(&store, &["--service", "s3"]);
    let upload = dir.path().join("upload.txt");
    std::fs::write(&upload, "hello from the AWS CLI\n").unwrap();
    let run = |secret: &str, args: &[&str]| {
        let out = Command::new(&aws)
            .args(["--endpoint-url", &format!("http://{}", server.addr)])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "local")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let listing = [
        "s3api",
        "list-objects-v2",
        "--bucket",
        "bkt",
        "--prefix",
        "a b/c+d",
    ];
    let upload = upload.to_str().unwrap();
    for args in [
        &listing[..],
        &[
            "s3api",
            "put-object",
            "--bucket",
            "bkt",
            "--key",
            "dir/x y.txt",
            "--body",
            upload,
        ][..],
    ] {
        let (_, text) = run(&secret, args);
        assert!(text.contains("(404)"), "aws {args:?}: {text}");
    }
    let (_, text) = run("not-the-secret", &listing);
    assert!(text.contains("(401)"), "aws with a wrong secret: {text}");

    let (ok, url) = run(
        &secret,
        &["s3", "presign", "s3://bkt/a b.txt", "--expires-in", "300"],
    );
    assert!(ok, "aws s3 presign: {url}");
    let target = url
        .trim()
        .split_once(&server.host())
        .map(|(_, t)| t.to_owned())
        .unwrap_or_else(|| panic!("no {} in {url}", server.host()));
    let get = |target: &str| {
        server.send(&RawRequest {
            method: "GET".into(),
            target: target.to_owned(),
            headers: vec![("Host".into(), server.host())],
            body: Vec::new(),
        })
    };
    let r = get(&target);
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    let tampered = target.replace("bkt/a", "bkt/b");
    assert_eq!(get(&tampered).status, 401);
}

/// The two SigV4 auth plugins for Python's `requests`: requests-aws4auth and
/// aws-requests-auth (from the venv of `scripts/test`), the common cases plus bare and
/// empty-name query pairs, a session token, and a wrong secret.
#[test]
fn requests_auth_plugins_requests_verify() {
    let test = "requests_auth_plugins_requests_verify";
    let Some(python) = tool("COUNTERSIGN_PYTHON", "python3", test) else {
        return;
    };
    let importable = Command::new(&python)
        .args(["-c", "import requests_aws4auth, aws_requests_auth"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        let msg = format!(
            "{test}: requests-aws4auth or aws-requests-auth is missing; run `scripts/test`"
        );
        skip(&msg);
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/requests_send.py");
    let (_dir, server, creds) = setup();
    let run =
        |lib: &str, secret: &str, (method, target, body): (&str, &str, &str), extra: &[&str]| {
            let mut cmd = Command::new(&python);
            cmd.arg(script)
                .args([
                    method,
                    &format!("http://{}{target}", server.addr),
                    "--lib",
                    lib,
                ])
                .args(["--access-key", &creds.0, "--secret-key", secret])
                .args(extra);
            if !body.is_empty() {
                cmd.args(["--data", body, "--header", "Content-Type: application/json"]);
            }
            status_of(&cmd.output().unwrap(), lib)
        };
    let own: &[(&str, &str, &str, u16)] = &[
        ("GET", "/v1/whoami?flag&=novalue&q=a+b", "", 200),
        ("GET", "/v1/a$b/(c)/d@e", "", 404),
    ];
    for lib in ["requests-aws4auth", "aws-requests-auth"] {
        for (method, target, body, want) in CASES.iter().chain(own) {
            let (status, text) = run(lib, &creds.1, (method, target, body), &[]);
            assert_eq!(status, *want, "{lib} {method} {target}: {text}");
        }
        let whoami = ("GET", "/v1/whoami", "");
        let (status, text) = run(lib, &creds.1, whoami, &["--token", "tok/en+with=chars"]);
        assert_eq!(status, 200, "{lib} with a session token: {text}");
        let (status, text) = run(lib, "not-the-secret", whoami, &[]);
        assert_eq!(status, 401, "{lib} with a wrong secret: {text}");
        assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    }
}
