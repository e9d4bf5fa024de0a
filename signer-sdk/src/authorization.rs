//! The `Authorization` header: strict parsing and rendering, and the credential scope parser
//! shared with presigned queries.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::bytes::{find_byte, split_byte, split_once_byte, trim_space_tab};
use crate::canonical::headers::is_lower_tchar;
#[cfg(doc)]
use crate::date::AmzDate;
use crate::date::DateStamp;
use crate::error::AuthParseError;
use crate::signing_key::Signature;
use crate::string_to_sign::ALGORITHM;

/// Longest `Authorization` header value accepted, both as received and in its canonical
/// rendering (`, ` between parameters), so that every parsed header renders to a parsable one.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Most signed headers accepted in one request.
pub const MAX_SIGNED_HEADERS: usize = 64;

/// Length of the canonical rendering apart from the three values.
const RENDERED_OVERHEAD: usize =
    ALGORITHM.len() + " Credential=".len() + ", SignedHeaders=".len() + ", Signature=".len();

/// The canonical rendering up to the credential.
const CANONICAL_PREFIX: &str = "AWS4-HMAC-SHA256 Credential=";

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
///
/// `Display` renders the canonical form (`, ` between parameters); parsing accepts `,` with
/// or without spaces, as clients differ.
#[derive(Clone, Debug)]
pub struct Authorization<'a> {
    credential: Credential<'a>,
    signed_headers: Cow<'a, str>,
    order: SignedOrder,
    signature: Signature,
}

/// `<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    text: Cow<'a, str>,
    date: DateStamp,
    /// Byte ranges of the id, region and service inside `text`.
    id: Range<usize>,
    region: Range<usize>,
    service: Range<usize>,
}

impl<'a> Authorization<'a> {
    /// Parses a header value strictly.
    ///
    /// # Errors
    /// An [`AuthParseError`] naming the part that is wrong.
    pub fn parse(value: &'a str) -> Result<Self, AuthParseError> {
        if let Some(parsed) = Self::parse_canonical(value) {
            return Ok(parsed);
        }
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(AuthParseError::TooLong {
                len: value.len(),
                max: MAX_AUTHORIZATION_LEN,
            });
        }
        let value = trim_space_tab(value);
        if value.is_empty() {
            return Err(AuthParseError::Empty);
        }
        let (algorithm, params) = split_once_byte(value, b' ').unwrap_or((value, ""));
        if algorithm != ALGORITHM {
            return Err(AuthParseError::UnsupportedAlgorithm(clip(algorithm)));
        }
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for piece in split_byte(params, b',') {
            let piece = trim_space_tab(piece);
            let (name, val) = split_once_byte(piece, b'=')
                .ok_or_else(|| AuthParseError::MalformedParameter(clip(piece)))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(AuthParseError::UnknownParameter(clip(name))),
            };
            if slot.replace(val).is_some() {
                return Err(AuthParseError::DuplicateParameter(name.to_owned()));
            }
        }
        let credential = credential.ok_or(AuthParseError::MissingParameter("Credential"))?;
        let signed = signed.ok_or(AuthParseError::MissingParameter("SignedHeaders"))?;
        let signature = signature.ok_or(AuthParseError::MissingParameter("Signature"))?;
        let parsed = Self {
            credential: Credential::parse(Cow::Borrowed(credential))?,
            order: check_signed_headers(signed)?,
            signed_headers: Cow::Borrowed(signed),
            signature: parse_signature(signature)?,
        };
        // The canonical rendering (`, ` separators) must be parsable too.
        let rendered = RENDERED_OVERHEAD + credential.len() + signed.len() + 64;
        if rendered > MAX_AUTHORIZATION_LEN {
            return Err(AuthParseError::TooLong {
                len: rendered,
                max: MAX_AUTHORIZATION_LEN,
            });
        }
        Ok(parsed)
    }

    /// The canonical rendering (what signers send), read without the general splitting:
    /// `None` for any other text, which the general parser then reads (and reports on).
    ///
    /// Whatever this accepts, the general parser reads the same way: the three values are
    /// valid, so none holds a `,` or starts or ends with a space or tab.
    fn parse_canonical(value: &'a str) -> Option<Self> {
        if value.len() > MAX_AUTHORIZATION_LEN {
            return None;
        }
        let rest = value.strip_prefix(CANONICAL_PREFIX)?;
        let (credential, rest) = split_once_byte(rest, b',')?;
        let (signed, signature) = split_once_byte(rest.strip_prefix(" SignedHeaders=")?, b',')?;
        let signature = signature.strip_prefix(" Signature=")?;
        let rendered = RENDERED_OVERHEAD + credential.len() + signed.len() + 64;
        if rendered > MAX_AUTHORIZATION_LEN {
            return None;
        }
        Some(Self {
            credential: Credential::parse(Cow::Borrowed(credential)).ok()?,
            order: check_signed_headers(signed).ok()?,
            signed_headers: Cow::Borrowed(signed),
            signature: parse_signature(signature).ok()?,
        })
    }

    /// The credential.
    pub fn credential(&self) -> &Credential<'a> {
        &self.credential
    }

    /// The signed-headers list, validated: lowercase, sorted, unique, `;`-separated.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// The order of the signed-headers list.
    pub(crate) fn signed_order(&self) -> SignedOrder {
        self.order
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

impl fmt::Display for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM} Credential={}, SignedHeaders={}, Signature={}",
            self.credential, self.signed_headers, self.signature
        )
    }
}

