//! The provider against a small in-process auth server that counts refreshes.

use std::convert::Infallible;
use std::sync::Mutex as StdMutex;

use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;

/// What the fake server saw, and how long the sessions it issues last.
#[derive(Default)]
struct Fake {
    logins: AtomicU64,
    refreshes: AtomicU64,
    /// Refresh tokens already presented (a second presentation is refused, like a theft).
    spent: StdMutex<Vec<String>>,
    /// Seconds the issued credentials live.
    ttl: AtomicU64,
}

impl Fake {
    fn answer(&self, path: &str, body: &[u8]) -> (u16, String) {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let n = match path {
            "/v1/auth/login" if request["password"] == "pw" => {
                self.logins.fetch_add(1, Ordering::SeqCst)
            }
            "/v1/auth/login" => return error(401, "InvalidCredentials"),
            "/v1/auth/refresh" => {
                let token = request["refresh_token"].as_str().unwrap_or("").to_owned();
                let mut spent = self.spent.lock().unwrap();
                if spent.contains(&token) {
                    return error(401, "InvalidToken");
                }
                if token == "expired-refresh" {
                    return error(401, "ExpiredToken");
                }
                spent.push(token);
                1000 + self.refreshes.fetch_add(1, Ordering::SeqCst)
            }
            _ => return error(404, "NotFound"),
        };
        let expiration = SystemTime::now() + Duration::from_secs(self.ttl.load(Ordering::SeqCst));
        let body = json!({
            "access_key_id": format!("ASCS{n}"),
            "secret_access_key": format!("LEAK-MARKER-secret-{n}"),
            "session_token": format!("LEAK-MARKER-token-{n}"),
            "expiration": rfc3339(expiration),
            "refresh_token": format!("LEAK-MARKER-refresh-{n}"),
            "refresh_expiration": "2099-01-01T00:00:00Z",
        });
        (200, body.to_string())
    }
}

fn error(status: u16, code: &str) -> (u16, String) {
    let body = json!({"error": {"code": code, "message": "refused"}});
    (status, body.to_string())
}

/// Starts the fake server; returns it and its endpoint.
async fn fake(ttl: u64) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    fake.ttl.store(ttl, Ordering::SeqCst);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let shared = fake.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let fake = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let fake = fake.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let (status, text) = fake.answer(&path, &body);
                        let response = http::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .header("content-length", text.len())
                            .body(Full::new(Bytes::from(text)))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (fake, endpoint)
}

fn config(endpoint: &str) -> SessionConfig {
    SessionConfig::new(endpoint, ClientConfig::new("local", "countersign"))
}

#[tokio::test]
async fn login_gives_session_credentials_with_their_token() {
    let (fake, endpoint) = fake(900).await;
    let provider = SessionCredentials::login(config(&endpoint), "alice", "pw")
        .await
        .unwrap();
    let credentials = provider.current().await.unwrap();
    assert_eq!(credentials.access_key_id(), "ASCS0");
    assert_eq!(credentials.session_token(), Some("LEAK-MARKER-token-0"));
    assert_eq!(provider.refreshes(), 0);
    assert_eq!(fake.logins.load(Ordering::SeqCst), 1);
    let tokens = provider.tokens().await;
    assert_eq!(*tokens.refresh_token, "LEAK-MARKER-refresh-0");
    assert_eq!(
        tokens.refresh_expiration_text().as_deref(),
        Some("2099-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_with_the_servers_code() {
    let (_fake, endpoint) = fake(900).await;
    let err = SessionCredentials::login(config(&endpoint), "alice", "nope")
        .await
        .unwrap_err();
    let ClientError::Auth { status, code, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*status, code.as_str()), (401, "InvalidCredentials"));
    assert!(!err.to_string().contains("log in again"), "{err}");
}

#[tokio::test]
async fn fifty_concurrent_callers_past_expiry_cause_one_refresh_and_share_it() {
    let (fake, endpoint) = fake(900).await;
    let stale = SessionTokens::from_stored(
        Credentials::new("ASCSOLD", "old").with_session_token("old-token"),
        "2020-01-01T00:00:00Z",
        "first-refresh",
        None,
    )
    .unwrap();
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let provider = SessionCredentials::from_tokens(config(&endpoint), stale)
        .unwrap()
        .on_refresh(Box::new(move |t: &SessionTokens| {
            hook_seen.lock().unwrap().push((*t.refresh_token).clone());
        }));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.current().await.map(|c| c.access_key_id().to_owned()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), "ASCS1000");
    }
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(provider.refreshes(), 1);
    assert_eq!(*seen.lock().unwrap(), ["LEAK-MARKER-refresh-1000"]);
    assert_eq!(
        *fake.spent.lock().unwrap(),
        ["first-refresh"],
        "the stored refresh token was presented once"
    );
}

