//! Stateless session tokens: the temporary credentials sealed with ChaCha20-Poly1305.
//!
//! Wire form (unpadded base64url): `version (1) ‖ key id (1) ‖ nonce (12) ‖ ciphertext+tag`.
//! The version and key id bytes are the associated data, so neither can be altered. The key
//! is derived from the master key (`HMAC-SHA256(master, "countersign session token v1")`)
//! and the key id is the first byte of `HMAC-SHA256(master, "countersign session key id")`,
//! so a verifier holding several master keys (rotation) picks the right one without trying
//! all; two keys with the same id byte are both tried. The plaintext is JSON:
//! `{"akid", "secret", "principal", "family", "iat", "exp"}`.
//!
//! Any replica holding the master key can open a token: no database query is needed to get
//! the secret that signed a session request.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::store::master_key::{MasterKey, NONCE_LEN};
use crate::store::{Secret, StoreError};

/// Prefix of every temporary access key id (long-term keys start with `AKCS`).
pub const SESSION_KEY_ID_PREFIX: &str = "ASCS";
/// Longest session token accepted, in characters (real ones are about 350).
pub const MAX_TOKEN_LEN: usize = 2048;
const VERSION: u8 = 1;
const TOKEN_KEY_LABEL: &[u8] = b"countersign session token v1";
const KEY_ID_LABEL: &[u8] = b"countersign session key id";

/// What a session token holds.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// The temporary access key id (`ASCS…`).
    pub access_key_id: String,
    /// Its secret.
    pub secret: Secret,
    /// The principal that logged in.
    pub principal: String,
    /// The refresh-token family (login) it was issued from.
    pub family: String,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &self.secret)
            .field("principal", &self.principal)
            .field("family", &self.family)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a token was refused. Messages never include the token or its contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not base64url, too short or too long.
    #[error("the session token is malformed: expected the `session_token` returned by login")]
    Malformed,
    /// Unknown version byte.
    #[error("the session token has version {0}: this server reads version 1")]
    Version(u8),
    /// No key opens it: tampered, or sealed by another deployment's master key.
    #[error("the session token does not decrypt: it was altered or issued by another deployment")]
    Undecryptable,
}

/// Seals and opens session tokens with keys derived from one or more master keys.
pub struct SessionSealer {
    keys: Vec<(u8, ChaCha20Poly1305)>,
}

impl fmt::Debug for SessionSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("SessionSealer")
            .field("key_ids", &ids)
            .finish()
    }
}

impl SessionSealer {
    /// A sealer that seals with `current` and also opens tokens of `previous` keys.
    pub fn new(current: &MasterKey, previous: &[MasterKey]) -> Self {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|master| {
                let key = master.derive(TOKEN_KEY_LABEL);
                (
                    master.derive(KEY_ID_LABEL)[0],
                    ChaCha20Poly1305::new(&Key::from(*key)),
                )
            })
            .collect();
        Self { keys }
    }

    /// The key id byte of the sealing key.
    pub fn key_id(&self) -> u8 {
        self.keys.first().map_or(0, |(id, _)| *id)
    }

    /// Seals `claims` into a token.
    ///
    /// # Errors
    /// [`StoreError::Random`] when no nonce can be drawn.
    pub fn seal(&self, claims: &SessionClaims) -> Result<String, StoreError> {
        let Some((id, cipher)) = self.keys.first() else {
            return Err(StoreError::Random);
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&Wire::from(claims)).map_err(|_| StoreError::Random)?,
        );
        let nonce = Nonce::try_generate().map_err(|_| StoreError::Random)?;
        let header = [VERSION, *id];
        let payload = Payload {
            msg: plain.as_slice(),
            aad: &header,
        };
        let sealed = cipher
            .encrypt(&nonce, payload)
            .map_err(|_| StoreError::Random)?;
        let mut bytes = Vec::with_capacity(2 + NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a token.
    ///
    /// # Errors
    /// [`TokenError`] for anything that is not a token this deployment sealed.
    pub fn open(&self, token: &str) -> Result<SessionClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        let (header, rest) = bytes.split_at_checked(2).ok_or(TokenError::Malformed)?;
        let (nonce, sealed) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(TokenError::Malformed)?;
        let (version, id) = (header[0], header[1]);
        if version != VERSION {
            return Err(TokenError::Version(version));
        }
        let nonce = Nonce::try_from(nonce).map_err(|_| TokenError::Malformed)?;
        let plain = self
            .keys
            .iter()
            .filter(|(key_id, _)| *key_id == id)
            .find_map(|(_, cipher)| {
                let payload = Payload {
                    msg: sealed,
                    aad: header,
                };
                cipher.decrypt(&nonce, payload).ok()
            })
            .map(Zeroizing::new)
            .ok_or(TokenError::Undecryptable)?;
        let wire: Wire = serde_json::from_slice(&plain).map_err(|_| TokenError::Undecryptable)?;
        Ok(wire.into())
    }
}

