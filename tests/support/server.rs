//! A real `countersign-server` process on an ephemeral port, its offline admin commands, and a
//! minimal HTTP/1.1 client that sends exactly the bytes it is given.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use countersign::{AmzDate, Credentials, Payload, Request, Signer};
use serde_json::Value;

use crate::support::bin;

/// Where a server keeps its state.
#[derive(Clone, Debug)]
pub struct Store {
    /// `--database-url`.
    pub database_url: String,
    /// `--master-key-file`.
    pub master_key: PathBuf,
    /// The SQLite file, when SQLite.
    pub sqlite_file: Option<PathBuf>,
}

impl Store {
    /// A fresh SQLite store in `dir`.
    pub fn sqlite(dir: &Path) -> Self {
        let file = dir.join("countersign.db");
        Self {
            database_url: format!("sqlite://{}?mode=rwc", file.display()),
            master_key: dir.join("master.key"),
            sqlite_file: Some(file),
        }
    }

    /// A PostgreSQL store with a master key file in `dir` (created here: the server never
    /// creates one for PostgreSQL).
    pub fn postgres(url: &str, dir: &Path) -> Self {
        let master_key = dir.join("master.key");
        let bytes: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        std::fs::write(&master_key, bytes).expect("write master key");
        Self {
            database_url: url.to_owned(),
            master_key,
            sqlite_file: None,
        }
    }

    fn args(&self) -> [String; 4] {
        [
            "--database-url".into(),
            self.database_url.clone(),
            "--master-key-file".into(),
            self.master_key.display().to_string(),
        ]
    }

    /// Runs an offline admin command (`principal …` / `key …`), returning stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(bin("countersign-server"))
            .args(args)
            .args(self.args())
            .output()
            .expect("run countersign-server");
        assert!(
            out.status.success(),
            "countersign-server {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs `principal set-password NAME` with `password` and a newline on stdin.
    pub fn set_password(&self, name: &str, password: &str) -> String {
        use std::io::Write as _;
        let mut child = Command::new(bin("countersign-server"))
            .args(["principal", "set-password", name])
            .args(self.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run countersign-server");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("write password");
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "set-password failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Creates a principal and one key, returning (access key id, secret).
    pub fn principal_with_key(&self, name: &str, admin: bool) -> (String, String) {
        let mut args = vec!["principal", "create", name];
        if admin {
            args.push("--admin");
        }
        self.admin(&args);
        self.key_for(name)
    }

    /// Creates a key for an existing principal.
    pub fn key_for(&self, name: &str) -> (String, String) {
        let out = self.admin(&["key", "create", "--principal", name]);
        let v: Value = serde_json::from_str(out.trim()).expect("key create prints one JSON object");
        assert_eq!(v["principal"], name);
        (
            v["access_key_id"].as_str().expect("id").to_owned(),
            v["secret_access_key"].as_str().expect("secret").to_owned(),
        )
    }
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// Bound address.
    pub addr: SocketAddr,
    /// Its store.
    pub store: Store,
}

impl Server {
    /// Starts `countersign-server serve` on `127.0.0.1:0` with extra flags.
    pub fn start(store: &Store, extra: &[&str]) -> Self {
        let mut child = Command::new(bin("countersign-server"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(store.args())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn countersign-server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        break a.trim().parse().expect("socket address");
                    }
                }
                _ => {
                    let status = child.wait().ok();
                    panic!("countersign-server exited before listening: {status:?}");
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            addr,
            store: store.clone(),
        }
    }

    /// `Host` header value for this server.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Sends `req` as is and returns the response.
    pub fn send(&self, req: &RawRequest) -> Response {
        send(self.addr, req)
    }

    /// Sends a request signed with `(id, secret)` at `now`.
    pub fn signed(
        &self,
        creds: &(String, String),
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Response {
        let req = self.sign(
            creds,
            method,
            target,
            &[],
            body,
            AmzDate::from_system_time(SystemTime::now()),
        );
        self.send(&req)
    }

    /// Sends an unsigned `POST` with a JSON body.
    pub fn post_json(&self, target: &str, body: &Value) -> Response {
        self.send(&RawRequest {
            method: "POST".into(),
            target: target.to_owned(),
            headers: vec![
                ("Host".into(), self.host()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: body.to_string().into_bytes(),
        })
    }

    /// Builds a header-signed request (extra headers are signed too).
    pub fn sign(
        &self,
        creds: &(String, String),
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        at: AmzDate,
    ) -> RawRequest {
        let credentials = Credentials::new(&creds.0, creds.1.as_str());
        self.sign_with(credentials, method, target, headers, body, at)
    }

    /// Builds a header-signed request with any credentials (a session token is sent and
    /// signed as `x-amz-security-token`).
    pub fn sign_with(
        &self,
        credentials: Credentials,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        at: AmzDate,
    ) -> RawRequest {
        let host = self.host();
        let signer = Signer::new(credentials, "local", "countersign").expect("signer");
        let view = Request::new(method, target)
            .header("host", &host)
            .headers(headers.iter().copied());
        let signed = signer.sign(&view, Payload::Bytes(body), at).expect("sign");
        RawRequest::signed(
            method,
            target,
            &host,
            headers,
            signed.headers(),
            body.to_vec(),
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Restarts with the same store and flags; returns the new server.
    pub fn restart(mut self, extra: &[&str]) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Server::start(&self.store, extra)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request exactly as it will be written.
#[derive(Clone, Debug)]
pub struct RawRequest {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A request with `Host`, then `headers`, then the signer's `signature` headers.
    pub fn signed(
        method: &str,
        target: &str,
        host: &str,
        headers: &[(&str, &str)],
        signature: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Self {
        let mut all = vec![("Host".to_owned(), host.to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        all.extend(signature.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: all,
            body,
        }
    }
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `error.code` of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// First value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A signer for the test server's scope (`local`, `countersign`) with long-term credentials
/// from an `(id, secret)` pair.
pub fn signer(creds: &(String, String)) -> Signer {
    Signer::new(
        Credentials::new(&creds.0, creds.1.as_str()),
        "local",
        "countersign",
    )
    .expect("signer")
}

/// Writes `req` to a fresh connection (`Connection: close`) and reads the whole response.
pub fn send(addr: SocketAddr, req: &RawRequest) -> Response {
    let mut text = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (n, v) in &req.headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
        text.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    text.push_str("Connection: close\r\n\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&req.body);
    send_raw(addr, &bytes)
}

/// Writes raw bytes and parses the response (Content-Length or close-delimited bodies).
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Response {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let _ = sock.write_all(bytes);
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    // Read until the response is complete (Content-Length) or the server closes: the request
    // may not ask for `Connection: close`.
    loop {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if response_complete(&raw) {
            break;
        }
    }
    parse_response(&raw)
}

fn response_complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(len) => raw.len() >= split + 4 + len,
        None => head.contains("transfer-encoding: chunked") && raw.ends_with(b"0\r\n\r\n"),
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// A unique scratch directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "countersign-e2e-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
