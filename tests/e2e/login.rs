//! The client side of sessions (issue #5): `countersign login` / `logout`, a session profile
//! that `whoami` refreshes and writes back, and the SDK's `SessionCredentials` under
//! concurrent use, against the real server binary with a short `--session-ttl`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use countersign_client::{
    Call, Client, ClientConfig, ClientError, SessionConfig, SessionCredentials,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::support::bin;
use crate::support::server::{RawRequest, Response, Server, Store, TempDir};

const PASSWORD: &str = "correct horse battery";

/// A server over a fresh SQLite store where `alice` has a password.
fn setup(extra: &[&str]) -> (TempDir, Server) {
    let dir = TempDir::new("login");
    let store = Store::sqlite(dir.path());
    store.principal_with_key("alice", false);
    store.set_password("alice", PASSWORD);
    let server = Server::start(&store, extra);
    (dir, server)
}

/// Runs `countersign` with `config` as its credentials file and `stdin` piped in.
fn cli(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin("countersign"))
        .args(args)
        .env("COUNTERSIGN_CONFIG_FILE", config)
        .env_remove("COUNTERSIGN_ACCESS_KEY_ID")
        .env_remove("COUNTERSIGN_SECRET_ACCESS_KEY")
        .env_remove("COUNTERSIGN_SESSION_TOKEN")
        .env_remove("COUNTERSIGN_PROFILE")
        .env_remove("COUNTERSIGN_ENDPOINT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run countersign");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("countersign output")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn login(server: &Server, config: &Path) -> Output {
    let endpoint = format!("http://{}", server.addr);
    let args = [
        "login",
        "--endpoint",
        &endpoint,
        "--principal",
        "alice",
        "--password-stdin",
    ];
    cli(config, &args, &format!("{PASSWORD}\n"))
}

/// The `[default]` section of the credentials file.
fn profile(config: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(config).expect("credentials file");
    let mut values = BTreeMap::new();
    let mut in_default = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_default = line.trim() == "[default]";
        } else if let (true, Some((k, v))) = (in_default, line.split_once('=')) {
            values.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    values
}

fn whoami(config: &Path) -> Output {
    cli(config, &["whoami"], "")
}

fn refresh(server: &Server, token: &str) -> Response {
    server.post_json("/v1/auth/refresh", &json!({ "refresh_token": token }))
}

/// Waits until session credentials issued now have expired (`--session-ttl 2s`).
fn wait_past_expiry() {
    std::thread::sleep(Duration::from_millis(2300));
}

#[test]
fn login_whoami_refresh_and_logout_with_a_profile() {
    let (dir, server) = setup(&["--session-ttl", "2s", "--refresh-grace", "0s"]);
    let config = dir.path().join("credentials");

    let out = login(&server, &config);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("logged in as `alice`"),
        "{}",
        text(&out.stdout)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first = profile(&config);
    for key in [
        "access_key_id",
        "secret_access_key",
        "session_token",
        "expiration",
        "refresh_token",
        "refresh_expiration",
        "endpoint",
    ] {
        assert!(
            first.get(key).is_some_and(|v| !v.is_empty()),
            "no {key}: {first:?}"
        );
    }
    assert!(first["access_key_id"].starts_with("ASCS"), "{first:?}");
    assert!(!text(&out.stdout).contains(&first["secret_access_key"]));
    assert!(!text(&out.stdout).contains(&first["refresh_token"]));

    let out = whoami(&config);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["principal"].as_str(), v["auth"].as_str()),
        (Some("alice"), Some("session"))
    );
    assert_eq!(v["access_key_id"], first["access_key_id"].as_str());
    assert_eq!(
        profile(&config),
        first,
        "no refresh while the credentials are fresh"
    );

    // Expired: whoami refreshes first, and writes the rotated tokens back.
    wait_past_expiry();
    let out = whoami(&config);
    assert_exit(&out, 0);
    let second = profile(&config);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["access_key_id"], second["access_key_id"].as_str());
    assert_ne!(second["access_key_id"], first["access_key_id"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["session_token"], first["session_token"]);
    assert_eq!(second["endpoint"], first["endpoint"]);

    // Logout revokes the family on the server and removes the session from the profile.
    let before_logout = std::fs::read_to_string(&config).unwrap();
    let out = cli(&config, &["logout"], "");
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("logged out"),
        "{}",
        text(&out.stdout)
    );
    let after = profile(&config);
    assert_eq!(after.keys().collect::<Vec<_>>(), ["endpoint"], "{after:?}");
    let out = whoami(&config);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("no credentials"),
        "{}",
        text(&out.stderr)
    );

    // A copy of the session taken before the logout is refused by the server too.
    let copy = dir.path().join("copy");
    std::fs::write(&copy, before_logout).unwrap();
    let out = whoami(&copy);
    assert_exit(&out, 4);
    assert!(
        text(&out.stderr).contains("InvalidToken"),
        "{}",
        text(&out.stderr)
    );
    let r = refresh(&server, &second["refresh_token"]);
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidToken"));
}

