//! Why a signature did not match: the client's canonical request next to the one the server
//! built (from a `SignatureDoesNotMatch` body), compared component by component.
//!
//! A canonical request is six parts: method, canonical URI, canonical query, canonical headers
//! (`name:value` lines), signed headers and payload hash. The diff names each part that differs
//! (each differing header by name), then shows every line: `  ` same, `- ` client, `+ ` server.

use std::collections::BTreeMap;

/// One part of a canonical request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// The HTTP method.
    Method,
    /// The canonical path.
    Path,
    /// The canonical query string.
    Query,
    /// One canonical header, by lowercase name.
    Header(String),
    /// The signed headers list.
    SignedHeaders,
    /// The payload hash line.
    PayloadHash,
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Method => f.write_str("method"),
            Self::Path => f.write_str("path"),
            Self::Query => f.write_str("query"),
            Self::Header(name) => write!(f, "header `{name}`"),
            Self::SignedHeaders => f.write_str("signed headers"),
            Self::PayloadHash => f.write_str("payload hash"),
        }
    }
}

/// A canonical request split into its parts (read leniently: missing parts are empty).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: BTreeMap<&'a str, Vec<&'a str>>,
    signed_headers: &'a str,
    payload_hash: &'a str,
}

impl<'a> Parts<'a> {
    fn parse(creq: &'a str) -> Self {
        let lines: Vec<&str> = creq.split('\n').collect();
        let line = |i: usize| lines.get(i).copied().unwrap_or("");
        let end = lines.len().saturating_sub(2).max(3);
        let mut headers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for header in lines.get(3..end).unwrap_or(&[]) {
            if header.is_empty() {
                continue;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            headers.entry(name).or_default().push(value);
        }
        Self {
            method: line(0),
            path: line(1),
            query: line(2),
            headers,
            signed_headers: line(end),
            payload_hash: line(end + 1),
        }
    }
}

/// The parts that differ between the client's and the server's canonical requests, in
/// canonical-request order.
pub fn differences(client: &str, server: &str) -> Vec<Component> {
    let (c, s) = (Parts::parse(client), Parts::parse(server));
    let mut out = Vec::new();
    for (differs, component) in [
        (c.method != s.method, Component::Method),
        (c.path != s.path, Component::Path),
        (c.query != s.query, Component::Query),
    ] {
        if differs {
            out.push(component);
        }
    }
    for name in header_names(&c, &s) {
        if c.headers.get(name) != s.headers.get(name) {
            out.push(Component::Header(name.to_owned()));
        }
    }
    if c.signed_headers != s.signed_headers {
        out.push(Component::SignedHeaders);
    }
    if c.payload_hash != s.payload_hash {
        out.push(Component::PayloadHash);
    }
    out
}

/// The report printed to stderr: a summary line naming the differing parts, then the
/// line-by-line comparison.
pub fn render(client: &str, server: &str) -> String {
    let differing = differences(client, server);
    let mut out = String::new();
    if differing.is_empty() {
        out.push_str(
            "the canonical requests are identical: the secret or the scope (date, region, \
             service) differs\n",
        );
    } else {
        let names: Vec<String> = differing.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "the server saw a different request than was signed; differs in: {}\n",
            names.join(", ")
        ));
    }
    out.push_str(
        "--- canonical request signed by the client\n+++ canonical request built by the server\n",
    );
    let (c, s) = (Parts::parse(client), Parts::parse(server));
    line(&mut out, c.method, s.method);
    line(&mut out, c.path, s.path);
    line(&mut out, c.query, s.query);
    for name in header_names(&c, &s) {
        let empty = Vec::new();
        let (cv, sv) = (
            c.headers.get(name).unwrap_or(&empty),
            s.headers.get(name).unwrap_or(&empty),
        );
        if cv == sv {
            for v in cv {
                out.push_str(&format!("  {name}:{v}\n"));
            }
            continue;
        }
        for v in cv {
            out.push_str(&format!("- {name}:{v}\n"));
        }
        for v in sv {
            out.push_str(&format!("+ {name}:{v}\n"));
        }
    }
    out.push_str("  \n");
    line(&mut out, c.signed_headers, s.signed_headers);
    line(&mut out, c.payload_hash, s.payload_hash);
    out
}

fn header_names<'a>(c: &Parts<'a>, s: &Parts<'a>) -> Vec<&'a str> {
    let mut names: Vec<&str> = c.headers.keys().chain(s.headers.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn line(out: &mut String, client: &str, server: &str) {
    if client == server {
        out.push_str(&format!("  {client}\n"));
    } else {
        out.push_str(&format!("- {client}\n+ {server}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "GET\n/v1/whoami\na=1\nhost:h:8080\nx-amz-date:20240101T000000Z\nx-tag:blue\n\nhost;x-amz-date;x-tag\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn identical_requests_point_at_the_secret_or_scope() {
        assert!(differences(SIGNED, SIGNED).is_empty());
        assert!(render(SIGNED, SIGNED).starts_with("the canonical requests are identical"));
    }

    #[test]
    fn a_tampered_header_is_named() {
        let server = SIGNED.replace("x-tag:blue", "x-tag:red");
        assert_eq!(
            differences(SIGNED, &server),
            vec![Component::Header("x-tag".into())]
        );
        let report = render(SIGNED, &server);
        assert!(report.contains("differs in: header `x-tag`\n"), "{report}");
        assert!(report.contains("- x-tag:blue\n+ x-tag:red\n"), "{report}");
        assert!(report.contains("  host:h:8080\n"), "{report}");
    }

    #[test]
    fn path_query_method_payload_and_signed_headers_are_named() {
        let server = SIGNED
            .replace("GET\n/v1/whoami\na=1", "PUT\n/v1/who%20ami\na=2")
            .replace("x-tag:blue\n\nhost;x-amz-date;x-tag", "\nhost;x-amz-date")
            .replace("e3b0", "ffff");
        assert_eq!(
            differences(SIGNED, &server),
            vec![
                Component::Method,
                Component::Path,
                Component::Query,
                Component::Header("x-tag".into()),
                Component::SignedHeaders,
                Component::PayloadHash,
            ]
        );
        let report = render(SIGNED, &server);
        assert!(
            report.contains("- /v1/whoami\n+ /v1/who%20ami\n"),
            "{report}"
        );
        assert!(report.contains("- x-tag:blue\n"), "{report}");
    }

    #[test]
    fn garbage_from_a_server_does_not_panic() {
        for junk in ["", "\n", "GET", "a\nb\nc\n\n\n\n\n", "::::\n\n"] {
            let _ = render(SIGNED, junk);
            let _ = differences(junk, SIGNED);
        }
    }
}
