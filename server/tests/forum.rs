//! The forum example (`server/examples/forum.rs`), run in-process: creating a topic needs a
//! valid signature, and the topic's author is the authenticated principal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

#[path = "../examples/forum.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example's `main` is not called here"
)]
mod forum;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use clap::Parser;
use countersign::{AmzDate, Credentials, Payload, Request, Signer};
use countersign_server::config::{Cli, Command};
use countersign_server::password::Passwords;
use countersign_server::store::KeyStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

const PASSWORD: &str = "correct horse battery";

async fn start(dir: &std::path::Path) -> SocketAddr {
    let url = format!("sqlite://{}?mode=rwc", dir.join("forum.db").display());
    let argv = ["forum", "--listen", "127.0.0.1:0", "--database-url", &url];
    let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().into_command() else {
        panic!("expected serve flags")
    };
    let store = countersign_server::open_store(&args.store).await.unwrap();
    store.create_principal("alice", false, 1).await.unwrap();
    let hash = Passwords::new()
        .hash(Zeroizing::new(PASSWORD.to_owned()))
        .await
        .unwrap();
    store.set_password("alice", &hash, 1).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(forum::Forum::open(args).await.unwrap());
    tokio::spawn(forum::serve(app, listener));
    addr
}

/// Sends one HTTP/1.1 request with `Connection: close`; returns status and JSON body.
async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, Value) {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn signed_headers(addr: SocketAddr, credentials: Credentials, body: &str) -> Vec<(String, String)> {
    let signer = Signer::new(credentials, "local", "countersign").unwrap();
    let host = addr.to_string();
    let view = Request::new("POST", "/topics").header("host", &host);
    let now = AmzDate::from_system_time(SystemTime::now());
    let signed = signer
        .sign(&view, Payload::Bytes(body.as_bytes()), now)
        .unwrap();
    signed
        .headers()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect()
}

#[tokio::test]
async fn topics_need_a_signature_and_record_the_signing_principal_as_author() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;
    let topic = json!({"title": "hello", "body": "first post"}).to_string();

    let (status, body) = send(addr, "POST", "/topics", &[], &topic).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("MissingAuthenticationToken"))
    );

    let login = json!({"principal": "alice", "password": PASSWORD}).to_string();
    let (status, session) = send(addr, "POST", "/v1/auth/login", &[], &login).await;
    assert_eq!(status, 200, "{session}");
    let credentials = Credentials::new(
        session["access_key_id"].as_str().unwrap(),
        session["secret_access_key"].as_str().unwrap(),
    )
    .with_session_token(session["session_token"].as_str().unwrap());

    let forged = Credentials::new(session["access_key_id"].as_str().unwrap(), "x".repeat(40))
        .with_session_token(session["session_token"].as_str().unwrap());
    let headers = signed_headers(addr, forged, &topic);
    let (status, body) = send(addr, "POST", "/topics", &headers, &topic).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("SignatureDoesNotMatch"))
    );

    let headers = signed_headers(addr, credentials, &topic);
    let (status, created) = send(addr, "POST", "/topics", &headers, &topic).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["author"], "alice");
    assert_eq!(created["title"], "hello");

    let (status, list) = send(addr, "GET", "/topics", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(list["topics"].as_array().unwrap().len(), 1);
    assert_eq!(list["topics"][0]["author"], "alice");
}
