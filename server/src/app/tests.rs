//! In-process HTTP tests: a real listener on port 0, a fake clock, raw HTTP/1.1 bytes
//! on a socket (a client library would "fix" malformed requests first).

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use countersign::{
    AmzDate, ContentSha256Header, Credentials, Payload, Request, Signer, SigningSettings,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::*;
use crate::clock::Clock;
use crate::clock::fake::FakeClock;
use crate::config::{Cli, Command};
use crate::store::{KeyStatus, KeyStore, NewAccessKey};

const NOW: u64 = 1_700_000_000;
const HOST: &str = "countersign.test";

struct TestServer {
    addr: SocketAddr,
    app: Arc<App>,
    clock: Arc<FakeClock>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), RunError>>>,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: u16,
    head: String,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

impl TestServer {
    async fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut argv = vec!["countersign-server", "--listen", "127.0.0.1:0"];
        argv.extend(["--database-url", &url]);
        argv.extend_from_slice(extra);
        let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().into_command() else {
            panic!("expected serve")
        };
        let clock = Arc::new(FakeClock::at(NOW));
        let server = Server::bind(args, clock.clone()).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr, app) = (server.local_addr(), server.app().clone());
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            app,
            clock,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn principal_with_key(&self, name: &str, admin: bool) -> NewAccessKey {
        let store = self.app.store();
        store.create_principal(name, admin, 1).await.unwrap();
        store.create_key(name, 2, 1).await.unwrap()
    }

    async fn raw(&self, bytes: &[u8]) -> Reply {
        let mut socket = TcpStream::connect(self.addr).await.unwrap();
        socket.write_all(bytes).await.unwrap();
        let mut out = Vec::new();
        socket.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        Reply {
            status,
            head: head.to_owned(),
            body,
        }
    }

    /// Sends `method target` with `body`, signed with `key` at the server's clock.
    async fn signed(&self, key: &NewAccessKey, method: &str, target: &str, body: &str) -> Reply {
        let now = AmzDate::from_system_time(self.clock.now());
        let raw = signed_bytes(
            key,
            key.secret_access_key.expose(),
            method,
            target,
            body,
            now,
        );
        self.raw(&raw).await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

fn signer(key: &NewAccessKey, secret: &str, settings: SigningSettings) -> Signer {
    let credentials = Credentials::new(key.access_key_id.clone(), secret);
    Signer::new(credentials, "local", "countersign")
        .unwrap()
        .with_settings(settings)
}

fn signed_bytes(
    key: &NewAccessKey,
    secret: &str,
    method: &str,
    target: &str,
    body: &str,
    now: AmzDate,
) -> Vec<u8> {
    let request = Request::new(method, target).header("host", HOST);
    let signer = signer(key, secret, SigningSettings::default());
    let signed = signer
        .sign(&request, Payload::Bytes(body.as_bytes()), now)
        .unwrap();
    let headers: Vec<(String, String)> = signed
        .headers()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    http_bytes(method, target, &headers, body)
}

fn http_bytes(method: &str, target: &str, headers: &[(String, String)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} {target} HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

#[tokio::test]
async fn livez_and_readyz_answer_unsigned_with_a_request_id() {
    let server = TestServer::start(&[]).await;
    let reply = server
        .raw(b"GET /livez HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-request-id").map(str::len), Some(16));
    let reply = server
        .raw(b"GET /readyz HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn unsigned_requests_get_401_whatever_the_path() {
    let server = TestServer::start(&[]).await;
    for path in ["/v1/whoami", "/v1/principals", "/no/such/path"] {
        let raw = format!("GET {path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
        let reply = server.raw(raw.as_bytes()).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.code(), "MissingAuthenticationToken");
        assert_eq!(reply.header("www-authenticate"), Some("AWS4-HMAC-SHA256"));
        assert!(reply.header("x-request-id").is_some());
        assert_eq!(
            reply.body["error"]["request_id"].as_str(),
            reply.header("x-request-id")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_authorization_is_400() {
    let server = TestServer::start(&[]).await;
    let reply = server
        .raw(b"GET /v1/whoami HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-amz-date: 20231114T221320Z\r\nauthorization: AWS4-HMAC-SHA256 Credential=\r\n\r\n")
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        ["AuthorizationHeaderMalformed", "IncompleteSignature"].contains(&reply.code()),
        "{}",
        reply.body
    );
    server.stop().await;
}

#[tokio::test]
async fn signed_whoami_names_the_principal() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    let reply = server.signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["principal"], "alice");
    assert_eq!(reply.body["access_key_id"], key.access_key_id.as_str());
    assert_eq!(reply.body["auth"], "header");
    server.stop().await;
}

#[tokio::test]
async fn presigned_whoami_is_accepted_and_expires() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    let now = AmzDate::from_system_time(server.clock.now());
    let request = Request::new("GET", "/v1/whoami").header("host", HOST);
    let signer = signer(
        &key,
        key.secret_access_key.expose(),
        SigningSettings::default(),
    );
    let presigned = signer
        .presign(&request, Payload::Bytes(b""), now, Duration::from_secs(60))
        .unwrap();
    let target = format!("/v1/whoami?{}", presigned.query());
    let raw = http_bytes("GET", &target, &[], "");
    let reply = server.raw(&raw).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["auth"], "query");
    server.clock.advance(Duration::from_secs(61));
    let reply = server.raw(&raw).await;
    assert_eq!((reply.status, reply.code()), (401, "RequestExpired"));
    server.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_a_mismatch_with_the_canonical_request() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    let now = AmzDate::from_system_time(server.clock.now());
    let raw = signed_bytes(&key, "not-the-secret", "GET", "/v1/whoami", "", now);
    let reply = server.raw(&raw).await;
    assert_eq!((reply.status, reply.code()), (401, "SignatureDoesNotMatch"));
    let creq = reply.body["error"]["canonical_request"].as_str().unwrap();
    assert!(creq.starts_with("GET\n/v1/whoami\n"), "{creq}");
    assert!(reply.body["error"]["string_to_sign"].is_string());
    assert!(
        !reply
            .body
            .to_string()
            .contains(key.secret_access_key.expose())
    );
    server.stop().await;
}

#[tokio::test]
async fn no_debug_errors_hides_the_canonical_request() {
    let server = TestServer::start(&["--no-debug-errors"]).await;
    let key = server.principal_with_key("alice", false).await;
    let now = AmzDate::from_system_time(server.clock.now());
    let raw = signed_bytes(&key, "not-the-secret", "GET", "/v1/whoami", "", now);
    let reply = server.raw(&raw).await;
    assert_eq!(reply.code(), "SignatureDoesNotMatch");
    assert!(reply.body["error"].get("canonical_request").is_none());
    server.stop().await;
}

#[tokio::test]
async fn unknown_key_is_invalid_access_key_id() {
    let server = TestServer::start(&[]).await;
    let mut key = server.principal_with_key("alice", false).await;
    key.access_key_id = "AKCSZZZZZZZZZZZZZZZZ".into();
    let reply = server.signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!((reply.status, reply.code()), (401, "InvalidAccessKeyId"));
    server.stop().await;
}

#[tokio::test]
async fn sixteen_minutes_of_skew_either_way_is_refused() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    for offset in [-16 * 60_i64, 16 * 60] {
        let when = NOW.saturating_add_signed(offset);
        let now = AmzDate::from_unix(when).unwrap();
        let raw = signed_bytes(
            &key,
            key.secret_access_key.expose(),
            "GET",
            "/v1/whoami",
            "",
            now,
        );
        let reply = server.raw(&raw).await;
        assert_eq!((reply.status, reply.code()), (401, "RequestTimeTooSkewed"));
        assert_eq!(reply.body["error"]["server_time"], "20231114T221320Z");
        assert_eq!(reply.body["error"]["max_skew_seconds"], 900);
    }
    server.stop().await;
}

