//! `countersign request`, `whoami`, `configure`, `admin` and the signing client, against the
//! real server binary (issue #4).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::support::proxy::Proxy;
use crate::support::server::{Server, Store, TempDir};
use crate::support::{bin, peak_rss_kib};

const VARS: [&str; 9] = [
    "COUNTERSIGN_ACCESS_KEY_ID",
    "COUNTERSIGN_SECRET_ACCESS_KEY",
    "COUNTERSIGN_SESSION_TOKEN",
    "COUNTERSIGN_REGION",
    "COUNTERSIGN_SERVICE",
    "COUNTERSIGN_ENDPOINT",
    "COUNTERSIGN_PROFILE",
    "COUNTERSIGN_CONFIG_FILE",
    "HOME",
];

/// A server with an admin principal `root`, and a scratch directory for the credentials file.
struct Fixture {
    dir: TempDir,
    server: Server,
    admin: (String, String),
}

impl Fixture {
    fn new(tag: &str, server_flags: &[&str]) -> Self {
        let dir = TempDir::new(tag);
        let store = Store::sqlite(dir.path());
        let server = Server::start(&store, server_flags);
        let admin = store.principal_with_key("root", true);
        Self { dir, server, admin }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("credentials")
    }

    /// `countersign args` with only `env` set among the variables it reads (HOME is the
    /// scratch directory, the credentials file is `config()`).
    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(bin("countersign"));
        cmd.args(args);
        for var in VARS {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.dir.path())
            .env("COUNTERSIGN_CONFIG_FILE", self.config());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run countersign");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs with the admin key in the environment.
    fn as_admin(&self, args: &[&str]) -> Output {
        self.run(args, &self.admin_env(), None)
    }

