//! Login, session credentials and refresh tokens (issue #5) against the real server binary:
//! passwords set with the offline command, requests signed with our SDK's `Credentials`
//! carrying the session token.

use std::time::{Duration, Instant, SystemTime};

use countersign::{AmzDate, Credentials, Payload, Request, Signer};
use serde_json::{Value, json};

use crate::support::server::{RawRequest, Response, Server, Store, TempDir};

const PASSWORD: &str = "correct horse battery";

/// Session credentials as login and refresh return them.
#[derive(Clone, Debug)]
struct Session {
    access_key_id: String,
    secret: String,
    token: String,
    refresh_token: String,
}

impl Session {
    fn from_response(r: &Response) -> Self {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        let text = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("no `{k}` in {v}"))
                .to_owned()
        };
        Self {
            access_key_id: text("access_key_id"),
            secret: text("secret_access_key"),
            token: text("session_token"),
            refresh_token: text("refresh_token"),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(&self.access_key_id, self.secret.as_str())
            .with_session_token(self.token.clone())
    }
}

fn now() -> AmzDate {
    AmzDate::from_system_time(SystemTime::now())
}

/// A server over a fresh SQLite store with `alice` (password, one long-term key).
fn setup(extra: &[&str]) -> (TempDir, Server, (String, String)) {
    let dir = TempDir::new("sessions");
    let store = Store::sqlite(dir.path());
    let key = store.principal_with_key("alice", false);
    store.set_password("alice", PASSWORD);
    let server = Server::start(&store, extra);
    (dir, server, key)
}

fn login(server: &Server, principal: &str, password: &str) -> Response {
    server.post_json(
        "/v1/auth/login",
        &json!({"principal": principal, "password": password}),
    )
}

fn refresh(server: &Server, refresh_token: &str) -> Response {
    server.post_json(
        "/v1/auth/refresh",
        &json!({ "refresh_token": refresh_token }),
    )
}

fn call(server: &Server, session: &Session, method: &str, target: &str) -> Response {
    let req = server.sign_with(session.credentials(), method, target, &[], b"", now());
    server.send(&req)
}

fn whoami(server: &Server, session: &Session) -> Response {
    call(server, session, "GET", "/v1/whoami")
}

fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn login_returns_credentials_and_failures_look_and_take_the_same() {
    let (_dir, server, _) = setup(&[
        "--login-max-failures",
        "100",
        "--login-max-failures-per-address",
        "100",
    ]);
    let r = login(&server, "alice", PASSWORD);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    for field in [
        "access_key_id",
        "secret_access_key",
        "session_token",
        "expiration",
        "refresh_token",
        "refresh_expiration",
    ] {
        assert!(v[field].is_string(), "`{field}` missing: {v}");
    }
    let session = Session::from_response(&r);
    assert!(session.access_key_id.starts_with("ASCS"), "{v}");
    assert_eq!(session.refresh_token.len(), 43, "256 bits in base64url");
    assert!(v["expiration"].as_str().unwrap().ends_with('Z'));

    let unknown = login(&server, "mallory", PASSWORD);
    let wrong = login(&server, "alice", "not the password");
    assert_error(&unknown, 401, "InvalidCredentials");
    assert_error(&wrong, 401, "InvalidCredentials");
    assert_eq!(
        unknown.json()["error"]["message"],
        wrong.json()["error"]["message"]
    );

    // Timing: both failures run one argon2id verification (the unknown name against a dummy
    // hash), so both take far longer than a request that hashes nothing, and about as long
    // as each other. The machine is shared, so samples interleave and medians are compared.
    let (mut unknown_times, mut wrong_times, mut baseline_times) = (vec![], vec![], vec![]);
    for i in 0..9 {
        let timed = |principal: &str, password: &str, into: &mut Vec<Duration>| {
            let started = Instant::now();
            assert_eq!(login(&server, principal, password).status, 401);
            into.push(started.elapsed());
        };
        if i % 2 == 0 {
            timed("mallory", PASSWORD, &mut unknown_times);
            timed("alice", "not the password", &mut wrong_times);
        } else {
            timed("alice", "not the password", &mut wrong_times);
            timed("mallory", PASSWORD, &mut unknown_times);
        }
        let started = Instant::now();
        let bad = server.post_json("/v1/auth/login", &json!({"principal": "alice"}));
        assert_error(&bad, 400, "InvalidRequest");
        baseline_times.push(started.elapsed());
    }
    let (unknown, wrong) = (median(unknown_times), median(wrong_times));
    let baseline = median(baseline_times);
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown principal {unknown:?} vs wrong password {wrong:?}: a timing oracle"
    );
    assert!(
        unknown > baseline * 3 && wrong > baseline * 3,
        "no password work? unknown {unknown:?}, wrong {wrong:?}, no-hash request {baseline:?}"
    );
}