#[tokio::test]
async fn tampered_body_with_declared_hash_is_400() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("root", true).await;
    let now = AmzDate::from_system_time(server.clock.now());
    let body = r#"{"name":"bob"}"#;
    let request = Request::new("POST", "/v1/principals").header("host", HOST);
    let settings = SigningSettings::default().content_sha256(ContentSha256Header::Send);
    let signer = signer(&key, key.secret_access_key.expose(), settings);
    let signed = signer
        .sign(&request, Payload::Bytes(body.as_bytes()), now)
        .unwrap();
    let headers: Vec<(String, String)> = signed
        .headers()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    let reply = server
        .raw(&http_bytes(
            "POST",
            "/v1/principals",
            &headers,
            r#"{"name":"eve"}"#,
        ))
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "XAmzContentSHA256Mismatch")
    );
    let reply = server
        .raw(&http_bytes("POST", "/v1/principals", &headers, body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    server.stop().await;
}

#[tokio::test]
async fn tampered_body_without_declared_hash_is_a_mismatch() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("root", true).await;
    let now = AmzDate::from_system_time(server.clock.now());
    let mut raw = signed_bytes(
        &key,
        key.secret_access_key.expose(),
        "POST",
        "/v1/principals",
        r#"{"name":"bob"}"#,
        now,
    );
    let len = raw.len();
    raw[len - 3] = b'x';
    let reply = server.raw(&raw).await;
    assert_eq!((reply.status, reply.code()), (401, "SignatureDoesNotMatch"));
    server.stop().await;
}

