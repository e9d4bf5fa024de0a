//! Canonical query string (SigV4 "CanonicalQueryString"): decode, re-encode with the RFC 3986
//! unreserved set and uppercase hex, sort by encoded key then encoded value.

use std::ops::Range;

use smallvec::SmallVec;

use super::uri::{is_unreserved, push_pct};
use crate::signing_key::hex_val;

/// How the raw query text is read before it is re-encoded. Clients disagree on a raw `+` and on
/// whether to re-encode at all; the verifier tries the alternatives only after the first failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryReading {
    /// `+` is a space (`%20`), as AWS services, the aws-sigv4 crate and form decoders read it.
    PlusIsSpace,
    /// `+` is a literal plus (`%2B`), as curl signs it.
    PlusIsLiteral,
    /// No decoding or re-encoding, pairs only sorted: botocore with a query in the URL.
    AsSent,
    /// No decoding, re-encoding or sorting (only `=` added to bare keys): curl 7.x.
    AsSentUnsorted,
}

/// Pairs a reading leaves out of the canonical query because some clients do not sign them
/// (they send them all the same): combined with each [`QueryReading`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unsigned {
    /// Pairs with an empty name (`=v`): aws4fetch, aws-requests-auth.
    pub(crate) empty_names: bool,
    /// Bare names (no `=`): the AWS SDK for JavaScript v3 (`@smithy/signature-v4`), which
    /// sends a null-valued parameter as a bare name but does not sign it.
    pub(crate) bare_names: bool,
}

impl Unsigned {
    /// Every pair is signed (the strict reading).
    pub(crate) const NONE: Self = Self {
        empty_names: false,
        bare_names: false,
    };

    /// Only empty-name pairs.
    pub(crate) const EMPTY_NAMES: Self = Self {
        empty_names: true,
        bare_names: false,
    };

    /// Only bare names.
    pub(crate) const BARE_NAMES: Self = Self {
        empty_names: false,
        bare_names: true,
    };

    /// Is the raw query piece (between two `&`) left out? An empty piece never counts.
    pub(crate) fn leaves_out(self, piece: &str) -> bool {
        !piece.is_empty() && self.drops(piece.find('='))
    }

    /// Is the raw non-empty piece whose `=` (if any) is at `eq`, counted from the piece's
    /// start, left out?
    fn drops(self, eq: Option<usize>) -> bool {
        match eq {
            Some(0) => self.empty_names,
            Some(_) => false,
            None => self.bare_names,
        }
    }
}

/// Appends the canonical form of `raw` (without the leading `?`) to `out`. With
/// `skip_signature`, an `X-Amz-Signature` pair is left out (presigned verification).
///
/// A query whose every key and value is already in canonical form (the usual case) is only
/// split and sorted; otherwise pairs are encoded straight into `out`, and only a query whose
/// pairs are not already in order is sorted afterwards, in a second buffer.
pub(crate) fn canonical_query(
    raw: &str,
    reading: QueryReading,
    skip_signature: bool,
    out: &mut String,
) {
    canonical_query_without(raw, reading, Unsigned::NONE, skip_signature, out);
}

/// [`canonical_query`] without the pairs `unsigned` leaves out.
pub(crate) fn canonical_query_without(
    raw: &str,
    reading: QueryReading,
    unsigned: Unsigned,
    skip_signature: bool,
    out: &mut String,
) {
    if raw.is_empty() {
        return;
    }
    // Filled in place: the list is a few hundred bytes, not worth moving.
    let mut pairs = SmallVec::new();
    match split_canonical(raw, reading, unsigned, &mut pairs) {
        Some(()) => write_sorted(&mut pairs, reading, skip_signature, out),
        None => encode_and_sort(raw, reading, unsigned, skip_signature, out),
    }
}

