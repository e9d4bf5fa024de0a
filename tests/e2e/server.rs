//! The server end to end: the real binary, a temporary SQLite database (and PostgreSQL when
//! `COUNTERSIGN_TEST_POSTGRES_URL` is set), keys made with the offline admin commands.

use std::time::{Duration, SystemTime};

use countersign::{AmzDate, Payload, Request};
use serde_json::{Value, json};

use crate::support::server::{RawRequest, Server, Store, TempDir, send_raw, signer};

fn now() -> AmzDate {
    AmzDate::from_system_time(SystemTime::now())
}

fn setup(extra: &[&str]) -> (TempDir, Server, (String, String)) {
    let dir = TempDir::new("server");
    let store = Store::sqlite(dir.path());
    let creds = store.principal_with_key("alice", false);
    let server = Server::start(&store, extra);
    (dir, server, creds)
}

fn presigned(
    server: &Server,
    creds: &(String, String),
    target: &str,
    at: AmzDate,
    expires: u64,
) -> RawRequest {
    let host = server.host();
    let signer = signer(creds);
    let view = Request::new("GET", target).header("host", &host);
    let p = signer
        .presign(&view, Payload::Bytes(b""), at, Duration::from_secs(expires))
        .unwrap();
    RawRequest {
        method: "GET".into(),
        target: format!("{}?{}", target.split('?').next().unwrap(), p.query()),
        headers: vec![("Host".into(), host)],
        body: vec![],
    }
}

#[test]
fn signed_and_presigned_whoami_identify_the_principal() {
    let (_dir, server, creds) = setup(&[]);
    let r = server.signed(&creds, "GET", "/v1/whoami", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["principal"], "alice");
    assert_eq!(v["access_key_id"], creds.0.as_str());
    assert_eq!(v["auth"], "header");
    assert!(r.header("x-request-id").is_some());

    let r = server.send(&presigned(&server, &creds, "/v1/whoami", now(), 60));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["auth"], "query");
}

#[test]
fn wrong_secret_is_signature_does_not_match_with_the_servers_canonical_request() {
    let (_dir, server, creds) = setup(&[]);
    let wrong = (creds.0.clone(), "not-the-secret".to_owned());
    let r = server.signed(&wrong, "GET", "/v1/whoami?a=1", b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    assert_eq!(r.header("www-authenticate"), Some("AWS4-HMAC-SHA256"));
    let err = &r.json()["error"];
    let creq = err["canonical_request"]
        .as_str()
        .expect("canonical_request in the body");
    assert!(creq.starts_with("GET\n/v1/whoami\na=1\n"), "{creq}");
    assert!(
        err["string_to_sign"]
            .as_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256\n")
    );
    assert!(!String::from_utf8_lossy(&r.body).contains(&creds.1));
}

#[test]
fn unknown_key_unsigned_and_malformed_requests_get_specific_errors() {
    let (_dir, server, _creds) = setup(&[]);
    let r = server.signed(
        &("AKCSUNKNOWNUNKNOWN00".into(), "x".into()),
        "GET",
        "/v1/whoami",
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidAccessKeyId"));

    let unsigned = RawRequest {
        method: "GET".into(),
        target: "/v1/nothing-here".into(),
        headers: vec![("Host".into(), server.host())],
        body: vec![],
    };
    let r = server.send(&unsigned);
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "MissingAuthenticationToken")
    );

    let raw = format!(
        "GET /v1/whoami HTTP/1.1\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=\r\nConnection: close\r\n\r\n",
        server.host()
    );
    let r = send_raw(server.addr, raw.as_bytes());
    assert_eq!((r.status, r.code().as_str()), (400, "IncompleteSignature"));

    let sig = "0".repeat(64);
    let raw = format!(
        "GET /v1/whoami HTTP/1.1\r\nHost: {}\r\nX-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=, SignedHeaders=host;x-amz-date, Signature={sig}\r\nConnection: close\r\n\r\n",
        server.host()
    );
    let r = send_raw(server.addr, raw.as_bytes());
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "AuthorizationHeaderMalformed")
    );
    assert!(
        server
            .send(&RawRequest {
                method: "GET".into(),
                target: "/livez".into(),
                headers: vec![("Host".into(), server.host())],
                body: vec![]
            })
            .status
            == 200,
        "still serving"
    );
}

#[test]
fn timestamps_sixteen_minutes_off_either_way_are_too_skewed() {
    let (_dir, server, creds) = setup(&[]);
    for offset in [-(16 * 60), 16 * 60] {
        let at = AmzDate::from_unix(now().unix().checked_add_signed(offset).unwrap()).unwrap();
        let r = server.send(&server.sign(&creds, "GET", "/v1/whoami", &[], b"", at));
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "RequestTimeTooSkewed"),
            "offset {offset}"
        );
        let err = &r.json()["error"];
        assert!(err["server_time"].is_string(), "{err}");
        assert_eq!(err["max_skew_seconds"], 900);
    }
}

