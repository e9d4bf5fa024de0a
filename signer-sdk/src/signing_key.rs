//! Signing-key derivation (`kSigning`), a per-secret cache of derived keys, and the
//! [`Signature`] type that can only be compared in constant time.

use std::fmt;
use std::sync::{PoisonError, RwLock};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::credentials::SecretKey;
use crate::date::DateStamp;

type HmacSha256 = Hmac<Sha256>;

/// The derived key `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`, kept keyed so each signature costs one HMAC over the string to sign.
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha256,
    bytes: Zeroizing<[u8; 32]>,
}

impl SigningKey {
    /// Derives the signing key for one scope.
    pub fn derive(secret: &SecretKey, date: DateStamp, region: &str, service: &str) -> Self {
        let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.expose_secret().len()));
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret.expose_secret().as_bytes());
        let k_date = Zeroizing::new(hmac(&k_secret, date.as_str().as_bytes()));
        let k_region = Zeroizing::new(hmac(&*k_date, region.as_bytes()));
        let k_service = Zeroizing::new(hmac(&*k_region, service.as_bytes()));
        let bytes = Zeroizing::new(hmac(&*k_service, b"aws4_request"));
        Self {
            mac: keyed(&*bytes),
            bytes,
        }
    }

    /// The raw 32 key bytes (for test vectors; treat as secret).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// HMAC-SHA256 of `parts`, concatenated, under this key.
    pub fn sign_parts(&self, parts: &[&[u8]]) -> Signature {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        Signature(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// A secret plus a small cache of the signing keys derived from it.
///
/// Deriving a key costs four HMACs; a signer or verifier keeps one `SigningKeys` per access key
/// and derives once per scope (date, region, service). The cache holds the two most recent
/// scopes, so requests on both sides of midnight UTC do not thrash it. It is a value the caller
/// owns: there is no global state. Lookups share a read lock, so threads verifying with one
/// key at once do not queue; only a new scope takes the write lock.
pub struct SigningKeys {
    secret: SecretKey,
    cache: RwLock<[Option<CachedKey>; 2]>,
}

struct CachedKey {
    date: DateStamp,
    region: Box<str>,
    service: Box<str>,
    key: SigningKey,
}

impl SigningKeys {
    /// An empty cache for `secret`.
    pub fn new(secret: SecretKey) -> Self {
        Self {
            secret,
            cache: RwLock::new([None, None]),
        }
    }

    /// The secret this cache derives from.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// Runs `f` with the signing key for a scope, under the cache's read lock and without
    /// copying the key (the hot path of signing and verifying).
    pub fn with_key<R>(
        &self,
        date: DateStamp,
        region: &str,
        service: &str,
        f: impl FnOnce(&SigningKey) -> R,
    ) -> R {
        let is_scope =
            |c: &CachedKey| c.date == date && &*c.region == region && &*c.service == service;
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = cache.iter().flatten().find(|c| is_scope(c)) {
                return f(&hit.key);
            }
        }
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have derived it while this one waited for the write lock.
        if let Some(hit) = cache.iter().flatten().find(|c| is_scope(c)) {
            return f(&hit.key);
        }
        let key = SigningKey::derive(&self.secret, date, region, service);
        let result = f(&key);
        cache.swap(0, 1);
        cache[0] = Some(CachedKey {
            date,
            region: region.into(),
            service: service.into(),
            key,
        });
        result
    }

    /// The signing key for a scope, derived at most once per scope while it stays cached.
    pub fn signing_key(&self, date: DateStamp, region: &str, service: &str) -> SigningKey {
        self.with_key(date, region, service, SigningKey::clone)
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKeys(***)")
    }
}

/// A SigV4 signature: 32 bytes, shown as 64 lowercase hex digits.
///
/// Deliberately not `PartialEq`: the only comparison is [`Signature::ct_eq`], in constant time.
#[derive(Clone, Copy)]
pub struct Signature([u8; 32]);

impl Signature {
    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        decode_hex(text.as_bytes(), &mut out).then_some(Self(out))
    }

    /// Constant-time equality: the differences of all 32 bytes are gathered without a branch,
    /// then compared with zero by `subtle` (one optimization barrier instead of one per byte).
    pub fn ct_eq(&self, other: &Self) -> bool {
        let mut diff = 0u64;
        for (a, b) in self.0.chunks_exact(8).zip(other.0.chunks_exact(8)) {
            let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
            x.copy_from_slice(a);
            y.copy_from_slice(b);
            diff |= u64::from_ne_bytes(x) ^ u64::from_ne_bytes(y);
        }
        diff.ct_eq(&0).into()
    }

    /// The signature as 64 lowercase hex digits, without allocating.
    pub fn to_hex(&self) -> [u8; 64] {
        hex_bytes(&self.0)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_str(&self.to_hex()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

/// HMAC-SHA256 with an arbitrary-length key.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn keyed(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC hashes long keys and pads short ones: every length is accepted.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// Lowercase hex of 32 bytes.
pub(crate) fn hex_bytes(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    out
}

/// The two lowercase hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    table
};

/// A hex buffer made by [`hex_bytes`] as `&str`.
pub(crate) fn hex_str(hex: &[u8; 64]) -> &str {
    std::str::from_utf8(hex).unwrap_or("")
}

/// Decodes exactly `2 * out.len()` hex digits.
pub(crate) fn decode_hex(text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    // Without a branch per digit: a non-digit's NOT_HEX shows in the high bits of `seen`.
    let mut seen = 0u8;
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        seen |= hi | lo;
        *slot = hi << 4 | lo;
    }
    seen & 0xf0 == 0
}

pub(crate) fn hex_val(c: u8) -> Option<u8> {
    let v = HEX_VALUES[usize::from(c)];
    (v != NOT_HEX).then_some(v)
}

const NOT_HEX: u8 = 0xff;

/// The value of every hex digit (either case), [`NOT_HEX`] for other bytes.
const HEX_VALUES: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0u8;
    while i < 10 {
        table[(b'0' + i) as usize] = i;
        i += 1;
    }
    let mut i = 0u8;
    while i < 6 {
        table[(b'a' + i) as usize] = 10 + i;
        table[(b'A' + i) as usize] = 10 + i;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::AmzDate;

    #[test]
    fn derives_the_aws_general_reference_example_key() {
        // AWS General Reference, "derive a signing key" (spec/vectors/aws-doc-examples).
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let date = AmzDate::parse("20120215T000000Z").unwrap().date_stamp();
        let key = SigningKey::derive(&secret, date, "us-east-1", "iam");
        assert_eq!(
            hex_str(&hex_bytes(key.as_bytes())),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_returns_the_same_key_and_keeps_two_scopes() {
        let keys = SigningKeys::new(SecretKey::new("s"));
        let d1 = AmzDate::parse("20200101T000000Z").unwrap().date_stamp();
        let d2 = AmzDate::parse("20200102T000000Z").unwrap().date_stamp();
        let a = keys.signing_key(d1, "r", "s");
        let same = keys.with_key(d1, "r", "s", |k| *k.as_bytes());
        assert_eq!(&same, a.as_bytes());
        assert_eq!(
            keys.with_key(d1, "r3", "s", |k| *k.as_bytes()),
            *SigningKey::derive(keys.secret(), d1, "r3", "s").as_bytes()
        );
        let b = keys.signing_key(d2, "r", "s");
        assert_eq!(a.as_bytes(), keys.signing_key(d1, "r", "s").as_bytes());
        assert_eq!(b.as_bytes(), keys.signing_key(d2, "r", "s").as_bytes());
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), keys.signing_key(d1, "r2", "s").as_bytes());
    }

    #[test]
    fn threads_deriving_scopes_at_once_each_get_the_right_key() {
        let keys = SigningKeys::new(SecretKey::new("s"));
        let date = AmzDate::parse("20200101T000000Z").unwrap().date_stamp();
        std::thread::scope(|s| {
            for t in 0..8 {
                let keys = &keys;
                s.spawn(move || {
                    for i in 0..200 {
                        // Three scopes between eight threads: the two-entry cache churns.
                        let region = ["r0", "r1", "r2"][(t + i) % 3];
                        let got = keys.with_key(date, region, "s", |k| *k.as_bytes());
                        let want = SigningKey::derive(keys.secret(), date, region, "s");
                        assert_eq!(&got, want.as_bytes(), "{region}");
                    }
                });
            }
        });
    }

    #[test]
    fn signature_hex_round_trips_and_compares_in_constant_time() {
        let hex = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let sig = Signature::from_hex(hex).unwrap();
        assert_eq!(sig.to_string(), hex);
        assert!(sig.ct_eq(&Signature::from_hex(&hex.to_uppercase()).unwrap()));
        let other = Signature::from_hex(&hex.replace('5', "6")).unwrap();
        assert!(!sig.ct_eq(&other));
        for bad in [
            "",
            "abc",
            &hex[1..],
            &format!("{hex}0"),
            &hex.replace('f', "g"),
        ] {
            assert!(Signature::from_hex(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_key_material() {
        let keys = SigningKeys::new(SecretKey::new("LEAK-MARKER-7f3a"));
        let date = AmzDate::parse("20200101T000000Z").unwrap().date_stamp();
        let key = keys.signing_key(date, "r", "s");
        let shown = format!("{keys:?} {key:?} {:?}", keys.secret());
        assert!(!shown.contains("LEAK-MARKER"));
        assert!(!shown.contains(hex_str(&hex_bytes(key.as_bytes()))));
    }
}
