//! One request to send: method, URL, headers and body.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use http::{Method, Uri};

use crate::body::{Body, PayloadSigning};
use crate::error::ClientError;

/// A request to sign and send. The path and query are sent exactly as given (already
/// percent-encoded), and signed as sent.
#[derive(Debug, Clone)]
pub struct Call {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
    pub(crate) payload: PayloadSigning,
    pub(crate) progress: Option<Arc<AtomicU64>>,
}

impl Call {
    /// A request with no headers and no body.
    ///
    /// # Errors
    /// [`ClientError::Method`] for a method that is not an HTTP token, [`ClientError::Url`]
    /// for a URL that is not absolute `http://` or `https://`.
    pub fn new(method: &str, url: &str) -> Result<Self, ClientError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| ClientError::Method(method.to_owned()))?;
        Ok(Self {
            method,
            uri: parse_url(url)?,
            headers: Vec::new(),
            body: Body::Empty,
            payload: PayloadSigning::Signed,
            progress: None,
        })
    }

    /// Adds a header (signed unless SigV4 leaves it unsigned, e.g. `User-Agent`). A `Host`
    /// header replaces the one taken from the URL.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Chooses whether the body is signed. Default: [`PayloadSigning::Signed`].
    pub fn payload(mut self, payload: PayloadSigning) -> Self {
        self.payload = payload;
        self
    }

    /// Counts the body bytes sent so far into `counter` (reset on each attempt), e.g. for a
    /// progress bar.
    pub fn progress(mut self, counter: Arc<AtomicU64>) -> Self {
        self.progress = Some(counter);
        self
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

/// An absolute `http`/`https` URL, fragment dropped.
pub(crate) fn parse_url(url: &str) -> Result<Uri, ClientError> {
    let fail = |reason: &str| ClientError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let without_fragment = url.split('#').next().unwrap_or(url);
    let uri: Uri = without_fragment
        .parse()
        .map_err(|err: http::uri::InvalidUri| fail(&err.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(fail("expected http:// or https://")),
    }
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => Err(fail("user info (user@host) is not supported")),
        Some(a) if !a.host().is_empty() => Ok(uri),
        _ => Err(fail("no host")),
    }
}

/// The `Host` header value for `uri`: lowercased, default port dropped.
pub(crate) fn host_header(uri: &Uri) -> String {
    let Some(authority) = uri.authority() else {
        return String::new();
    };
    let host = authority.host().to_ascii_lowercase();
    let default = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    match authority.port_u16() {
        Some(port) if port != default => format!("{host}:{port}"),
        _ => host,
    }
}

/// The request target: path and query as given, `/` for none.
pub(crate) fn target(uri: &Uri) -> &str {
    match uri.path_and_query().map(http::uri::PathAndQuery::as_str) {
        None | Some("") => "/",
        Some(t) => t,
    }
}

/// `location` resolved against `base` (absolute URL, absolute path or relative path).
pub(crate) fn resolve_location(base: &Uri, location: &str) -> Result<Uri, ClientError> {
    if location.contains("://") {
        return parse_url(location);
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", http::uri::Authority::as_str);
    if let Some(rest) = location.strip_prefix("//") {
        return parse_url(&format!("{scheme}://{rest}"));
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{location}")
    };
    parse_url(&format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_target_are_taken_as_sent() {
        let uri = parse_url("https://API.example.com:443/a%2Fb//c?x=%7e#frag").unwrap();
        assert_eq!(host_header(&uri), "api.example.com");
        assert_eq!(target(&uri), "/a%2Fb//c?x=%7e");
        let uri = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(host_header(&uri), "127.0.0.1:8080");
        assert_eq!(target(&uri), "/");
    }

    #[test]
    fn unusable_urls_are_refused() {
        for bad in [
            "ftp://h/",
            "/relative",
            "http://u:p@h/",
            "http:///x",
            "http://h/a b",
        ] {
            assert!(
                matches!(parse_url(bad), Err(ClientError::Url { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Call::new("G T", "http://h/"),
            Err(ClientError::Method(_))
        ));
    }

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = parse_url("https://h:8443/a/b?q=1").unwrap();
        let r = |l| resolve_location(&base, l).unwrap().to_string();
        assert_eq!(r("/x?y=2"), "https://h:8443/x?y=2");
        assert_eq!(r("c"), "https://h:8443/a/c");
        assert_eq!(r("http://other/z"), "http://other/z");
        assert_eq!(r("//other/z"), "https://other/z");
    }
}