#[test]
fn the_refresh_token_replaced_in_the_profile_is_spent() {
    let (dir, server) = setup(&["--session-ttl", "2s", "--refresh-grace", "0s"]);
    let config = dir.path().join("credentials");
    assert_exit(&login(&server, &config), 0);
    let first = profile(&config);
    wait_past_expiry();
    assert_exit(&whoami(&config), 0);
    assert_ne!(profile(&config)["refresh_token"], first["refresh_token"]);

    // Presenting the old token again is a replay: refused, and the whole session revoked
    // (so the profile's newer token stops working as well).
    let r = refresh(&server, &first["refresh_token"]);
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidToken"));
    wait_past_expiry();
    let out = whoami(&config);
    assert_exit(&out, 4);
    let err = text(&out.stderr);
    assert!(
        err.contains("InvalidToken")
            && err.contains("log in again")
            && err.contains("countersign login"),
        "{err}"
    );
    // logout of an ended session still cleans the profile.
    let out = cli(&config, &["logout"], "");
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("already ended"),
        "{}",
        text(&out.stdout)
    );
    assert!(!profile(&config).contains_key("refresh_token"));
}

#[test]
fn a_wrong_password_is_exit_4_with_invalid_credentials_and_writes_nothing() {
    let (dir, server) = setup(&[]);
    let config = dir.path().join("credentials");
    let endpoint = format!("http://{}", server.addr);
    let args = [
        "login",
        "--endpoint",
        &endpoint,
        "--principal",
        "alice",
        "--password-stdin",
    ];
    let out = cli(&config, &args, "not the password\n");
    assert_exit(&out, 4);
    let err = text(&out.stderr);
    assert!(err.contains("401 InvalidCredentials"), "{err}");
    assert!(!err.contains("not the password"), "{err}");
    assert!(!config.exists(), "nothing is written on a failed login");

    // A profile with a long-term key: a warning that login would replace it; kept on failure.
    let keyed = "[default]\naccess_key_id = AKKEPT\nsecret_access_key = s\n";
    std::fs::write(&config, keyed).unwrap();
    let out = cli(&config, &args, "not the password\n");
    assert_exit(&out, 4);
    assert!(
        text(&out.stderr).contains("holds access key AKKEPT"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), keyed);
    std::fs::remove_file(&config).unwrap();

    let unknown = [
        "login",
        "--endpoint",
        &endpoint,
        "--principal",
        "mallory",
        "--password-stdin",
    ];
    let out = cli(&config, &unknown, &format!("{PASSWORD}\n"));
    assert_exit(&out, 4);
    assert!(text(&out.stderr).contains("401 InvalidCredentials"));
}

