//! Resolves raw flags, then `COUNTERSIGN_*` environment variables, then the profile in the
//! credentials file, then defaults, into what a command needs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use countersign::{AmzDate, ContentSha256Header, Credentials, SigningSettings, UriEncoding};
use sha2::{Digest, Sha256};

use crate::cli::{CredentialArgs, Format, RequestArgs};
use crate::error::CliError;
use crate::profile;
use crate::session::StoredSession;
use crate::url::{HeaderArg, WireUrl};

/// Default region of the credential scope.
pub const DEFAULT_REGION: &str = "local";
/// Default service of the credential scope.
pub const DEFAULT_SERVICE: &str = "countersign";

/// A request ready to sign.
pub struct Resolved {
    /// Credentials.
    pub credentials: Credentials,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signing time.
    pub now: AmzDate,
    /// Signer settings.
    pub settings: SigningSettings,
    /// Method.
    pub method: String,
    /// URL.
    pub url: WireUrl,
    /// Headers to sign, `Host` first.
    pub headers: Vec<HeaderArg>,
    /// SHA-256 of the body.
    pub body_sha256: [u8; 32],
    /// Output format.
    pub format: Format,
}

/// Where settings come from after the flags: the environment (a lookup, so tests need not
/// touch the process environment) and the selected profile of the credentials file.
pub struct Sources<'a> {
    /// `COUNTERSIGN_*` lookup.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The selected profile.
    pub profile: Profile,
}

/// The selected profile of the credentials file.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its name (`--profile`, then `COUNTERSIGN_PROFILE`, then `default`).
    pub name: String,
    /// The credentials file (`COUNTERSIGN_CONFIG_FILE`, else `~/.config/countersign/credentials`).
    pub path: PathBuf,
    /// Its keys (empty when the file or section does not exist).
    pub values: BTreeMap<String, String>,
}

impl<'a> Sources<'a> {
    /// Loads the profile chosen by `flag` / `COUNTERSIGN_PROFILE`.
    ///
    /// # Errors
    /// [`CliError::Profile`] when the file cannot be read, or a profile named explicitly is
    /// not in it.
    pub fn load(
        flag: Option<&str>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CliError> {
        let explicit = flag
            .map(str::to_owned)
            .or_else(|| env("COUNTERSIGN_PROFILE"))
            .filter(|p| !p.is_empty());
        let name = explicit.clone().unwrap_or_else(|| "default".to_owned());
        let path = config_path(env);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(CliError::Profile(format!(
                    "cannot read {}: {err}",
                    path.display()
                )));
            }
        };
        let values = match (profile::section(&text, &name), explicit) {
            (Some(values), _) => values,
            (None, None) => BTreeMap::new(),
            (None, Some(_)) => {
                return Err(CliError::Profile(format!(
                    "profile `{name}` not found in {}",
                    path.display()
                )));
            }
        };
        Ok(Self {
            env,
            profile: Profile { name, path, values },
        })
    }

    /// The flag, else `COUNTERSIGN_<KEY>`, else the profile's `key` (empty values ignored).
    pub fn pick(&self, flag: Option<&String>, key: &str) -> Option<String> {
        let var = format!("COUNTERSIGN_{}", key.to_ascii_uppercase());
        flag.cloned()
            .or_else(|| (self.env)(&var))
            .filter(|v| !v.is_empty())
            .or_else(|| self.profile.values.get(key).cloned())
            .filter(|v| !v.is_empty())
    }

    /// Credentials, region and service.
    ///
    /// # Errors
    /// [`CliError::MissingCredential`] naming every place looked at.
    pub fn identity(&self, args: &CredentialArgs) -> Result<Identity, CliError> {
        let id = self.pick(args.access_key_id.as_ref(), "access_key_id");
        let secret = self.pick(args.secret_access_key.as_ref(), "secret_access_key");
        let (id, secret) = match (id, secret) {
            (Some(id), Some(secret)) => (id, secret),
            (id, secret) => return Err(self.missing_credentials(id.is_none(), secret.is_none())),
        };
        let mut credentials = Credentials::new(id, secret);
        if let Some(token) = self.pick(args.session_token.as_ref(), "session_token") {
            credentials = credentials.with_session_token(token);
        }
        Ok(Identity {
            session: StoredSession::of(&self.profile, &credentials)?,
            credentials,
            region: self
                .pick(args.region.as_ref(), "region")
                .unwrap_or_else(|| DEFAULT_REGION.into()),
            service: self
                .pick(args.service.as_ref(), "service")
                .unwrap_or_else(|| DEFAULT_SERVICE.into()),
        })
    }

    /// The server's base URL, without a trailing `/`.
    ///
    /// # Errors
    /// [`CliError::MissingEndpoint`] naming every place looked at.
    pub fn endpoint(&self, flag: Option<&String>) -> Result<String, CliError> {
        self.pick(flag, "endpoint")
            .map(|e| e.trim_end_matches('/').to_owned())
            .ok_or_else(|| CliError::MissingEndpoint {
                profile: self.profile.name.clone(),
                path: self.profile.path.clone(),
            })
    }

    /// Which credential is missing, and where it was looked for.
    fn missing_credentials(&self, no_id: bool, no_secret: bool) -> CliError {
        let (what, flags, vars) = match (no_id, no_secret) {
            (true, true) => (
                "credentials",
                "--access-key-id/--secret-access-key",
                "COUNTERSIGN_ACCESS_KEY_ID/COUNTERSIGN_SECRET_ACCESS_KEY",
            ),
            (true, false) => (
                "access key id",
                "--access-key-id",
                "COUNTERSIGN_ACCESS_KEY_ID",
            ),
            (false, _) => (
                "secret access key",
                "--secret-access-key",
                "COUNTERSIGN_SECRET_ACCESS_KEY",
            ),
        };
        CliError::MissingCredential {
            what,
            flags,
            vars,
            profile: self.profile.name.clone(),
            path: self.profile.path.clone(),
        }
    }
}