impl<'a> Credential<'a> {
    /// Parses `<id>/<YYYYMMDD>/<region>/<service>/aws4_request`.
    ///
    /// # Errors
    /// [`AuthParseError::InvalidCredential`] with the reason.
    pub fn parse(text: Cow<'a, str>) -> Result<Self, AuthParseError> {
        let bad = |reason| AuthParseError::InvalidCredential {
            value: clip(&text),
            reason,
        };
        // The first four `/`, then the last part: exactly `aws4_request`, which holds none.
        let five_parts = || bad("it must have exactly five `/`-separated parts");
        let bytes = text.as_bytes();
        let mut cuts = [0usize; 4];
        let mut from = 0;
        for cut in &mut cuts {
            let at = bytes
                .get(from..)
                .and_then(|rest| find_byte(rest, b'/'))
                .ok_or_else(five_parts)?;
            *cut = from + at;
            from = *cut + 1;
        }
        let last = text.get(from..).unwrap_or_default();
        if last != "aws4_request" {
            if find_byte(last.as_bytes(), b'/').is_some() {
                return Err(five_parts());
            }
            return Err(bad("the last part must be `aws4_request`"));
        }
        Self::from_parts(text, cuts)
    }

    /// Checks the four fields before `aws4_request`, found at the `/` positions `cuts`.
    fn from_parts(text: Cow<'a, str>, cuts: [usize; 4]) -> Result<Self, AuthParseError> {
        let bad = |reason| AuthParseError::InvalidCredential {
            value: clip(&text),
            reason,
        };
        let id = 0..cuts[0];
        let region = cuts[1] + 1..cuts[2];
        let service = cuts[2] + 1..cuts[3];
        if !is_field(&text[id.clone()]) {
            return Err(bad("the access key id is empty or has invalid characters"));
        }
        let date = parse_scope_date(&text[cuts[0] + 1..cuts[1]])
            .ok_or_else(|| bad("the date must be a real YYYYMMDD"))?;
        if !is_field(&text[region.clone()]) || !is_field(&text[service.clone()]) {
            return Err(bad("region and service must be non-empty printable text"));
        }
        Ok(Self {
            text,
            date,
            id,
            region,
            service,
        })
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.text[self.id.clone()]
    }

    /// The scope date.
    pub fn date(&self) -> DateStamp {
        self.date
    }

    /// The scope region.
    pub fn region(&self) -> &str {
        &self.text[self.region.clone()]
    }

    /// The scope service.
    pub fn service(&self) -> &str {
        &self.text[self.service.clone()]
    }
}

impl fmt::Display for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/aws4_request",
            self.access_key_id(),
            self.date,
            self.region(),
            self.service()
        )
    }
}

/// The order of a valid signed-headers list, which decides how its headers are canonicalized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignedOrder {
    /// Strictly ascending: the standard order (one line per name, repeated values joined).
    Sorted,
    /// curl 7.x's: curl before 8.3 signs every value of a repeated header on a line of its
    /// own, sorts its `name:value` lines as bytes and lists the names of those lines, so a
    /// repeated header repeats its name (`x-a;x-a`) and a name sorts after its own
    /// extensions (`x-b-c;x-b`, as `-` sorts before `:`).
    CurlLines,
}