/// Splits `raw` into its non-empty `key=value` pairs (into `pairs`, empty) if encoding would
/// change none of them (`None` otherwise), in one pass over the bytes.
fn split_canonical<'a>(
    raw: &'a str,
    reading: QueryReading,
    unsigned: Unsigned,
    pairs: &mut SmallVec<[(&'a str, &'a str); 12]>,
) -> Option<()> {
    let check = !matches!(reading, QueryReading::AsSent | QueryReading::AsSentUnsorted);
    let b = raw.as_bytes();
    let mut push = |start: usize, eq: Option<usize>, end: usize| {
        if start < end && !unsigned.drops(eq.map(|eq| eq - start)) {
            let (key, value) = match eq {
                Some(eq) => (raw.get(start..eq), raw.get(eq + 1..end)),
                None => (raw.get(start..end), Some("")),
            };
            pairs.push((key.unwrap_or(""), value.unwrap_or("")));
        }
    };
    let (mut start, mut eq) = (0, None);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'&' => {
                push(start, eq, i);
                start = i + 1;
                eq = None;
            }
            b'=' if eq.is_none() => eq = Some(i),
            _ if !check => {}
            c if is_unreserved(c) => {}
            // `%XX` stays as it is if XX is uppercase hex of a byte that must be encoded.
            b'%' => {
                let hi = b.get(i + 1).copied().filter(is_upper_hex)?;
                let lo = b.get(i + 2).copied().filter(is_upper_hex)?;
                let byte = hex_val(hi)? << 4 | hex_val(lo)?;
                if is_unreserved(byte) {
                    return None;
                }
                i += 2;
            }
            _ => return None,
        }
        i += 1;
    }
    push(start, eq, b.len());
    Some(())
}

/// An uppercase hex digit, as canonical percent-encoding writes it.
fn is_upper_hex(c: &u8) -> bool {
    matches!(c, b'0'..=b'9' | b'A'..=b'F')
}

/// Writes pairs already in canonical form, sorted (unless read as sent and unsorted).
fn write_sorted(
    pairs: &mut SmallVec<[(&str, &str); 12]>,
    reading: QueryReading,
    skip_signature: bool,
    out: &mut String,
) {
    if skip_signature {
        pairs.retain(|(k, _)| *k != "X-Amz-Signature");
    }
    let sorted = pairs.windows(2).all(|w| w[0] <= w[1]);
    if !sorted && reading != QueryReading::AsSentUnsorted {
        pairs.sort_unstable();
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// The general case: decode and re-encode every key and value, then sort.
fn encode_and_sort(
    raw: &str,
    reading: QueryReading,
    unsigned: Unsigned,
    skip_signature: bool,
    out: &mut String,
) {
    let base = out.len();
    // (key, value) byte ranges inside `out`; a typical query fits inline.
    let mut pairs: SmallVec<[(Range<usize>, Range<usize>); 12]> = SmallVec::new();
    let mut sorted = true;
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        if unsigned.leaves_out(piece) {
            continue;
        }
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        let start = out.len();
        if start > base {
            out.push('&');
        }
        let k = out.len();
        encode_component(key, reading, out);
        let key_range = k..out.len();
        if skip_signature && &out[key_range.clone()] == "X-Amz-Signature" {
            out.truncate(start);
            continue;
        }
        out.push('=');
        let v = out.len();
        encode_component(value, reading, out);
        let value_range = v..out.len();
        if let Some((pk, pv)) = pairs.last() {
            let before = (&out[pk.clone()], &out[pv.clone()]);
            sorted &= before <= (&out[key_range.clone()], &out[value_range.clone()]);
        }
        pairs.push((key_range, value_range));
    }
    if sorted || reading == QueryReading::AsSentUnsorted {
        return;
    }
    let text = out.split_off(base);
    let at = |r: &Range<usize>| text.get(r.start - base..r.end - base).unwrap_or("");
    pairs.sort_unstable_by(|a, b| (at(&a.0), at(&a.1)).cmp(&(at(&b.0), at(&b.1))));
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(at(k));
        out.push('=');
        out.push_str(at(v));
    }
}