#[test]
fn expired_presigned_url_is_refused() {
    let (_dir, server, creds) = setup(&[]);
    let at = AmzDate::from_unix(now().unix() - 120).unwrap();
    let r = server.send(&presigned(&server, &creds, "/v1/whoami", at, 60));
    assert_eq!((r.status, r.code().as_str()), (401, "RequestExpired"));
}

#[test]
fn tampered_body_with_declared_hash_is_400_and_unsigned_amz_header_is_403() {
    let (_dir, server, creds) = setup(&[]);
    let body = br#"{"name":"x"}"#;
    let hash = countersign::hex_digest(&countersign::sha256(body));
    let mut req = server.sign(
        &creds,
        "POST",
        "/v1/principals",
        &[("x-amz-content-sha256", &hash)],
        body,
        now(),
    );
    req.body = br#"{"name":"y"}"#.to_vec();
    let r = server.send(&req);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XAmzContentSHA256Mismatch")
    );

    let mut req = server.sign(&creds, "GET", "/v1/whoami", &[], b"", now());
    req.headers.push(("X-Amz-Meta-Sneaky".into(), "1".into()));
    let r = server.send(&req);
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    assert_eq!(
        r.json()["error"]["headers_not_signed"],
        json!(["x-amz-meta-sneaky"])
    );
}