#[test]
fn session_credentials_sign_header_and_presigned_calls() {
    let (_dir, server, key) = setup(&[]);
    let session = Session::from_response(&login(&server, "alice", PASSWORD));
    let r = whoami(&server, &session);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["principal"], "alice");
    assert_eq!(v["access_key_id"], session.access_key_id.as_str());
    assert_eq!(v["auth"], "session");

    let signer = Signer::new(session.credentials(), "local", "countersign").unwrap();
    let host = server.host();
    let view = Request::new("GET", "/v1/whoami").header("host", &host);
    let presigned = signer
        .presign(&view, Payload::Bytes(b""), now(), Duration::from_secs(60))
        .unwrap();
    assert!(presigned.query().contains("X-Amz-Security-Token="));
    let r = server.send(&RawRequest {
        method: "GET".into(),
        target: format!("/v1/whoami?{}", presigned.query()),
        headers: vec![("Host".into(), host)],
        body: vec![],
    });
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["auth"], "session");

    // A temporary id without its token, or signed with a wrong secret, is refused.
    let bare = (session.access_key_id.clone(), session.secret.clone());
    assert_error(
        &server.signed(&bare, "GET", "/v1/whoami", b""),
        401,
        "InvalidToken",
    );
    let wrong_secret = Session {
        secret: "x".repeat(40),
        ..session.clone()
    };
    assert_error(
        &whoami(&server, &wrong_secret),
        401,
        "SignatureDoesNotMatch",
    );
    // Long-term keys work as before.
    assert_eq!(server.signed(&key, "GET", "/v1/whoami", b"").status, 200);
}

#[test]
fn expired_session_credentials_get_expired_token() {
    let (_dir, server, _) = setup(&["--session-ttl", "1s"]);
    let session = Session::from_response(&login(&server, "alice", PASSWORD));
    std::thread::sleep(Duration::from_millis(2100));
    let r = whoami(&server, &session);
    assert_error(&r, 401, "ExpiredToken");
    assert_eq!(r.header("www-authenticate"), Some("AWS4-HMAC-SHA256"));
    // The refresh token still works and gives fresh credentials.
    let fresh = Session::from_response(&refresh(&server, &session.refresh_token));
    assert_eq!(whoami(&server, &fresh).status, 200);
}

#[test]
fn tampered_or_foreign_session_tokens_get_invalid_token() {
    let (_dir, server, _) = setup(&[]);
    let session = Session::from_response(&login(&server, "alice", PASSWORD));
    let other = Session::from_response(&login(&server, "alice", PASSWORD));
    let mut chars: Vec<char> = session.token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    let tampered = Session {
        token: chars.into_iter().collect(),
        ..session.clone()
    };
    assert_error(&whoami(&server, &tampered), 401, "InvalidToken");
    let swapped = Session {
        token: other.token.clone(),
        ..session.clone()
    };
    assert_error(&whoami(&server, &swapped), 401, "InvalidToken");
    let garbage = Session {
        token: "not-a-token".into(),
        ..session.clone()
    };
    assert_error(&whoami(&server, &garbage), 401, "InvalidToken");
    assert_eq!(whoami(&server, &session).status, 200);
}

