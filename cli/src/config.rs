//! Resolves raw flags, then `COUNTERSIGN_*` environment variables, then defaults, into what a
//! command needs.

use std::fs::File;
use std::io::Read;
use std::time::SystemTime;

use countersign::{AmzDate, ContentSha256Header, Credentials, SigningSettings, UriEncoding};
use sha2::{Digest, Sha256};

use crate::cli::{Format, RequestArgs};
use crate::error::CliError;
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

/// Resolves `args` with `env` (a lookup, so tests need not touch the process environment).
///
/// # Errors
/// The first problem found: [`CliError::MissingCredential`], [`CliError::Timestamp`],
/// [`CliError::Method`], [`CliError::Url`] or [`CliError::DataFile`].
pub fn resolve(
    args: &RequestArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, CliError> {
    let s = &args.signing;
    let pick = |flag: &Option<String>, var: &str| {
        flag.clone().or_else(|| env(var)).filter(|v| !v.is_empty())
    };
    let id = pick(&s.access_key_id, "COUNTERSIGN_ACCESS_KEY_ID");
    let secret = pick(&s.secret_access_key, "COUNTERSIGN_SECRET_ACCESS_KEY");
    let (id, secret) = match (id, secret) {
        (Some(id), Some(secret)) => (id, secret),
        (id, secret) => return Err(missing_credentials(id.is_none(), secret.is_none())),
    };
    let mut credentials = Credentials::new(id, secret);
    if let Some(token) = pick(&s.session_token, "COUNTERSIGN_SESSION_TOKEN") {
        credentials = credentials.with_session_token(token);
    }
    let region = pick(&s.region, "COUNTERSIGN_REGION").unwrap_or_else(|| DEFAULT_REGION.into());
    let service = pick(&s.service, "COUNTERSIGN_SERVICE").unwrap_or_else(|| DEFAULT_SERVICE.into());
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
    if args.method.is_empty()
        || !args
            .method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(CliError::Method(args.method.clone()));
    }
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

/// Which credential is missing, and where it was looked for.
fn missing_credentials(no_id: bool, no_secret: bool) -> CliError {
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
    CliError::MissingCredential { what, flags, vars }
}

/// SHA-256 of `--data` or `--data-file` (streamed in 64 KiB chunks), or of the empty body.
fn body_digest(args: &RequestArgs) -> Result<[u8; 32], CliError> {
    if let Some(data) = &args.data {
        return Ok(Sha256::digest(data.as_bytes()).into());
    }
    let Some(path) = &args.data_file else {
        return Ok(Sha256::digest(b"").into());
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
        }
    }

    #[test]
    fn flags_win_over_environment_and_defaults_apply() {
        let env = |k: &str| match k {
            "COUNTERSIGN_ACCESS_KEY_ID" => Some("ENVID".to_owned()),
            "COUNTERSIGN_SECRET_ACCESS_KEY" => Some("envsecret".to_owned()),
            "COUNTERSIGN_REGION" => Some("eu-west-1".to_owned()),
            _ => None,
        };
        let r = resolve(
            &args(&["GET", "http://h/", "--access-key-id", "FLAGID"]),
            &env,
        )
        .unwrap();
        assert_eq!(r.credentials.access_key_id(), "FLAGID");
        assert_eq!(r.credentials.secret().expose_secret(), "envsecret");
        assert_eq!(r.region, "eu-west-1");
        assert_eq!(r.service, DEFAULT_SERVICE);
    }

    #[test]
    fn missing_credentials_say_where_we_looked() {
        let Err(err) = resolve(&args(&["GET", "http://h/"]), &|_| None) else {
            panic!("resolved without credentials");
        };
        let msg = err.to_string();
        assert!(
            msg.contains("--access-key-id") && msg.contains("COUNTERSIGN_SECRET_ACCESS_KEY"),
            "{msg}"
        );
        let only_id = |k: &str| (k == "COUNTERSIGN_ACCESS_KEY_ID").then(|| "ID".to_owned());
        let Err(err) = resolve(&args(&["GET", "http://h/"]), &only_id) else {
            panic!("resolved without a secret");
        };
        assert_eq!(
            err.to_string(),
            "no secret access key: looked at --secret-access-key and COUNTERSIGN_SECRET_ACCESS_KEY"
        );
    }

    #[test]
    fn timestamps_parse_strictly() {
        let env = |k: &str| Some(k.to_owned());
        let r = resolve(
            &args(&["GET", "http://h/", "--timestamp", "20150830T123600Z"]),
            &env,
        );
        assert_eq!(r.unwrap().now.to_string(), "20150830T123600Z");
        for bad in [
            "20150830T123600",
            "20150830t123600Z",
            "20150230T123600Z",
            "1440938160",
        ] {
            let err = resolve(&args(&["GET", "http://h/", "--timestamp", bad]), &env).err();
            assert!(
                matches!(err, Some(CliError::Timestamp(_))),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_timestamp_and_method_are_usage_errors() {
        let env = |k: &str| Some(k.to_owned());
        for argv in [
            &["GET", "http://h/", "--timestamp", "2015-08-30"][..],
            &["G T", "http://h/"][..],
            &["GET", "ftp://h/"][..],
        ] {
            let err = resolve(&args(argv), &env).err();
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
