//! Access key id and secret generation from the operating system's CSPRNG.

use super::{Secret, StoreError};

/// Prefix of every access key id we issue.
pub const KEY_ID_PREFIX: &str = "AKCS";
/// Total length of an access key id (as AWS's).
pub const KEY_ID_LEN: usize = 20;
/// Length of a secret access key (as AWS's).
pub const SECRET_LEN: usize = 40;

/// RFC 4648 base32 alphabet: 32 symbols, so `byte % 32` is unbiased.
const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Base64 alphabet: 64 symbols, so `byte % 64` is unbiased.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A new access key id: `AKCS` and 16 random base32 characters.
///
/// # Errors
/// [`StoreError::Random`] when the CSPRNG fails.
pub fn new_key_id() -> Result<String, StoreError> {
    let mut id = String::with_capacity(KEY_ID_LEN);
    id.push_str(KEY_ID_PREFIX);
    id.push_str(&random_text::<32>(
        ID_ALPHABET,
        KEY_ID_LEN - KEY_ID_PREFIX.len(),
    )?);
    Ok(id)
}

/// A new 40-character secret from `[A-Za-z0-9+/]` (240 bits of entropy).
///
/// # Errors
/// [`StoreError::Random`] when the CSPRNG fails.
pub fn new_secret() -> Result<Secret, StoreError> {
    random_text::<64>(SECRET_ALPHABET, SECRET_LEN).map(Secret::new)
}

/// Whether `id` has the shape of an id we issue (cheap pre-filter before any lookup).
pub fn looks_like_key_id(id: &str) -> bool {
    id.len() == KEY_ID_LEN
        && id.starts_with(KEY_ID_PREFIX)
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

fn random_text<const N: usize>(alphabet: &[u8; N], len: usize) -> Result<String, StoreError> {
    let mut bytes = zeroize::Zeroizing::new(vec![0u8; len]);
    getrandom::fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % N]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_id_check_accepts_exactly_the_alphabet() {
        for b in 0..=255u8 {
            let id = format!("{KEY_ID_PREFIX}{}", String::from_utf8_lossy(&[b; 16]));
            assert_eq!(looks_like_key_id(&id), ID_ALPHABET.contains(&b), "byte {b}");
        }
    }

    #[test]
    fn key_ids_are_20_upper_case_characters() {
        let id = new_key_id().unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKCS"));
        assert!(looks_like_key_id(&id), "{id}");
        assert_ne!(id, new_key_id().unwrap());
    }

    #[test]
    fn secrets_are_40_base64_characters() {
        let secret = new_secret().unwrap();
        assert_eq!(secret.expose().len(), 40);
        assert!(
            secret
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        );
        assert_ne!(secret, new_secret().unwrap());
    }

    #[test]
    fn foreign_ids_do_not_look_like_ours() {
        assert!(!looks_like_key_id("AKIDEXAMPLE"));
        assert!(!looks_like_key_id("AKCSaaaaaaaaaaaaaaaa"));
    }
}