#[tokio::test]
async fn disabled_key_is_401_and_disabled_principal_is_403() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    let store = server.app.store();
    store
        .set_key_status(&key.access_key_id, KeyStatus::Inactive)
        .await
        .unwrap();
    server.app.cache().invalidate(&key.access_key_id);
    let reply = server.signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!((reply.status, reply.code()), (401, "InvalidAccessKeyId"));

    store
        .set_key_status(&key.access_key_id, KeyStatus::Active)
        .await
        .unwrap();
    store.set_principal_enabled("alice", false).await.unwrap();
    server.app.cache().invalidate(&key.access_key_id);
    let reply = server.signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!((reply.status, reply.code()), (403, "AccessDenied"));
    server.stop().await;
}

#[tokio::test]
async fn a_disable_in_the_database_takes_effect_after_the_ttl() {
    let server = TestServer::start(&["--key-cache-ttl", "30s"]).await;
    let key = server.principal_with_key("alice", false).await;
    assert_eq!(
        server.signed(&key, "GET", "/v1/whoami", "").await.status,
        200
    );
    server
        .app
        .store()
        .set_key_status(&key.access_key_id, KeyStatus::Inactive)
        .await
        .unwrap();
    assert_eq!(
        server.signed(&key, "GET", "/v1/whoami", "").await.status,
        200
    );
    server.clock.advance(Duration::from_secs(30));
    let reply = server.signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!(reply.code(), "InvalidAccessKeyId");
    server.stop().await;
}

#[tokio::test]
async fn routing_after_authentication() {
    let server = TestServer::start(&[]).await;
    let user = server.principal_with_key("alice", false).await;
    let reply = server.signed(&user, "GET", "/v1/nothing", "").await;
    assert_eq!((reply.status, reply.code()), (404, "NotFound"));
    let reply = server.signed(&user, "DELETE", "/v1/whoami", "").await;
    assert_eq!((reply.status, reply.code()), (405, "MethodNotAllowed"));
    assert_eq!(reply.header("allow"), Some("GET"));
    let reply = server.signed(&user, "GET", "/v1/principals", "").await;
    assert_eq!((reply.status, reply.code()), (403, "AccessDenied"));
    server.stop().await;
}