#[test]
fn refresh_rotates_and_a_replayed_token_revokes_the_whole_family() {
    let (_dir, server, _) = setup(&["--refresh-grace", "0s"]);
    let first = Session::from_response(&login(&server, "alice", PASSWORD));
    let second = Session::from_response(&refresh(&server, &first.refresh_token));
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_key_id, first.access_key_id);
    assert_eq!(whoami(&server, &second).status, 200);
    let third = Session::from_response(&refresh(&server, &second.refresh_token));
    assert_eq!(whoami(&server, &third).status, 200);

    // The spent first token comes back (stolen copy): the family is revoked, newest included.
    assert_error(&refresh(&server, &first.refresh_token), 401, "InvalidToken");
    assert_error(&refresh(&server, &third.refresh_token), 401, "InvalidToken");
    assert_error(&whoami(&server, &third), 401, "InvalidToken");
    assert_error(&refresh(&server, &"A".repeat(43)), 401, "InvalidToken");
    assert_error(&refresh(&server, "short"), 401, "InvalidToken");
}

#[test]
fn a_second_refresh_within_the_grace_window_is_forgiven_and_later_is_not() {
    let (_dir, server, _) = setup(&["--refresh-grace", "1s"]);
    let first = Session::from_response(&login(&server, "alice", PASSWORD));
    let tab_a = Session::from_response(&refresh(&server, &first.refresh_token));
    let tab_b = Session::from_response(&refresh(&server, &first.refresh_token));
    assert_eq!(whoami(&server, &tab_a).status, 200);
    assert_eq!(whoami(&server, &tab_b).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    assert_error(&refresh(&server, &first.refresh_token), 401, "InvalidToken");
    assert_error(&refresh(&server, &tab_a.refresh_token), 401, "InvalidToken");
    assert_error(&whoami(&server, &tab_b), 401, "InvalidToken");
}

#[test]
fn concurrent_refreshes_of_one_token_all_succeed_within_the_grace_window() {
    let (_dir, server, _) = setup(&[]);
    let first = Session::from_response(&login(&server, "alice", PASSWORD));
    let sessions: Vec<Session> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| Session::from_response(&refresh(&server, &first.refresh_token)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for session in &sessions {
        assert_eq!(whoami(&server, session).status, 200);
    }
    let mut tokens: Vec<&str> = sessions.iter().map(|s| s.refresh_token.as_str()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), 6, "every refresh got its own new token");
}

#[test]
fn logins_past_the_family_limit_revoke_the_oldest_session() {
    let (_dir, server, _) = setup(&["--max-sessions-per-principal", "2"]);
    let oldest = Session::from_response(&login(&server, "alice", PASSWORD));
    assert_eq!(whoami(&server, &oldest).status, 200);
    let middle = Session::from_response(&login(&server, "alice", PASSWORD));
    let newest = Session::from_response(&login(&server, "alice", PASSWORD));
    assert_error(
        &refresh(&server, &oldest.refresh_token),
        401,
        "InvalidToken",
    );
    assert_error(&whoami(&server, &oldest), 401, "InvalidToken");
    assert_eq!(whoami(&server, &middle).status, 200);
    assert_eq!(whoami(&server, &newest).status, 200);
    Session::from_response(&refresh(&server, &middle.refresh_token));
}

#[test]
fn logout_ends_one_session_and_logout_all_ends_every_one() {
    let (_dir, server, key) = setup(&[]);
    let phone = Session::from_response(&login(&server, "alice", PASSWORD));
    let laptop = Session::from_response(&login(&server, "alice", PASSWORD));
    let tablet = Session::from_response(&login(&server, "alice", PASSWORD));

    let r = call(&server, &phone, "POST", "/v1/auth/logout");
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_error(&whoami(&server, &phone), 401, "InvalidToken");
    // Again, now that the revoked family is cached: the server answers it without the store.
    assert_error(&whoami(&server, &phone), 401, "InvalidToken");
    assert_error(&refresh(&server, &phone.refresh_token), 401, "InvalidToken");
    assert_eq!(whoami(&server, &laptop).status, 200);

    let r = call(&server, &laptop, "POST", "/v1/auth/logout-all");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["revoked_sessions"], 2);
    for gone in [&laptop, &tablet] {
        assert_error(&whoami(&server, gone), 401, "InvalidToken");
        assert_error(&refresh(&server, &gone.refresh_token), 401, "InvalidToken");
    }

    // Long-term keys: logout needs a session, logout-all works.
    let r = server.signed(&key, "POST", "/v1/auth/logout", b"");
    assert_error(&r, 400, "InvalidRequest");
    let again = Session::from_response(&login(&server, "alice", PASSWORD));
    let r = server.signed(&key, "POST", "/v1/auth/logout-all", b"");
    assert_eq!(r.json()["revoked_sessions"], 1);
    assert_error(&whoami(&server, &again), 401, "InvalidToken");
    // Unsigned logout is an ordinary unauthenticated request.
    assert_eq!(server.post_json("/v1/auth/logout", &json!({})).status, 401);
}

