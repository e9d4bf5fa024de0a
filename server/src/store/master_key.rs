//! The master key that encrypts secrets at rest, and its file.
//!
//! Cipher choice: ChaCha20-Poly1305 (RFC 8439). It is constant-time in pure software on
//! every CPU, with or without AES instructions, and its 96-bit random nonce is safe for the
//! small number of messages a key store encrypts (one per key created, far below 2^32).
//! The access key id is bound as associated data, so a ciphertext moved to another row
//! does not decrypt.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

use super::{Secret, StoreError};

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;
/// Length of a ChaCha20-Poly1305 nonce in bytes.
pub const NONCE_LEN: usize = 12;

/// The 32-byte master key. Its `Debug` never shows it; it is wiped when dropped.
pub struct MasterKey(Zeroizing<[u8; MASTER_KEY_LEN]>);

/// A sealed secret as stored: ciphertext with tag, and the nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
    /// The random nonce.
    pub nonce: Vec<u8>,
}

/// Why the master key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// PostgreSQL (or any non-file database) needs an explicit key file.
    #[error(
        "--master-key-file (COUNTERSIGN_MASTER_KEY_FILE) is required for `{0}` databases; it is never created for them"
    )]
    Required(String),
    /// The key file must exist for this database.
    #[error("master key file `{0}` does not exist (it is only created for SQLite databases)")]
    Missing(PathBuf),
    /// The file does not hold exactly 32 bytes.
    #[error("master key file `{path}` holds {len} bytes: expected exactly 32")]
    WrongLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Reading or creating the file failed.
    #[error("master key file `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A master key from raw bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random master key.
    ///
    /// # Errors
    /// [`MasterKeyError::Random`] when the CSPRNG fails.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| MasterKeyError::Random)?;
        Ok(Self(bytes))
    }

    /// Finds the master key for `database_url`: reads `explicit` (or, for SQLite, the file
    /// beside the database) and, for SQLite only, creates it when absent.
    ///
    /// # Errors
    /// [`MasterKeyError`] when the file is required but missing, unreadable or malformed.
    pub fn resolve(database_url: &str, explicit: Option<&Path>) -> Result<Self, MasterKeyError> {
        let sqlite_file = sqlite_path(database_url);
        let path = match (explicit, &sqlite_file) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(db)) => db.with_extension("key"),
            (None, None) => return Err(MasterKeyError::Required(scheme(database_url))),
        };
        if path.exists() || sqlite_file.is_none() {
            return Self::read(&path);
        }
        let key = Self::generate()?;
        key.write_new(&path)?;
        tracing::info!(path = %path.display(), "created a new master key file (mode 0600); back it up with the database");
        Ok(key)
    }

    /// Reads a key file holding exactly 32 bytes.
    ///
    /// # Errors
    /// [`MasterKeyError`] when the file is missing, unreadable or not 32 bytes long.
    pub fn read(path: &Path) -> Result<Self, MasterKeyError> {
        let bytes = Zeroizing::new(fs::read(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                return MasterKeyError::Missing(path.to_path_buf());
            }
            io_error(path, source)
        })?);
        let array: [u8; MASTER_KEY_LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| MasterKeyError::WrongLength {
                    path: path.to_path_buf(),
                    len: bytes.len(),
                })?;
        Ok(Self::from_bytes(array))
    }

    /// Encrypts `secret` for the row of `key_id`.
    ///
    /// # Errors
    /// [`StoreError::Random`] when no nonce can be drawn.
    pub fn seal(&self, key_id: &str, secret: &Secret) -> Result<Sealed, StoreError> {
        let nonce = Nonce::try_generate().map_err(|_| StoreError::Random)?;
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: key_id.as_bytes(),
        };
        let ciphertext = self
            .cipher()
            .encrypt(&nonce, payload)
            .map_err(|_| StoreError::Random)?;
        Ok(Sealed {
            ciphertext,
            nonce: nonce.to_vec(),
        })
    }

    /// Decrypts the secret stored for `key_id`.
    ///
    /// # Errors
    /// [`StoreError::Decrypt`] for a wrong key, a wrong id or a tampered row.
    pub fn open(&self, key_id: &str, sealed: &Sealed) -> Result<Secret, StoreError> {
        let decrypt_error = || StoreError::Decrypt(key_id.to_owned());
        let nonce = Nonce::try_from(sealed.nonce.as_slice()).map_err(|_| decrypt_error())?;
        let payload = Payload {
            msg: sealed.ciphertext.as_slice(),
            aad: key_id.as_bytes(),
        };
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(&nonce, payload)
                .map_err(|_| decrypt_error())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| decrypt_error())?;
        Ok(Secret::new(text.to_owned()))
    }

    /// A 32-byte key derived for one purpose: HMAC-SHA256 keyed with the master key over
    /// `label`. Session tokens use derived keys, never the key that seals secrets at rest.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        use hmac::{KeyInit, Mac};
        type HmacSha256 = hmac::Hmac<sha2::Sha256>;
        let mut out = Zeroizing::new([0u8; 32]);
        // A 32-byte key is always a valid HMAC key; the fallback is unreachable.
        if let Ok(mut mac) = HmacSha256::new_from_slice(self.0.as_slice()) {
            mac.update(label);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(*self.0))
    }

    fn write_new(&self, path: &Path) -> Result<(), MasterKeyError> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| io_error(path, source))?;
        file.write_all(self.0.as_slice())
            .and_then(|()| file.sync_all())
            .map_err(|source| io_error(path, source))
    }
}

