//! Presigned URL query parameters (`X-Amz-Algorithm`, `X-Amz-Credential`, …): strict parsing.

use std::borrow::Cow;
use std::fmt;

use crate::authorization::{Credential, SignedOrder, check_signed_headers, clip, parse_signature};
use crate::bytes::{split_byte, split_once_byte};
use crate::canonical::query::decode_component;
use crate::date::AmzDate;
use crate::error::AuthParseError;
use crate::signing_key::Signature;
use crate::string_to_sign::ALGORITHM;

/// The parameters that make a query presigned.
const AUTH_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// The authentication parameters of a presigned URL, decoded and validated.
///
/// `Debug` redacts the session token.
#[derive(Clone)]
pub struct PresignedQuery<'a> {
    credential: Credential<'a>,
    date: AmzDate,
    expires: Option<u64>,
    signed_headers: Cow<'a, str>,
    order: SignedOrder,
    signature: Signature,
    session_token: Option<Cow<'a, str>>,
}

impl<'a> PresignedQuery<'a> {
    /// Parses the presign parameters out of a raw query string (without `?`).
    ///
    /// # Errors
    /// An [`AuthParseError`] naming the parameter that is missing, repeated or malformed.
    pub fn parse(query: &'a str) -> Result<Self, AuthParseError> {
        let mut found: [Option<&'a str>; 7] = [None; 7];
        for piece in query.split('&') {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let Some(i) = AUTH_PARAMS.iter().position(|p| *p == key) else {
                continue;
            };
            if found[i].replace(value).is_some() {
                return Err(AuthParseError::DuplicateParameter(key.to_owned()));
            }
        }
        let get = |i: usize| -> Result<Cow<'a, str>, AuthParseError> {
            let raw = found[i].ok_or(AuthParseError::MissingParameter(AUTH_PARAMS[i]))?;
            decode(raw, AUTH_PARAMS[i])
        };
        let algorithm = get(0)?;
        if algorithm != ALGORITHM {
            return Err(AuthParseError::UnsupportedAlgorithm(clip(&algorithm)));
        }
        let credential = Credential::parse(get(1)?)?;
        let date = AmzDate::parse(&get(2)?)?;
        let expires = match found[3] {
            Some(raw) => Some(parse_expires(&decode(raw, AUTH_PARAMS[3])?)?),
            None => None,
        };
        let signed_headers = get(4)?;
        let order = check_signed_headers(&signed_headers)?;
        let signature = parse_signature(&get(5)?)?;
        let session_token = match found[6] {
            Some(raw) => Some(decode(raw, AUTH_PARAMS[6])?),
            None => None,
        };
        Ok(Self {
            credential,
            date,
            expires,
            signed_headers,
            order,
            signature,
            session_token,
        })
    }

    /// The credential.
    pub fn credential(&self) -> &Credential<'a> {
        &self.credential
    }

    /// `X-Amz-Date`.
    pub fn date(&self) -> AmzDate {
        self.date
    }

    /// `X-Amz-Expires`, in seconds (1..=604800); `None` when the URL does not carry it (as
    /// aws4fetch presigns for services other than S3): the verifier then holds the URL to the
    /// maximum clock skew around `X-Amz-Date`, as a header-signed request.
    pub fn expires(&self) -> Option<u64> {
        self.expires
    }

    /// `X-Amz-SignedHeaders`, validated.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }

    /// The order of the signed-headers list.
    pub(crate) fn signed_order(&self) -> SignedOrder {
        self.order
    }

    /// `X-Amz-Signature`.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// `X-Amz-Security-Token`, decoded.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for PresignedQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedQuery")
            .field("credential", &self.credential)
            .field("date", &self.date)
            .field("expires", &self.expires)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The first presign parameter present in `query`, if any (presigned, or an attempt at it).
pub(crate) fn auth_param_in(query: &str) -> Option<&'static str> {
    query.split('&').find_map(|piece| {
        let key = piece.split_once('=').map_or(piece, |(k, _)| k);
        AUTH_PARAMS.iter().find(|p| **p == key).copied()
    })
}

/// Does `query` carry an `X-Amz-Signature` or `X-Amz-Credential` (i.e. claim to be presigned)?
pub(crate) fn is_presigned(query: &str) -> bool {
    split_byte(query, b'&').any(|piece| {
        piece.starts_with("X-Amz-") && {
            let key = split_once_byte(piece, b'=').map_or(piece, |(k, _)| k);
            matches!(
                key,
                "X-Amz-Signature" | "X-Amz-Credential" | "X-Amz-Algorithm"
            )
        }
    })
}

fn decode<'a>(raw: &'a str, param: &'static str) -> Result<Cow<'a, str>, AuthParseError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    String::from_utf8(decode_component(raw))
        .map(Cow::Owned)
        .map_err(|_| AuthParseError::NotUtf8(param))
}

fn parse_expires(text: &str) -> Result<u64, AuthParseError> {
    let bad = || AuthParseError::InvalidExpires(clip(text));
    if text.is_empty() || text.len() > 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(n) if (1..=604_800).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Security-Token=a%2Bb&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44";

    #[test]
    fn parses_the_suite_presigned_query() {
        let q = PresignedQuery::parse(GOOD).unwrap();
        assert_eq!(q.credential().access_key_id(), "AKIDEXAMPLE");
        assert_eq!(q.credential().region(), "us-east-1");
        assert_eq!(q.date().to_string(), "20150830T123600Z");
        assert_eq!(q.expires(), Some(3600));
        assert_eq!(q.signed_headers(), "host");
        assert_eq!(q.session_token(), Some("a+b"));
    }

    #[test]
    fn expires_bounds() {
        for bad in ["0", "604801", "-1", "1.5", "", "99999999999999999999", "+5"] {
            assert!(
                matches!(parse_expires(bad), Err(AuthParseError::InvalidExpires(_))),
                "{bad}"
            );
        }
        assert_eq!(parse_expires("604800"), Ok(604_800));
        assert_eq!(parse_expires("1"), Ok(1));
    }
}
