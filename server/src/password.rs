//! Password hashing with argon2id (RFC 9106) at the OWASP parameters the `argon2` crate
//! defaults to (19 MiB, 2 passes, 1 lane), stored as PHC strings.
//!
//! Hashing runs on the blocking pool, at most one hash per CPU at a time, so a burst of logins
//! queues instead of starving the request threads. Login verifies against a dummy hash when
//! the principal is unknown or has no password, so every failed login costs the same.
//!
//! Verification reuses one 19 MiB work area per permit instead of allocating one per login:
//! with glibc's allocator, freed argon2 areas were kept by the process (a burst of 40 logins
//! left the server at 480 MiB resident). Memory for logins is now bounded by CPUs x 19 MiB.

use std::sync::Arc;

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Shortest accepted password, in bytes.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password, in bytes (bounds the hashing work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

const DUMMY_PASSWORD: &[u8] = b"countersign dummy password for unknown principals";
const DUMMY_SALT: &[u8] = b"countersign-dummy-salt";

/// Why a password operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Outside [`MIN_PASSWORD_LEN`]..=[`MAX_PASSWORD_LEN`] bytes.
    #[error("the password has {0} bytes: expected 8 to 1024")]
    Length(usize),
    /// The hasher failed (random salt unavailable, or the blocking pool is gone).
    #[error("password hashing failed")]
    Hashing,
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    /// A hasher allowing one concurrent hash per available CPU. Computes the dummy hash
    /// used for unknown principals (one argon2id hash, with the same parameters as real
    /// ones, so verifying against it costs the same).
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let dummy = Argon2::default()
            .hash_password_with_salt(DUMMY_PASSWORD, DUMMY_SALT)
            .map(|hash| hash.to_string())
            .unwrap_or_default();
        Self {
            permits: Arc::new(Semaphore::new(cpus)),
            dummy: dummy.into(),
            areas: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The argon2id PHC string of `password`.
    ///
    /// # Errors
    /// [`PasswordError::Length`] for a too short or too long password; [`PasswordError::Hashing`].
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, PasswordError> {
        check_length(&password)?;
        let _permit = self.permit().await?;
        tokio::task::spawn_blocking(move || hash_now(password.as_bytes()))
            .await
            .map_err(|_| PasswordError::Hashing)?
    }

    /// Whether `password` matches `phc`; with `None`, verifies against the dummy hash and
    /// returns `false`, taking the same time as a real mismatch.
    pub async fn verify(&self, password: Zeroizing<String>, phc: Option<String>) -> bool {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let Ok(_permit) = self.permit().await else {
            return false;
        };
        let areas = self.areas.clone();
        let matched = tokio::task::spawn_blocking(move || {
            let mut area = lock(&areas).pop().unwrap_or_default();
            let matched = verify_in(&mut area, password.as_bytes(), &phc);
            lock(&areas).push(area);
            matched
        })
        .await
        .unwrap_or(false);
        known && matched
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, PasswordError> {
        self.permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Hashing)
    }
}

/// Checks a new password's length.
///
/// # Errors
/// [`PasswordError::Length`].
pub fn check_length(password: &str) -> Result<(), PasswordError> {
    if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&password.len()) {
        return Ok(());
    }
    Err(PasswordError::Length(password.len()))
}

/// Verifies `password` against a PHC string, computing in `area` (grown to the hash's memory
/// cost if needed, then kept for the next call). Any malformed or foreign PHC string fails.
fn verify_in(area: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::new(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
        None => Version::default(),
    };
    let count = params.block_count();
    if count > MAX_BLOCKS {
        return false;
    }
    if area.len() < count {
        area.resize(count, Block::default());
    }
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let argon2 = Argon2::new(algorithm, version, params);
    let computed =
        argon2.hash_password_into_with_memory(password, salt, &mut out, &mut area[..count]);
    computed.is_ok() && bool::from(expected.as_bytes().ct_eq(&out))
}

/// Largest memory cost a stored hash may ask for: 256 MiB (1 KiB blocks).
const MAX_BLOCKS: usize = 256 * 1024;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn hash_now(password: &[u8]) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hashing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Zeroizing<String> {
        Zeroizing::new(text.to_owned())
    }

    #[tokio::test]
    async fn hash_is_argon2id_and_verifies_only_the_same_password() {
        let passwords = Passwords::new();
        let phc = passwords.hash(secret("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(
            passwords
                .verify(secret("correct horse"), Some(phc.clone()))
                .await
        );
        assert!(!passwords.verify(secret("correct horsf"), Some(phc)).await);
    }

    #[test]
    fn the_reused_area_verifies_like_the_crate_and_refuses_garbage() {
        use argon2::PasswordVerifier as _;
        let phc = hash_now(b"pw-12345").unwrap();
        let mut area = Vec::new();
        assert!(verify_in(&mut area, b"pw-12345", &phc));
        assert!(
            Argon2::default()
                .verify_password(b"pw-12345", phc.as_str())
                .is_ok()
        );
        assert!(!verify_in(&mut area, b"pw-12346", &phc));
        assert!(
            verify_in(&mut area, b"pw-12345", &phc),
            "a dirty area still verifies"
        );
        assert_eq!(area.len(), Params::default().block_count());
        // Another cost in a reused (larger) area still verifies.
        let small = Params::new(1024, 1, 1, None).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, small)
            .hash_password(b"pw-12345")
            .unwrap()
            .to_string();
        assert!(verify_in(&mut area, b"pw-12345", &other));
        for junk in [
            "",
            "$argon2id$",
            "$md5$x",
            &phc.replace("argon2id", "argon2x"),
        ] {
            assert!(!verify_in(&mut area, b"pw-12345", junk), "{junk}");
        }
    }

    #[tokio::test]
    async fn unknown_principal_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new();
        let dummy = "countersign dummy password for unknown principals";
        assert!(!passwords.verify(secret(dummy), None).await);
    }

    #[tokio::test]
    async fn lengths_outside_8_to_1024_are_refused() {
        let passwords = Passwords::new();
        let err = passwords.hash(secret("short")).await.unwrap_err();
        assert_eq!(err, PasswordError::Length(5));
        assert!(check_length(&"x".repeat(1025)).is_err());
        assert!(check_length("12345678").is_ok());
    }
}