    fn admin_env(&self) -> Vec<(&str, &str)> {
        vec![
            ("COUNTERSIGN_ACCESS_KEY_ID", self.admin.0.as_str()),
            ("COUNTERSIGN_SECRET_ACCESS_KEY", self.admin.1.as_str()),
        ]
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint())
    }

    fn write_profiles(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

fn principal_names(fx: &Fixture) -> Vec<String> {
    let out = fx.as_admin(&["request", "GET", &fx.url("/v1/principals")]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    json(&out)["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn request_sends_get_post_and_put_with_bodies_from_every_source() {
    let fx = Fixture::new("req-bodies", &[]);
    let out = fx.as_admin(&["request", "GET", &fx.url("/v1/whoami")]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["principal"], "root");

    let principals = fx.url("/v1/principals");
    let out = fx.as_admin(&[
        "request",
        "POST",
        &principals,
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"name":"from-data"}"#,
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["name"], "from-data");

    let file = fx.dir.path().join("body.json");
    std::fs::write(&file, r#"{"name":"from-file","admin":true}"#).unwrap();
    let out = fx.as_admin(&[
        "request",
        "POST",
        &principals,
        "--data-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["admin"], true);

    let out = fx.run(
        &["request", "POST", &principals, "--data-stdin"],
        &fx.admin_env(),
        Some(br#"{"name":"from-stdin"}"#),
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    let out = fx.as_admin(&[
        "request",
        "POST",
        &principals,
        "--data",
        r#"{"name":"unsigned"}"#,
        "--unsigned-payload",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    let names = principal_names(&fx);
    for name in ["from-data", "from-file", "from-stdin", "unsigned"] {
        assert!(
            names.contains(&name.to_owned()),
            "{name} missing from {names:?}"
        );
    }

    // PUT with a body: the signature and the payload hash verify (else 401/400), then the route
    // refuses the method.
    for body in [
        &["--data", "x"][..],
        &["--data-file", file.to_str().unwrap()][..],
    ] {
        let mut args = vec!["request", "PUT"];
        let url = fx.url("/v1/principals/from-data");
        args.push(&url);
        args.extend_from_slice(body);
        let out = fx.as_admin(&args);
        assert_eq!(code(&out), Some(4), "{}", stderr(&out));
        assert_eq!(json(&out)["error"]["code"], "MethodNotAllowed");
    }
    let out = fx.as_admin(&[
        "request",
        "PATCH",
        &fx.url("/v1/principals/from-data"),
        "--data",
        r#"{"enabled":false}"#,
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["enabled"], false);
}

#[test]
fn exit_codes_follow_httpie() {
    let fx = Fixture::new("req-exit", &[]);
    let ok = fx.as_admin(&["request", "GET", &fx.url("/v1/whoami")]);
    assert_eq!(code(&ok), Some(0));

    // 4xx: the error body still goes to stdout.
    let not_found = fx.as_admin(&["request", "GET", &fx.url("/v1/nope")]);
    assert_eq!(code(&not_found), Some(4));
    assert_eq!(json(&not_found)["error"]["code"], "NotFound");
    let bad_key = fx.run(
        &["request", "GET", &fx.url("/v1/whoami")],
        &[
            ("COUNTERSIGN_ACCESS_KEY_ID", "AKCSNOSUCHKEY0000000"),
            ("COUNTERSIGN_SECRET_ACCESS_KEY", "x"),
        ],
        None,
    );
    assert_eq!(code(&bad_key), Some(4));
    assert_eq!(json(&bad_key)["error"]["code"], "InvalidAccessKeyId");

    // 5xx: a server that answers 500.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let body = r#"{"error":{"code":"InternalError","message":"boom"}}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let five = fx.as_admin(&["request", "GET", &format!("http://{addr}/x")]);
    assert_eq!(code(&five), Some(5), "{}", stderr(&five));
    assert_eq!(json(&five)["error"]["message"], "boom");

    // 1: nothing listens / TLS to a plain HTTP server.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refused = fx.as_admin(&["request", "GET", &format!("http://{closed}/")]);
    assert_eq!(code(&refused), Some(1));
    assert!(
        stderr(&refused).starts_with("countersign: request to http://"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(stderr(&refused).lines().count(), 1, "{}", stderr(&refused));
    let tls = fx.as_admin(&[
        "request",
        "GET",
        &format!("https://{}/v1/whoami", fx.server.addr),
    ]);
    assert_eq!(code(&tls), Some(1), "{}", stderr(&tls));

    // 2: usage errors.
    for (args, env, expected) in [
        (
            vec!["request", "GET", "ftp://h/"],
            fx.admin_env(),
            "http://",
        ),
        (
            vec!["request", "G T", "http://h/"],
            fx.admin_env(),
            "method",
        ),
        (
            vec![
                "request",
                "POST",
                "http://h/",
                "--data",
                "x",
                "--data-stdin",
            ],
            fx.admin_env(),
            "cannot be used with",
        ),
        (
            vec!["request", "GET", "http://h/", "--timeout", "soon"],
            fx.admin_env(),
            "invalid duration",
        ),
        (
            vec![
                "request",
                "PUT",
                "http://h/",
                "--data-file",
                "/no/such/file",
            ],
            fx.admin_env(),
            "/no/such/file",
        ),
        (
            vec!["request", "GET", "http://h/"],
            vec![],
            "no credentials",
        ),
        (vec!["whoami"], fx.admin_env(), "no endpoint"),
    ] {
        let out = fx.run(&args, &env, None);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(expected) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn include_prints_the_head_and_output_writes_a_file() {
    let fx = Fixture::new("req-io", &[]);
    let out = fx.as_admin(&["request", "GET", &fx.url("/v1/whoami"), "-i"]);
    assert_eq!(code(&out), Some(0));
    let text = stdout(&out);
    let (head, body) = text.split_once("\n\n").expect("blank line after the head");
    assert!(head.starts_with("HTTP/1.1 200 OK\n"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap()["principal"],
        "root"
    );

    let file = fx.dir.path().join("reply.json");
    let out = fx.as_admin(&[
        "request",
        "GET",
        &fx.url("/v1/whoami"),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0));
    assert!(out.stdout.is_empty());
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["principal"], "root");
}

#[test]
fn credentials_resolve_flags_then_environment_then_profile() {
    let fx = Fixture::new("req-profile", &[]);
    let store = &fx.server.store;
    let from_file = store.principal_with_key("from-file", false);
    let from_other = store.principal_with_key("from-other", false);
    let from_env = store.principal_with_key("from-env", false);
    let from_flag = store.principal_with_key("from-flag", false);
    fx.write_profiles(&format!(
        "[default]\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\n\n\
         [other]\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\n",
        from_file.0,
        from_file.1,
        fx.endpoint(),
        from_other.0,
        from_other.1,
        fx.endpoint()
    ));
    let who = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["whoami"];
        all.extend_from_slice(args);
        let out = fx.run(&all, env, None);
        assert_eq!(code(&out), Some(0), "{args:?} {env:?}: {}", stderr(&out));
        json(&out)["principal"].as_str().unwrap().to_owned()
    };
    let env = [
        ("COUNTERSIGN_ACCESS_KEY_ID", from_env.0.as_str()),
        ("COUNTERSIGN_SECRET_ACCESS_KEY", from_env.1.as_str()),
    ];
    let flags = [
        "--access-key-id",
        from_flag.0.as_str(),
        "--secret-access-key",
        from_flag.1.as_str(),
    ];
    assert_eq!(who(&flags, &env), "from-flag");
    assert_eq!(who(&[], &env), "from-env");
    assert_eq!(who(&[], &[]), "from-file");
    assert_eq!(who(&["--profile", "other"], &[]), "from-other");
    assert_eq!(who(&[], &[("COUNTERSIGN_PROFILE", "other")]), "from-other");
    assert_eq!(
        who(
            &["--profile", "other"],
            &[("COUNTERSIGN_PROFILE", "default")]
        ),
        "from-other"
    );

    let unknown = fx.run(&["whoami", "--profile", "nope"], &[], None);
    assert_eq!(code(&unknown), Some(2));
    assert!(
        stderr(&unknown).contains("profile `nope` not found"),
        "{}",
        stderr(&unknown)
    );

    std::fs::remove_file(fx.config()).unwrap();
    let none = fx.run(&["whoami", "--endpoint", &fx.endpoint()], &[], None);
    assert_eq!(code(&none), Some(2));
    let err = stderr(&none);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("COUNTERSIGN_ACCESS_KEY_ID") && err.contains(fx.config().to_str().unwrap()),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn configure_writes_a_private_profile_that_works() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new("req-configure", &[]);
    let (id, secret) = fx.server.store.principal_with_key("configured", false);
    fx.write_profiles("# keep me\n[default]\naccess_key_id = AKOTHER\n");
    std::fs::set_permissions(fx.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let endpoint = fx.endpoint();
    let out = fx.run(
        &[
            "configure",
            "--profile",
            "ci",
            "--access-key-id",
            &id,
            "--endpoint",
            &endpoint,
        ],
        &[],
        Some(format!("{secret}\n").as_bytes()),
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains(&secret) && !stderr(&out).contains(&secret));
    let mode = std::fs::metadata(fx.config()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(fx.config()).unwrap();
    assert!(
        text.starts_with("# keep me\n[default]\naccess_key_id = AKOTHER\n"),
        "{text}"
    );
    let who = fx.run(&["whoami", "--profile", "ci"], &[], None);
    assert_eq!(code(&who), Some(0), "{}", stderr(&who));
    assert_eq!(json(&who)["principal"], "configured");

    let fresh = TempDir::new("req-configure-new");
    let path = fresh.path().join("dir/credentials");
    let out = fx.run(
        &[
            "configure",
            "--access-key-id",
            "AK",
            "--secret-access-key",
            "s",
        ],
        &[("COUNTERSIGN_CONFIG_FILE", path.to_str().unwrap())],
        None,
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let missing = fx.run(
        &["configure", "--profile", "x"],
        &[("COUNTERSIGN_CONFIG_FILE", path.to_str().unwrap())],
        None,
    );
    assert_eq!(code(&missing), Some(2));
    assert!(
        stderr(&missing).contains("--access-key-id"),
        "{}",
        stderr(&missing)
    );
}

/// A proxy that replaces `from` with `to` in every request head.
fn tampering_proxy(fx: &Fixture, from: &'static str, to: &'static str) -> Proxy {
    Proxy::start(
        fx.server.addr,
        Arc::new(move |head: &str| head.replacen(from, to, 1)),
    )
}

#[test]
fn a_mismatch_diff_names_a_tampered_header() {
    let fx = Fixture::new("req-diff-header", &[]);
    let proxy = tampering_proxy(&fx, "x-tag: blue", "x-tag: red");
    let out = fx.as_admin(&[
        "request",
        "GET",
        &format!("{}/v1/whoami", proxy.url()),
        "-H",
        "X-Tag: blue",
    ]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert_eq!(json(&out)["error"]["code"], "SignatureDoesNotMatch");
    let err = stderr(&out);
    assert!(err.contains("differs in: header `x-tag`\n"), "{err}");
    assert!(err.contains("- x-tag:blue\n+ x-tag:red\n"), "{err}");
    assert!(!err.contains(&fx.admin.1), "the secret leaked: {err}");
}

#[test]
fn a_mismatch_diff_names_a_tampered_path() {
    let fx = Fixture::new("req-diff-path", &[]);
    let proxy = tampering_proxy(&fx, "GET /v1/whoami", "GET /v1/whoami2");
    let out = fx.as_admin(&["request", "GET", &format!("{}/v1/whoami", proxy.url())]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("differs in: path\n"), "{err}");
    assert!(err.contains("- /v1/whoami\n+ /v1/whoami2\n"), "{err}");
}

#[test]
fn admin_commands_round_trip() {
    let fx = Fixture::new("req-admin", &[]);
    let endpoint = fx.endpoint();
    let admin = |args: &[&str]| {
        let mut all = vec!["admin", "--endpoint", endpoint.as_str()];
        all.extend_from_slice(args);
        let out = fx.as_admin(&all);
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
        out
    };
    let created = json(&admin(&["principal", "create", "bob", "--json"]));
    assert_eq!(
        (created["name"].clone(), created["admin"].clone()),
        ("bob".into(), false.into())
    );
    let table = stdout(&admin(&["principal", "list"]));
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("bob ")), "{table}");

    let key = json(&admin(&[
        "key",
        "create",
        "--principal",
        "bob",
        "--save-profile",
        "bob",
        "--json",
    ]));
    let id = key["access_key_id"].as_str().unwrap().to_owned();
    let profile = std::fs::read_to_string(fx.config()).unwrap();
    assert!(
        profile.contains(&format!("access_key_id = {id}")),
        "{profile}"
    );
    assert!(
        profile.contains(&format!("endpoint = {endpoint}")),
        "{profile}"
    );
    let bob = |args: &[&str]| fx.run(&[&["--profile", "bob"], args].concat(), &[], None);
    let who = bob(&["whoami"]);
    assert_eq!(code(&who), Some(0), "{}", stderr(&who));
    assert_eq!(json(&who)["access_key_id"], id.as_str());
    let forbidden = bob(&["admin", "principal", "list"]);
    assert_eq!(code(&forbidden), Some(4));
    assert!(
        stderr(&forbidden).contains("AccessDenied"),
        "{}",
        stderr(&forbidden)
    );

    let keys = json(&admin(&["key", "list", "--principal", "bob", "--json"]));
    assert_eq!(keys["status"], "Active", "{keys}");
    let all = json(&admin(&["key", "list", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    assert_eq!(
        json(&admin(&["key", "disable", &id, "--json"]))["status"],
        "Inactive"
    );
    assert_eq!(code(&bob(&["whoami"])), Some(4));
    assert_eq!(
        json(&admin(&["key", "enable", &id, "--json"]))["status"],
        "Active"
    );
    assert_eq!(code(&bob(&["whoami"])), Some(0));
    assert_eq!(
        json(&admin(&["principal", "disable", "bob", "--json"]))["enabled"],
        false
    );
    assert_eq!(code(&bob(&["whoami"])), Some(4));
    assert_eq!(
        json(&admin(&["principal", "enable", "bob", "--json"]))["enabled"],
        true
    );
    admin(&["key", "delete", &id]);
    assert_eq!(code(&bob(&["whoami"])), Some(4));
    let missing = fx.as_admin(&["admin", "--endpoint", &endpoint, "key", "delete", &id]);
    assert_eq!(code(&missing), Some(4));
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));
}

fn keys_of(fx: &Fixture, principal: &str) -> Vec<Value> {
    let out = fx.as_admin(&[
        "admin",
        "--endpoint",
        &fx.endpoint(),
        "key",
        "list",
        "--principal",
        principal,
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    match json(&out) {
        Value::Array(keys) => keys,
        one => vec![one],
    }
}

#[test]
fn rotate_leaves_exactly_one_active_key_that_works() {
    let fx = Fixture::new("req-rotate", &[]);
    let (old_id, old_secret) = fx.server.store.principal_with_key("svc", false);
    fx.write_profiles(&format!(
        "[default]\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\n\n\
         [svc]\naccess_key_id = {old_id}\nsecret_access_key = {old_secret}\nendpoint = {}\n",
        fx.admin.0,
        fx.admin.1,
        fx.endpoint(),
        fx.endpoint()
    ));
    let out = fx.run(
        &[
            "--profile",
            "svc",
            "admin",
            "key",
            "rotate",
            "--principal",
            "svc",
            "--admin-profile",
            "default",
            "--json",
        ],
        &[],
        None,
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let keys = keys_of(&fx, "svc");
    let active: Vec<&Value> = keys.iter().filter(|k| k["status"] == "Active").collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    let new_id = active[0]["access_key_id"].as_str().unwrap();
    assert_ne!(new_id, old_id);
    assert!(
        keys.iter()
            .any(|k| k["access_key_id"] == old_id.as_str() && k["status"] == "Inactive")
    );
    let who = fx.run(&["--profile", "svc", "whoami"], &[], None);
    assert_eq!(json(&who)["access_key_id"], new_id);
    let old = fx.run(
        &["whoami", "--endpoint", &fx.endpoint()],
        &[
            ("COUNTERSIGN_ACCESS_KEY_ID", &old_id),
            ("COUNTERSIGN_SECRET_ACCESS_KEY", &old_secret),
        ],
        None,
    );
    assert_eq!(code(&old), Some(4), "the old key still works");

    // An admin rotating its own key, deleting the old one.
    let out = fx.run(
        &[
            "admin",
            "key",
            "rotate",
            "--principal",
            "root",
            "--delete-old",
        ],
        &[],
        None,
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = fx.run(
        &["admin", "key", "list", "--principal", "root", "--json"],
        &[],
        None,
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let keys = [json(&out)];
    assert_ne!(keys[0]["access_key_id"], fx.admin.0.as_str());
    assert_eq!(code(&fx.run(&["whoami"], &[], None)), Some(0));
    assert_eq!(
        code(&fx.as_admin(&["whoami", "--endpoint", &fx.endpoint()])),
        Some(4)
    );
}

#[test]
fn rotate_keeps_the_old_key_working_when_the_new_one_cannot_be_verified() {
    let fx = Fixture::new("req-rotate-fail", &[]);
    let (old_id, old_secret) = fx.server.store.principal_with_key("svc", false);
    // Through this proxy every whoami fails its signature check; admin calls pass.
    let proxy = Proxy::start(
        fx.server.addr,
        Arc::new(|head: &str| head.replacen("GET /v1/whoami", "GET /v1/whoami?tampered=1", 1)),
    );
    let profiles = format!(
        "[default]\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\n\n\
         [svc]\naccess_key_id = {old_id}\nsecret_access_key = {old_secret}\nendpoint = {}\n",
        fx.admin.0,
        fx.admin.1,
        proxy.url(),
        proxy.url()
    );
    fx.write_profiles(&profiles);
    let out = fx.run(
        &[
            "--profile",
            "svc",
            "admin",
            "key",
            "rotate",
            "--principal",
            "svc",
            "--admin-profile",
            "default",
        ],
        &[],
        None,
    );
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "rotation aborted, the old key {old_id} is still in use"
        )),
        "{err}"
    );
    assert!(
        err.contains("SignatureDoesNotMatch") && err.contains("deleted"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(fx.config()).unwrap(), profiles);
    let keys = keys_of(&fx, "svc");
    assert_eq!(keys.len(), 1, "the new key was not cleaned up: {keys:?}");
    assert_eq!(
        (
            keys[0]["access_key_id"].as_str(),
            keys[0]["status"].as_str()
        ),
        (Some(old_id.as_str()), Some("Active"))
    );
    let who = fx.run(
        &["--profile", "svc", "whoami", "--endpoint", &fx.endpoint()],
        &[],
        None,
    );
    assert_eq!(code(&who), Some(0), "{}", stderr(&who));
    assert_eq!(json(&who)["access_key_id"], old_id.as_str());
}

/// Peak resident memory (VmHWM, KiB) of a running process, polled until it exits.
fn run_measuring_peak_rss(mut cmd: Command) -> (Output, u64) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            // None once the process is gone (a zombie has no memory lines).
            while let Some(kib) = peak_rss_kib(pid) {
                peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    watcher.join().unwrap();
    (out, peak.load(std::sync::atomic::Ordering::Relaxed))
}

fn big_file(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join("big.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let block: Vec<u8> = (0..1024 * 1024)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for _ in 0..size / block.len() as u64 {
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
    path
}

#[test]
fn a_200_mib_upload_streams_with_bounded_memory() {
    let fx = Fixture::new("req-big", &["--max-body", "256MiB"]);
    let path = big_file(fx.dir.path(), 200 * 1024 * 1024);
    let mut cmd = Command::new(bin("countersign"));
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.env("COUNTERSIGN_CONFIG_FILE", fx.config())
        .env("COUNTERSIGN_ACCESS_KEY_ID", &fx.admin.0)
        .env("COUNTERSIGN_SECRET_ACCESS_KEY", &fx.admin.1)
        .args([
            "request",
            "PUT",
            &fx.url("/v1/principals/upload"),
            "--data-file",
            path.to_str().unwrap(),
        ]);
    let (out, peak_kib) = run_measuring_peak_rss(cmd);
    // The server verified the signature and the 200 MiB payload hash, then refused the method.
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert_eq!(json(&out)["error"]["code"], "MethodNotAllowed");
    println!(
        "countersign request: 200 MiB upload, peak RSS {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    assert!(peak_kib > 0, "VmHWM was never read");
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB is not bounded"
    );
}

#[test]
fn the_client_corrects_a_skewed_clock_once_and_keeps_the_offset() {
    use countersign::{ClockOffset, Credentials};
    use countersign_client::{Call, Client, ClientConfig, StaticCredentials};
    use http_body_util::BodyExt;

    let fx = Fixture::new("req-skew", &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // As if the local clock were one hour fast.
        let offset = Arc::new(ClockOffset::new(3600));
        let credentials =
            StaticCredentials::new(Credentials::new(&fx.admin.0, fx.admin.1.as_str()));
        let client = Client::new(ClientConfig::new("local", "countersign"), credentials)
            .unwrap()
            .with_clock_offset(offset.clone());
        let reply = client
            .send(Call::new("GET", &fx.url("/v1/whoami")).unwrap())
            .await
            .unwrap();
        assert_eq!(reply.response.status(), 200);
        let correction = reply.clock_correction.expect("a correction was made");
        assert!((-3602..=-3598).contains(&correction), "{correction}");
        assert!(offset.seconds().abs() <= 2, "{}", offset.seconds());
        let body = reply
            .response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["principal"],
            "root"
        );

        let again = client
            .send(Call::new("GET", &fx.url("/v1/whoami")).unwrap())
            .await
            .unwrap();
        assert_eq!(again.response.status(), 200);
        assert_eq!(again.clock_correction, None, "the offset was not kept");

        // A clock off by more than the retry can fix is reported, not retried forever.
        let broken = Client::new(
            ClientConfig::new("local", "countersign"),
            StaticCredentials::new(Credentials::new(&fx.admin.0, "wrong")),
        )
        .unwrap();
        let reply = broken
            .send(Call::new("GET", &fx.url("/v1/whoami")).unwrap())
            .await
            .unwrap();
        assert_eq!(reply.response.status(), 401);
        assert_eq!(reply.error.unwrap().code, "SignatureDoesNotMatch");
    });
}

/// A scripted answer: the whole HTTP response for a request head.
type Answer = Box<dyn Fn(&str) -> String + Send>;

/// A server that answers the n-th connection with `answers[n](request head)` (a whole HTTP
/// response; the connection is then closed). Returns its address.
fn scripted(answers: Vec<Answer>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for answer in answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            if let Some((head, _body)) = crate::support::proxy::read_request(&mut stream) {
                let _ = stream.write_all(answer(&head).as_bytes());
            }
        }
    });
    addr
}

fn reply(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn header_of<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

#[test]
fn the_cli_re_signs_with_the_server_time_once_and_warns() {
    use countersign::AmzDate;
    let fx = Fixture::new("req-skew-cli", &[]);
    let server_now = std::time::SystemTime::now() + Duration::from_secs(7200);
    let server_time = AmzDate::from_system_time(server_now).to_string();
    let skewed = reply(
        "401 Unauthorized",
        "",
        &format!(
            r#"{{"error":{{"code":"RequestTimeTooSkewed","message":"skewed","server_time":"{server_time}"}}}}"#
        ),
    );
    let addr = scripted(vec![
        Box::new(move |_| skewed.clone()),
        Box::new(|head| {
            let date = header_of(head, "x-amz-date").unwrap_or("");
            reply("200 OK", "", &format!(r#"{{"x_amz_date":"{date}"}}"#))
        }),
    ]);
    let out = fx.as_admin(&["request", "GET", &format!("http://{addr}/x")]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let signed_at = AmzDate::parse(json(&out)["x_amz_date"].as_str().unwrap()).unwrap();
    let expected = AmzDate::from_system_time(server_now).unix();
    assert!(
        signed_at.unix().abs_diff(expected) <= 2,
        "retry signed at {signed_at}, server time {server_time}"
    );
    let err = stderr(&out);
    let seconds: u64 = err
        .strip_prefix("countersign: warning: the local clock is ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no skew warning: {err}"));
    assert!(
        seconds.abs_diff(7200) <= 2 && err.contains("behind the server's"),
        "{err}"
    );

    // A second skew error is not retried again: the response is shown, exit 4.
    let skewed = reply(
        "401 Unauthorized",
        "",
        &format!(
            r#"{{"error":{{"code":"RequestTimeTooSkewed","message":"skewed","server_time":"{server_time}"}}}}"#
        ),
    );
    let again = skewed.clone();
    let addr = scripted(vec![
        Box::new(move |_| skewed.clone()),
        Box::new(move |_| again.clone()),
    ]);
    let out = fx.as_admin(&["request", "GET", &format!("http://{addr}/x"), "--quiet"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert_eq!(json(&out)["error"]["code"], "RequestTimeTooSkewed");
    assert!(
        stderr(&out).is_empty(),
        "--quiet still warned: {}",
        stderr(&out)
    );
}

#[test]
fn redirects_are_followed_only_with_location_and_each_hop_is_signed() {
    let fx = Fixture::new("req-redirect", &[]);
    let target = fx.endpoint();
    let to = |path: &'static str| -> Answer {
        let location = format!("{target}{path}");
        Box::new(move |_| {
            reply(
                "307 Temporary Redirect",
                &format!("location: {location}\r\n"),
                "{}",
            )
        })
    };
    let addr = scripted(vec![
        to("/v1/whoami"),
        to("/v1/whoami"),
        to("/v1/principals"),
    ]);
    let not_followed = fx.as_admin(&["request", "GET", &format!("http://{addr}/old"), "-i"]);
    assert_eq!(code(&not_followed), Some(0));
    assert!(
        stdout(&not_followed).starts_with("HTTP/1.1 307"),
        "{}",
        stdout(&not_followed)
    );
    let followed = fx.as_admin(&[
        "request",
        "GET",
        &format!("http://{addr}/old"),
        "--location",
    ]);
    assert_eq!(code(&followed), Some(0), "{}", stderr(&followed));
    assert_eq!(json(&followed)["principal"], "root");
    // 307 keeps the method and the body; the server verifies the re-signed hop.
    let post = fx.as_admin(&[
        "request",
        "POST",
        &format!("http://{addr}/old"),
        "-L",
        "--data",
        r#"{"name":"moved"}"#,
    ]);
    assert_eq!(code(&post), Some(0), "{}", stderr(&post));
    assert_eq!(json(&post)["name"], "moved");
}

#[test]
fn timeouts_and_paths_on_the_profile_endpoint() {
    let fx = Fixture::new("req-timeout", &[]);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let out = fx.as_admin(&[
        "request",
        "GET",
        &format!("http://{addr}/"),
        "--timeout",
        "300ms",
    ]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no response from"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);

    fx.write_profiles(&format!(
        "[default]\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}/\n",
        fx.admin.0,
        fx.admin.1,
        fx.endpoint()
    ));
    let out = fx.run(&["request", "GET", "/v1/whoami"], &[], None);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["principal"], "root");
}

#[test]
fn https_trusts_the_platform_a_private_ca_or_nothing() {
    let fx = Fixture::new("req-tls", &[]);
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = fx.dir.path().join("cert.pem");
    let key = fx.dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let tls = Server::start(
        &fx.server.store,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("https://{}/v1/whoami", tls.addr);

    let trusted = fx.as_admin(&["request", "GET", &url, "--cacert", cert.to_str().unwrap()]);
    assert_eq!(code(&trusted), Some(0), "{}", stderr(&trusted));
    assert_eq!(json(&trusted)["principal"], "root");
    assert!(stderr(&trusted).is_empty(), "{}", stderr(&trusted));

    let unknown = fx.as_admin(&["request", "GET", &url]);
    assert_eq!(code(&unknown), Some(1), "{}", stderr(&unknown));
    let err = stderr(&unknown);
    assert!(
        err.contains("UnknownIssuer") && err.contains("pass --cacert <PEM>"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let insecure = fx.as_admin(&["request", "GET", &url, "--insecure"]);
    assert_eq!(code(&insecure), Some(0), "{}", stderr(&insecure));
    assert!(
        stderr(&insecure).contains("warning: --insecure"),
        "{}",
        stderr(&insecure)
    );

    let bad_ca = fx.as_admin(&["request", "GET", &url, "--cacert", key.to_str().unwrap()]);
    assert_eq!(code(&bad_ca), Some(2), "{}", stderr(&bad_ca));
    assert!(
        stderr(&bad_ca).contains("no PEM certificate"),
        "{}",
        stderr(&bad_ca)
    );
}

/// Runs `countersign args` on a pseudo-terminal (util-linux/bsdutils `script`). For each
/// `(prompt, line)` it waits until the terminal shows `prompt`, then types `line`. Returns the
/// exit code and what the terminal showed.
fn on_a_terminal(
    fx: &Fixture,
    args: &[&str],
    env: &[(&str, &str)],
    dialogue: &[(&str, &str)],
) -> (Option<i32>, String) {
    use std::io::Read;
    use std::sync::Mutex;
    let command = std::iter::once(bin("countersign").display().to_string())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"]);
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", fx.dir.path())
        .env("COUNTERSIGN_CONFIG_FILE", fx.config());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run script(1)");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let screen = screen.clone();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = 0;
    for (prompt, line) in dialogue {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
            if let Some(at) = text[seen..].find(prompt) {
                seen += at + prompt.len();
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no prompt `{prompt}`: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The prompt is printed just before echo is turned off: give it a moment.
        std::thread::sleep(Duration::from_millis(150));
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    (status.code(), text)
}

#[cfg(unix)]
#[test]
fn configure_prompts_on_a_terminal_without_echoing_secrets() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new("req-configure-tty", &[]);
    let (id, secret) = fx.server.store.principal_with_key("prompted", false);
    let endpoint = fx.endpoint();
    let (status, screen) = on_a_terminal(
        &fx,
        &["configure", "--profile", "tty"],
        &[],
        &[
            ("access key id: ", &id),
            ("secret access key: ", &secret),
            ("session token: ", ""),
            ("region: ", ""),
            ("service: ", ""),
            ("endpoint: ", &endpoint),
        ],
    );
    assert_eq!(status, Some(0), "{screen}");
    assert!(!screen.contains(&secret), "the secret was echoed: {screen}");
    assert_eq!(
        std::fs::metadata(fx.config()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let who = fx.run(&["whoami", "--profile", "tty"], &[], None);
    assert_eq!(code(&who), Some(0), "{}", stderr(&who));
    assert_eq!(json(&who)["principal"], "prompted");
}

#[test]
fn uploads_show_progress_only_on_a_terminal() {
    let fx = Fixture::new("req-progress", &[]);
    let path = big_file(fx.dir.path(), 16 * 1024 * 1024);
    let url = fx.url("/v1/principals/x");
    let args = [
        "request",
        "PUT",
        url.as_str(),
        "--data-file",
        path.to_str().unwrap(),
    ];
    let env = fx.admin_env();
    let (status, screen) = on_a_terminal(&fx, &args, &env, &[]);
    assert_eq!(status, Some(4), "{screen}");
    assert!(
        screen.contains("%  ") && screen.contains("/16.0 MiB"),
        "no progress bar: {screen}"
    );
    assert!(screen.contains("MethodNotAllowed"), "{screen}");

    let quiet: Vec<&str> = args.iter().copied().chain(["--quiet"]).collect();
    let (status, screen) = on_a_terminal(&fx, &quiet, &env, &[]);
    assert_eq!(status, Some(4), "{screen}");
    assert!(!screen.contains("MiB"), "--quiet showed progress: {screen}");

    let piped = fx.as_admin(&args);
    assert_eq!(code(&piped), Some(4));
    assert!(
        stderr(&piped).is_empty(),
        "progress without a terminal: {}",
        stderr(&piped)
    );
}

#[test]
fn admin_policy_commands_set_show_and_clear() {
    let fx = Fixture::new("req-policy", &[]);
    let endpoint = fx.endpoint();
    let admin = |args: &[&str]| {
        let mut all = vec!["admin", "--endpoint", endpoint.as_str()];
        all.extend_from_slice(args);
        fx.as_admin(&all)
    };
    assert_eq!(code(&admin(&["principal", "create", "pat"])), Some(0));
    let created = admin(&[
        "key",
        "create",
        "--principal",
        "pat",
        "--save-profile",
        "pat",
        "--json",
    ]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let pat = |args: &[&str]| fx.run(&[&["--profile", "pat"], args].concat(), &[], None);
    assert_eq!(code(&pat(&["whoami"])), Some(0));

    let policy = r#"{"allow":[{"methods":["GET"],"paths":["/v1/things/**"]}]}"#;
    let set = admin(&["policy", "set", "--principal", "pat", "--document", policy]);
    assert_eq!(code(&set), Some(0), "{}", stderr(&set));
    let denied = pat(&["whoami"]);
    assert_eq!(code(&denied), Some(4));
    assert!(stderr(&denied).contains("AccessDenied") || stdout(&denied).contains("AccessDenied"));
    let shown = json(&admin(&["policy", "show", "--principal", "pat", "--json"]));
    assert_eq!(
        shown["policy"]["allow"][0]["paths"][0], "/v1/things/**",
        "{shown}"
    );
    let table = stdout(&admin(&["policy", "show", "--principal", "pat"]));
    assert!(table.starts_with("PRINCIPAL"), "{table}");

    let file = fx.dir.path().join("open.json");
    std::fs::write(&file, r#"{"allow":[{"methods":["*"],"paths":["/**"]}]}"#).unwrap();
    let set = admin(&[
        "policy",
        "set",
        "--principal",
        "pat",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&set), Some(0), "{}", stderr(&set));
    assert_eq!(code(&pat(&["whoami"])), Some(0));
    assert_eq!(
        code(&admin(&["policy", "clear", "--principal", "pat"])),
        Some(0)
    );
    let cleared = json(&admin(&["policy", "show", "--principal", "pat", "--json"]));
    assert_eq!(cleared["policy"], Value::Null);

    // Usage errors: both subjects, neither, bad JSON; a malformed policy is the server's 400.
    assert_eq!(
        code(&admin(&[
            "policy",
            "show",
            "--principal",
            "pat",
            "--key",
            "AKCS"
        ])),
        Some(2)
    );
    assert_eq!(code(&admin(&["policy", "show"])), Some(2));
    assert_eq!(
        code(&admin(&[
            "policy",
            "set",
            "--principal",
            "pat",
            "--json",
            "{"
        ])),
        Some(2)
    );
    let bad = admin(&[
        "policy",
        "set",
        "--principal",
        "pat",
        "--document",
        r#"{"allow":[{"methods":["get"],"paths":["/x"]}]}"#,
    ]);
    assert_eq!(code(&bad), Some(4));
    assert!(stderr(&bad).contains("InvalidRequest"), "{}", stderr(&bad));
}