/// Credentials with their scope.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Credentials.
    pub credentials: Credentials,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// The profile's session (from `countersign login`) when `credentials` are its own: the
    /// client then refreshes them and writes the rotated tokens back.
    pub session: Option<StoredSession>,
}

/// `COUNTERSIGN_CONFIG_FILE`, else `$HOME/.config/countersign/credentials`.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(path) = env("COUNTERSIGN_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let home = env("HOME").unwrap_or_else(|| "~".to_owned());
    Path::new(&home).join(".config/countersign/credentials")
}

/// Resolves `sign` / `presign` arguments: flags, then environment, then the profile.
///
/// # Errors
/// The first problem found: [`CliError::MissingCredential`], [`CliError::Timestamp`],
/// [`CliError::Method`], [`CliError::Url`] or [`CliError::DataFile`].
pub fn resolve(args: &RequestArgs, sources: &Sources<'_>) -> Result<Resolved, CliError> {
    let s = &args.signing;
    let Identity {
        credentials,
        region,
        service,
        ..
    } = sources.identity(&s.credentials)?;
    let now = match &s.timestamp {
        Some(t) => AmzDate::parse(t).map_err(CliError::Timestamp)?,
        None => AmzDate::from_system_time(SystemTime::now()),
    };
    let settings = if s.s3 {
        SigningSettings::default()
            .uri_encoding(UriEncoding::S3)
            .content_sha256(ContentSha256Header::Send)
    } else {
        SigningSettings::default()
    };
    check_method(&args.method)?;
    let url: WireUrl = args.url.parse().map_err(CliError::Url)?;
    let mut headers = Vec::with_capacity(args.headers.len() + 1);
    if !args
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("host"))
    {
        headers.push(HeaderArg {
            name: "Host".into(),
            value: url.host.clone(),
        });
    }
    headers.extend(args.headers.iter().cloned());
    Ok(Resolved {
        credentials,
        region,
        service,
        now,
        settings,
        method: args.method.clone(),
        url,
        headers,
        body_sha256: body_digest(args)?,
        format: args.format,
    })
}

/// # Errors
/// [`CliError::Method`] unless `method` is an HTTP token.
pub fn check_method(method: &str) -> Result<(), CliError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || !method.bytes().all(token) {
        return Err(CliError::Method(method.to_owned()));
    }
    Ok(())
}