/// Percent-decodes and re-encodes one key or value in one pass. A `%` not followed by two hex
/// digits is a literal `%` (encoded `%25`), as URL parsers read it.
fn encode_component(text: &str, reading: QueryReading, out: &mut String) {
    if matches!(reading, QueryReading::AsSent | QueryReading::AsSentUnsorted) {
        out.push_str(text);
        return;
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Copy a run of unreserved (ASCII) bytes at once.
        let run = b[i..].iter().take_while(|&&c| is_unreserved(c)).count();
        out.push_str(text.get(i..i + run).unwrap_or(""));
        i += run;
        let Some(&first) = b.get(i) else { break };
        let (byte, used) = match first {
            b'%' => match (
                b.get(i + 1).and_then(|&c| hex_val(c)),
                b.get(i + 2).and_then(|&c| hex_val(c)),
            ) {
                (Some(hi), Some(lo)) => (hi << 4 | lo, 3),
                _ => (b'%', 1),
            },
            b'+' if reading == QueryReading::PlusIsSpace => (b' ', 1),
            other => (other, 1),
        };
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            push_pct(out, byte);
        }
        i += used;
    }
}

/// Percent-decodes a query component (`+` stays a plus) into bytes, for presign parameters.
pub(crate) fn decode_component(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (
            b.get(i + 1).and_then(|&c| hex_val(c)),
            b.get(i + 2).and_then(|&c| hex_val(c)),
        );
        if let (b'%', (Some(hi), Some(lo))) = (b[i], hex) {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Percent-encodes every byte outside the unreserved set (for values the signer adds).
pub(crate) fn encode_value(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_pct(out, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str, reading: QueryReading) -> String {
        let mut out = String::new();
        canonical_query(raw, reading, false, &mut out);
        out
    }

    #[test]
    fn sorts_by_key_then_value_keeping_repeats_and_empty_values() {
        let r = QueryReading::PlusIsSpace;
        assert_eq!(canon("a=2&a=1&b=&c", r), "a=1&a=2&b=&c=");
        assert_eq!(
            canon("Param2=value2&Param1=value1", r),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            canon("Param-3=Value3&Param=Value2&%E1%88%B4=Value1", r),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(canon("a=1&&b=2&", r), "a=1&b=2");
        assert_eq!(canon("b=1&a=2&a=1&=x", r), "=x&a=1&a=2&b=1");
        assert_eq!(canon("a=b&a", r), "a=&a=b");
    }

    fn canon_without(raw: &str, reading: QueryReading, unsigned: Unsigned) -> String {
        let mut out = String::new();
        canonical_query_without(raw, reading, unsigned, false, &mut out);
        out
    }

    const EMPTY_NAMES: Unsigned = Unsigned::EMPTY_NAMES;
    const BARE_NAMES: Unsigned = Unsigned::BARE_NAMES;

    #[test]
    fn without_empty_names_only_pairs_without_a_name_are_left_out() {
        let r = QueryReading::PlusIsSpace;
        assert_eq!(canon_without("b=1&=x&a=2&=", r, EMPTY_NAMES), "a=2&b=1");
        // Also on the general (re-encoding) path.
        assert_eq!(
            canon_without("q=a+b&=x&k=%7e", r, EMPTY_NAMES),
            "k=~&q=a%20b"
        );
        // An empty value, a bare name and an encoded `=` keep their pair.
        assert_eq!(canon_without("a=&b&%3D=1", r, EMPTY_NAMES), "%3D=1&a=&b=");
        assert_eq!(canon_without("=only", r, EMPTY_NAMES), "");
        // With the other readings: aws-requests-auth sorts the raw pairs and drops these.
        let as_sent = QueryReading::AsSent;
        assert_eq!(
            canon_without("flag&=v&q=a+b", as_sent, EMPTY_NAMES),
            "flag=&q=a+b"
        );
        for raw in ["a=1&b=2", "q=a+b&k=%7e", "a=&b", ""] {
            assert_eq!(canon_without(raw, r, EMPTY_NAMES), canon(raw, r), "{raw}");
        }
    }

    #[test]
    fn without_bare_names_only_names_without_an_equals_sign_are_left_out() {
        let r = QueryReading::PlusIsSpace;
        assert_eq!(
            canon_without("flag&b=1&empty=&a=2", r, BARE_NAMES),
            "a=2&b=1&empty="
        );
        assert_eq!(
            canon_without("q=a+b&flag&k=%7e", r, BARE_NAMES),
            "k=~&q=a%20b"
        );
        assert_eq!(canon_without("=x&flag", r, BARE_NAMES), "=x");
        assert_eq!(canon_without("flag", r, BARE_NAMES), "");
        let unsorted = QueryReading::AsSentUnsorted;
        assert_eq!(
            canon_without("z=1&flag&a=2", unsorted, BARE_NAMES),
            "z=1&a=2"
        );
        for raw in ["a=1&b=2", "q=a+b&k=%7e", "a=&=b", ""] {
            assert_eq!(canon_without(raw, r, BARE_NAMES), canon(raw, r), "{raw}");
        }
    }

    #[test]
    fn re_encodes_with_uppercase_hex_and_decodes_unreserved() {
        let r = QueryReading::PlusIsSpace;
        assert_eq!(canon("k=%7e%2f%2F/:", r), "k=~%2F%2F%2F%3A");
        assert_eq!(canon("ሴ=bar", r), "%E1%88%B4=bar");
        assert_eq!(canon("a=100%&b=%zz", r), "a=100%25&b=%25zz");
        assert_eq!(canon("x=a=b", r), "x=a%3Db");
    }

    #[test]
    fn the_three_readings_of_plus_and_raw_text() {
        assert_eq!(canon("q=a+b", QueryReading::PlusIsSpace), "q=a%20b");
        assert_eq!(canon("q=a+b", QueryReading::PlusIsLiteral), "q=a%2Bb");
        assert_eq!(canon("q=a+b/c&a=1", QueryReading::AsSent), "a=1&q=a+b/c");
        assert_eq!(
            canon("q=a+b/c&a&%7e=1", QueryReading::AsSentUnsorted),
            "q=a+b/c&a=&%7e=1"
        );
    }

    #[test]
    fn the_fast_path_takes_only_queries_already_canonical() {
        let r = QueryReading::PlusIsSpace;
        let split_canonical =
            |raw, reading| split_canonical(raw, reading, Unsigned::NONE, &mut SmallVec::new());
        for raw in ["a=1&b=x%2Fy", "k=%20", "a&b=", "a=1&&b=2&"] {
            assert!(split_canonical(raw, r).is_some(), "{raw}");
        }
        for raw in [
            "k=%2f", "k=%41", "k=a+b", "k=%", "k=%2", "k=%zz", "x=a=b", "k=/", "ሴ=1",
        ] {
            assert!(split_canonical(raw, r).is_none(), "{raw}");
        }
        assert!(split_canonical("k=a+b/c=d", QueryReading::AsSent).is_some());
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_writes_what_encoding_writes(
            raw in "([aAbZ0~._=&+/]|%[0-9A-Fa-f]{0,2}|X-Amz-Signature=1){0,12}",
            skip: bool,
        ) {
            for reading in [
                QueryReading::PlusIsSpace,
                QueryReading::PlusIsLiteral,
                QueryReading::AsSent,
                QueryReading::AsSentUnsorted,
            ] {
                for unsigned in [Unsigned::NONE, EMPTY_NAMES, BARE_NAMES] {
                    let mut fast = String::from("x");
                    canonical_query_without(&raw, reading, unsigned, skip, &mut fast);
                    let mut general = String::from("x");
                    encode_and_sort(&raw, reading, unsigned, skip, &mut general);
                    proptest::prop_assert_eq!(fast, general, "{:?} {:?}", reading, unsigned);
                }
            }
        }
    }

    #[test]
    fn skips_the_signature_pair_when_asked() {
        let mut out = String::new();
        canonical_query(
            "X-Amz-Signature=abc&a=1",
            QueryReading::PlusIsSpace,
            true,
            &mut out,
        );
        assert_eq!(out, "a=1");
        let mut out = String::from("prefix\n");
        canonical_query(
            "b=2&X-Amz-Signature=abc&a=1",
            QueryReading::PlusIsSpace,
            true,
            &mut out,
        );
        assert_eq!(out, "prefix\na=1&b=2");
    }
}
