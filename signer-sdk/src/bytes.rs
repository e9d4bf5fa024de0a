//! Byte-level searching and splitting on one ASCII byte, for the short texts of a request
//! (`Authorization` values, signed-header lists, request targets).
//!
//! `str::split`/`split_once` with a `char` go through the generic pattern machinery, whose
//! setup costs more than the search itself on texts this short. Every separator here is ASCII,
//! so each cut is a `char` boundary.

/// `0x01` in every byte of a `u64`.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// `0x80` in every byte of a `u64`.
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Position of the first `needle` in `hay`, eight bytes at a time.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // A byte of `x` is zero where `chunk` holds `needle`; the lowest flagged byte is
        // always a real match (a false flag can only follow a real one).
        let x = u64::from_le_bytes(word) ^ pattern;
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

/// Does `hay` hold a byte below `limit` (at most 128)? Eight bytes at a time.
pub(crate) fn has_byte_below(hay: &[u8], limit: u8) -> bool {
    debug_assert!(limit <= 128);
    if hay.len() < 8 {
        return hay.iter().any(|&b| b < limit);
    }
    let subtrahend = ONES * u64::from(limit);
    let below =
        |at: usize| word_at(hay, at).is_some_and(|x| x.wrapping_sub(subtrahend) & !x & HIGHS != 0);
    let mut at = 0;
    while at + 8 < hay.len() {
        if below(at) {
            return true;
        }
        at += 8;
    }
    below(hay.len() - 8)
}

/// `a == b` ignoring ASCII case (as `eq_ignore_ascii_case`), eight bytes at a time (the last
/// word overlapping the one before it).
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() < 8 {
        return a.eq_ignore_ascii_case(b);
    }
    let same_word = |at: usize| match (word_at(a, at), word_at(b, at)) {
        (Some(x), Some(y)) => lower_word(x) == lower_word(y),
        _ => false,
    };
    let mut at = 0;
    while at + 8 < a.len() {
        if !same_word(at) {
            return false;
        }
        at += 8;
    }
    same_word(a.len() - 8)
}

/// The eight bytes from `at` as a little-endian word.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let word = bytes.get(at..)?.first_chunk::<8>()?;
    Some(u64::from_le_bytes(*word))
}

/// `x` with the ASCII upper-case letters among its bytes made lower-case.
fn lower_word(x: u64) -> u64 {
    // Per byte, on its low seven bits (no carry leaves a byte): the high bit of `ge_a` is set
    // from `A` up, that of `gt_z` past `Z`; bytes with the high bit set are not ASCII.
    let low = x & !HIGHS;
    let ge_a = low + ONES * u64::from(0x80 - b'A');
    let gt_z = low + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = ge_a & !gt_z & !x & HIGHS;
    x | upper >> 2
}

/// `text` cut at its first `sep`: the part before and the part after it.
pub(crate) fn split_once_byte(text: &str, sep: u8) -> Option<(&str, &str)> {
    let i = find_byte(text.as_bytes(), sep)?;
    Some((text.get(..i)?, text.get(i + 1..)?))
}

/// The pieces of `text` between `sep` bytes, as `str::split` with an ASCII `char` gives them.
pub(crate) fn split_byte(text: &str, sep: u8) -> SplitByte<'_> {
    SplitByte {
        rest: Some(text),
        sep,
    }
}

/// Iterator of [`split_byte`].
pub(crate) struct SplitByte<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitByte<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once_byte(rest, self.sep) {
            Some((piece, after)) => {
                self.rest = Some(after);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `text` without leading and trailing spaces and tabs.
pub(crate) fn trim_space_tab(text: &str) -> &str {
    let b = text.as_bytes();
    let blank = |c: &u8| matches!(c, b' ' | b'\t');
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
    text.get(start..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        let texts = [
            "",
            "a",
            "abcdefg",
            "abcdefgh",
            "abcdefgh;",
            ";;;;;;;;;;",
            "\u{80}\u{ff};x;",
            "0123456789abcdef0123456789abcdef;",
            "x\u{1}\u{fe}\u{3b}\u{bb};",
        ];
        for text in texts {
            for start in 0..=text.len() {
                let hay = &text.as_bytes()[start..];
                for needle in [b';', b'x', 0, 0x3b ^ 0x80, 0xbb, 1, 0xff] {
                    let plain = hay.iter().position(|&b| b == needle);
                    assert_eq!(
                        find_byte(hay, needle),
                        plain,
                        "{text:?}[{start}..] {needle}"
                    );
                }
            }
        }
    }

    #[test]
    fn has_byte_below_agrees_with_a_plain_search() {
        let texts: [&[u8]; 6] = [
            b"",
            b"application/json",
            b"9f1c2a7e-41b5-4d1e-9a3f-2b8c6d0e1f42",
            b"abcdefgh abcdefgh",
            b"\x80\x81\xa0\xff\xff\xff\xff\xff\xff\x7f!",
            b"!!!!!!!!!!!!!!!!\t",
        ];
        for text in texts {
            for start in 0..=text.len() {
                let hay = &text[start..];
                for limit in [0, 1, b' ', b'!', b'"', 0x7f, 0x80] {
                    let plain = hay.iter().any(|&b| b < limit);
                    assert_eq!(has_byte_below(hay, limit), plain, "{hay:?} {limit}");
                }
            }
        }
    }

    #[test]
    fn eq_ignore_case_agrees_with_the_standard_one() {
        let words: [&[u8]; 14] = [
            b"",
            b"a",
            b"A",
            b"@",
            b"`",
            b"[",
            b"{",
            b"Z",
            b"z",
            b"x-amz-date",
            b"X-Amz-Date",
            b"x-amz-content-sha256",
            b"X-AMZ-CONTENT-SHA256",
            b"\xc1\xe1\xda\xfa\x41\x61\x5a\x7a\xc1",
        ];
        for a in words {
            for b in words {
                assert_eq!(
                    eq_ignore_case(a, b),
                    a.eq_ignore_ascii_case(b),
                    "{a:?} {b:?}"
                );
            }
        }
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                let mut a = *b"k-0123456789abcdefgh";
                let mut b = *b"K-0123456789ABCDEFGH";
                for at in [1, 7, 8, 15, 19] {
                    (a[at], b[at]) = (x, y);
                    for len in [3, 8, 9, 16, 17, 20] {
                        let (a, b) = (&a[..len], &b[..len]);
                        assert_eq!(eq_ignore_case(a, b), a.eq_ignore_ascii_case(b), "{x} {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn split_byte_agrees_with_str_split() {
        for text in [
            "",
            ";",
            "a",
            "a;b",
            ";a;;b;",
            "host;x-amz-date;x-amz-meta-long-name",
        ] {
            let ours: Vec<&str> = split_byte(text, b';').collect();
            let std: Vec<&str> = text.split(';').collect();
            assert_eq!(ours, std, "{text:?}");
            assert_eq!(
                split_once_byte(text, b';'),
                text.split_once(';'),
                "{text:?}"
            );
        }
    }

    #[test]
    fn trims_spaces_and_tabs_only() {
        for text in [
            "",
            " ",
            "\t \t",
            " a ",
            "\ta b\t",
            "a",
            "\u{a0}a\u{a0}",
            "\r a \n",
        ] {
            assert_eq!(
                trim_space_tab(text),
                text.trim_matches([' ', '\t']),
                "{text:?}"
            );
        }
    }
}
