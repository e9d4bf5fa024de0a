//! Per-principal and per-key permissions (policies), checked after the signature, through the
//! admin API, on the server's own routes, and for session credentials.

use std::time::SystemTime;

use countersign::{AmzDate, Credentials};
use serde_json::{Value, json};

use crate::support::server::{RawRequest, Response, Server, Store, TempDir};

fn call(
    server: &Server,
    creds: &(String, String),
    method: &str,
    target: &str,
    body: &[u8],
) -> Response {
    let req = server.sign(
        creds,
        method,
        target,
        &[("content-type", "application/json")],
        body,
        AmzDate::from_system_time(SystemTime::now()),
    );
    server.send(&req)
}

fn set_policy(server: &Server, admin: &(String, String), target: &str, policy: &Value) -> Response {
    call(server, admin, "PUT", target, policy.to_string().as_bytes())
}

fn denied(r: &Response, needle: &str) {
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "AccessDenied");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(needle), "`{needle}` not in `{message}`");
}

#[test]
fn principal_and_key_policies_allow_and_deny_and_the_key_can_only_narrow() {
    let dir = TempDir::new("policies");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    let alice = store.principal_with_key("alice", false);
    let server = Server::start(&store, &[]);

    // No policy: everything a principal may do is allowed.
    assert_eq!(call(&server, &alice, "GET", "/v1/whoami", b"").status, 200);

    let principal_policy = json!({
        "allow": [{"methods": ["GET"], "paths": ["/v1/whoami", "/v1/things/**"]}],
        "deny": [{"methods": ["*"], "paths": ["/v1/things/secret/**"]}]
    });
    let r = set_policy(
        &server,
        &admin,
        "/v1/principals/alice/policy",
        &principal_policy,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["policy"], principal_policy);
    let shown = call(&server, &admin, "GET", "/v1/principals/alice/policy", b"");
    assert_eq!(shown.json()["policy"], principal_policy);

    // Allowed, then authorization decides before routing (404 for an allowed unknown path).
    assert_eq!(call(&server, &alice, "GET", "/v1/whoami", b"").status, 200);
    assert_eq!(
        call(&server, &alice, "GET", "/v1/things/a/b", b"").status,
        404
    );
    denied(
        &call(&server, &alice, "POST", "/v1/things/a", b"{}"),
        "no allow rule of the principal policy",
    );
    denied(
        &call(&server, &alice, "GET", "/v1/things/secret/x", b""),
        "deny rule 1 of the principal policy",
    );
    denied(
        &call(&server, &alice, "GET", "/v1/other", b""),
        "principal policy",
    );

    // A key policy narrows; it cannot widen what the principal's denies.
    let key_policy =
        json!({"allow": [{"methods": ["*"], "paths": ["/v1/things/secret/**", "/v1/whoami"]}]});
    let target = format!("/v1/keys/{}/policy", alice.0);
    assert_eq!(
        set_policy(&server, &admin, &target, &key_policy).status,
        200
    );
    assert_eq!(call(&server, &alice, "GET", "/v1/whoami", b"").status, 200);
    denied(
        &call(&server, &alice, "GET", "/v1/things/a", b""),
        "key policy",
    );
    denied(
        &call(&server, &alice, "GET", "/v1/things/secret/x", b""),
        "principal policy",
    );

    // Removing the key policy takes effect at once on this replica.
    let r = call(&server, &admin, "DELETE", &target, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["policy"], Value::Null);
    assert_eq!(
        call(&server, &alice, "GET", "/v1/things/a", b"").status,
        404
    );

    // Malformed policies and unknown subjects get specific errors; non-admins cannot set.
    for bad in [
        json!({"allow": [{"methods": ["get"], "paths": ["/x"]}]}),
        json!({"nope": 1}),
    ] {
        let r = set_policy(&server, &admin, "/v1/principals/alice/policy", &bad);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidRequest"),
            "{bad}"
        );
    }
    let r = set_policy(
        &server,
        &admin,
        "/v1/principals/nobody/policy",
        &principal_policy,
    );
    assert_eq!((r.status, r.code().as_str()), (404, "NotFound"));
    let r = set_policy(
        &server,
        &alice,
        "/v1/principals/alice/policy",
        &json!({"allow": []}),
    );
    assert_eq!(r.status, 403);

    // An unsigned request still gets 401, never a policy answer.
    let unsigned = RawRequest {
        method: "GET".into(),
        target: "/v1/things/secret/x".into(),
        headers: vec![("Host".into(), server.host())],
        body: Vec::new(),
    };
    assert_eq!(server.send(&unsigned).status, 401);
}