/// Validates a signed-headers list: 1..=64 lowercase header names, strictly ascending, or in
/// the order of curl 7.x's sorted header lines; tells which.
pub(crate) fn check_signed_headers(list: &str) -> Result<SignedOrder, AuthParseError> {
    let bad = |reason| AuthParseError::InvalidSignedHeaders {
        value: clip(list),
        reason,
    };
    if list.is_empty() {
        return Err(bad("the list is empty"));
    }
    // One pass over the bytes, with the checks of each name in this order: how many names,
    // the name's bytes (it must not be empty), its order after the previous one.
    let b = list.as_bytes();
    let mut prev: Option<&[u8]> = None;
    // Which of the two orders the names so far are in.
    let (mut ascending, mut line_order) = (true, true);
    let mut start = 0;
    for i in 0.. {
        if i >= MAX_SIGNED_HEADERS {
            return Err(bad("more than 64 headers are signed"));
        }
        let rest = b.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&c| !is_lower_tchar(c))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        let ends_well = rest.get(len).is_none_or(|&c| c == b';');
        if name.is_empty() || !ends_well {
            return Err(bad(
                "each name must be a lowercase header name, separated by `;`",
            ));
        }
        if let Some(p) = prev {
            ascending &= p < name;
            line_order &= line_key_order(p, name).is_le();
            if !ascending && !line_order {
                return Err(bad("names must be sorted and unique"));
            }
        }
        prev = Some(name);
        start += len + 1;
        if start > b.len() {
            break;
        }
    }
    Ok(if ascending {
        SignedOrder::Sorted
    } else {
        SignedOrder::CurlLines
    })
}

/// How `a:` compares with `b:` as bytes (the order of curl 7.x's header lines).
fn line_key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter().chain(b":").cmp(b.iter().chain(b":"))
}

pub(crate) fn parse_signature(text: &str) -> Result<Signature, AuthParseError> {
    Signature::from_hex(text).ok_or_else(|| AuthParseError::InvalidSignature(clip(text)))
}

/// A real `YYYYMMDD` (as [`AmzDate::parse`] accepts it at midnight), kept as it is written.
fn parse_scope_date(date: &str) -> Option<DateStamp> {
    DateStamp::parse(date)
}