/// SHA-256 of `--data` or `--data-file` (streamed in 64 KiB chunks), or of the empty body.
fn body_digest(args: &RequestArgs) -> Result<[u8; 32], CliError> {
    if let Some(data) = &args.data {
        return Ok(Sha256::digest(data.as_bytes()).into());
    }
    let Some(path) = &args.data_file else {
        return Ok(countersign::EMPTY_SHA256_DIGEST);
    };
    let fail = |source| CliError::DataFile {
        path: path.clone(),
        source,
    };
    let mut file = File::open(path).map_err(fail)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(argv: &[&str]) -> RequestArgs {
        let mut full = vec!["countersign", "sign"];
        full.extend_from_slice(argv);
        match Cli::parse_from(full).command {
            Command::Sign(a) => a.request,
            Command::Presign(a) => a.request,
            _ => unreachable!("sign parses as sign"),
        }
    }

    fn resolve_with(
        argv: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Resolved, CliError> {
        let sources = Sources::load(None, env)?;
        resolve(&args(argv), &sources)
    }

    /// An environment whose config file does not exist, plus `vars`.
    fn env_with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| {
            if k == "COUNTERSIGN_CONFIG_FILE" {
                return Some("/nonexistent/countersign/credentials".to_owned());
            }
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn flags_win_over_environment_and_defaults_apply() {
        let env = env_with(&[
            ("COUNTERSIGN_ACCESS_KEY_ID", "ENVID"),
            ("COUNTERSIGN_SECRET_ACCESS_KEY", "envsecret"),
            ("COUNTERSIGN_REGION", "eu-west-1"),
        ]);
        let r = resolve_with(&["GET", "http://h/", "--access-key-id", "FLAGID"], &env).unwrap();
        assert_eq!(r.credentials.access_key_id(), "FLAGID");
        assert_eq!(r.credentials.secret().expose_secret(), "envsecret");
        assert_eq!(r.region, "eu-west-1");
        assert_eq!(r.service, DEFAULT_SERVICE);
    }

    #[test]
    fn the_profile_fills_what_flags_and_environment_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(
            &path,
            "[default]\naccess_key_id = DEFID\nsecret_access_key = defsecret\n\n\
             [ci]\naccess_key_id = CIID\nsecret_access_key = cisecret\nregion = ci-region\n\
             endpoint = http://ci.example/\n",
        )
        .unwrap();
        let file = path.display().to_string();
        let env = |k: &str| match k {
            "COUNTERSIGN_CONFIG_FILE" => Some(file.clone()),
            "COUNTERSIGN_REGION" => Some("env-region".to_owned()),
            _ => None,
        };
        let default = Sources::load(None, &env).unwrap();
        let id = default.identity(&CredentialArgs::default()).unwrap();
        assert_eq!(id.credentials.access_key_id(), "DEFID");
        assert_eq!(id.region, "env-region");
        let ci = Sources::load(Some("ci"), &env).unwrap();
        let flags = CredentialArgs {
            access_key_id: Some("FLAGID".into()),
            ..CredentialArgs::default()
        };
        let id = ci.identity(&flags).unwrap();
        assert_eq!(id.credentials.access_key_id(), "FLAGID");
        assert_eq!(id.credentials.secret().expose_secret(), "cisecret");
        assert_eq!(ci.endpoint(None).unwrap(), "http://ci.example");
        let err = Sources::load(Some("nope"), &env).err().unwrap();
        assert!(
            err.to_string().contains("profile `nope` not found"),
            "{err}"
        );
        let by_env = |k: &str| {
            if k == "COUNTERSIGN_PROFILE" {
                Some("ci".to_owned())
            } else {
                env(k)
            }
        };
        assert_eq!(Sources::load(None, &by_env).unwrap().profile.name, "ci");
    }

    #[test]
    fn missing_credentials_say_where_we_looked() {
        let Err(err) = resolve_with(&["GET", "http://h/"], &env_with(&[])) else {
            panic!("resolved without credentials");
        };
        let msg = err.to_string();
        assert!(
            msg.contains("--access-key-id") && msg.contains("COUNTERSIGN_SECRET_ACCESS_KEY"),
            "{msg}"
        );
        let only_id = env_with(&[("COUNTERSIGN_ACCESS_KEY_ID", "ID")]);
        let Err(err) = resolve_with(&["GET", "http://h/"], &only_id) else {
            panic!("resolved without a secret");
        };
        assert_eq!(
            err.to_string(),
            "no secret access key: looked at --secret-access-key and COUNTERSIGN_SECRET_ACCESS_KEY, \
             then profile `default` in /nonexistent/countersign/credentials"
        );
    }

    #[test]
    fn timestamps_parse_strictly() {
        let env = |k: &str| {
            Some(k.to_owned())
                .filter(|k| k != "COUNTERSIGN_CONFIG_FILE" && k != "COUNTERSIGN_PROFILE")
        };
        let r = resolve_with(
            &["GET", "http://h/", "--timestamp", "20150830T123600Z"],
            &env,
        );
        assert_eq!(r.unwrap().now.to_string(), "20150830T123600Z");
        for bad in [
            "20150830T123600",
            "20150830t123600Z",
            "20150230T123600Z",
            "1440938160",
        ] {
            let err = resolve_with(&["GET", "http://h/", "--timestamp", bad], &env).err();
            assert!(
                matches!(err, Some(CliError::Timestamp(_))),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_timestamp_and_method_are_usage_errors() {
        let env = |k: &str| {
            Some(k.to_owned())
                .filter(|k| k != "COUNTERSIGN_CONFIG_FILE" && k != "COUNTERSIGN_PROFILE")
        };
        for argv in [
            &["GET", "http://h/", "--timestamp", "2015-08-30"][..],
            &["G T", "http://h/"][..],
            &["GET", "ftp://h/"][..],
        ] {
            let err = resolve_with(argv, &env).err();
            assert!(
                matches!(
                    err,
                    Some(CliError::Timestamp(_) | CliError::Method(_) | CliError::Url(_))
                ),
                "{argv:?}: {err:?}"
            );
        }
    }
}
