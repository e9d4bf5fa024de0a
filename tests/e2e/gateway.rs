//! The verifying gateway (`serve --route`) against a small recording upstream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use countersign::{AmzDate, ContentSha256Header, Credentials, Payload, Request, SigningSettings};

use crate::support::peak_rss_kib;
use crate::support::server::{RawRequest, Server, Store, TempDir, send, signer};

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) request_line: String,
    /// Header names lowercased.
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// Whether the whole `Content-Length` body arrived.
    pub(super) complete: bool,
}

impl Seen {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// An HTTP/1.1 upstream that records every request and answers `200 upstream says hi`
/// (after `delay`), one request per connection.
pub(super) struct Upstream {
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub(super) fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || serve_one(stream, &record, delay));
            }
        });
        Self { addr, seen }
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the upstream has recorded `n` requests (a cut-off body is recorded when
    /// the gateway closes the connection, which may come just after its answer).
    pub(super) fn wait_for(&self, n: usize) -> Vec<Seen> {
        for _ in 0..100 {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.seen()
    }
}

/// A request head read from `stream`: request line, headers (names lowercased), the
/// `Content-Length` (0 when absent) and the body bytes that came with the head.
struct Head {
    request_line: String,
    headers: Vec<(String, String)>,
    length: usize,
    body_start: Vec<u8>,
}

fn read_head(stream: &mut TcpStream) -> Option<Head> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    Some(Head {
        request_line,
        headers,
        length,
        body_start: raw[head_end + 4..].to_vec(),
    })
}

fn serve_one(mut stream: TcpStream, record: &Mutex<Vec<Seen>>, delay: Duration) {
    let Some(Head {
        request_line,
        headers,
        length,
        body_start: mut body,
    }) = read_head(&mut stream)
    else {
        return;
    };
    let mut buf = [0u8; 65536];
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let complete = body.len() >= length;
    record.lock().unwrap().push(Seen {
        request_line,
        headers,
        body,
        complete,
    });
    if !complete {
        return;
    }
    std::thread::sleep(delay);
    let reply = "upstream says hi";
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-upstream: yes\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

fn creds(store: &Store) -> (String, String) {
    store.principal_with_key("alice", false)
}

pub(super) fn gateway(store: &Store, upstream: &Upstream, extra: &[&str]) -> Server {
    let route = format!("/api=http://{}", upstream.addr);
    let mut args = vec!["--route", route.as_str()];
    args.extend_from_slice(extra);
    Server::start(store, &args)
}

/// A header-signed request; with `declared`, the payload hash is sent in
/// `x-amz-content-sha256` (signed) instead of being derived from `body`.
fn signed(
    server: &Server,
    creds: &(String, String),
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    declared: Option<&[u8]>,
) -> RawRequest {
    let host = server.host();
    let mut settings = SigningSettings::default();
    if declared.is_some() {
        settings = settings.content_sha256(ContentSha256Header::Send);
    }
    let signer = signer(creds).with_settings(settings);
    let view = Request::new(method, target)
        .header("host", &host)
        .headers(headers.iter().copied());
    let payload = Payload::Bytes(declared.unwrap_or(body));
    let at = AmzDate::from_system_time(SystemTime::now());
    let signed_request = signer.sign(&view, payload, at).unwrap();
    let signature = signed_request.headers();
    RawRequest::signed(method, target, &host, headers, signature, body.to_vec())
}

#[test]
fn identity_headers_reach_the_upstream_and_forged_ones_never_do() {
    let dir = TempDir::new("gw-identity");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let forged = [
        ("X-Countersign-Principal", "root"),
        ("x-countersign-auth", "session"),
        ("X-COUNTERSIGN-ACCESS-KEY-ID", "AKCSFORGED"),
        ("X-Countersign-Extra", "1"),
        ("x-trace", "abc"),
    ];
    let req = signed(
        &server,
        &creds,
        "POST",
        "/api/items?x=1",
        &forged,
        b"{\"a\":1}",
        None,
    );
    let response = server.send(&req);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.body, b"upstream says hi");
    assert_eq!(response.header("x-upstream"), Some("yes"));
    assert!(response.header("x-request-id").is_some());
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.request_line, "POST /api/items?x=1 HTTP/1.1");
    assert_eq!(got.all("x-countersign-principal"), ["alice"]);
    assert_eq!(got.all("x-countersign-access-key-id"), [creds.0.as_str()]);
    assert_eq!(got.all("x-countersign-auth"), ["header"]);
    assert!(got.header("x-countersign-extra").is_none());
    assert!(got.header("authorization").is_none());
    assert_eq!(got.header("x-trace"), Some("abc"));
    assert_eq!(got.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(got.header("x-forwarded-host"), Some(server.host().as_str()));
    assert_eq!(got.header("x-forwarded-proto"), Some("http"));
    assert_eq!(got.body, b"{\"a\":1}");
    assert!(got.complete);
}