fn is_field(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// Peer text echoed in an error, cut to 64 characters.
pub(crate) fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn parses_and_renders_the_canonical_form() {
        let a = Authorization::parse(GOOD).unwrap();
        assert_eq!(a.credential().access_key_id(), "AKIDEXAMPLE");
        assert_eq!(a.credential().date().as_str(), "20150830");
        assert_eq!(a.credential().region(), "us-east-1");
        assert_eq!(a.credential().service(), "service");
        assert_eq!(a.signed_headers(), "host;x-amz-date");
        assert_eq!(a.to_string(), GOOD);
    }

    /// The list check as it was written before it became one pass over the bytes.
    fn reference_check(list: &str) -> Result<SignedOrder, AuthParseError> {
        let bad = |reason| AuthParseError::InvalidSignedHeaders {
            value: clip(list),
            reason,
        };
        if list.is_empty() {
            return Err(bad("the list is empty"));
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, name) in list.split(';').enumerate() {
            if i >= MAX_SIGNED_HEADERS {
                return Err(bad("more than 64 headers are signed"));
            }
            if !crate::canonical::headers::is_valid_signed_name(name) {
                return Err(bad(
                    "each name must be a lowercase header name, separated by `;`",
                ));
            }
            // The names so far: strictly ascending, or non-decreasing as `name:` lines.
            names.push(name);
            let ascending = names.windows(2).all(|w| w[0] < w[1]);
            let keys: Vec<String> = names.iter().map(|n| format!("{n}:")).collect();
            let line_order = keys.windows(2).all(|w| w[0] <= w[1]);
            if !ascending && !line_order {
                return Err(bad("names must be sorted and unique"));
            }
        }
        let names: Vec<&str> = list.split(';').collect();
        Ok(if names.windows(2).all(|w| w[0] < w[1]) {
            SignedOrder::Sorted
        } else {
            SignedOrder::CurlLines
        })
    }

    #[test]
    fn only_a_list_that_is_not_strictly_ascending_is_in_curl_7_line_order() {
        use SignedOrder::{CurlLines, Sorted};
        for (list, order) in [
            ("host", Sorted),
            ("host;x-amz-date", Sorted),
            ("hos;host", Sorted),
            ("x-b;x-b-c", Sorted),
            ("host;x-a;x-a;x-amz-date", CurlLines),
            ("x-b-c;x-b", CurlLines),
            ("x-b0;x-b", CurlLines),
        ] {
            assert_eq!(check_signed_headers(list), Ok(order), "{list}");
        }
    }

    #[test]
    fn signed_headers_check_gives_the_reference_reason() {
        let names: Vec<String> = (0..70).map(|i| format!("h{i:02}")).collect();
        let mut lists: Vec<String> = [
            "",
            ";",
            "host",
            "host;",
            ";host",
            "host;;x-amz-date",
            "host;x-amz-date",
            "x-amz-date;host",
            "host;host",
            "Host;x-amz-date",
            "host;X",
            "a b;c",
            "a;b;a",
            "a;b;B",
            "a;b;c\u{e4}",
            "\u{e4}",
            "a;ab;abc",
            "abc;ab",
            "a\t",
            "a;b;",
            "x-a;x-a",
            "host;x-a;x-a;x-amz-date",
            "x-b-c;x-b",
            "x-b;x-b-c",
            "x-b-c;x-b;x-a",
            "a;a;a",
            "b;a;a",
            "x-b;x-b-c;x-b",
        ]
        .map(String::from)
        .to_vec();
        for n in [63, 64, 65, 70] {
            lists.push(names[..n].join(";"));
        }
        lists.push(format!("{};", names[..64].join(";")));
        lists.push(format!("{};B", names[..63].join(";")));
        lists.push(format!("{};h00", names[..64].join(";")));
        for list in &lists {
            assert_eq!(
                check_signed_headers(list),
                reference_check(list),
                "{list:?}"
            );
        }
    }

    /// The credential parser's splitting as it was written before it searched with
    /// `find_byte` (the field checks after it are shared: `Credential::from_parts`).
    fn reference_credential(text: &str) -> Result<Credential<'_>, AuthParseError> {
        let bad = |reason| AuthParseError::InvalidCredential {
            value: clip(text),
            reason,
        };
        let mut cuts = [0usize; 4];
        let mut n = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b'/' {
                if n == 4 {
                    return Err(bad("it must have exactly five `/`-separated parts"));
                }
                cuts[n] = i;
                n += 1;
            }
        }
        if n != 4 {
            return Err(bad("it must have exactly five `/`-separated parts"));
        }
        if &text[cuts[3] + 1..] != "aws4_request" {
            return Err(bad("the last part must be `aws4_request`"));
        }
        Credential::from_parts(Cow::Borrowed(text), cuts)
    }

    #[test]
    fn credential_parse_gives_the_reference_result() {
        let cases = [
            "AKID/20150830/us-east-1/service/aws4_request",
            "AKID/20150830/us-east-1/service/aws4_request/",
            "AKID/20150830/us-east-1/service/aws4_request/x",
            "AKID/20150830/us-east-1/service/aws4_requesT",
            "AKID/20150830/us-east-1/service/aws4/request",
            "AKID/20150830/us-east-1/service",
            "AKID/20150830/us-east-1/service/",
            "/20150830/us-east-1/service/aws4_request",
            "AKID/2015083/us-east-1/service/aws4_request",
            "AKID/20150230/us-east-1/service/aws4_request",
            "AKID/20150830//service/aws4_request",
            "AKID/20150830/us east/service/aws4_request",
            "AK,ID/20150830/r/s/aws4_request",
            "AKID/20150830/r/s\u{e4}/aws4_request",
            "",
            "////",
            "/////",
            "a/b/c/d/e/f/g/aws4_request",
        ];
        for case in cases {
            assert_eq!(
                Credential::parse(Cow::Borrowed(case)),
                reference_credential(case),
                "{case}"
            );
        }
    }

    #[test]
    fn the_canonical_prefix_names_the_algorithm() {
        assert_eq!(CANONICAL_PREFIX, format!("{ALGORITHM} Credential="));
    }

    #[test]
    fn the_canonical_fast_path_reads_as_the_general_parser() {
        let general = |v: &str| {
            // The general parser alone: the same text with a leading space (trimmed by it,
            // refused by the fast path).
            Authorization::parse(&format!(" {v}")).map(|a| a.to_string())
        };
        let cases = [
            GOOD.to_owned(),
            GOOD.replace(", ", ","),
            GOOD.replace(", Signature", " , Signature"),
            GOOD.replace("aws4_request,", "aws4_request ,"),
            GOOD.replace("x-amz-date,", "x-amz-date\t,"),
            format!("{GOOD} "),
            format!("{GOOD}0"),
            GOOD.replace("SignedHeaders", "Signature"),
            GOOD.replace("host;", "host;host;"),
            GOOD.replace("host;", "host;x-b-c;x-b;"),
            GOOD.replace("host;", "hos;host;"),
            GOOD.replace("AKIDEXAMPLE", ""),
            GOOD.replace("20150830", "20150230"),
            format!("{GOOD}, Extra=1"),
        ];
        for case in &cases {
            assert_eq!(
                Authorization::parse(case).map(|a| a.to_string()),
                general(case),
                "{case}"
            );
            if let Some(fast) = Authorization::parse_canonical(case) {
                assert_eq!(Ok(fast.to_string()), general(case), "{case}");
            }
        }
        assert!(Authorization::parse_canonical(GOOD).is_some());
    }

    #[test]
    fn accepts_commas_without_spaces() {
        let tight = GOOD.replace(", ", ",");
        assert_eq!(Authorization::parse(&tight).unwrap().to_string(), GOOD);
    }
}
