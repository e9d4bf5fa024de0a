//! Adapters for the `http` crate: sign an `http::Request` in place, and build the verifier's
//! [`Request`] view from `http::request::Parts`.

use http::HeaderMap;
use http::header::{HOST, HeaderName, HeaderValue};

use crate::canonical::{Payload, Request};
use crate::date::AmzDate;
use crate::error::SignError;
use crate::sign::Signer;

/// Signs `req` in place: sets `x-amz-date`, `authorization` and, when used,
/// `x-amz-security-token` and `x-amz-content-sha256` (replacing existing values).
///
/// Without a `Host` header, the URI's authority is signed as `host` (default port dropped, as
/// HTTP clients send it) and the header is added.
///
/// # Errors
/// [`SignError`] for a request that cannot be signed (no host, a header value that is not UTF-8).
pub fn sign_request<B>(
    signer: &Signer,
    req: &mut http::Request<B>,
    payload: Payload<'_>,
    now: AmzDate,
) -> Result<(), SignError> {
    if !req.headers().contains_key(HOST) {
        let host = authority_as_host(req.uri()).ok_or(SignError::MissingHost)?;
        let value = HeaderValue::from_str(&host).map_err(|_| SignError::MissingHost)?;
        req.headers_mut().insert(HOST, value);
    }
    let new_headers = {
        let method = req.method().as_str();
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let mut view = Request::new(method, target);
        for (name, value) in req.headers() {
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| SignError::InvalidHeaderValue(name.as_str().to_owned()))?;
            view = view.header(name.as_str(), value);
        }
        let signed = signer.sign(&view, payload, now)?;
        signed.headers().to_vec()
    };
    for (name, value) in new_headers {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| SignError::InvalidHeaderValue(name.to_owned()))?;
        req.headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
    Ok(())
}

/// The verifier's view of received request parts.
///
/// For HTTP/2 requests without a `Host` header, the `:authority` (the URI's authority) is used
/// as `host`. Header values that are not UTF-8 are left out (a signed one then fails as missing).
pub fn request_view(parts: &http::request::Parts) -> Request<'_> {
    view_of(&parts.method, &parts.uri, &parts.headers)
}

/// [`request_view`] of a whole received request, borrowed (the request stays where it is,
/// body included).
pub fn request_view_of<B>(request: &http::Request<B>) -> Request<'_> {
    view_of(request.method(), request.uri(), request.headers())
}

fn view_of<'a>(
    method: &'a http::Method,
    uri: &'a http::Uri,
    headers: &'a HeaderMap,
) -> Request<'a> {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    // Sized once: every header, and the host from the authority.
    let mut view = Request::with_capacity(method.as_str(), target, headers.len() + 1);
    if let (false, Some(authority)) = (headers.contains_key(HOST), uri.authority()) {
        view.push_header("host", authority.as_str());
    }
    for (name, value) in headers {
        if let Ok(value) = std::str::from_utf8(value.as_bytes()) {
            view.push_header(name.as_str(), value);
        }
    }
    view
}

/// `host[:port]` from an absolute URI, without the scheme's default port.
fn authority_as_host(uri: &http::Uri) -> Option<String> {
    let host = uri.host()?.to_ascii_lowercase();
    let default = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(port) if Some(port) != default => format!("{host}:{port}"),
        _ => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;

    #[test]
    fn the_view_lists_every_utf8_header_in_order_with_the_authority_as_missing_host() {
        let req = http::Request::get("https://h2.example:8443/p?q=1")
            .header("x-a", "1")
            .header("x-b", &b"\xff"[..])
            .header("x-a", "2")
            .body(())
            .unwrap();
        let expected = [("host", "h2.example:8443"), ("x-a", "1"), ("x-a", "2")];
        assert_eq!(request_view_of(&req).header_list(), expected);
        let (parts, ()) = req.into_parts();
        let view = request_view(&parts);
        assert_eq!(
            (view.method(), view.path(), view.query()),
            ("GET", "/p", "q=1")
        );
        assert_eq!(view.header_list(), expected);
        let req = http::Request::get("/p")
            .header("Host", "h1.example")
            .header("x-a", "1")
            .body(())
            .unwrap();
        let borrowed = request_view_of(&req);
        assert_eq!(
            borrowed.header_list(),
            [("host", "h1.example"), ("x-a", "1")]
        );
        assert_eq!((borrowed.method(), borrowed.path()), ("GET", "/p"));
        let (parts, ()) = req.into_parts();
        let view = request_view(&parts);
        assert_eq!(view.header_list(), [("host", "h1.example"), ("x-a", "1")]);
    }

    #[test]
    fn signs_in_place_and_adds_host_without_default_port() {
        let signer =
            Signer::new(Credentials::new("AKID", "secret"), "local", "countersign").unwrap();
        let mut req = http::Request::get("https://Example.com:443/a?b=1")
            .body(())
            .unwrap();
        let now = AmzDate::parse("20200101T000000Z").unwrap();
        sign_request(&signer, &mut req, Payload::Bytes(b""), now).unwrap();
        assert_eq!(req.headers()["host"], "example.com");
        assert_eq!(req.headers()["x-amz-date"], "20200101T000000Z");
        assert!(
            req.headers()["authorization"]
                .to_str()
                .unwrap()
                .contains("SignedHeaders=host;x-amz-date")
        );
    }
}
