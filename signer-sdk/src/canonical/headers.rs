//! Canonical headers and the signed-headers list.

use std::borrow::Cow;

use crate::bytes::{has_byte_below, split_byte};

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

/// [`UNSIGNED_BY_DEFAULT`] as a [`NameSet`].
pub(crate) const UNSIGNED_SET: NameSet<{ UNSIGNED_BY_DEFAULT.len() }> =
    NameSet::new(UNSIGNED_BY_DEFAULT);

/// Is the lowercase `name` one of [`UNSIGNED_BY_DEFAULT`]?
#[cfg(test)]
pub(crate) fn is_unsigned_by_default(name: &str) -> bool {
    UNSIGNED_SET.contains(name, prefix_key(name))
}

/// The first eight bytes of `name`, big-endian and zero-padded: comparing two keys orders two
/// header names (tokens, so never containing a zero byte) as their bytes do, except that equal
/// keys need a full comparison.
pub(crate) const fn prefix_key(name: &str) -> u64 {
    let b = name.as_bytes();
    if let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = *b {
        return u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
    }
    let mut key = 0u64;
    let mut i = 0;
    while i < 8 {
        key <<= 8;
        if i < b.len() {
            key |= b[i] as u64;
        }
        i += 1;
    }
    key
}

/// A fixed set of lowercase header names, built at compile time. Membership is decided by
/// the name's length and [`prefix_key`] first, so a name that is not in the set (nearly every
/// header) usually costs one bit test and never a byte comparison.
pub(crate) struct NameSet<const N: usize> {
    /// Bit `n` is set when a name of length `n` is in the set (bit 63: length 63 or more).
    lengths: u64,
    names: [(u64, &'static str); N],
}

impl<const N: usize> NameSet<N> {
    /// The set of `names` (exactly `N` of them).
    pub(crate) const fn new(names: &[&'static str]) -> Self {
        let mut set = Self {
            lengths: 0,
            names: [(0, ""); N],
        };
        let mut i = 0;
        while i < N {
            set.lengths |= length_bit(names[i].len());
            set.names[i] = (prefix_key(names[i]), names[i]);
            i += 1;
        }
        set
    }

    /// Is `name`, whose [`prefix_key`] is `key`, in the set?
    pub(crate) fn contains(&self, name: &str, key: u64) -> bool {
        self.lengths & length_bit(name.len()) != 0
            && self
                .names
                .iter()
                .any(|&(k, n)| k == key && n.len() == name.len() && n == name)
    }
}

const fn length_bit(len: usize) -> u64 {
    1 << if len < 63 { len } else { 63 }
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
    // Fast path: no space, tab, CR or LF at all (`application/json`, dates, hosts, ids), found
    // by looking for any byte up to a space, a word at a time (other control bytes take the
    // general path, which copies them as they are).
    if !has_byte_below(value.as_bytes(), b' ' + 1) {
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

/// Appends the header lines curl 7.x signs for a list in its order
/// ([`SignedOrder::CurlLines`]): every value of each signed name on a line of its own,
/// `name:value\n`, the lines sorted as bytes. `host`, when given, replaces the `host`
/// header's value (the default-port reading).
///
/// [`SignedOrder::CurlLines`]: crate::authorization::SignedOrder::CurlLines
pub(crate) fn push_separate_lines(
    signed: &str,
    req: &super::Request<'_>,
    host: Option<&str>,
    out: &mut String,
) {
    let mut lines: Vec<String> = Vec::new();
    let mut prev = "";
    for name in split_byte(signed, b';') {
        // A repeated name is listed once per value, next to itself (the list's order puts
        // equal names side by side): its values are taken once.
        if name == prev {
            continue;
        }
        prev = name;
        let line = |value: &str| {
            let mut line = format!("{name}:");
            push_value(value, &mut line);
            line
        };
        match host {
            Some(host) if name == "host" => lines.push(line(host)),
            _ => lines.extend(req.values(name).map(line)),
        }
    }
    lines.sort_unstable();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
}

/// Is `name` a valid lowercase signed-header token? (`check_signed_headers` checks the names
/// of a list in the same pass that splits it.)
#[cfg(test)]
pub(crate) fn is_valid_signed_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_lower_tchar)
}

/// Is `b` a `tchar` other than an upper-case letter (a byte of a signed-header name)?
pub(crate) fn is_lower_tchar(b: u8) -> bool {
    TOKEN[usize::from(b)] & LOWER != 0
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