/// Whether `id` is a temporary (session) access key id rather than a long-term one.
pub fn is_session_key_id(id: &str) -> bool {
    id.starts_with(SESSION_KEY_ID_PREFIX)
}

/// The JSON inside a token.
#[derive(Serialize, Deserialize)]
struct Wire {
    akid: String,
    secret: String,
    principal: String,
    family: String,
    iat: i64,
    exp: i64,
}

impl From<&SessionClaims> for Wire {
    fn from(claims: &SessionClaims) -> Self {
        Self {
            akid: claims.access_key_id.clone(),
            secret: claims.secret.expose().to_owned(),
            principal: claims.principal.clone(),
            family: claims.family.clone(),
            iat: claims.issued_at,
            exp: claims.expires_at,
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl From<Wire> for SessionClaims {
    fn from(mut wire: Wire) -> Self {
        Self {
            access_key_id: std::mem::take(&mut wire.akid),
            secret: Secret::new(std::mem::take(&mut wire.secret)),
            principal: std::mem::take(&mut wire.principal),
            family: std::mem::take(&mut wire.family),
            issued_at: wire.iat,
            expires_at: wire.exp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> SessionClaims {
        SessionClaims {
            access_key_id: "ASCSAAAAAAAAAAAAAAAA".into(),
            secret: Secret::new("LEAK-MARKER-7f3a".into()),
            principal: "alice".into(),
            family: "f1".into(),
            issued_at: 100,
            expires_at: 200,
        }
    }

    #[test]
    fn a_sealed_token_opens_to_the_same_claims_and_hides_the_secret() {
        let sealer = SessionSealer::new(&MasterKey::from_bytes([7; 32]), &[]);
        let token = sealer.seal(&claims()).unwrap();
        assert!(!token.contains("LEAK"), "{token}");
        assert_eq!(sealer.open(&token).unwrap(), claims());
        assert!(!format!("{:?}", claims()).contains("LEAK-MARKER"));
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let sealer = SessionSealer::new(&MasterKey::from_bytes([7; 32]), &[]);
        let bytes = URL_SAFE_NO_PAD
            .decode(sealer.seal(&claims()).unwrap())
            .unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 1;
            let err = sealer.open(&URL_SAFE_NO_PAD.encode(&tampered)).unwrap_err();
            let expected = if i == 0 {
                TokenError::Version(VERSION ^ 1)
            } else {
                TokenError::Undecryptable
            };
            assert_eq!(err, expected, "byte {i}");
        }
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let sealer = SessionSealer::new(&MasterKey::from_bytes([7; 32]), &[]);
        for junk in ["", "a", "!!!", "AQ", &"A".repeat(MAX_TOKEN_LEN + 1)] {
            assert_eq!(sealer.open(junk), Err(TokenError::Malformed), "{junk:?}");
        }
    }

    #[test]
    fn another_master_key_cannot_open_and_a_rotated_one_still_can() {
        let old = MasterKey::from_bytes([7; 32]);
        let token = SessionSealer::new(&old, &[]).seal(&claims()).unwrap();
        let other = SessionSealer::new(&MasterKey::from_bytes([8; 32]), &[]);
        assert_eq!(other.open(&token), Err(TokenError::Undecryptable));
        let rotated = SessionSealer::new(
            &MasterKey::from_bytes([8; 32]),
            &[MasterKey::from_bytes([7; 32])],
        );
        assert_eq!(rotated.open(&token).unwrap(), claims());
        assert_ne!(rotated.key_id(), SessionSealer::new(&old, &[]).key_id());
    }
}
