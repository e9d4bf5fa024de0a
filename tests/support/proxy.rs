//! A small HTTP/1.1 proxy that rewrites each request's head before forwarding it to a server,
//! so the server sees a different request than the client signed. One request per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use crate::support::server::{Response, send_raw};

/// Rewrites a request head (request line and headers, `\r\n`-separated, no final blank line).
pub type Rewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A running proxy; its thread ends with the test process.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Proxy {
    /// Forwards to `upstream`, applying `rewrite` to every request head.
    pub fn start(upstream: SocketAddr, rewrite: Rewrite) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let rewrite = rewrite.clone();
                std::thread::spawn(move || forward(stream, upstream, &*rewrite));
            }
        });
        Self { addr }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn forward(mut client: TcpStream, upstream: SocketAddr, rewrite: &(dyn Fn(&str) -> String + Sync)) {
    let Some((head, body)) = read_request(&mut client) else {
        return;
    };
    let head = rewrite(&head);
    let mut bytes = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
    bytes.extend_from_slice(&body);
    let response = send_raw(upstream, &bytes);
    let _ = client.write_all(&render(&response));
}

/// Reads one request: the head (without the final blank line and without `Connection`) and the body
/// (`Content-Length` only, which is what the countersign client sends).
pub fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        let n = stream.read(&mut buf).ok().filter(|&n| n > 0)?;
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = raw[split + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok().filter(|&n| n > 0)?;
        body.extend_from_slice(&buf[..n]);
    }
    let head = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    Some((head, body))
}

fn render(response: &Response) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {} X\r\n", response.status);
    for (name, value) in &response.headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    text.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}