#[test]
fn without_a_terminal_the_password_comes_from_stdin_only() {
    let (dir, server) = setup(&[]);
    let config = dir.path().join("credentials");
    let endpoint = format!("http://{}", server.addr);
    let out = cli(
        &config,
        &["login", "--endpoint", &endpoint, "--principal", "alice"],
        "",
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("--password-stdin"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(
        &config,
        &[
            "login",
            "--endpoint",
            &endpoint,
            "--principal",
            "alice",
            "--password-stdin",
        ],
        "",
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("password is empty"),
        "{}",
        text(&out.stderr)
    );
    // A password with spaces and no trailing newline is read whole.
    let args = [
        "login",
        "--endpoint",
        &endpoint,
        "--principal",
        "alice",
        "--password-stdin",
    ];
    assert_exit(&cli(&config, &args, PASSWORD), 0);
    assert_exit(&whoami(&config), 0);
}

/// `countersign_requests_total{route="auth",status="200"}`: successful logins and refreshes.
fn auth_successes(server: &Server) -> u64 {
    let r = server.send(&RawRequest {
        method: "GET".into(),
        target: "/metrics".into(),
        headers: vec![("Host".into(), server.host())],
        body: vec![],
    });
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body).into_owned();
    body.lines()
        .find_map(|l| l.strip_prefix("countersign_requests_total{route=\"auth\",status=\"200\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn the_sdk_provider_refreshes_under_50_concurrent_requests_with_exactly_one_refresh_call() {
    let (_dir, server) = setup(&["--session-ttl", "3s", "--refresh-grace", "0s"]);
    let endpoint = format!("http://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let seen = runtime.block_on(async {
        let config = ClientConfig::new("local", "countersign");
        let mut session = SessionConfig::new(&endpoint, config.clone());
        session.refresh_margin = Duration::from_millis(500);
        let provider = SessionCredentials::login(session, "alice", PASSWORD)
            .await
            .unwrap();
        let client = Arc::new(Client::new(config, provider.clone()).unwrap());
        // 50 requests, one every 30 ms from 0.8 s before expiry (0.3 s before the refresh is
        // due) to 0.7 s after it. The expiration is whole seconds, as the server checks it.
        let expiration = provider.tokens().await.expiration;
        let start = expiration - Duration::from_millis(800);
        let wait = start.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::sleep(wait).await;
        let tasks: Vec<_> = (0..50u64)
            .map(|i| {
                let client = client.clone();
                let url = format!("{endpoint}/v1/whoami");
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(30 * i)).await;
                    let reply = client.send(Call::new("GET", &url)?).await?;
                    let status = reply.response.status().as_u16();
                    let body = reply.response.into_body().collect().await;
                    let body = body.map(|b| b.to_bytes()).unwrap_or_default();
                    Ok::<_, ClientError>((status, body))
                })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap().unwrap();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["auth"], "session");
            seen.push(v["access_key_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(provider.refreshes(), 1);
        seen
    });
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        2,
        "the requests span the refresh: old credentials, then new ones: {seen:?}"
    );
    assert_eq!(
        auth_successes(&server),
        2,
        "one login and exactly one refresh on the server"
    );
}

#[test]
fn the_sdk_provider_starts_from_stored_tokens_and_reports_a_spent_refresh_token() {
    let (_dir, server) = setup(&["--session-ttl", "2s", "--refresh-grace", "0s"]);
    let endpoint = format!("http://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ClientConfig::new("local", "countersign");
        let first = SessionCredentials::login(
            SessionConfig::new(&endpoint, config.clone()),
            "alice",
            PASSWORD,
        )
        .await
        .unwrap();
        let tokens = first.tokens().await;
        let second =
            SessionCredentials::from_tokens(SessionConfig::new(&endpoint, config), tokens).unwrap();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let renewed = second.current().await.unwrap();
        assert_ne!(
            renewed.access_key_id(),
            first.tokens().await.credentials.access_key_id()
        );
        // `first` still holds the spent refresh token: a replay, refused with advice.
        let err = first.current().await.unwrap_err();
        assert!(err.to_string().contains("log in again"), "{err}");
    });
}

#[test]
fn a_request_answered_expired_token_is_refreshed_and_sent_again_once() {
    let (_dir, server) = setup(&["--session-ttl", "2s", "--refresh-grace", "0s"]);
    let endpoint = format!("http://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ClientConfig::new("local", "countersign");
        let session = SessionConfig::new(&endpoint, config.clone());
        let login = SessionCredentials::login(session.clone(), "alice", PASSWORD)
            .await
            .unwrap();
        // The client believes the credentials last a day (a wrong clock, a stale store): only
        // the server's 401 ExpiredToken can tell it.
        let mut tokens = login.tokens().await;
        let real_expiration = tokens.expiration;
        tokens.expiration = SystemTime::now() + Duration::from_secs(86_400);
        let provider = SessionCredentials::from_tokens(session, tokens).unwrap();
        let client = Client::new(config, provider.clone()).unwrap();
        let wait = real_expiration
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(200)).await;
        let reply = client
            .send(Call::new("GET", &format!("{endpoint}/v1/whoami")).unwrap())
            .await
            .unwrap();
        assert_eq!(reply.response.status(), 200, "{:?}", reply.error);
        assert_eq!(provider.refreshes(), 1);
    });
    let r = server.send(&RawRequest {
        method: "GET".into(),
        target: "/metrics".into(),
        headers: vec![("Host".into(), server.host())],
        body: vec![],
    });
    let metrics = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        metrics.contains("countersign_verification_failures_total{code=\"ExpiredToken\"} 1"),
        "the first attempt was refused as expired: {metrics}"
    );
    assert_eq!(auth_successes(&server), 2, "one login and one refresh");
}

#[test]
fn request_refreshes_a_profile_session_and_writes_it_back() {
    let (dir, server) = setup(&["--session-ttl", "2s", "--refresh-grace", "0s"]);
    let config = dir.path().join("credentials");
    assert_exit(&login(&server, &config), 0);
    let first = profile(&config);
    // A stored expiration far in the future: the refresh comes from the server's ExpiredToken.
    let text = std::fs::read_to_string(&config).unwrap();
    let lied = text.replace(&first["expiration"], "2099-01-01T00:00:00Z");
    std::fs::write(&config, lied).unwrap();
    wait_past_expiry();
    let out = cli(&config, &["request", "GET", "/v1/whoami"], "");
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = profile(&config);
    assert_eq!(v["access_key_id"], second["access_key_id"].as_str());
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["expiration"], "2099-01-01T00:00:00Z");
    // And proactively, from the stored expiration, on the next expiry.
    wait_past_expiry();
    let out = cli(&config, &["request", "GET", "/v1/whoami"], "");
    assert_exit(&out, 0);
    assert_ne!(profile(&config)["refresh_token"], second["refresh_token"]);
}