#[test]
fn unsigned_and_badly_signed_requests_never_reach_the_upstream() {
    let dir = TempDir::new("gw-unsigned");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let unsigned = RawRequest {
        method: "GET".into(),
        target: "/api/x".into(),
        headers: vec![("Host".into(), server.host())],
        body: Vec::new(),
    };
    let response = server.send(&unsigned);
    assert_eq!(response.status, 401);
    assert_eq!(response.code(), "MissingAuthenticationToken");
    let wrong = (creds.0.clone(), "x".repeat(40));
    let response = server.send(&signed(&server, &wrong, "GET", "/api/x", &[], b"", None));
    assert_eq!(response.code(), "SignatureDoesNotMatch");
    assert!(upstream.seen().is_empty());
}

#[test]
fn a_tampered_small_body_is_refused_before_the_upstream_sees_anything() {
    let dir = TempDir::new("gw-small");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    // Declared hash of one body, another body of the same length sent.
    let mut req = signed(
        &server,
        &creds,
        "PUT",
        "/api/doc",
        &[],
        b"hello",
        Some(b"hello"),
    );
    req.body = b"HELLO".to_vec();
    let response = server.send(&req);
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), "XAmzContentSHA256Mismatch");
    // Undeclared: the body is part of the signature.
    let mut req = signed(&server, &creds, "PUT", "/api/doc", &[], b"hello", None);
    req.body = b"HELLO".to_vec();
    assert_eq!(server.send(&req).code(), "SignatureDoesNotMatch");
    assert!(upstream.seen().is_empty());
}

#[test]
fn a_large_streamed_body_is_aborted_on_a_hash_mismatch_and_passes_when_it_matches() {
    let dir = TempDir::new("gw-large");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &["--buffer-limit", "4KiB"]);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();

    let good = signed(&server, &creds, "PUT", "/api/blob", &[], &body, Some(&body));
    let response = server.send(&good);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let seen = upstream.wait_for(1);
    assert!(seen[0].complete);
    assert_eq!(seen[0].body, body);

    let mut tampered = body.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut bad = signed(&server, &creds, "PUT", "/api/blob", &[], &body, Some(&body));
    bad.body = tampered;
    let response = server.send(&bad);
    assert_eq!(
        response.status,
        400,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.code(), "XAmzContentSHA256Mismatch");
    // Counted with the verification failures, as on the own API.
    let metrics = String::from_utf8(get(&server, "/metrics", &[], "GET").body).unwrap();
    let line = "countersign_verification_failures_total{code=\"XAmzContentSHA256Mismatch\"} 1\n";
    assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    // Depending on timing the upstream saw the head and part of the body, or nothing at all
    // (the request was cut off before hyper flushed its first write): never all of it.
    std::thread::sleep(Duration::from_millis(300));
    let seen = upstream.seen();
    assert!(seen.len() <= 2, "{seen:?}");
    for cut in &seen[1..] {
        assert!(
            !cut.complete,
            "the upstream must never see a complete tampered body"
        );
        assert!(cut.body.len() < body.len());
    }
}

