//! Session profiles (written by `countersign login`): reading the stored session, signing with
//! it through an auto-refreshing provider, writing the rotated tokens back, removing it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use countersign::Credentials;
use countersign_client::{
    ClientConfig, ClientError, ProvideCredentials, SessionConfig, SessionCredentials,
    SessionTokens, StaticCredentials,
};

use crate::config::Profile;
use crate::error::CliError;
use crate::profile;

/// The profile keys a session occupies (removed by `logout`).
pub const SESSION_KEYS: [&str; 6] = [
    "access_key_id",
    "secret_access_key",
    "session_token",
    "expiration",
    "refresh_token",
    "refresh_expiration",
];

/// A session stored in a profile, with where to refresh it and where to write it back.
#[derive(Debug, Clone)]
pub struct StoredSession {
    /// The tokens as stored.
    pub tokens: SessionTokens,
    /// The server that issued them (the profile's `endpoint`), where refreshes go.
    pub endpoint: Option<String>,
    /// The profile to write rotated tokens to.
    pub profile: Profile,
}

impl StoredSession {
    /// The session of `profile` when it holds one (a `refresh_token`) and `credentials` are
    /// its credentials (flags or environment did not override them).
    ///
    /// # Errors
    /// [`CliError::Profile`] when a stored time does not parse.
    pub fn of(profile: &Profile, credentials: &Credentials) -> Result<Option<Self>, CliError> {
        let values = &profile.values;
        let Some(refresh_token) = values.get("refresh_token").filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if values.get("access_key_id").map(String::as_str) != Some(credentials.access_key_id()) {
            return Ok(None);
        }
        let expiration = values
            .get("expiration")
            .map_or("1970-01-01T00:00:00Z", String::as_str);
        let tokens = SessionTokens::from_stored(
            credentials.clone(),
            expiration,
            refresh_token,
            values.get("refresh_expiration").map(String::as_str),
        )
        .map_err(|err| {
            CliError::Profile(format!(
                "profile `{}` in {}: {err}",
                profile.name,
                profile.path.display()
            ))
        })?;
        Ok(Some(Self {
            tokens,
            endpoint: values.get("endpoint").cloned(),
            profile: profile.clone(),
        }))
    }

    /// A provider that refreshes the session and writes each rotated token back to the
    /// profile. Call inside the runtime.
    ///
    /// # Errors
    /// [`CliError::Profile`] when the profile has no endpoint; [`CliError::Client`] for an
    /// unusable CA file.
    pub fn provider(&self, config: ClientConfig) -> Result<SessionCredentials, CliError> {
        let endpoint = self.endpoint.clone().ok_or_else(|| {
            CliError::Profile(format!(
                "profile `{}` holds a session but no endpoint to refresh it at: run `countersign login` again",
                self.profile.name
            ))
        })?;
        let profile = self.profile.clone();
        let provider = SessionCredentials::from_tokens(SessionConfig::new(endpoint, config), self.tokens.clone())?
            .on_refresh(Box::new(move |tokens: &SessionTokens| {
                if let Err(err) = save_tokens(&profile, tokens) {
                    eprintln!(
                        "countersign: warning: the session was refreshed but the new refresh token could not be saved ({}); run `countersign login` again",
                        err.one_line()
                    );
                }
            }));
        Ok(provider)
    }
}

/// Writes `tokens` into `profile` (its other keys and the file's other sections are kept, as
/// they are now on disk).
///
/// # Errors
/// [`CliError::Login`] when the file cannot be read or written.
pub fn save_tokens(profile: &Profile, tokens: &SessionTokens) -> Result<(), CliError> {
    update(profile, |values| put_tokens(values, tokens))
}

/// Writes a new login's `tokens` and the `endpoint` that issued them (where they are
/// refreshed) into `profile`.
///
/// # Errors
/// [`CliError::Login`] when the file cannot be read or written.
pub fn save_login(
    profile: &Profile,
    tokens: &SessionTokens,
    endpoint: &str,
) -> Result<(), CliError> {
    update(profile, |values| {
        put_tokens(values, tokens);
        values.insert("endpoint".to_owned(), endpoint.to_owned());
    })
}

/// Removes the session keys from `profile`; returns whether it held a session.
///
/// # Errors
/// [`CliError::Login`] when the file cannot be read or written.
pub fn remove(profile: &Profile) -> Result<bool, CliError> {
    let mut had = false;
    update(profile, |values| {
        had = values.contains_key("refresh_token");
        values.retain(|k, _| !SESSION_KEYS.contains(&k.as_str()));
    })?;
    Ok(had)
}

