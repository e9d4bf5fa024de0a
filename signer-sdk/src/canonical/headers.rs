//! Canonical headers and the signed-headers list.

use std::borrow::Cow;

/// Headers the signer leaves out by default: hop-by-hop headers that proxies rewrite, and
/// tracing headers that agents add after signing (the set botocore leaves out).
pub const UNSIGNED_BY_DEFAULT: &[&str] = &[
    "authorization",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "user-agent",
    "x-amzn-trace-id",
    "traceparent",
    "tracestate",
    "baggage",
];

/// Is the lowercase `name` one of [`UNSIGNED_BY_DEFAULT`]?
#[cfg(test)]
pub(crate) fn is_unsigned_by_default(name: &str) -> bool {
    listed(name, prefix_key(name), UNSIGNED_BY_DEFAULT)
}

/// The first eight bytes of `name`, big-endian and zero-padded: comparing two keys orders two
/// header names (tokens, so never containing a zero byte) as their bytes do, except that equal
/// keys need a full comparison.
pub(crate) fn prefix_key(name: &str) -> u64 {
    let mut key = [0u8; 8];
    let b = name.as_bytes();
    let n = b.len().min(8);
    key[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(key)
}

/// Is the lowercase `name`, whose [`prefix_key`] is `key`, one of `list`? Compares keys and
/// lengths first, so a name that is not listed costs no byte comparison.
pub(crate) fn listed(name: &str, key: u64, list: &[&str]) -> bool {
    list.iter()
        .any(|n| n.len() == name.len() && prefix_key(n) == key && *n == name)
}

/// How a header name reads as a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenCase {
    /// Not an RFC 9110 token (or empty).
    Invalid,
    /// A token without upper-case letters.
    Lower,
    /// A token with at least one upper-case letter.
    Mixed,
}

/// Classifies `name` in one pass over its bytes.
pub(crate) fn token_case(name: &str) -> TokenCase {
    let bits = name
        .bytes()
        .fold(ANY | LOWER, |acc, b| acc & TOKEN[usize::from(b)]);
    if name.is_empty() || bits & ANY == 0 {
        TokenCase::Invalid
    } else if bits & LOWER == 0 {
        TokenCase::Mixed
    } else {
        TokenCase::Lower
    }
}

/// What a header value holds, from one pass over its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A control character other than tab: never allowed.
    Invalid,
    /// No space, tab, CR or LF: written as it is.
    Plain,
    /// Needs [`push_value`] (trimming, collapsing spaces).
    Spaced,
}

/// Classifies a header value (branch-free over the bytes).
pub(crate) fn value_kind(value: &str) -> ValueKind {
    let bits = value
        .bytes()
        .fold(0u8, |acc, b| acc | VALUE_CLASS[usize::from(b)]);
    if bits & CONTROL != 0 {
        ValueKind::Invalid
    } else if bits & OWS != 0 {
        ValueKind::Spaced
    } else {
        ValueKind::Plain
    }
}

/// [`VALUE_CLASS`] bit: a control character other than tab (CR and LF included).
const CONTROL: u8 = 1;
/// [`VALUE_CLASS`] bit: space, tab, CR or LF.
const OWS: u8 = 2;

const VALUE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if (b < b' ' && b != b'\t') || b == 0x7f {
            table[i] |= CONTROL;
        }
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            table[i] |= OWS;
        }
        i += 1;
    }
    table
};

/// A header name lowercased (borrowed when it already is).
pub(crate) fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Appends a header value trimmed of surrounding spaces and tabs, with runs of spaces collapsed
/// to one and obsolete line folding (CR/LF) read as a space.
pub(crate) fn push_value(value: &str, out: &mut String) {
    // Fast path: no space, tab, CR or LF at all (`application/json`, dates, hosts, ids).
    if !value.bytes().any(is_ows) {
        out.push_str(value);
        return;
    }
    let value = trim_ows(value);
    let mut last_space = false;
    for c in value.chars() {
        let c = if matches!(c, '\r' | '\n') { ' ' } else { c };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
}

/// Space, tab, CR or LF.
fn is_ows(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `value` without leading and trailing spaces, tabs, CRs and LFs.
fn trim_ows(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_ascii() && is_ows(c as u8))
}

/// Appends `name:v1,v2\n` for one signed header with its values in order of appearance.
pub(crate) fn push_header<'v>(name: &str, values: impl Iterator<Item = &'v str>, out: &mut String) {
    out.push_str(name);
    out.push(':');
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_value(v, out);
    }
    out.push('\n');
}

/// Is `name` a valid lowercase signed-header token?
pub(crate) fn is_valid_signed_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| TOKEN[usize::from(b)] & LOWER != 0)
}

/// Is `text` an RFC 9110 token (`1*tchar`), as a method or header field name must be?
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

/// Is `b` an RFC 9110 `tchar`?
pub(crate) fn is_tchar(b: u8) -> bool {
    TOKEN[usize::from(b)] & ANY != 0
}

/// [`TOKEN`] bit: any `tchar`.
const ANY: u8 = 1;
/// [`TOKEN`] bit: a `tchar` that is not an upper-case letter.
const LOWER: u8 = 2;

/// RFC 9110 `tchar` classes as a lookup table.
const TOKEN: [u8; 256] = {
    let mut table = [0u8; 256];
    let lower = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
    let mut i = 0;
    while i < lower.len() {
        table[lower[i] as usize] = ANY | LOWER;
        i += 1;
    }
    let mut c = b'A';
    while c <= b'Z' {
        table[c as usize] = ANY;
        c += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: &str) -> String {
        let mut out = String::new();
        push_value(v, &mut out);
        out
    }

    #[test]
    fn trims_and_collapses_spaces_only() {
        assert_eq!(value("   value1  value2   "), "value1 value2");
        assert_eq!(value("a\tb"), "a\tb");
        assert_eq!(
            value("value1\n  value2\n     value3"),
            "value1 value2 value3"
        );
        assert_eq!(value(""), "");
        assert_eq!(value(" \t "), "");
        assert_eq!(value("a  "), "a");
        assert_eq!(value(" ä  ö "), "ä ö");
    }

    #[test]
    fn joins_repeated_values_in_order() {
        let mut out = String::new();
        push_header(
            "my-header1",
            ["value4", " value1 ", "value3"].into_iter(),
            &mut out,
        );
        assert_eq!(out, "my-header1:value4,value1,value3\n");
    }

    #[test]
    fn the_unsigned_match_is_the_published_list() {
        for name in UNSIGNED_BY_DEFAULT {
            assert!(is_unsigned_by_default(name), "{name}");
        }
        let listed = |n: &str| UNSIGNED_BY_DEFAULT.contains(&n);
        for name in [
            "host",
            "accept",
            "x-amz-date",
            "content-type",
            "tes",
            "Expect",
            "",
        ] {
            assert_eq!(is_unsigned_by_default(name), listed(name), "{name}");
        }
    }

    #[test]
    fn tokens_are_rfc9110_tchar_runs() {
        for good in ["GET", "x-amz-date", "X-Custom_1", "!#$%&'*+-.^_`|~"] {
            assert!(is_token(good), "{good}");
        }
        for bad in ["", "a b", "a:b", "a;b", "ä", "(x)", "a\"b", "\u{7f}"] {
            assert!(!is_token(bad), "{bad}");
        }
    }

    #[test]
    fn signed_names_must_be_lowercase_tokens() {
        assert!(is_valid_signed_name("x-amz-date"));
        for bad in ["", "Host", "a b", "a;b", "ä"] {
            assert!(!is_valid_signed_name(bad), "{bad}");
        }
    }
}
