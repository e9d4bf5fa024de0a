//! The CLI's errors and their exit codes.
//!
//! Exit codes: 0 success (and 1xx-3xx responses), 2 usage error (the command line, a flag, the
//! URL, a header, the timestamp, `--expires-in`, missing credentials or endpoint, an unreadable
//! `--data-file`, profile or CA file), 4 a 4xx response (also a refused login or session refresh), 5 a 5xx response, 1 any other failure
//! (network, TLS, writing the output).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use countersign::{DateError, SignError};

use crate::url::UrlError;

/// Why a command failed. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The command line does not parse (clap's message, folded onto one line).
    #[error("{0}")]
    Args(String),
    /// No access key id or no secret access key in the flags, the environment or the profile.
    #[error("no {what}: looked at {flags} and {vars}, then profile `{profile}` in {}", path.display())]
    MissingCredential {
        /// What is missing, e.g. `secret access key`.
        what: &'static str,
        /// The flags that would provide it.
        flags: &'static str,
        /// The environment variables that would provide it.
        vars: &'static str,
        /// The profile looked at.
        profile: String,
        /// The credentials file.
        path: PathBuf,
    },
    /// No server URL for a networked command.
    #[error("no endpoint: looked at --endpoint and COUNTERSIGN_ENDPOINT, then profile `{profile}` in {}", path.display())]
    MissingEndpoint {
        /// The profile looked at.
        profile: String,
        /// The credentials file.
        path: PathBuf,
    },
    /// The credentials file cannot be read, or lacks the profile asked for.
    #[error("{0}")]
    Profile(String),
    /// `configure` cannot get a value or write the file.
    #[error("{0}")]
    Configure(String),
    /// `login` / `logout` cannot get the password or update the profile.
    #[error("{0}")]
    Login(String),
    /// `--data-stdin` cannot be read.
    #[error("cannot read --data-stdin")]
    Stdin(#[source] std::io::Error),
    /// `-o` cannot be created.
    #[error("cannot write -o {}", path.display())]
    OutputFile {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be built, sent, or answered (the cause says which).
    #[error(transparent)]
    Client(#[from] countersign_client::ClientError),
    /// The server answered an admin call with an error.
    #[error("{method} {path}: {status} {code}: {message}")]
    Api {
        /// Method of the call.
        method: String,
        /// Path of the call.
        path: String,
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// The server answered with something that is not the expected JSON.
    #[error("unexpected response to {0}")]
    Response(String),
    /// `key rotate` stopped; the old key is still in the profile and active.
    #[error("rotation aborted, the old key {old} is still in use: {reason}")]
    RotationAborted {
        /// The key that stays.
        old: String,
        /// What failed, and what was cleaned up.
        reason: String,
    },
    /// The method is not an HTTP token.
    #[error("method `{0}` is not a valid HTTP method (expected a token such as GET or PUT)")]
    Method(String),
    /// The URL cannot be sent as given.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// `--timestamp` is not a real `YYYYMMDDTHHMMSSZ` instant (the cause names the value).
    #[error("invalid --timestamp")]
    Timestamp(#[source] DateError),
    /// `--expires-in` is outside 1..=604800.
    #[error("--expires-in {0} is out of range: expected 1 to 604800 seconds (7 days)")]
    ExpiresIn(u64),
    /// `--data-file` cannot be read.
    #[error("cannot read --data-file {}", path.display())]
    DataFile {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The SDK refused input the CLI accepted (e.g. two `Host` headers, a `/` in the region).
    #[error("cannot sign the request")]
    Sign(#[from] SignError),
    /// Writing the output failed.
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The documented exit code: 2 for usage errors, 4 / 5 for an admin call the server
    /// refused with a 4xx / 5xx, 1 otherwise (network, TLS, output).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Args(_)
            | Self::MissingCredential { .. }
            | Self::Method(_)
            | Self::Url(_)
            | Self::Timestamp(_)
            | Self::ExpiresIn(_)
            | Self::DataFile { .. }
            | Self::Sign(_)
            | Self::MissingEndpoint { .. }
            | Self::Profile(_)
            | Self::Configure(_)
            | Self::Login(_)
            | Self::Stdin(_)
            | Self::OutputFile { .. } => ExitCode::from(2),
            Self::Client(err) => client_exit_code(err),
            Self::Api { status, .. } if *status >= 500 => ExitCode::from(5),
            Self::Api { .. } => ExitCode::from(4),
            Self::Output(_) | Self::Response(_) | Self::RotationAborted { .. } => ExitCode::from(1),
        }
    }

    /// The message and its causes on one line (`what: cause: cause`), for stderr.
    pub fn one_line(&self) -> String {
        let mut line = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let _ = write!(line, ": {cause}");
            source = cause.source();
        }
        if let Some(hint) = self.hint(&line) {
            line.push_str(hint);
        }
        line.replace(['\n', '\r'], " ")
    }

    /// What to try next, for failures whose message alone does not say it.
    fn hint(&self, line: &str) -> Option<&'static str> {
        let certificate = line.contains("certificate") || line.contains("UnknownIssuer");
        match self {
            Self::Client(countersign_client::ClientError::Network { .. }) if certificate => {
                Some(" (for a private CA pass --cacert <PEM>; --insecure skips verification)")
            }
            Self::MissingCredential { .. } => {
                Some(" (run `countersign configure`, or `countersign login` for a session)")
            }
            Self::Client(countersign_client::ClientError::Auth { .. })
                if line.contains("log in again") =>
            {
                Some(" with `countersign login`")
            }
            _ => None,
        }
    }
}

/// Usage problems (URL, method, header, body file, CA file) are 2; transport problems are 1.
fn client_exit_code(err: &countersign_client::ClientError) -> ExitCode {
    use countersign_client::ClientError as E;
    match err {
        E::Url { .. } | E::Method(_) | E::Header(_) | E::Sign(_) | E::BodyFile { .. } => {
            ExitCode::from(2)
        }
        E::CaFile { .. } | E::Credentials(_) => ExitCode::from(2),
        E::Auth { status, .. } if *status >= 500 => ExitCode::from(5),
        E::Auth { .. } => ExitCode::from(4),
        _ => ExitCode::from(1),
    }
}

impl From<clap::Error> for CliError {
    /// Folds clap's multi-line report into one line: the message and its details, without the
    /// usage block and the `--help` hint.
    fn from(err: clap::Error) -> Self {
        let text = err.to_string();
        let parts: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
            .collect();
        let line = parts.join(" ");
        Self::Args(line.strip_prefix("error: ").unwrap_or(&line).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn clap_error(argv: &[&str]) -> String {
        let err = Cli::try_parse_from(argv).unwrap_err();
        CliError::from(err).one_line()
    }

    #[test]
    fn clap_errors_fold_onto_one_line() {
        let msg = clap_error(&["countersign", "sign", "GET", "http://h/", "-H", "NoColon"]);
        assert!(msg.contains("Name: value"), "{msg}");
        assert!(!msg.contains('\n') && !msg.starts_with("error:"), "{msg}");
        let msg = clap_error(&["countersign", "presign", "GET", "http://h/"]);
        assert!(msg.contains("--expires-in"), "{msg}");
        assert!(!msg.contains('\n') && !msg.contains("Usage"), "{msg}");
    }

    #[test]
    fn causes_are_chained_on_one_line() {
        let err = CliError::DataFile {
            path: "/no/such".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        };
        assert_eq!(
            err.one_line(),
            "cannot read --data-file /no/such: not found"
        );
    }
}