#[tokio::test]
async fn each_refresh_presents_the_rotated_token() {
    // Credentials that live 1 s are refreshed when half their life is left (margin capped).
    let (fake, endpoint) = fake(1).await;
    let provider = SessionCredentials::login(config(&endpoint), "alice", "pw")
        .await
        .unwrap();
    assert_eq!(provider.current().await.unwrap().access_key_id(), "ASCS0");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        provider.current().await.unwrap().access_key_id(),
        "ASCS1000"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        provider.current().await.unwrap().access_key_id(),
        "ASCS1001"
    );
    assert_eq!(
        *fake.spent.lock().unwrap(),
        ["LEAK-MARKER-refresh-0", "LEAK-MARKER-refresh-1000"]
    );
}

#[tokio::test]
async fn expired_token_refreshes_once_for_the_rejected_credentials_only() {
    let (fake, endpoint) = fake(900).await;
    let provider = SessionCredentials::login(config(&endpoint), "alice", "pw")
        .await
        .unwrap();
    assert!(provider.expired("ASCS0").await.unwrap());
    // A second caller rejected with the same old credentials reuses the refresh.
    assert!(provider.expired("ASCS0").await.unwrap());
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(
        provider.current().await.unwrap().access_key_id(),
        "ASCS1000"
    );
}

#[tokio::test]
async fn a_refused_refresh_says_to_log_in_again() {
    let (_fake, endpoint) = fake(900).await;
    let stale = SessionTokens::from_stored(
        Credentials::new("ASCSOLD", "old").with_session_token("t"),
        "2020-01-01T00:00:00Z",
        "expired-refresh",
        Some("2020-01-02T00:00:00Z"),
    )
    .unwrap();
    let provider = SessionCredentials::from_tokens(config(&endpoint), stale).unwrap();
    let err = provider.current().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Auth { code, .. } if code == "ExpiredToken"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("(the session has ended: log in again)"),
        "{err}"
    );
}

#[test]
fn refresh_is_due_within_the_margin() {
    let exp = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    let margin = Duration::from_secs(60);
    assert!(!refresh_due(exp, at(939), margin));
    assert!(refresh_due(exp, at(940), margin));
    assert!(refresh_due(exp, at(2000), margin));
}

#[test]
fn stored_times_must_be_rfc3339() {
    let creds = || Credentials::new("ASCS", "s");
    let err = SessionTokens::from_stored(creds(), "tomorrow", "r", None).unwrap_err();
    assert!(err.to_string().contains("`tomorrow`"), "{err}");
    let ok = SessionTokens::from_stored(creds(), "2026-11-29T05:45:00Z", "r", None).unwrap();
    assert_eq!(ok.expiration_text(), "2026-11-29T05:45:00Z");
}

#[tokio::test]
async fn debug_output_never_shows_secrets_or_tokens() {
    let (_fake, endpoint) = fake(900).await;
    let provider = SessionCredentials::login(config(&endpoint), "alice", "pw")
        .await
        .unwrap();
    let tokens = provider.tokens().await;
    let shown = [format!("{provider:?}"), format!("{tokens:?}")];
    assert!(
        !shown.iter().any(|s| s.contains("LEAK-MARKER")),
        "{shown:?}"
    );
    assert!(shown[1].contains("ASCS0"), "{shown:?}");
}
