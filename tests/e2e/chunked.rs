//! Streaming (`aws-chunked`) uploads through the gateway and to the server's own API (issue
//! #6): a valid upload arrives decoded; each kind of corruption fails with its code, and the
//! upstream never sees a complete body.

use std::time::{Duration, SystemTime};

use countersign::chunked::{ChunkSigner, Seed, StreamingMode};
use countersign::{AmzDate, Credentials, Payload, Request, Scope, SecretKey, Signer, SigningKey};

use super::gateway::{Upstream, gateway};
use crate::support::peak_rss_kib;
use crate::support::server::{RawRequest, Server, Store, TempDir, signer};

const REGION: &str = "local";
const SERVICE: &str = "countersign";

/// How a test spoils an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spoil {
    None,
    /// Flip one hex digit of the second chunk's signature.
    ChunkSignature,
    /// Sign `x-amz-decoded-content-length` one byte short of the data.
    DecodedLength,
    /// Cut the body before the final zero-length chunk.
    Truncate,
    /// A trailer checksum that is not the body's.
    TrailerChecksum,
}

/// A header-signed `aws-chunked` request of `data` in `chunk_size`-byte chunks.
fn chunked(
    server: &Server,
    creds: &Credentials,
    (method, target): (&str, &str),
    mode: StreamingMode,
    data: &[u8],
    chunk_size: usize,
    spoil: Spoil,
) -> RawRequest {
    let host = server.host();
    let declared = match spoil {
        Spoil::DecodedLength => data.len() - 1,
        _ => data.len(),
    }
    .to_string();
    let mut headers = vec![
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", declared.as_str()),
    ];
    if mode.has_trailer() {
        headers.push(("x-amz-trailer", "x-amz-checksum-sha256"));
    }
    let signer = Signer::new(creds.clone(), REGION, SERVICE).unwrap();
    let view = Request::new(method, target)
        .header("host", &host)
        .headers(headers.iter().copied());
    let at = AmzDate::from_system_time(SystemTime::now());
    let signed = signer.sign(&view, Payload::Streaming(mode), at).unwrap();
    let mut chunks = if mode.signs_chunks() {
        let scope = Scope {
            date: at.date_stamp(),
            region: REGION,
            service: SERVICE,
        };
        let key = SigningKey::derive(creds.secret(), at.date_stamp(), REGION, SERVICE);
        ChunkSigner::new(mode, Seed::new(key, at, scope, signed.signature()))
    } else {
        ChunkSigner::unsigned()
    };
    let mut body = Vec::new();
    let mut final_at = 0;
    for (i, piece) in data.chunks(chunk_size).enumerate() {
        let mut frame = chunks.chunk(piece);
        if spoil == Spoil::ChunkSignature && i == 1 {
            let at = frame.iter().position(|&b| b == b'=').unwrap() + 1;
            frame[at] = if frame[at] == b'0' { b'1' } else { b'0' };
        }
        body.extend(frame);
        final_at = body.len();
    }
    let end = if spoil == Spoil::TrailerChecksum {
        chunks.finish_with_trailers(&[(
            "x-amz-checksum-sha256",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        )])
    } else {
        chunks.finish()
    };
    body.extend(end);
    if spoil == Spoil::Truncate {
        body.truncate(final_at);
    }
    RawRequest::signed(method, target, &host, &headers, signed.headers(), body)
}