#[test]
fn routes_are_hidden_until_signed_then_404_and_405() {
    let (_dir, server, creds) = setup(&[]);
    let r = server.signed(&creds, "GET", "/v1/no-such-route", b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NotFound"));
    let r = server.signed(&creds, "DELETE", "/v1/whoami", b"");
    assert_eq!((r.status, r.code().as_str()), (405, "MethodNotAllowed"));
    let live = RawRequest {
        method: "GET".into(),
        target: "/livez".into(),
        headers: vec![("Host".into(), server.host())],
        body: vec![],
    };
    assert_eq!(server.send(&live).status, 200);
    let ready = RawRequest {
        target: "/readyz".into(),
        ..live
    };
    assert_eq!(server.send(&ready).status, 200);
}

#[test]
fn body_over_the_limit_is_413() {
    let (_dir, server, creds) = setup(&["--max-body", "1KiB"]);
    let body = vec![b'a'; 2048];
    let r = server.signed(&creds, "POST", "/v1/whoami", &body);
    assert_eq!((r.status, r.code().as_str()), (413, "EntityTooLarge"));
}

#[test]
fn disabled_key_is_401_and_disabled_principal_is_403_within_the_ttl() {
    let (_dir, server, creds) = setup(&["--key-cache-ttl", "1s"]);
    assert_eq!(server.signed(&creds, "GET", "/v1/whoami", b"").status, 200);
    server.store.admin(&["principal", "disable", "alice"]);
    std::thread::sleep(Duration::from_millis(1500));
    let r = server.signed(&creds, "GET", "/v1/whoami", b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    server.store.admin(&["principal", "enable", "alice"]);
    server.store.admin(&["key", "disable", &creds.0]);
    std::thread::sleep(Duration::from_millis(1500));
    let r = server.signed(&creds, "GET", "/v1/whoami", b"");
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidAccessKeyId"));
}

#[test]
fn non_admin_gets_403_on_admin_calls() {
    let (_dir, server, creds) = setup(&[]);
    let r = server.signed(&creds, "GET", "/v1/principals", b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
}

#[test]
fn keys_survive_a_restart_and_the_database_holds_no_plain_secret() {
    let (_dir, server, creds) = setup(&[]);
    assert_eq!(server.signed(&creds, "GET", "/v1/whoami", b"").status, 200);
    let server = server.restart(&[]);
    assert_eq!(server.signed(&creds, "GET", "/v1/whoami", b"").status, 200);
    let file = server.store.sqlite_file.clone().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    for ext in ["-wal", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{}{ext}", file.display())) {
            bytes.extend(more);
        }
    }
    assert!(
        bytes
            .windows(creds.0.len())
            .any(|w| w == creds.0.as_bytes()),
        "the key id is stored"
    );
    assert!(
        !bytes
            .windows(creds.1.len())
            .any(|w| w == creds.1.as_bytes()),
        "secret in plain text"
    );
}

#[test]
fn admin_api_round_trip_matches_the_offline_commands() {
    let dir = TempDir::new("admin");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    let server = Server::start(&store, &["--key-cache-ttl", "1s"]);
    let call = |method: &str, target: &str, body: Value| {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let req = server.sign(
            &admin,
            method,
            target,
            &[("content-type", "application/json")],
            &body,
            now(),
        );
        server.send(&req)
    };
    let r = call(
        "POST",
        "/v1/principals",
        json!({"name": "bob", "admin": false}),
    );
    assert!(
        matches!(r.status, 200 | 201),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = call("GET", "/v1/principals", Value::Null);
    assert_eq!(r.status, 200);
    assert!(r.body.windows(3).any(|w| w == b"bob"));
    let r = call("POST", "/v1/principals/bob/keys", Value::Null);
    assert!(
        matches!(r.status, 200 | 201),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let key = r.json();
    let bob = (
        key["access_key_id"].as_str().unwrap().to_owned(),
        key["secret_access_key"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        server.signed(&bob, "GET", "/v1/whoami", b"").json()["principal"],
        "bob"
    );
    let listed = store.admin(&["key", "list", "--principal", "bob"]);
    assert!(
        listed.contains(&bob.0),
        "offline list shows the key made over HTTP: {listed}"
    );
    assert!(!listed.contains(&bob.1), "offline list never shows secrets");
    let r = call("GET", "/v1/principals/bob/keys", Value::Null);
    assert_eq!(r.status, 200);
    assert!(
        !String::from_utf8_lossy(&r.body).contains(&bob.1),
        "secret shown only once"
    );

    let r = call(
        "PATCH",
        &format!("/v1/keys/{}", bob.0),
        json!({"status": "Inactive"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.signed(&bob, "GET", "/v1/whoami", b"").status, 401);
    assert!(
        store
            .admin(&["key", "list", "--principal", "bob"])
            .contains("Inactive")
    );

    let r = call("DELETE", &format!("/v1/keys/{}", bob.0), Value::Null);
    assert!(
        matches!(r.status, 200 | 204),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        !store
            .admin(&["key", "list", "--principal", "bob"])
            .contains(&bob.0)
    );

    let r = call("PATCH", "/v1/principals/bob", json!({"enabled": false}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        store
            .admin(&["principal", "list"])
            .lines()
            .any(|l| l.contains("bob") && l.contains("false"))
    );
}

/// Two replicas on one PostgreSQL database share keys and see a disable within the TTL.
#[test]
fn two_servers_on_one_postgres_database_share_keys_and_disables() {
    let Ok(url) = std::env::var("COUNTERSIGN_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED two_servers_on_one_postgres_database_share_keys_and_disables: set COUNTERSIGN_TEST_POSTGRES_URL (as .ci/run does) to run it"
        );
        return;
    };
    let dir = TempDir::new("pg");
    let store = Store::postgres(&url, dir.path());
    let name = format!("replica-{}-{}", std::process::id(), now().unix());
    let creds = store.principal_with_key(&name, false);
    let a = Server::start(&store, &["--key-cache-ttl", "1s"]);
    let b = Server::start(&store, &["--key-cache-ttl", "1s"]);
    for s in [&a, &b] {
        let r = s.signed(&creds, "GET", "/v1/whoami", b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    store.admin(&["key", "disable", &creds.0]);
    std::thread::sleep(Duration::from_millis(1500));
    for s in [&a, &b] {
        assert_eq!(s.signed(&creds, "GET", "/v1/whoami", b"").status, 401);
    }
    store.admin(&["key", "delete", &creds.0]);
}

/// Every `spec/errors/<case>.http` written raw to the socket gets its `<case>.expected` answer,
/// and the server keeps serving.
#[test]
fn malformed_request_files_in_spec_get_their_documented_code() {
    let (_dir, server, _creds) = setup(&[]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/errors");
    let mut count = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
    {
        let bytes = std::fs::read(path).unwrap();
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let (status, code) = expected.trim().split_once(' ').unwrap();
        let r = send_raw(server.addr, &bytes);
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(
            r.status.to_string(),
            status,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), code, "{name}");
        count += 1;
    }
    assert!(count >= 8, "spec/errors looks empty: {count}");
    let live = RawRequest {
        method: "GET".into(),
        target: "/livez".into(),
        headers: vec![("Host".into(), server.host())],
        body: vec![],
    };
    assert_eq!(server.send(&live).status, 200);
}

#[test]
fn sigterm_stops_the_server_cleanly_with_exit_0() {
    let (_dir, mut server, creds) = setup(&[]);
    assert_eq!(server.signed(&creds, "GET", "/v1/whoami", b"").status, 200);
    let pid = server.pid().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("server exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}
