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
    let value = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    let b = value.as_bytes();
    let plain = b
        .iter()
        .zip(b.iter().skip(1))
        .all(|(x, y)| !(*x == b' ' && *y == b' ') && *x != b'\r' && *x != b'\n');
    if plain {
        out.push_str(value);
        return;
    }
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
    !name.is_empty() && name.bytes().all(|b| LOWER_TCHAR[usize::from(b)])
}

/// RFC 9110 `tchar` without upper-case letters, as a lookup table.
const LOWER_TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let extra = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
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
    fn signed_names_must_be_lowercase_tokens() {
        assert!(is_valid_signed_name("x-amz-date"));
        for bad in ["", "Host", "a b", "a;b", "ä"] {
            assert!(!is_valid_signed_name(bad), "{bad}");
        }
    }
}