#[test]
fn a_disabled_principal_is_locked_out_of_login_refresh_sessions_and_keys() {
    let (_dir, server, key) = setup(&["--key-cache-ttl", "1s"]);
    let session = Session::from_response(&login(&server, "alice", PASSWORD));
    assert_eq!(whoami(&server, &session).status, 200);
    assert_eq!(server.signed(&key, "GET", "/v1/whoami", b"").status, 200);
    // Disabled out of band (another process), so only the cache TTL can carry it.
    server.store.admin(&["principal", "disable", "alice"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_error(&login(&server, "alice", PASSWORD), 403, "AccessDenied");
    assert_error(
        &refresh(&server, &session.refresh_token),
        403,
        "AccessDenied",
    );
    assert_error(&whoami(&server, &session), 403, "AccessDenied");
    assert_error(
        &server.signed(&key, "GET", "/v1/whoami", b""),
        403,
        "AccessDenied",
    );
    // A wrong password still says only InvalidCredentials: the ban is not revealed.
    assert_error(
        &login(&server, "alice", "nope nope"),
        401,
        "InvalidCredentials",
    );

    server.store.admin(&["principal", "enable", "alice"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(whoami(&server, &session).status, 200);
}

#[test]
fn failed_logins_are_throttled_per_principal_and_per_address() {
    let (_dir, server, _) = setup(&[
        "--login-max-failures",
        "3",
        "--login-max-failures-per-address",
        "5",
        "--login-lockout",
        "60s",
    ]);
    for _ in 0..3 {
        assert_error(
            &login(&server, "alice", "wrong password"),
            401,
            "InvalidCredentials",
        );
    }
    // Even the right password waits: the limit is checked before the password.
    let r = login(&server, "alice", PASSWORD);
    assert_error(&r, 429, "TooManyRequests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");

    // Unknown names count too, and the address limit covers every name.
    for name in ["bob", "carol"] {
        assert_error(
            &login(&server, name, "wrong password"),
            401,
            "InvalidCredentials",
        );
    }
    assert_error(
        &login(&server, "dave", "wrong password"),
        429,
        "TooManyRequests",
    );
}

#[test]
fn the_admin_api_sets_passwords_and_a_new_password_ends_old_sessions() {
    let dir = TempDir::new("sessions-admin");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    store.admin(&["principal", "create", "bob"]);
    let server = Server::start(&store, &[]);
    assert_error(
        &login(&server, "bob", "first password"),
        401,
        "InvalidCredentials",
    );

    let set = |password: &str| {
        let body = json!({ "password": password }).to_string();
        server.signed(
            &admin,
            "PUT",
            "/v1/principals/bob/password",
            body.as_bytes(),
        )
    };
    assert_eq!(set("first password").status, 204);
    let session = Session::from_response(&login(&server, "bob", "first password"));
    assert_eq!(whoami(&server, &session).status, 200);
    assert_eq!(set("second password").status, 204);
    assert_error(&whoami(&server, &session), 401, "InvalidToken");
    assert_error(
        &login(&server, "bob", "first password"),
        401,
        "InvalidCredentials",
    );
    Session::from_response(&login(&server, "bob", "second password"));

    assert_error(&set("short"), 400, "InvalidArgument");
    let r = server.signed(
        &admin,
        "PUT",
        "/v1/principals/nobody/password",
        br#"{"password":"long enough"}"#,
    );
    assert_error(&r, 404, "NotFound");
}

#[test]
fn gc_deletes_revoked_and_expired_refresh_tokens() {
    let (_dir, server, _) = setup(&["--refresh-ttl", "1s"]);
    let kept = Session::from_response(&login(&server, "alice", PASSWORD));
    // Logged in with a narrowing policy, which gc removes with the revoked family.
    let narrowed = server.post_json(
        "/v1/auth/login",
        &json!({"principal": "alice", "password": PASSWORD,
                "policy": {"allow": [{"methods": ["GET"], "paths": ["/v1/whoami"]}]}}),
    );
    let revoked = Session::from_response(&narrowed);
    assert_eq!(
        call(&server, &revoked, "POST", "/v1/auth/logout").status,
        204
    );
    std::thread::sleep(Duration::from_millis(2100));
    assert_error(&refresh(&server, &kept.refresh_token), 401, "ExpiredToken");
    let out = server.store.admin(&["gc"]);
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["deleted_refresh_tokens"], 2, "{report}");
    // The revoked family goes; the expired one stays while its sessions may still live.
    assert_eq!(report["deleted_families"], 1, "{report}");
    assert_eq!(report["deleted_session_policies"], 1, "{report}");
    assert_error(&refresh(&server, &kept.refresh_token), 401, "InvalidToken");
}

/// Two replicas on one PostgreSQL database and master key accept each other's sessions and
/// see a logout within the cache TTL.
#[test]
fn two_servers_on_one_postgres_database_share_sessions_and_logouts() {
    let Ok(url) = std::env::var("COUNTERSIGN_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED two_servers_on_one_postgres_database_share_sessions_and_logouts: set COUNTERSIGN_TEST_POSTGRES_URL (as .ci/run does) to run it"
        );
        return;
    };
    let dir = TempDir::new("pg-sessions");
    let store = Store::postgres(&url, dir.path());
    let name = format!("session-{}-{}", std::process::id(), now().unix());
    store.admin(&["principal", "create", &name]);
    store.set_password(&name, PASSWORD);
    let a = Server::start(&store, &["--key-cache-ttl", "1s"]);
    let b = Server::start(&store, &["--key-cache-ttl", "1s"]);
    let session = Session::from_response(&login(&a, &name, PASSWORD));
    for s in [&a, &b] {
        let r = whoami(s, &session);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let refreshed = Session::from_response(&refresh(&b, &session.refresh_token));
    assert_eq!(whoami(&a, &refreshed).status, 200);
    assert_eq!(call(&b, &refreshed, "POST", "/v1/auth/logout").status, 204);
    assert_error(&whoami(&b, &refreshed), 401, "InvalidToken");
    std::thread::sleep(Duration::from_millis(1500));
    assert_error(&whoami(&a, &refreshed), 401, "InvalidToken");
    assert_error(&whoami(&a, &session), 401, "InvalidToken");
    assert_error(&refresh(&a, &refreshed.refresh_token), 401, "InvalidToken");
}