#[test]
fn unreachable_and_slow_upstreams_give_502_and_504() {
    let dir = TempDir::new("gw-errors");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    // A port with nothing listening: bind, note it, close.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = format!("/down=http://{closed}");
    let slow = Upstream::start(Duration::from_secs(3));
    let slow_route = format!("/slow=http://{}", slow.addr);
    let server = Server::start(
        &store,
        &[
            "--route",
            &down,
            "--route",
            &slow_route,
            "--upstream-timeout",
            "1s",
        ],
    );
    let response = server.send(&signed(&server, &creds, "GET", "/down/x", &[], b"", None));
    assert_eq!(response.status, 502);
    assert_eq!(response.code(), "UpstreamUnavailable");
    let started = std::time::Instant::now();
    let response = server.send(&signed(&server, &creds, "GET", "/slow/x", &[], b"", None));
    assert_eq!(response.status, 504);
    assert_eq!(response.code(), "UpstreamTimeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn own_endpoints_win_over_a_catch_all_route_and_v1_routes_are_refused() {
    let dir = TempDir::new("gw-own");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let route = format!("/=http://{}/base", upstream.addr);
    let server = Server::start(&store, &["--route", &route]);
    let live = RawRequest {
        method: "GET".into(),
        target: "/livez".into(),
        headers: vec![("Host".into(), server.host())],
        body: Vec::new(),
    };
    assert_eq!(send(server.addr, &live).status, 200);
    let response = server.signed(&creds, "GET", "/v1/whoami", b"");
    assert_eq!(response.json()["principal"], "alice");
    let response = server.send(&signed(
        &server,
        &creds,
        "GET",
        "/anything/else",
        &[],
        b"",
        None,
    ));
    assert_eq!(response.status, 200);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, "GET /base/anything/else HTTP/1.1");

    let refused = std::process::Command::new(crate::support::bin("countersign-server"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--route",
            "/v1/things=http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("/v1/"), "{stderr}");
}

#[test]
fn presigned_parameters_are_stripped_unless_forward_auth() {
    let dir = TempDir::new("gw-presign");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    for (flags, forwarded) in [(&[][..], false), (&["--forward-auth"][..], true)] {
        let server = gateway(&store, &upstream, flags);
        let host = server.host();
        let signer = signer(&creds);
        let view = Request::new("GET", "/api/file?v=2").header("host", &host);
        let at = AmzDate::from_system_time(SystemTime::now());
        let presigned = signer
            .presign(&view, Payload::Bytes(b""), at, Duration::from_secs(60))
            .unwrap();
        let target = format!("/api/file?{}", presigned.query());
        let req = RawRequest {
            method: "GET".into(),
            target,
            headers: vec![("Host".into(), host.clone())],
            body: Vec::new(),
        };
        let response = server.send(&req);
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        let seen = upstream.seen();
        let got = seen.last().unwrap();
        assert_eq!(got.header("x-countersign-auth"), Some("query"));
        assert_eq!(
            got.request_line.contains("X-Amz-Signature"),
            forwarded,
            "{}",
            got.request_line
        );
        if !forwarded {
            assert_eq!(got.request_line, "GET /api/file?v=2 HTTP/1.1");
        }
    }
}

/// Two clients leave a query pair out when they sign (aws4fetch an empty name, the AWS SDK for
/// JavaScript v3 a bare name); such a request verifies, but the upstream never sees the pair.
#[test]
fn query_pairs_a_client_left_unsigned_never_reach_the_upstream() {
    let dir = TempDir::new("gw-unsigned-pairs");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let host = server.host();
    let signer = signer(&creds);
    let view = Request::new("GET", "/api/file?k=v").header("host", &host);
    let at = AmzDate::from_system_time(SystemTime::now());
    let signed = signer.sign(&view, Payload::Bytes(b""), at).unwrap();
    let send = |target: &str| {
        let req = RawRequest::signed("GET", target, &host, &[], signed.headers(), Vec::new());
        server.send(&req)
    };
    for sent in ["/api/file?=x&k=v", "/api/file?k=v&flag", "/api/file?k=v"] {
        let response = send(sent);
        assert_eq!(
            response.status,
            200,
            "{sent}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let seen = upstream.seen();
        assert_eq!(
            seen.last().unwrap().request_line,
            "GET /api/file?k=v HTTP/1.1"
        );
    }
    // Both at once is no client's reading: refused, and not forwarded.
    let before = upstream.seen().len();
    assert_eq!(send("/api/file?=x&k=v&flag").status, 401);
    assert_eq!(upstream.seen().len(), before);
}

fn get(
    server: &Server,
    target: &str,
    headers: &[(&str, &str)],
    method: &str,
) -> crate::support::server::Response {
    let mut all = vec![("Host".to_owned(), server.host())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    server.send(&RawRequest {
        method: method.into(),
        target: target.into(),
        headers: all,
        body: Vec::new(),
    })
}

#[test]
fn metrics_count_requests_failures_verification_cache_and_upstream() {
    let dir = TempDir::new("gw-metrics");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    assert_eq!(server.signed(&creds, "GET", "/v1/whoami", b"").status, 200);
    assert_eq!(server.signed(&creds, "GET", "/v1/whoami", b"").status, 200);
    assert_eq!(get(&server, "/v1/whoami", &[], "GET").status, 401);
    let via = server.send(&signed(&server, &creds, "GET", "/api/x", &[], b"", None));
    assert_eq!(via.status, 200);
    let metrics = get(&server, "/metrics", &[], "GET");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(metrics.body).unwrap();
    for line in [
        "countersign_requests_total{route=\"whoami\",status=\"200\"} 2",
        "countersign_requests_total{route=\"whoami\",status=\"401\"} 1",
        "countersign_requests_total{route=\"gateway\",status=\"200\"} 1",
        "countersign_verification_failures_total{code=\"MissingAuthenticationToken\"} 1",
        "countersign_verification_seconds_count 4",
        "countersign_key_cache_hits_total 2",
        "countersign_key_cache_misses_total 1",
        "countersign_upstream_seconds_count{route=\"/api\"} 1",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing `{line}` in\n{text}"
        );
    }
}

#[test]
fn metrics_move_to_their_own_listener_with_metrics_listen() {
    let dir = TempDir::new("gw-metrics-listen");
    let store = Store::sqlite(dir.path());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = Server::start(&store, &["--metrics-listen", &port.to_string()]);
    assert_eq!(
        get(&server, "/metrics", &[], "GET").status,
        401,
        "not on the main listener"
    );
    let req = RawRequest {
        method: "GET".into(),
        target: "/metrics".into(),
        headers: vec![("Host".into(), port.to_string())],
        body: Vec::new(),
    };
    let response = send(port, &req);
    assert_eq!(response.status, 200);
    assert!(String::from_utf8_lossy(&response.body).contains("countersign_requests_total"));
}

#[test]
fn cors_preflight_needs_no_signature_and_allowed_origins_get_the_headers() {
    let dir = TempDir::new("gw-cors");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let server = Server::start(&store, &["--cors-origin", "https://app.example"]);
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
        (
            "Access-Control-Request-Headers",
            "authorization, x-amz-date, content-type",
        ),
    ];
    let response = get(&server, "/v1/whoami", &preflight, "OPTIONS");
    assert_eq!(response.status, 204);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("authorization, x-amz-date, content-type")
    );
    assert!(
        response
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );

    let other = [
        ("Origin", "https://evil.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let response = get(&server, "/v1/whoami", &other, "OPTIONS");
    assert_eq!(response.status, 403);
    assert!(response.header("access-control-allow-origin").is_none());

    let mut req = signed(
        &server,
        &creds,
        "GET",
        "/v1/whoami",
        &[("Origin", "https://app.example")],
        b"",
        None,
    );
    let response = server.send(&req);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        response.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    // Errors too, so that a browser client can read why it failed.
    req.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    let response = server.send(&req);
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // An OPTIONS that is not a preflight still needs a signature.
    assert_eq!(get(&server, "/v1/whoami", &[], "OPTIONS").status, 401);
}

/// Deterministic upload content: a fixed pseudo-random block whose first 8 bytes carry the
/// offset, so no two chunks are equal (cheap to produce twice, once to hash and once to send).
pub(super) fn upload_chunk(offset: u64, buf: &mut [u8]) {
    if buf[8..16].iter().all(|&b| b == 0) {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 24) as u8 | 1;
        }
    }
    buf[..8].copy_from_slice(&offset.to_le_bytes());
}

/// An upstream that reads a `Content-Length` body in full, hashing it, and answers with the
/// byte count and hex SHA-256 (nothing is kept in memory).
pub(super) fn hashing_upstream() -> SocketAddr {
    use sha2::{Digest, Sha256};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Some(head) = read_head(&mut stream) else {
                    return;
                };
                let mut buf = vec![0u8; 1 << 16];
                let mut hasher = Sha256::new();
                hasher.update(&head.body_start);
                let mut got = head.body_start.len() as u64;
                while got < head.length as u64 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            hasher.update(&buf[..n]);
                            got += n as u64;
                        }
                    }
                }
                let reply = format!("{got} {}", hex::encode(hasher.finalize()));
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            });
        }
    });
    addr
}