/// Long-term credentials from an `(id, secret)` pair.
fn cr(creds: &(String, String)) -> Credentials {
    Credentials::new(&creds.0, creds.1.as_str())
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

const MODES: [StreamingMode; 3] = [
    StreamingMode::Signed,
    StreamingMode::SignedWithTrailer,
    StreamingMode::UnsignedWithTrailer,
];

#[test]
fn a_chunked_upload_reaches_the_upstream_decoded_in_every_mode() {
    let dir = TempDir::new("chunked-gw-ok");
    let store = Store::sqlite(dir.path());
    let creds = store.principal_with_key("alice", false);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let body = data(200_000);
    for (i, mode) in MODES.into_iter().enumerate() {
        let req = chunked(
            &server,
            &cr(&creds),
            ("PUT", "/api/blob"),
            mode,
            &body,
            65536,
            Spoil::None,
        );
        let response = server.send(&req);
        assert_eq!(
            response.status,
            200,
            "{mode}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let seen = upstream.wait_for(i + 1);
        let got = &seen[i];
        assert!(got.complete, "{mode}");
        assert_eq!(got.body, body, "{mode}: the upstream gets the decoded body");
        assert_eq!(got.header("content-length"), Some("200000"));
        assert_eq!(
            got.header("content-encoding"),
            None,
            "aws-chunked is removed"
        );
        assert_eq!(got.header("x-amz-decoded-content-length"), None);
        assert_eq!(got.header("x-amz-trailer"), None);
        assert_eq!(got.header("x-countersign-principal"), Some("alice"));
    }
}

#[test]
fn each_kind_of_chunked_corruption_fails_with_its_code_and_never_completes_upstream() {
    let dir = TempDir::new("chunked-gw-bad");
    let store = Store::sqlite(dir.path());
    let creds = store.principal_with_key("alice", false);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let body = data(200_000);
    let cases = [
        (
            StreamingMode::Signed,
            Spoil::ChunkSignature,
            401,
            "SignatureDoesNotMatch",
        ),
        (
            StreamingMode::SignedWithTrailer,
            Spoil::ChunkSignature,
            401,
            "SignatureDoesNotMatch",
        ),
        (
            StreamingMode::Signed,
            Spoil::DecodedLength,
            400,
            "IncompleteBody",
        ),
        (
            StreamingMode::UnsignedWithTrailer,
            Spoil::DecodedLength,
            400,
            "IncompleteBody",
        ),
        (
            StreamingMode::Signed,
            Spoil::Truncate,
            400,
            "IncompleteBody",
        ),
        (
            StreamingMode::UnsignedWithTrailer,
            Spoil::Truncate,
            400,
            "IncompleteBody",
        ),
        (
            StreamingMode::SignedWithTrailer,
            Spoil::TrailerChecksum,
            400,
            "BadDigest",
        ),
        (
            StreamingMode::UnsignedWithTrailer,
            Spoil::TrailerChecksum,
            400,
            "BadDigest",
        ),
    ];
    for (mode, spoil, status, code) in cases {
        let req = chunked(
            &server,
            &cr(&creds),
            ("PUT", "/api/blob"),
            mode,
            &body,
            65536,
            spoil,
        );
        let response = server.send(&req);
        assert_eq!(
            (response.status, response.code().as_str()),
            (status, code),
            "{mode} {spoil:?}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
    // Cut-off requests are recorded when the gateway closes the connection.
    std::thread::sleep(Duration::from_millis(300));
    for seen in upstream.seen() {
        assert!(!seen.complete, "the upstream saw a complete spoilt body");
        assert!(seen.body.len() < body.len());
    }
}

#[test]
fn a_chunked_json_body_reaches_the_own_api_decoded() {
    let dir = TempDir::new("chunked-api");
    let store = Store::sqlite(dir.path());
    let admin = store.principal_with_key("root", true);
    let server = Server::start(&store, &["--max-body", "1KiB"]);
    let json = br#"{"name":"chunky","admin":false}"#;
    for (mode, name) in MODES.into_iter().zip(["chunky-a", "chunky-b", "chunky-c"]) {
        let json = String::from_utf8_lossy(json).replace("chunky", name);
        let req = chunked(
            &server,
            &cr(&admin),
            ("POST", "/v1/principals"),
            mode,
            json.as_bytes(),
            7,
            Spoil::None,
        );
        let response = server.send(&req);
        assert!(
            matches!(response.status, 200 | 201),
            "{mode}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.json()["name"], name, "{mode}");
    }
    let listed = server.signed(&admin, "GET", "/v1/principals", b"");
    let text = String::from_utf8_lossy(&listed.body);
    assert!(
        text.contains("chunky-a") && text.contains("chunky-c"),
        "{text}"
    );

    // Corruption is refused before the route runs; so is a body over --max-body.
    let bad = chunked(
        &server,
        &cr(&admin),
        ("POST", "/v1/principals"),
        StreamingMode::Signed,
        json,
        7,
        Spoil::ChunkSignature,
    );
    let r = server.send(&bad);
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "SignatureDoesNotMatch")
    );
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("chunk 1"), "{message}");
    let big = data(2000);
    let r = server.send(&chunked(
        &server,
        &cr(&admin),
        ("POST", "/v1/principals"),
        StreamingMode::Signed,
        &big,
        512,
        Spoil::None,
    ));
    assert_eq!((r.status, r.code().as_str()), (413, "EntityTooLarge"));
    let mut missing = chunked(
        &server,
        &cr(&admin),
        ("POST", "/v1/principals"),
        StreamingMode::Signed,
        json,
        7,
        Spoil::None,
    );
    missing
        .headers
        .retain(|(n, _)| n != "x-amz-decoded-content-length");
    let r = server.send(&missing);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("x-amz-decoded-content-length"),
        "{message}"
    );
    let listed = server.signed(&admin, "GET", "/v1/principals", b"");
    assert!(!String::from_utf8_lossy(&listed.body).contains("\"chunky\""));
}

/// `countersign request` with the credentials in the environment and nothing else.
fn cli(creds: &(String, String), args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(crate::support::bin("countersign"));
    for (var, _) in std::env::vars() {
        if var.starts_with("COUNTERSIGN_") {
            cmd.env_remove(var);
        }
    }
    cmd.env(
        "COUNTERSIGN_CONFIG_FILE",
        "/nonexistent/countersign-credentials",
    )
    .env("COUNTERSIGN_ACCESS_KEY_ID", &creds.0)
    .env("COUNTERSIGN_SECRET_ACCESS_KEY", &creds.1)
    .args(args)
    .output()
    .unwrap()
}

#[test]
fn cli_chunked_uploads_round_trip_through_the_gateway_and_the_own_api() {
    let dir = TempDir::new("chunked-cli");
    let store = Store::sqlite(dir.path());
    let creds = store.principal_with_key("alice", false);
    let admin = store.principal_with_key("root", true);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let file = dir.path().join("upload.bin");
    let body = data(300_001);
    std::fs::write(&file, &body).unwrap();
    let url = format!("http://{}/api/upload", server.host());
    let file = file.to_str().unwrap();
    let runs: [&[&str]; 4] = [
        &["--chunked"],
        &["--chunked=signed", "--chunk-size", "8KiB"],
        &["--chunked=signed-trailer", "--chunk-size", "100000"],
        &["--chunked=unsigned-trailer"],
    ];
    for (i, flags) in runs.iter().enumerate() {
        let mut args = vec!["request", "PUT", url.as_str(), "--data-file", file, "-q"];
        args.extend_from_slice(flags);
        let out = cli(&creds, &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"upstream says hi");
        let seen = upstream.wait_for(i + 1);
        assert!(seen[i].complete, "{flags:?}");
        assert_eq!(seen[i].body, body, "{flags:?}: decoded body upstream");
    }

    // The own API: a chunked JSON body creates a principal.
    let url = format!("http://{}/v1/principals", server.host());
    let out = cli(
        &admin,
        &[
            "request",
            "POST",
            &url,
            "--data",
            r#"{"name":"from-cli"}"#,
            "--chunked",
            "--chunk-size",
            "5",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["name"], "from-cli");
}

#[test]
fn a_1_gib_chunked_upload_streams_through_the_gateway_decoded_in_bounded_memory() {
    use std::io::{Read, Write};

    use sha2::{Digest, Sha256};

    use super::gateway::{hashing_upstream, upload_chunk};

    const SIZE: u64 = 1 << 30;
    const CHUNK: usize = 64 * 1024;
    let dir = TempDir::new("chunked-1gib");
    let store = Store::sqlite(dir.path());
    let creds = store.principal_with_key("alice", false);
    let upstream = hashing_upstream();
    let route = format!("/up=http://{upstream}");
    let server = Server::start(&store, &["--route", &route, "--max-body", "2GiB"]);

    let mode = StreamingMode::Signed;
    let host = server.host();
    let decoded = SIZE.to_string();
    let encoded = countersign::chunked::encoded_length(mode, SIZE, CHUNK as u64).unwrap();
    let headers = [
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded.as_str()),
    ];
    let signer = signer(&creds);
    let view = Request::new("PUT", "/up/big")
        .header("host", &host)
        .headers(headers.iter().copied());
    let at = AmzDate::from_system_time(SystemTime::now());
    let signed = signer.sign(&view, Payload::Streaming(mode), at).unwrap();
    let key = SigningKey::derive(
        &SecretKey::new(creds.1.as_str()),
        at.date_stamp(),
        REGION,
        SERVICE,
    );
    let scope = Scope {
        date: at.date_stamp(),
        region: REGION,
        service: SERVICE,
    };
    let mut chunks = ChunkSigner::new(mode, Seed::new(key, at, scope, signed.signature()));
    let mut head = format!("PUT /up/big HTTP/1.1\r\nHost: {host}\r\nContent-Length: {encoded}\r\n");
    for (name, value) in headers
        .iter()
        .copied()
        .chain(signed.headers().iter().map(|(n, v)| (*n, v.as_str())))
    {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");

    let started = std::time::Instant::now();
    let mut sock = std::net::TcpStream::connect(server.addr).unwrap();
    sock.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < SIZE {
        upload_chunk(offset, &mut buf);
        hasher.update(&buf);
        for piece in buf.chunks(CHUNK) {
            sock.write_all(&chunks.chunk(piece)).unwrap();
        }
        offset += buf.len() as u64;
    }
    sock.write_all(&chunks.finish()).unwrap();
    let mut response = Vec::new();
    sock.read_to_end(&mut response).unwrap();
    let elapsed = started.elapsed();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let digest = hex::encode(hasher.finalize());
    assert!(
        response.ends_with(&format!("{SIZE} {digest}")),
        "the upstream got the whole decoded body: {response}"
    );

    let peak_kib = peak_rss_kib(server.pid()).unwrap();
    println!(
        "gateway peak RSS during a 1 GiB aws-chunked upload: {:.1} MiB ({:.1}s, {:.0} MiB/s)",
        peak_kib as f64 / 1024.0,
        elapsed.as_secs_f64(),
        1024.0 / elapsed.as_secs_f64()
    );
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn a_session_signed_chunked_body_is_decoded_too() {
    let dir = TempDir::new("chunked-session");
    let store = Store::sqlite(dir.path());
    store.principal_with_key("root", true);
    store.set_password("root", "correct horse battery");
    let server = Server::start(&store, &[]);
    let login = server.post_json(
        "/v1/auth/login",
        &serde_json::json!({"principal": "root", "password": "correct horse battery"}),
    );
    assert_eq!(
        login.status,
        200,
        "{}",
        String::from_utf8_lossy(&login.body)
    );
    let v = login.json();
    let session = Credentials::new(
        v["access_key_id"].as_str().unwrap(),
        v["secret_access_key"].as_str().unwrap(),
    )
    .with_session_token(v["session_token"].as_str().unwrap());
    let json = br#"{"name":"via-session"}"#;
    let ok = chunked(
        &server,
        &session,
        ("POST", "/v1/principals"),
        StreamingMode::SignedWithTrailer,
        json,
        6,
        Spoil::None,
    );
    let r = server.send(&ok);
    assert!(
        matches!(r.status, 200 | 201),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["name"], "via-session");
    let bad = chunked(
        &server,
        &session,
        ("POST", "/v1/principals"),
        StreamingMode::Signed,
        br#"{"name":"never"}"#,
        6,
        Spoil::ChunkSignature,
    );
    let r = server.send(&bad);
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "SignatureDoesNotMatch")
    );
}
