//! Wire URLs and `-H` header arguments.

use std::fmt;
use std::str::FromStr;

/// A URL taken as it will be sent: scheme, `Host` value, and the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// The `Host` header value: lowercased host, port kept unless it is the scheme's default.
    pub host: String,
    /// Path and query exactly as given (`/` when the URL has no path).
    pub target: String,
}

/// Why a URL is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("URL `{0}` must start with http:// or https://")]
    Scheme(String),
    /// No host.
    #[error("URL `{0}` has no host")]
    NoHost(String),
    /// Port is not a number.
    #[error("URL `{0}` has an invalid port")]
    Port(String),
    /// Characters that cannot be sent raw.
    #[error("URL `{0}` contains spaces, control or non-ASCII characters: percent-encode them")]
    Characters(String),
    /// User info is not supported.
    #[error("URL `{0}` contains user info (user@host); pass credentials with flags instead")]
    UserInfo(String),
}

impl FromStr for WireUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        if url.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(UrlError::Characters(url.to_owned()));
        }
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
            .ok_or_else(|| UrlError::Scheme(url.to_owned()))?;
        let scheme = scheme.to_ascii_lowercase();
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::UserInfo(url.to_owned()));
        }
        let host = host_value(&scheme, authority).ok_or_else(|| {
            if authority.is_empty() || authority.starts_with(':') {
                UrlError::NoHost(url.to_owned())
            } else {
                UrlError::Port(url.to_owned())
            }
        })?;
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(Self {
            scheme,
            host,
            target,
        })
    }
}

/// `host[:port]` as an HTTP client sends it: lowercased, default port dropped.
fn host_value(scheme: &str, authority: &str) -> Option<String> {
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let default = if scheme == "https" { 443 } else { 80 };
    match port {
        None | Some("") => Some(host),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n == default => Some(host),
            Ok(n) => Some(format!("{host}:{n}")),
            Err(_) => None,
        },
    }
}

/// One `-H 'Name: value'` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderArg {
    /// Name as given.
    pub name: String,
    /// Value with surrounding spaces removed (may be empty).
    pub value: String,
}

impl FromStr for HeaderArg {
    type Err = String;

    fn from_str(arg: &str) -> Result<Self, String> {
        let (name, value) = arg.split_once(':').ok_or_else(|| {
            format!("header `{arg}` must be `Name: value` (use `Name:` for an empty value)")
        })?;
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(tchar) {
            return Err(format!(
                "header name `{name}` is not a valid HTTP header name"
            ));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(format!(
                "header `{name}` has control characters in its value"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl fmt::Display for HeaderArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> WireUrl {
        s.parse().unwrap()
    }

    #[test]
    fn keeps_path_and_query_as_sent_and_normalizes_the_host() {
        let u = url("https://API.Example.com:443/a%2Fb//c/../d?x=%7e&y=a+b");
        assert_eq!(u.host, "api.example.com");
        assert_eq!(u.target, "/a%2Fb//c/../d?x=%7e&y=a+b");
        assert_eq!(url("http://h:80").target, "/");
        assert_eq!(url("http://h:80").host, "h");
        assert_eq!(url("http://h:8080?q=1").host, "h:8080");
        assert_eq!(url("http://h:8080?q=1").target, "/?q=1");
        assert_eq!(url("https://h:80/").host, "h:80");
        assert_eq!(url("http://[::1]:9000/x#frag").host, "[::1]:9000");
        assert_eq!(url("http://[::1]:9000/x#frag").target, "/x");
    }

    #[test]
    fn rejects_unusable_urls() {
        assert!(matches!(
            "ftp://h/".parse::<WireUrl>(),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!("h/x".parse::<WireUrl>(), Err(UrlError::Scheme(_))));
        assert!(matches!(
            "http:///x".parse::<WireUrl>(),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(
            "http://h:x/".parse::<WireUrl>(),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            "http://h:99999/".parse::<WireUrl>(),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            "http://h/a b".parse::<WireUrl>(),
            Err(UrlError::Characters(_))
        ));
        assert!(matches!(
            "http://h/é".parse::<WireUrl>(),
            Err(UrlError::Characters(_))
        ));
        assert!(matches!(
            "http://u:p@h/".parse::<WireUrl>(),
            Err(UrlError::UserInfo(_))
        ));
    }

    #[test]
    fn header_arguments() {
        let h: HeaderArg = "X-Thing:  a  b ".parse().unwrap();
        assert_eq!((h.name.as_str(), h.value.as_str()), ("X-Thing", "a  b"));
        let empty: HeaderArg = "X-Empty:".parse().unwrap();
        assert_eq!(empty.value, "");
        assert!("NoColon".parse::<HeaderArg>().is_err());
        assert!("Bad Name: v".parse::<HeaderArg>().is_err());
        assert!(": v".parse::<HeaderArg>().is_err());
        assert!("X: a\u{1}b".parse::<HeaderArg>().is_err());
    }
}
