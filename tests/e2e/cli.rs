//! `countersign sign` / `presign`: byte-exact against the AWS suites, and accepted by the real
//! server.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::server::{RawRequest, Server, Store, TempDir, binary};

const ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn countersign(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("countersign"));
    cmd.args(args)
        .env_remove("COUNTERSIGN_ACCESS_KEY_ID")
        .env_remove("COUNTERSIGN_SECRET_ACCESS_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run countersign")
}

fn suite_file(path: &str) -> String {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    std::fs::read_to_string(base.join(path)).unwrap()
}

const SUITE_FLAGS: [&str; 8] = [
    "--region",
    "us-east-1",
    "--service",
    "service",
    "--timestamp",
    "20150830T123600Z",
    "--access-key-id",
    ID,
];

#[test]
fn sign_json_reproduces_the_legacy_suite_byte_for_byte() {
    let case =
        "aws-sig-v4-test-suite/get-vanilla-query-order-key-case/get-vanilla-query-order-key-case";
    let mut args = vec![
        "sign",
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        "--format",
        "json",
    ];
    args.extend(SUITE_FLAGS);
    let out = countersign(&args, &[("COUNTERSIGN_SECRET_ACCESS_KEY", SECRET)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["authorization"],
        suite_file(&format!("{case}.authz")).trim()
    );
    assert_eq!(v["canonical_request"], suite_file(&format!("{case}.creq")));
    assert_eq!(v["string_to_sign"], suite_file(&format!("{case}.sts")));
    assert_eq!(v["x-amz-date"], "20150830T123600Z");
    assert_eq!(v["signed_headers"], "host;x-amz-date");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
}

#[test]
fn presign_reproduces_the_crt_suite_signature() {
    let mut args = vec![
        "presign",
        "GET",
        "https://example.amazonaws.com/",
        "--expires-in",
        "3600",
        "--format",
        "json",
        "--secret-access-key",
        SECRET,
    ];
    args.extend(SUITE_FLAGS);
    let out = countersign(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = suite_file("aws-signing-test-suite/v4/get-vanilla/query-signature.txt");
    assert_eq!(v["signature"], want.trim());
    assert_eq!(
        v["canonical_request"],
        suite_file("aws-signing-test-suite/v4/get-vanilla/query-canonical-request.txt")
    );
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://example.amazonaws.com/?X-Amz-Algorithm=AWS4-HMAC-SHA256&"),
        "{url}"
    );
    assert!(
        url.ends_with(&format!("&X-Amz-Signature={}", want.trim())),
        "{url}"
    );
}

#[test]
fn flags_win_over_the_environment() {
    let base = [
        "sign",
        "GET",
        "http://h/",
        "--format",
        "json",
        "--timestamp",
        "20200101T000000Z",
    ];
    let env = [
        ("COUNTERSIGN_ACCESS_KEY_ID", "ENVKEY"),
        ("COUNTERSIGN_SECRET_ACCESS_KEY", "envsecret"),
        ("COUNTERSIGN_REGION", "env-region"),
        ("COUNTERSIGN_SERVICE", "env-service"),
    ];
    let v: Value = serde_json::from_slice(&countersign(&base, &env).stdout).unwrap();
    let auth = v["authorization"].as_str().unwrap();
    assert!(
        auth.contains("Credential=ENVKEY/20200101/env-region/env-service/aws4_request"),
        "{auth}"
    );
    let mut args = base.to_vec();
    args.extend(["--access-key-id", "FLAGKEY", "--region", "flag-region"]);
    let v: Value = serde_json::from_slice(&countersign(&args, &env).stdout).unwrap();
    let auth = v["authorization"].as_str().unwrap();
    assert!(
        auth.contains("Credential=FLAGKEY/20200101/flag-region/env-service/aws4_request"),
        "{auth}"
    );
}

#[test]
fn usage_errors_exit_2_with_one_line_and_never_show_the_secret() {
    let creds = [
        ("COUNTERSIGN_ACCESS_KEY_ID", "K"),
        ("COUNTERSIGN_SECRET_ACCESS_KEY", "LEAK-MARKER-7f3a"),
    ];
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (&["sign", "GET", "http://h/"], &[], "no credentials"),
        (&["sign", "GET", "ftp://h/"], &creds, "http://"),
        (&["sign", "GET", "http://h/a b"], &creds, "percent-encode"),
        (
            &["sign", "GET", "http://h/", "-H", "NoColon"],
            &creds,
            "Name: value",
        ),
        (
            &["sign", "GET", "http://h/", "--timestamp", "yesterday"],
            &creds,
            "YYYYMMDDTHHMMSSZ",
        ),
        (
            &["presign", "GET", "http://h/", "--expires-in", "604801"],
            &creds,
            "604800",
        ),
        (
            &["presign", "GET", "http://h/", "--expires-in", "0"],
            &creds,
            "604800",
        ),
        (
            &["sign", "GET", "http://h/", "--data-file", "/no/such/file"],
            &creds,
            "/no/such/file",
        ),
    ];
    for (args, env, needle) in cases {
        let out = countersign(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("LEAK-MARKER")
                && !String::from_utf8_lossy(&out.stdout).contains("LEAK-MARKER")
        );
        if !needle.contains("Name: value") {
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn signed_headers_and_presigned_urls_from_the_cli_verify_on_the_server() {
    let dir = TempDir::new("cli");
    let store = Store::sqlite(dir.path());
    let (id, secret) = store.principal_with_key("cli-user", false);
    let server = Server::start(&store, &[]);
    let env = [
        ("COUNTERSIGN_ACCESS_KEY_ID", id.as_str()),
        ("COUNTERSIGN_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let url = format!("http://{}/v1/whoami?a=1&b=%7E", server.addr);
    let out = countersign(
        &[
            "sign",
            "GET",
            &url,
            "-H",
            "X-Trace: one",
            "-H",
            "X-Trace: two",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut headers = vec![
        ("Host".to_owned(), server.host()),
        ("X-Trace".into(), "one".into()),
        ("X-Trace".into(), "two".into()),
    ];
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (n, v) = line.split_once(": ").unwrap();
        headers.push((n.to_owned(), v.to_owned()));
    }
    let req = RawRequest {
        method: "GET".into(),
        target: "/v1/whoami?a=1&b=%7E".into(),
        headers,
        body: vec![],
    };
    let r = server.send(&req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["principal"], "cli-user");

    let out = countersign(&["presign", "GET", &url, "--expires-in", "60"], &env);
    let presigned = String::from_utf8(out.stdout).unwrap();
    let target = presigned
        .trim()
        .split_once(&server.host())
        .unwrap()
        .1
        .to_owned();
    let req = RawRequest {
        method: "GET".into(),
        target,
        headers: vec![("Host".into(), server.host())],
        body: vec![],
    };
    let r = server.send(&req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["auth"], "query");
}
