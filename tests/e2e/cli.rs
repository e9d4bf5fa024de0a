//! `countersign sign` / `presign`: byte-exact against the AWS suites, and accepted by the real
//! server.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::bin;
use crate::support::server::{RawRequest, Server, Store, TempDir};

const ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn countersign(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("countersign"));
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
    let cases = [
        ("get-vanilla-query", "https://example.amazonaws.com/"),
        (
            "get-vanilla-query-order-key-case",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        ),
    ];
    for (name, url) in cases {
        let case = format!("aws-sig-v4-test-suite/{name}/{name}");
        let mut args = vec!["sign", "GET", url, "--format", "json"];
        args.extend(SUITE_FLAGS);
        let out = countersign(&args, &[("COUNTERSIGN_SECRET_ACCESS_KEY", SECRET)]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["authorization"],
            suite_file(&format!("{case}.authz")).as_str(),
            "{name}"
        );
        assert_eq!(
            v["canonical_request"],
            suite_file(&format!("{case}.creq")).as_str(),
            "{name}"
        );
        assert_eq!(
            v["string_to_sign"],
            suite_file(&format!("{case}.sts")).as_str(),
            "{name}"
        );
        let authz = suite_file(&format!("{case}.authz"));
        let signature = authz.rsplit_once("Signature=").unwrap().1.trim();
        assert_eq!(v["signature"], signature, "{name}");
        assert_eq!(v["x-amz-date"], "20150830T123600Z");
        assert_eq!(v["signed_headers"], "host;x-amz-date");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    }
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
    let id_only = [("COUNTERSIGN_ACCESS_KEY_ID", "K")];
    let secret_flag = ["--secret-access-key", "LEAK-MARKER-7f3a"];
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], &'a str);
    let with = |base: &[&'static str], extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["sign", "GET", "http://h/"],
            &[],
            "no credentials: looked at --access-key-id/--secret-access-key and \
             COUNTERSIGN_ACCESS_KEY_ID/COUNTERSIGN_SECRET_ACCESS_KEY",
        ),
        (
            vec!["sign", "GET", "http://h/"],
            &id_only,
            "COUNTERSIGN_SECRET_ACCESS_KEY",
        ),
        (
            with(&["sign", "GET", "http://h/"], &secret_flag),
            &[],
            "COUNTERSIGN_ACCESS_KEY_ID",
        ),
        (vec!["sign", "GET", "ftp://h/"], &creds, "http://"),
        (
            vec!["sign", "GET", "http://h/a b"],
            &creds,
            "percent-encode",
        ),
        (vec!["sign", "GET", "http:///x"], &creds, "no host"),
        (vec!["sign", "GET", "http://h:99999/"], &creds, "port"),
        (vec!["sign", "G T", "http://h/"], &creds, "method `G T`"),
        (
            vec!["sign", "GET", "http://h/", "-H", "NoColon"],
            &creds,
            "Name: value",
        ),
        (
            vec!["sign", "GET", "http://h/", "-H", "Bad Name: v"],
            &creds,
            "header name `Bad Name`",
        ),
        (
            with(&["sign", "GET", "http://h/", "-H", "NoColon"], &secret_flag),
            &id_only,
            "Name: value",
        ),
        (
            vec!["sign", "GET", "http://h/", "--timestamp", "yesterday"],
            &creds,
            "YYYYMMDDTHHMMSSZ",
        ),
        (
            with(
                &[
                    "sign",
                    "GET",
                    "http://h/",
                    "--timestamp",
                    "20150230T000000Z",
                ],
                &secret_flag,
            ),
            &id_only,
            "--timestamp",
        ),
        (
            vec!["presign", "GET", "http://h/", "--expires-in", "604801"],
            &creds,
            "604800",
        ),
        (
            vec!["presign", "GET", "http://h/", "--expires-in", "0"],
            &creds,
            "604800",
        ),
        (
            vec!["presign", "GET", "http://h/", "--expires-in", "soon"],
            &creds,
            "--expires-in",
        ),
        (vec!["presign", "GET", "http://h/"], &creds, "--expires-in"),
        (
            vec![
                "sign",
                "GET",
                "http://h/",
                "--data",
                "x",
                "--data-file",
                "f",
            ],
            &creds,
            "--data",
        ),
        (
            vec!["sign", "GET", "http://h/", "--format", "yaml"],
            &creds,
            "yaml",
        ),
        (
            vec!["sign", "GET", "http://h/", "--data-file", "/no/such/file"],
            &creds,
            "/no/such/file",
        ),
        (
            with(
                &["sign", "GET", "http://h/", "--region", "a/b"],
                &secret_flag,
            ),
            &id_only,
            "region",
        ),
        (
            vec!["sign", "GET", "http://h/", "-H", "Host: a", "-H", "host: b"],
            &creds,
            "Host",
        ),
    ];
    for (args, env, needle) in &cases {
        let out = countersign(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("countersign: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.ends_with('\n'), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!stderr.contains("LEAK-MARKER"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_secret_never_appears_in_any_output() {
    let secret = "LEAK-MARKER-9c1e";
    for (cmd, extra) in [("sign", &[][..]), ("presign", &["--expires-in", "60"][..])] {
        for format in ["headers", "json"] {
            let mut args = vec![cmd, "PUT", "http://h/a?b=c", "--format", format];
            args.extend(extra);
            args.extend(["--session-token", "TOKEN", "--s3", "--data", "body"]);
            let env = [
                ("COUNTERSIGN_ACCESS_KEY_ID", "K"),
                ("COUNTERSIGN_SECRET_ACCESS_KEY", secret),
            ];
            let out = countersign(&args, &env);
            assert!(out.status.success(), "{args:?}");
            let all = [out.stdout, out.stderr].concat();
            assert!(
                !String::from_utf8_lossy(&all).contains("LEAK-MARKER"),
                "{args:?}"
            );
        }
    }
}

#[test]
fn headers_repeat_join_and_override_host() {
    let out = countersign(
        &[
            "sign",
            "GET",
            "HTTP://Example.COM:80/a%20b/../c?x=1",
            "-H",
            "X-Trace: one",
            "-H",
            "x-trace:two",
            "-H",
            "X-Empty:",
            "--format",
            "json",
            "--timestamp",
            "20200101T000000Z",
        ],
        &[
            ("COUNTERSIGN_ACCESS_KEY_ID", "K"),
            ("COUNTERSIGN_SECRET_ACCESS_KEY", "S"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["canonical_request"],
        "GET\n/c\nx=1\nhost:example.com\nx-amz-date:20200101T000000Z\nx-empty:\n\
         x-trace:one,two\n\nhost;x-amz-date;x-empty;x-trace\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(v["signed_headers"], "host;x-amz-date;x-empty;x-trace");

    let out = countersign(
        &[
            "sign",
            "GET",
            "https://example.com:8443/a%20b/../c",
            "-H",
            "host: other.example",
            "--s3",
            "--format",
            "json",
        ],
        &[
            ("COUNTERSIGN_ACCESS_KEY_ID", "K"),
            ("COUNTERSIGN_SECRET_ACCESS_KEY", "S"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let creq = v["canonical_request"].as_str().unwrap();
    assert!(
        creq.starts_with("GET\n/a%20b/../c\n\nhost:other.example\n"),
        "{creq}"
    );
    assert_eq!(
        v["x-amz-content-sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn data_and_data_file_hash_the_same_body() {
    let dir = TempDir::new("cli-data");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("body.bin");
    std::fs::write(&path, &body).unwrap();
    let env = [
        ("COUNTERSIGN_ACCESS_KEY_ID", "K"),
        ("COUNTERSIGN_SECRET_ACCESS_KEY", "S"),
    ];
    let base = ["sign", "POST", "http://h/", "--format", "json", "--s3"];
    let mut args = base.to_vec();
    let path_str = path.display().to_string();
    args.extend(["--data-file", &path_str]);
    let v: Value = serde_json::from_slice(&countersign(&args, &env).stdout).unwrap();
    let want = countersign::hex_digest(&countersign::sha256(&body));
    assert_eq!(v["x-amz-content-sha256"], want.as_str());
    assert!(v["canonical_request"].as_str().unwrap().ends_with(&want));

    let mut args = base.to_vec();
    args.extend(["--data", "hello"]);
    let v: Value = serde_json::from_slice(&countersign(&args, &env).stdout).unwrap();
    let want = countersign::hex_digest(&countersign::sha256(b"hello"));
    assert_eq!(v["x-amz-content-sha256"], want.as_str());
}

#[test]
fn headers_format_prints_one_header_per_line_and_presign_one_url() {
    let env = [
        ("COUNTERSIGN_ACCESS_KEY_ID", "K"),
        ("COUNTERSIGN_SECRET_ACCESS_KEY", "S"),
        ("COUNTERSIGN_SESSION_TOKEN", "T/1"),
    ];
    let out = countersign(
        &[
            "sign",
            "GET",
            "http://h/",
            "--timestamp",
            "20200101T000000Z",
        ],
        &env,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(": ").unwrap().0)
        .collect();
    assert_eq!(
        names,
        ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
    );
    assert!(text.contains("X-Amz-Security-Token: T/1\n"), "{text}");

    let out = countersign(
        &["presign", "GET", "http://h/x", "--expires-in", "60"],
        &env,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("http://h/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&"),
        "{text}"
    );
    assert!(text.contains("&X-Amz-Security-Token=T%2F1&"), "{text}");
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