fn put_tokens(values: &mut BTreeMap<String, String>, tokens: &SessionTokens) {
    let c = &tokens.credentials;
    let mut set = |k: &str, v: &str| values.insert(k.to_owned(), v.to_owned());
    set("access_key_id", c.access_key_id());
    set("secret_access_key", c.secret().expose_secret());
    set("session_token", c.session_token().unwrap_or_default());
    set("expiration", &tokens.expiration_text());
    set("refresh_token", &tokens.refresh_token);
    match tokens.refresh_expiration_text() {
        Some(t) => set("refresh_expiration", &t),
        None => values.remove("refresh_expiration"),
    };
}

/// Re-reads `profile`'s section, applies `change`, writes the file back (mode 0600).
fn update(
    target: &Profile,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<(), CliError> {
    let fail = |err: std::io::Error| {
        CliError::Login(format!("cannot update {}: {err}", target.path.display()))
    };
    let text = match std::fs::read_to_string(&target.path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(fail(err)),
    };
    let mut values = profile::section(&text, &target.name).unwrap_or_default();
    change(&mut values);
    let text = profile::with_section(&text, &target.name, &values);
    profile::write_private(&target.path, text.as_bytes()).map_err(fail)
}

/// The CLI's credentials: fixed, or a profile's auto-refreshing session.
#[derive(Debug, Clone)]
pub enum CliCredentials {
    /// An access key (or a session token given without a refresh token).
    Static(StaticCredentials),
    /// A session from `countersign login`.
    Session(SessionCredentials),
}

impl ProvideCredentials for CliCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Credentials, ClientError>> + Send + '_>> {
        match self {
            Self::Static(p) => p.credentials(),
            Self::Session(p) => p.credentials(),
        }
    }

    fn expired<'a>(
        &'a self,
        rejected: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ClientError>> + Send + 'a>> {
        match self {
            Self::Static(p) => p.expired(rejected),
            Self::Session(p) => ProvideCredentials::expired(p, rejected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile_with(dir: &std::path::Path, text: &str) -> Profile {
        let path = dir.join("credentials");
        std::fs::write(&path, text).unwrap();
        Profile {
            name: "s".into(),
            values: profile::section(text, "s").unwrap_or_default(),
            path,
        }
    }

    const FILE: &str = "[other]\naccess_key_id = AKOTHER\n\n[s]\nendpoint = http://e\n\
        access_key_id = ASCS1\nsecret_access_key = sec1\nsession_token = tok1\n\
        expiration = 2026-11-29T05:45:00Z\nrefresh_token = ref1\n\
        refresh_expiration = 2026-12-29T05:30:00Z\nregion = r\n";

    #[test]
    fn a_profile_session_is_used_only_for_its_own_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let profile = profile_with(dir.path(), FILE);
        let own = Credentials::new("ASCS1", "sec1").with_session_token("tok1");
        let stored = StoredSession::of(&profile, &own).unwrap().unwrap();
        assert_eq!(stored.tokens.expiration_text(), "2026-11-29T05:45:00Z");
        assert_eq!(stored.endpoint.as_deref(), Some("http://e"));
        let overridden = Credentials::new("AKFLAG", "x");
        assert!(StoredSession::of(&profile, &overridden).unwrap().is_none());
    }

    #[test]
    fn rotated_tokens_are_written_back_and_logout_removes_only_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let profile = profile_with(dir.path(), FILE);
        let tokens = SessionTokens::from_stored(
            Credentials::new("ASCS2", "sec2").with_session_token("tok2"),
            "2026-11-29T06:00:00Z",
            "ref2",
            None,
        )
        .unwrap();
        save_tokens(&profile, &tokens).unwrap();
        let text = std::fs::read_to_string(&profile.path).unwrap();
        let s = profile::section(&text, "s").unwrap();
        assert_eq!(s["refresh_token"], "ref2");
        assert_eq!(s["session_token"], "tok2");
        assert_eq!(s["expiration"], "2026-11-29T06:00:00Z");
        assert!(!s.contains_key("refresh_expiration"));
        assert_eq!(s["region"], "r");
        assert!(remove(&profile).unwrap());
        let text = std::fs::read_to_string(&profile.path).unwrap();
        let s = profile::section(&text, "s").unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["endpoint", "region"]);
        assert_eq!(
            profile::section(&text, "other").unwrap()["access_key_id"],
            "AKOTHER"
        );
        assert!(!remove(&profile).unwrap());
    }

    #[test]
    fn an_unreadable_stored_time_names_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let profile = profile_with(
            dir.path(),
            "[s]\naccess_key_id = ASCS1\nrefresh_token = r\nexpiration = soon\n",
        );
        let err = StoredSession::of(&profile, &Credentials::new("ASCS1", "x")).unwrap_err();
        assert!(
            err.to_string().contains("profile `s`") && err.to_string().contains("`soon`"),
            "{err}"
        );
    }
}
