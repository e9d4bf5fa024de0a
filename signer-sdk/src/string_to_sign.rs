//! Credential scope and string to sign.

use std::fmt;

use crate::date::{AmzDate, DateStamp};
use crate::signing_key::{Signature, SigningKey, hex_bytes, hex_str};

/// The algorithm name of SigV4 with HMAC-SHA256.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credential scope `YYYYMMDD/region/service/aws4_request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The scope date.
    pub date: DateStamp,
    /// The region.
    pub region: &'a str,
    /// The service.
    pub service: &'a str,
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// SigV4's string to sign: algorithm, timestamp, scope and the canonical request's hash.
#[derive(Clone, Debug)]
pub struct StringToSign<'a> {
    date: [u8; 16],
    scope: Scope<'a>,
    creq_hash: [u8; 64],
}

impl<'a> StringToSign<'a> {
    /// Builds the string to sign from the canonical request's SHA-256.
    pub fn new(date: AmzDate, scope: Scope<'a>, creq_digest: &[u8; 32]) -> Self {
        Self {
            date: date.to_bytes(),
            scope,
            creq_hash: hex_bytes(creq_digest),
        }
    }

    /// As [`StringToSign::new`], with the timestamp already rendered (`YYYYMMDDTHHMMSSZ`).
    pub(crate) fn with_date_bytes(
        date: [u8; 16],
        scope: Scope<'a>,
        creq_digest: &[u8; 32],
    ) -> Self {
        Self {
            date,
            scope,
            creq_hash: hex_bytes(creq_digest),
        }
    }

    /// The credential scope.
    pub fn scope(&self) -> Scope<'a> {
        self.scope
    }

    /// Signs it: one HMAC over the string, gathered on the stack (one MAC update instead of
    /// eleven; a scope too long for the buffer is fed piece by piece).
    pub fn sign(&self, key: &SigningKey) -> Signature {
        let s = &self.scope;
        let parts: [&[u8]; 11] = [
            ALGORITHM.as_bytes(),
            b"\n",
            &self.date,
            b"\n",
            s.date.as_bytes(),
            b"/",
            s.region.as_bytes(),
            b"/",
            s.service.as_bytes(),
            b"/aws4_request\n",
            &self.creq_hash,
        ];
        let mut buf = [0u8; 256];
        let mut len = 0;
        for part in parts {
            let Some(slot) = buf.get_mut(len..len + part.len()) else {
                return key.sign_parts(&parts);
            };
            slot.copy_from_slice(part);
            len += part.len();
        }
        key.sign_parts(&[&buf[..len]])
    }
}

impl fmt::Display for StringToSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = std::str::from_utf8(&self.date).unwrap_or("");
        write!(
            f,
            "{ALGORITHM}\n{date}\n{}\n{}",
            self.scope,
            hex_str(&self.creq_hash)
        )
    }
}