/// The database file of a `sqlite:` URL, or `None` for other databases and in-memory SQLite.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

fn scheme(database_url: &str) -> String {
    database_url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn io_error(path: &Path, source: io::Error) -> MasterKeyError {
    MasterKeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn secret() -> Secret {
        Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into())
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal("AKCSAAAAAAAAAAAAAAAA", &secret()).unwrap();
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert!(!sealed.ciphertext.windows(10).any(|w| w == b"wJalrXUtnF"));
        assert_eq!(key.open("AKCSAAAAAAAAAAAAAAAA", &sealed).unwrap(), secret());
    }

    #[test]
    fn wrong_associated_data_fails() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal("AKCSAAAAAAAAAAAAAAAA", &secret()).unwrap();
        let err = key.open("AKCSBBBBBBBBBBBBBBBB", &sealed).unwrap_err();
        assert!(matches!(err, StoreError::Decrypt(id) if id == "AKCSBBBBBBBBBBBBBBBB"));
    }

    #[test]
    fn wrong_master_key_fails() {
        let sealed = MasterKey::generate()
            .unwrap()
            .seal("AKCSAAAAAAAAAAAAAAAA", &secret())
            .unwrap();
        let other = MasterKey::generate().unwrap();
        assert!(matches!(
            other.open("AKCSAAAAAAAAAAAAAAAA", &sealed),
            Err(StoreError::Decrypt(_))
        ));
    }

    #[test]
    fn two_seals_use_different_nonces() {
        let key = MasterKey::generate().unwrap();
        let a = key.seal("AKCSAAAAAAAAAAAAAAAA", &secret()).unwrap();
        let b = key.seal("AKCSAAAAAAAAAAAAAAAA", &secret()).unwrap();
        assert_ne!(a.nonce, b.nonce);
    }

    #[test]
    fn sqlite_key_file_is_created_beside_the_database_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("cs.db").display());
        let first = MasterKey::resolve(&url, None).unwrap();
        let path = dir.path().join("cs.key");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = MasterKey::resolve(&url, None).unwrap();
        assert_eq!(first.0.as_slice(), again.0.as_slice());
    }

    #[test]
    fn postgres_requires_an_existing_key_file() {
        let err = MasterKey::resolve("postgres://postgres@127.0.0.1/test", None).unwrap_err();
        assert!(err.to_string().contains("--master-key-file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let err = MasterKey::resolve("postgres://x/y", Some(&path)).unwrap_err();
        assert!(matches!(err, MasterKeyError::Missing(_)));
        assert!(!path.exists());
    }

    #[test]
    fn short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.key");
        fs::write(&path, b"too short").unwrap();
        let err = MasterKey::read(&path).unwrap_err();
        assert!(matches!(err, MasterKeyError::WrongLength { len: 9, .. }));
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let key = MasterKey::from_bytes([0x41; 32]);
        assert_eq!(format!("{key:?}"), "MasterKey(***)");
    }
}