#[tokio::test]
async fn admin_api_round_trip() {
    let server = TestServer::start(&[]).await;
    let root = server.principal_with_key("root", true).await;
    let reply = server
        .signed(
            &root,
            "POST",
            "/v1/principals",
            r#"{"name":"bob","admin":false}"#,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["name"], "bob");
    let reply = server
        .signed(&root, "POST", "/v1/principals", r#"{"name":"bob"}"#)
        .await;
    assert_eq!((reply.status, reply.code()), (409, "Conflict"));

    let reply = server
        .signed(&root, "POST", "/v1/principals/bob/keys", "")
        .await;
    assert_eq!(reply.status, 201);
    let id = reply.body["access_key_id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.body["secret_access_key"].as_str().map(str::len),
        Some(40)
    );
    assert_eq!(
        server
            .signed(&root, "POST", "/v1/principals/bob/keys", "")
            .await
            .status,
        201
    );
    let reply = server
        .signed(&root, "POST", "/v1/principals/bob/keys", "")
        .await;
    assert_eq!((reply.status, reply.code()), (409, "Conflict"));

    let reply = server
        .signed(&root, "GET", "/v1/principals/bob/keys", "")
        .await;
    assert_eq!(reply.body["keys"].as_array().map(Vec::len), Some(2));
    assert!(!reply.body.to_string().contains("secret"));

    let path = format!("/v1/keys/{id}");
    let reply = server
        .signed(&root, "PATCH", &path, r#"{"status":"Inactive"}"#)
        .await;
    assert_eq!(reply.body["status"], "Inactive");
    let reply = server.signed(&root, "DELETE", &path, "").await;
    assert_eq!(reply.status, 204);
    let reply = server.signed(&root, "DELETE", &path, "").await;
    assert_eq!(reply.status, 404);

    let reply = server
        .signed(&root, "PATCH", "/v1/principals/bob", r#"{"enabled":false}"#)
        .await;
    assert_eq!(reply.body["enabled"], false);
    let reply = server.signed(&root, "GET", "/v1/principals", "").await;
    let names: Vec<&str> = reply.body["principals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["bob", "root"]);
    let reply = server
        .signed(&root, "PATCH", "/v1/principals/bob", "{")
        .await;
    assert_eq!((reply.status, reply.code()), (400, "InvalidRequest"));
    server.stop().await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server = TestServer::start(&["--max-body", "16"]).await;
    let root = server.principal_with_key("root", true).await;
    let body = r#"{"name":"a-rather-long-principal-name"}"#;
    let reply = server.signed(&root, "POST", "/v1/principals", body).await;
    assert_eq!((reply.status, reply.code()), (413, "EntityTooLarge"));
    server.stop().await;
}

#[tokio::test]
async fn successful_use_is_recorded_off_the_hot_path() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    assert_eq!(
        server.signed(&key, "GET", "/v1/whoami", "").await.status,
        200
    );
    let keys = server.app.store().list_keys(Some("alice")).await.unwrap();
    assert_eq!(
        keys[0].last_used_at, None,
        "written by the flusher, not the request"
    );
    let app = server.app.clone();
    server.stop().await;
    let keys = app.store().list_keys(Some("alice")).await;
    // The store is closed on shutdown only when no one else holds it; we still do.
    assert_eq!(
        keys.unwrap()[0].last_used_at,
        Some(i64::try_from(NOW).unwrap())
    );
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// Installs (once per test process) a global subscriber that captures every log line.
///
/// Global, not `set_default`: a scoped subscriber misses events whose callsite interest
/// was cached by a concurrently running test (tokio-rs/tracing callsite cache).
fn captured_logs() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

#[tokio::test]
async fn logs_and_error_bodies_never_hold_a_secret_signature_or_token() {
    let captured = captured_logs();
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    let secret = key.secret_access_key.expose().to_owned();
    let now = AmzDate::from_system_time(server.clock.now());
    let token = "LEAK-MARKER-TOKEN-7f3a";
    let request = Request::new("GET", "/v1/whoami").header("host", HOST);
    let credentials =
        Credentials::new(key.access_key_id.clone(), secret.as_str()).with_session_token(token);
    let signer = Signer::new(credentials, "local", "countersign").unwrap();
    let presigned = signer
        .presign(&request, Payload::Bytes(b""), now, Duration::from_secs(60))
        .unwrap();
    let signature = String::from_utf8(presigned.signature().to_hex().to_vec()).unwrap();
    let target = format!("/v1/whoami?{}", presigned.query());
    let ok = server.raw(&http_bytes("GET", &target, &[], "")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let wrong = signed_bytes(&key, "LEAK-MARKER-WRONG", "GET", "/v1/whoami", "", now);
    let bodies = [
        ok.body.to_string(),
        server.raw(&wrong).await.body.to_string(),
    ];
    server.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("countersign::access"),
        "no access log captured"
    );
    assert!(logs.contains("principal=\"alice\""), "{logs}");
    for needle in [secret.as_str(), signature.as_str(), token, "LEAK-MARKER"] {
        assert!(!logs.contains(needle), "log leaks `{needle}`");
        assert!(!bodies.iter().any(|b| b.contains(needle) && needle != token));
    }
}

#[tokio::test]
async fn unsigned_amz_header_is_403_with_the_list() {
    let server = TestServer::start(&[]).await;
    let key = server.principal_with_key("alice", false).await;
    let now = AmzDate::from_system_time(server.clock.now());
    let mut raw = signed_bytes(
        &key,
        key.secret_access_key.expose(),
        "GET",
        "/v1/whoami",
        "",
        now,
    );
    let at = raw.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    raw.splice(at..at, b"X-Amz-Meta-Color: red\r\n".iter().copied());
    let reply = server.raw(&raw).await;
    assert_eq!((reply.status, reply.code()), (403, "AccessDenied"));
    assert_eq!(
        reply.body["error"]["headers_not_signed"][0],
        "x-amz-meta-color"
    );
    server.stop().await;
}

fn unsigned_payload_request(key: &NewAccessKey, now: AmzDate) -> Vec<u8> {
    let request = Request::new("GET", "/v1/whoami").header("host", HOST);
    let settings = SigningSettings::default().content_sha256(ContentSha256Header::Send);
    let signer = signer(key, key.secret_access_key.expose(), settings);
    let signed = signer.sign(&request, Payload::Unsigned, now).unwrap();
    let headers: Vec<(String, String)> = signed
        .headers()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    http_bytes("GET", "/v1/whoami", &headers, "")
}

#[tokio::test]
async fn unsigned_payload_follows_require_signed_payload() {
    let lenient = TestServer::start(&[]).await;
    let key = lenient.principal_with_key("alice", false).await;
    let now = AmzDate::from_system_time(lenient.clock.now());
    let reply = lenient.raw(&unsigned_payload_request(&key, now)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    lenient.stop().await;

    let strict = TestServer::start(&["--require-signed-payload"]).await;
    let key = strict.principal_with_key("alice", false).await;
    let reply = strict.raw(&unsigned_payload_request(&key, now)).await;
    assert_eq!((reply.status, reply.code()), (403, "AccessDenied"));
    strict.stop().await;
}

#[tokio::test]
async fn unreadable_tls_files_fail_at_startup_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let argv = [
        "countersign-server",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ];
    let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().into_command() else {
        panic!("expected serve")
    };
    let Err(err) = Server::bind(args, Arc::new(FakeClock::at(NOW))).await else {
        panic!("bind should fail")
    };
    assert!(
        matches!(&err, RunError::Tls(text) if text.contains("/nonexistent/cert.pem")),
        "{err}"
    );
}

#[tokio::test]
async fn two_servers_on_one_postgres_share_keys_and_see_a_disable_within_the_ttl() {
    let Ok(url) = std::env::var("COUNTERSIGN_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED two_servers_on_one_postgres…: set COUNTERSIGN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test to run it"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, [7u8; 32]).unwrap();
    let key_file = key_file.display().to_string();
    let clock = Arc::new(FakeClock::at(NOW));
    let mut servers = Vec::new();
    for _ in 0..2 {
        let argv = [
            "countersign-server",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--master-key-file",
            &key_file,
            "--key-cache-ttl",
            "10s",
        ];
        let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().into_command() else {
            panic!("expected serve")
        };
        let server = Server::bind(args, clock.clone())
            .await
            .unwrap_or_else(|err| {
                panic!("COUNTERSIGN_TEST_POSTGRES_URL is set but unusable: {err}")
            });
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr, app) = (server.local_addr(), server.app().clone());
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        servers.push(TestServer {
            addr,
            app,
            clock: clock.clone(),
            stop: Some(stop),
            task: Some(task),
            _dir: tempfile::tempdir().unwrap(),
        });
    }
    let name = format!("pg-{}", &crate::store::keys::new_key_id().unwrap()[4..12]).to_lowercase();
    let key = servers[0].principal_with_key(&name, false).await;
    for server in &servers {
        assert_eq!(
            server.signed(&key, "GET", "/v1/whoami", "").await.status,
            200
        );
    }
    servers[0]
        .app
        .store()
        .set_key_status(&key.access_key_id, KeyStatus::Inactive)
        .await
        .unwrap();
    servers[0].app.cache().invalidate(&key.access_key_id);
    let reply = servers[0].signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!(reply.code(), "InvalidAccessKeyId");
    assert_eq!(
        servers[1]
            .signed(&key, "GET", "/v1/whoami", "")
            .await
            .status,
        200
    );
    clock.advance(Duration::from_secs(10));
    let reply = servers[1].signed(&key, "GET", "/v1/whoami", "").await;
    assert_eq!(reply.code(), "InvalidAccessKeyId");
    for server in servers {
        server.stop().await;
    }
}

/// Logs in through the in-process server: returns the login response body.
/// Creates the principal `alice` with `password` (what `login_in_process` logs in as);
/// returns the stored hash.
async fn alice_with_password(server: &TestServer, password: &str) -> String {
    let store = server.app.store();
    store.create_principal("alice", false, 1).await.unwrap();
    let hash = server
        .app
        .passwords()
        .hash(zeroize::Zeroizing::new(password.to_owned()))
        .await
        .unwrap();
    store.set_password("alice", &hash, 1).await.unwrap();
    hash
}

async fn login_in_process(server: &TestServer, password: &str) -> Reply {
    let body = serde_json::json!({"principal": "alice", "password": password}).to_string();
    server
        .raw(&http_bytes("POST", "/v1/auth/login", &[], &body))
        .await
}

fn session_whoami(session: &Value, now: AmzDate) -> Vec<u8> {
    let text = |k: &str| session[k].as_str().unwrap().to_owned();
    let credentials = Credentials::new(text("access_key_id"), text("secret_access_key"))
        .with_session_token(text("session_token"));
    let signer = Signer::new(credentials, "local", "countersign").unwrap();
    let request = Request::new("GET", "/v1/whoami").header("host", HOST);
    let signed = signer.sign(&request, Payload::Bytes(b""), now).unwrap();
    let headers: Vec<(String, String)> = signed
        .headers()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    http_bytes("GET", "/v1/whoami", &headers, "")
}

/// Issue #5: session credentials expire on the server's clock, and no password, secret,
/// session token or refresh token reaches a log line or an error body.
#[tokio::test]
async fn sessions_expire_on_the_clock_and_never_leak_their_secrets() {
    let captured = captured_logs();
    let server = TestServer::start(&["--session-ttl", "10m", "--refresh-grace", "0s"]).await;
    let password = "LEAK-MARKER-PASSWORD-51d2";
    let hash = alice_with_password(&server, password).await;

    let wrong = login_in_process(&server, "LEAK-MARKER-WRONG-PASSWORD").await;
    assert_eq!(wrong.code(), "InvalidCredentials");
    let login = login_in_process(&server, password).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let now = AmzDate::from_system_time(server.clock.now());
    let ok = server.raw(&session_whoami(&login.body, now)).await;
    assert_eq!(
        (ok.status, ok.body["auth"].as_str()),
        (200, Some("session"))
    );

    server.clock.advance(Duration::from_secs(599));
    let now = AmzDate::from_system_time(server.clock.now());
    assert_eq!(
        server.raw(&session_whoami(&login.body, now)).await.status,
        200
    );
    server.clock.advance(Duration::from_secs(1));
    let now = AmzDate::from_system_time(server.clock.now());
    let expired = server.raw(&session_whoami(&login.body, now)).await;
    assert_eq!(expired.code(), "ExpiredToken");
    let refresh_token = login.body["refresh_token"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "refresh_token": refresh_token }).to_string();
    let refreshed = server
        .raw(&http_bytes("POST", "/v1/auth/refresh", &[], &body))
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let bodies = [
        wrong.body.to_string(),
        expired.body.to_string(),
        server
            .raw(&http_bytes("POST", "/v1/auth/refresh", &[], &body))
            .await
            .body
            .to_string(),
    ];
    server.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/v1/auth/login"), "no access log captured");
    let secrets = [
        password.to_owned(),
        "LEAK-MARKER-WRONG-PASSWORD".to_owned(),
        hash,
        refresh_token,
        login.body["secret_access_key"].as_str().unwrap().to_owned(),
        login.body["session_token"].as_str().unwrap().to_owned(),
        refreshed.body["refresh_token"].as_str().unwrap().to_owned(),
        refreshed.body["secret_access_key"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line leaks `{secret}`"
        );
        assert!(
            !bodies.iter().any(|b| b.contains(secret.as_str())),
            "an error body leaks `{secret}`"
        );
    }
}

#[test]
fn request_ids_are_distinct_hex() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        let id = super::new_request_id();
        let text = id.as_str();
        assert_eq!(text.len(), 16);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(seen.insert(text.to_owned()), "repeated id {text}");
    }
}

/// A login lasts at most `--session-max-lifetime`, however often it is refreshed: the last
/// refresh tokens expire at its end, and then refreshing says to log in again.
#[tokio::test]
async fn refreshing_never_takes_a_login_past_its_max_lifetime() {
    let server =
        TestServer::start(&["--refresh-ttl", "1h", "--session-max-lifetime", "150m"]).await;
    let password = "a-password-for-the-lifetime-test";
    alice_with_password(&server, password).await;
    let login = login_in_process(&server, password).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let expiration = |body: &Value| body["refresh_expiration"].as_str().unwrap().to_owned();
    let at = |minutes: u64| crate::sessions::rfc3339(i64::try_from(NOW + minutes * 60).unwrap());
    assert_eq!(expiration(&login.body), at(60));
    let mut token = login.body["refresh_token"].as_str().unwrap().to_owned();
    // Refreshed every 50 minutes: 60 minutes each time, until the end at 150 caps it.
    for (minute, expires) in [(50, 110), (100, 150), (149, 150)] {
        server.clock.advance(Duration::from_secs(
            60 * (minute - elapsed_minutes(&server)),
        ));
        let body = serde_json::json!({ "refresh_token": token }).to_string();
        let refreshed = server
            .raw(&http_bytes("POST", "/v1/auth/refresh", &[], &body))
            .await;
        assert_eq!(refreshed.status, 200, "at {minute} min: {}", refreshed.body);
        assert_eq!(expiration(&refreshed.body), at(expires), "at {minute} min");
        token = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    }
    server.clock.advance(Duration::from_secs(60));
    let body = serde_json::json!({ "refresh_token": token }).to_string();
    let ended = server
        .raw(&http_bytes("POST", "/v1/auth/refresh", &[], &body))
        .await;
    assert_eq!(ended.status, 401, "{}", ended.body);
    assert_eq!(ended.code(), "ExpiredToken");
    assert!(
        ended.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--session-max-lifetime"),
        "{}",
        ended.body
    );
}

fn elapsed_minutes(server: &TestServer) -> u64 {
    let since = server
        .clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (since.as_secs() - NOW) / 60
}
