//! Canonical URI (SigV4 "CanonicalURI") in its two AWS modes.

use std::borrow::Cow;

/// How the path becomes the canonical URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UriEncoding {
    /// Every AWS service but S3: remove dot segments, merge repeated slashes, then percent-encode
    /// the (already encoded) path again, so `%` becomes `%25`.
    #[default]
    Double,
    /// S3: the path exactly as sent on the wire (encoded once by the client), not normalized.
    /// Bytes that cannot appear raw in a URI path (space, non-ASCII, controls) are encoded.
    S3,
}

/// Writes the canonical URI of `path` (as sent on the wire, without the query).
pub(crate) fn canonical_uri(path: &str, encoding: UriEncoding) -> Cow<'_, str> {
    match encoding {
        UriEncoding::S3 if path.is_empty() => Cow::Borrowed("/"),
        UriEncoding::S3 => encode_illegal(path),
        UriEncoding::Double => encode_path(normalize(path)),
    }
}

/// RFC 3986 §5.2.4 dot-segment removal plus merging of repeated slashes, as the AWS CRT and the
/// aws-sigv4 crate do. A trailing slash survives (also one implied by a final `.` or `..`).
fn normalize(path: &str) -> Cow<'_, str> {
    if path.starts_with('/') && !needs_normalizing(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::with_capacity(8);
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let trailing =
        ["/", "/.", "/.."].iter().any(|end| path.ends_with(end)) || path == "." || path == "..";
    if out.is_empty() || trailing {
        out.push('/');
    }
    Cow::Owned(out)
}

/// One pass: is there an empty segment (`//`) or a `.` / `..` segment?
fn needs_normalizing(path: &[u8]) -> bool {
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'/' {
            let seg = &path[i + 1..];
            let end = seg.iter().position(|&b| b == b'/').unwrap_or(seg.len());
            let next_is_slash = end == 0 && !seg.is_empty();
            if next_is_slash || matches!(&seg[..end], b"." | b"..") {
                return true;
            }
            i += 1 + end;
        } else {
            i += 1;
        }
    }
    false
}

/// Percent-encodes every byte except the RFC 3986 unreserved set and `/`, uppercase hex.
fn encode_path(path: Cow<'_, str>) -> Cow<'_, str> {
    if path.bytes().all(|b| b == b'/' || is_unreserved(b)) {
        return path;
    }
    let mut out = String::with_capacity(path.len() + 16);
    for &b in path.as_bytes() {
        if b == b'/' || is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_pct(&mut out, b);
        }
    }
    Cow::Owned(out)
}

/// Encodes only bytes that cannot appear raw in an RFC 3986 path; `%XX` is kept as sent.
fn encode_illegal(path: &str) -> Cow<'_, str> {
    if path.bytes().all(is_path_char) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 16);
    for &b in path.as_bytes() {
        if is_path_char(b) {
            out.push(char::from(b));
        } else {
            push_pct(&mut out, b);
        }
    }
    Cow::Owned(out)
}

/// `pchar` / `%` / `/`: what a client may send raw in a path.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || b"/%!$&'()*+,;=:@".contains(&b)
}

/// RFC 3986 unreserved characters: `A-Z a-z 0-9 - . _ ~`.
pub(crate) fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        i += 1;
    }
    table
};

/// Appends `%XX` with uppercase hex.
pub(crate) fn push_pct(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(p: &str) -> String {
        canonical_uri(p, UriEncoding::Double).into_owned()
    }

    #[test]
    fn normalizes_like_the_crt_suite() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/foo/bar/.", "/foo/bar/"),
            ("/foo/bar/..", "/foo/"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/../foo", "/foo"),
            ("foo", "/foo"),
            ("/foo.txt", "/foo.txt"),
            ("/.hidden/..x", "/.hidden/..x"),
            ("/foo%2F.%2Fbar", "/foo%252F.%252Fbar"),
        ] {
            assert_eq!(double(input), want, "{input:?}");
        }
    }

    #[test]
    fn double_mode_encodes_the_encoded_path_again() {
        assert_eq!(double("/caf%C3%A9/a%2Fb"), "/caf%25C3%25A9/a%252Fb");
        assert_eq!(double("/ሴ"), "/%E1%88%B4");
        assert_eq!(
            double("/a b!$'()*+,;=:@"),
            "/a%20b%21%24%27%28%29%2A%2B%2C%3B%3D%3A%40"
        );
        assert_eq!(double("/-._~"), "/-._~");
    }

    #[test]
    fn s3_mode_keeps_the_path_as_sent() {
        let p = "/bucket/a%20b//c/../d";
        assert_eq!(canonical_uri(p, UriEncoding::S3), p);
        assert_eq!(canonical_uri("", UriEncoding::S3), "/");
        assert_eq!(
            canonical_uri("/a b/ሴ/%41!", UriEncoding::S3),
            "/a%20b/%E1%88%B4/%41!"
        );
    }
}