#[test]
fn a_1_gib_upload_streams_through_the_gateway_in_bounded_memory() {
    use sha2::{Digest, Sha256};
    const SIZE: u64 = 1 << 30;
    let dir = TempDir::new("gw-1gib");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = hashing_upstream();
    let route = format!("/up=http://{upstream}");
    let server = Server::start(&store, &["--route", &route, "--max-body", "2GiB"]);

    let mut buf = vec![0u8; 1 << 20];
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < SIZE {
        upload_chunk(offset, &mut buf);
        hasher.update(&buf);
        offset += buf.len() as u64;
    }
    let digest: [u8; 32] = hasher.finalize().into();
    let hex_digest = hex::encode(digest);

    let host = server.host();
    let signer = signer(&creds)
        .with_settings(SigningSettings::default().content_sha256(ContentSha256Header::Send));
    let length = SIZE.to_string();
    let view = Request::new("PUT", "/up/big")
        .header("host", &host)
        .header("content-length", &length);
    let at = AmzDate::from_system_time(SystemTime::now());
    let signed_request = signer.sign(&view, Payload::Sha256(digest), at).unwrap();
    let mut head = format!("PUT /up/big HTTP/1.1\r\nHost: {host}\r\nContent-Length: {SIZE}\r\n");
    for (name, value) in signed_request.headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");

    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.write_all(head.as_bytes()).unwrap();
    let mut offset = 0;
    while offset < SIZE {
        upload_chunk(offset, &mut buf);
        sock.write_all(&buf).unwrap();
        offset += buf.len() as u64;
    }
    let mut response = Vec::new();
    sock.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(&format!("{SIZE} {hex_digest}")),
        "the upstream got all of it: {response}"
    );

    let peak_kib = peak_rss_kib(server.pid()).unwrap();
    println!(
        "gateway peak RSS during a 1 GiB upload: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

/// Issue #5 through the gateway: session credentials from login are verified like keys and
/// the upstream is told `x-countersign-auth: session`; after logout nothing reaches it.
#[test]
fn session_credentials_pass_the_gateway_as_auth_session_until_logout() {
    let dir = TempDir::new("gw-session");
    let store = Store::sqlite(dir.path());
    store.admin(&["principal", "create", "alice"]);
    store.set_password("alice", "correct horse battery");
    let upstream = Upstream::start(Duration::ZERO);
    let server = gateway(&store, &upstream, &[]);
    let login = server.post_json(
        "/v1/auth/login",
        &serde_json::json!({"principal": "alice", "password": "correct horse battery"}),
    );
    assert_eq!(
        login.status,
        200,
        "{}",
        String::from_utf8_lossy(&login.body)
    );
    let v = login.json();
    let text = |k: &str| v[k].as_str().unwrap().to_owned();
    let session = || {
        Credentials::new(text("access_key_id"), text("secret_access_key"))
            .with_session_token(text("session_token"))
    };
    let at = AmzDate::from_system_time(SystemTime::now());
    let req = server.sign_with(session(), "POST", "/api/topics", &[], b"{\"t\":1}", at);
    let response = server.send(&req);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].all("x-countersign-auth"), ["session"]);
    assert_eq!(seen[0].all("x-countersign-principal"), ["alice"]);
    assert_eq!(
        seen[0].all("x-countersign-access-key-id"),
        [text("access_key_id").as_str()]
    );
    assert!(seen[0].header("x-amz-security-token").is_none());
    assert_eq!(seen[0].body, b"{\"t\":1}");

    let logout = server.sign_with(session(), "POST", "/v1/auth/logout", &[], b"", at);
    assert_eq!(server.send(&logout).status, 204);
    let response = server.send(&req);
    assert_eq!(response.status, 401);
    assert_eq!(response.code(), "InvalidToken");
    assert_eq!(
        upstream.seen().len(),
        1,
        "a revoked session reached the upstream"
    );
}

#[test]
fn routes_can_come_from_a_toml_config_file() {
    let dir = TempDir::new("gw-config");
    let store = Store::sqlite(dir.path());
    let creds = creds(&store);
    let upstream = Upstream::start(Duration::ZERO);
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "cors_origins = [\"https://app.example\"]\n\n[[route]]\nprefix = \"/files\"\nupstream = \"http://{}/store\"\n",
            upstream.addr
        ),
    )
    .unwrap();
    let server = Server::start(&store, &["--config", config.to_str().unwrap()]);
    let req = signed(
        &server,
        &creds,
        "GET",
        "/files/a.txt",
        &[("Origin", "https://app.example")],
        b"",
        None,
    );
    let response = server.send(&req);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(upstream.seen()[0].request_line, "GET /store/a.txt HTTP/1.1");

    std::fs::write(
        &config,
        "[[route]]\nprefix = \"/v1/x\"\nupstream = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let refused = std::process::Command::new(crate::support::bin("countersign-server"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ])
        .args(["--database-url", &store.database_url, "--master-key-file"])
        .arg(&store.master_key)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("gateway.toml: route 1") && stderr.contains("/v1/"),
        "{stderr}"
    );
}