#[test]
fn a_principal_policy_binds_its_session_credentials_too() {
    let dir = TempDir::new("policies-sessions");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    store.principal_with_key("bob", false);
    store.set_password("bob", "a long enough password");
    let server = Server::start(&store, &[]);
    let policy = json!({"allow": [{"methods": ["GET"], "paths": ["/v1/things/**"]}]});
    assert_eq!(
        set_policy(&server, &admin, "/v1/principals/bob/policy", &policy).status,
        200
    );

    let login = server.post_json(
        "/v1/auth/login",
        &json!({"principal": "bob", "password": "a long enough password"}),
    );
    assert_eq!(
        login.status,
        200,
        "{}",
        String::from_utf8_lossy(&login.body)
    );
    let session = login.json();
    let credentials = Credentials::new(
        session["access_key_id"].as_str().unwrap(),
        session["secret_access_key"].as_str().unwrap(),
    )
    .with_session_token(session["session_token"].as_str().unwrap());
    let at = AmzDate::from_system_time(SystemTime::now());
    let req = server.sign_with(credentials.clone(), "GET", "/v1/whoami", &[], b"", at);
    denied(&server.send(&req), "principal policy");
    let req = server.sign_with(credentials.clone(), "GET", "/v1/things/x", &[], b"", at);
    assert_eq!(server.send(&req).status, 404);
    // Logging out is never denied by a policy.
    let req = server.sign_with(credentials, "POST", "/v1/auth/logout", &[], b"", at);
    assert_eq!(server.send(&req).status, 204);
}

#[test]
fn gateway_routes_are_authorized_before_anything_is_forwarded() {
    let dir = TempDir::new("policies-gateway");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    let carol = store.principal_with_key("carol", false);
    // Nothing listens upstream: an allowed request gets 502, a denied one 403 first.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let route = format!("/api=http://{closed}");
    let server = Server::start(&store, &["--route", &route]);
    let policy = json!({"allow": [{"methods": ["GET"], "paths": ["/api/public/*"]}]});
    let target = format!("/v1/keys/{}/policy", carol.0);
    assert_eq!(set_policy(&server, &admin, &target, &policy).status, 200);
    assert_eq!(
        call(&server, &carol, "GET", "/api/public/a", b"").status,
        502
    );
    denied(
        &call(&server, &carol, "GET", "/api/private/a", b""),
        "key policy",
    );
    denied(
        &call(&server, &carol, "PUT", "/api/public/a", b"{}"),
        "key policy",
    );
}

#[test]
fn a_login_policy_narrows_the_session_and_can_never_widen_it() {
    let dir = TempDir::new("policies-narrow");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    store.principal_with_key("dana", false);
    store.set_password("dana", "another long password");
    let server = Server::start(&store, &[]);
    let principal_policy = json!({"allow": [{"methods": ["GET"], "paths": ["/v1/**"]}]});
    assert_eq!(
        set_policy(
            &server,
            &admin,
            "/v1/principals/dana/policy",
            &principal_policy
        )
        .status,
        200
    );
    // The session asks for whoami plus POSTs the principal may not make.
    let narrowing = json!({"allow": [{"methods": ["GET"], "paths": ["/v1/whoami"]},
                                     {"methods": ["POST"], "paths": ["/v1/things/**"]}]});
    let login = server.post_json(
        "/v1/auth/login",
        &json!({"principal": "dana", "password": "another long password", "policy": narrowing}),
    );
    assert_eq!(
        login.status,
        200,
        "{}",
        String::from_utf8_lossy(&login.body)
    );
    let session = login.json();
    let sign = |session: &Value, method: &str, target: &str| {
        let credentials = Credentials::new(
            session["access_key_id"].as_str().unwrap(),
            session["secret_access_key"].as_str().unwrap(),
        )
        .with_session_token(session["session_token"].as_str().unwrap());
        let at = AmzDate::from_system_time(SystemTime::now());
        server.send(&server.sign_with(credentials, method, target, &[], b"", at))
    };
    assert_eq!(sign(&session, "GET", "/v1/whoami").status, 200);
    denied(&sign(&session, "GET", "/v1/things/a"), "session policy");
    denied(&sign(&session, "POST", "/v1/things/a"), "principal policy");

    // The narrowing survives a refresh.
    let refreshed = server.post_json(
        "/v1/auth/refresh",
        &json!({"refresh_token": session["refresh_token"]}),
    );
    assert_eq!(refreshed.status, 200);
    let refreshed = refreshed.json();
    assert_eq!(sign(&refreshed, "GET", "/v1/whoami").status, 200);
    denied(&sign(&refreshed, "GET", "/v1/things/a"), "session policy");

    // A malformed login policy is refused before any session starts.
    let bad = server.post_json(
        "/v1/auth/login",
        &json!({"principal": "dana", "password": "another long password", "policy": {"allow": "x"}}),
    );
    assert_eq!((bad.status, bad.code().as_str()), (400, "InvalidRequest"));
}
