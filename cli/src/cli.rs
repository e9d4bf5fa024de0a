//! The command line, as clap parses it (raw flags; `config.rs` resolves them).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::url::HeaderArg;

/// Sign, presign and send AWS SigV4-compatible requests.
#[derive(Debug, Parser)]
#[command(name = "countersign", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the headers that sign a request (nothing is sent).
    #[command(after_help = "\
Examples:
  countersign sign GET 'https://api.example.com/v1/whoami'
  countersign sign POST 'https://api.example.com/v1/topics?draft=1' \\
      -H 'Content-Type: application/json' --data '{\"title\":\"hi\"}' --format json")]
    Sign(SignArgs),
    /// Print a presigned URL (nothing is sent).
    #[command(after_help = "\
Examples:
  countersign presign GET 'https://api.example.com/v1/report.csv' --expires-in 600
  countersign presign PUT 'https://files.example.com/bucket/key' --expires-in 3600 --s3")]
    Presign(PresignArgs),
}

/// Flags shared by `sign` and `presign`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// HTTP method (GET, POST, ...).
    pub method: String,
    /// Full URL as sent on the wire: path and query already percent-encoded.
    pub url: String,
    /// Header to send and sign, `Name: value`; repeat for more (same name allowed).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<HeaderArg>,
    /// Request body.
    #[arg(long, value_name = "STRING", conflicts_with = "data_file")]
    pub data: Option<String>,
    /// Request body read from a file (hashed in chunks, never loaded whole).
    #[arg(long, value_name = "PATH")]
    pub data_file: Option<PathBuf>,
    /// Credentials, region, service and time.
    #[command(flatten)]
    pub signing: SigningArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Headers)]
    pub format: Format,
}

/// Credential, scope and time flags.
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// Access key id [env: COUNTERSIGN_ACCESS_KEY_ID].
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// Secret access key [env: COUNTERSIGN_SECRET_ACCESS_KEY]; prefer the environment variable,
    /// since command lines are visible to other users.
    #[arg(long)]
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials [env: COUNTERSIGN_SESSION_TOKEN].
    #[arg(long)]
    pub session_token: Option<String>,
    /// Region of the credential scope [env: COUNTERSIGN_REGION] [default: local].
    #[arg(long)]
    pub region: Option<String>,
    /// Service of the credential scope [env: COUNTERSIGN_SERVICE] [default: countersign].
    #[arg(long)]
    pub service: Option<String>,
    /// Signing time, YYYYMMDDTHHMMSSZ [default: now].
    #[arg(long, value_name = "YYYYMMDDTHHMMSSZ")]
    pub timestamp: Option<String>,
    /// S3 mode: path signed as sent (no normalization, no second encoding), and
    /// x-amz-content-sha256 sent; presigned URLs sign UNSIGNED-PAYLOAD.
    #[arg(long)]
    pub s3: bool,
}

/// `sign` flags.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The request.
    #[command(flatten)]
    pub request: RequestArgs,
}

/// `presign` flags.
#[derive(Debug, Args)]
pub struct PresignArgs {
    /// The request.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Seconds the URL stays valid, 1 to 604800 (7 days).
    #[arg(long, value_name = "SECONDS")]
    pub expires_in: u64,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `Name: value` lines (for `presign`: the URL).
    Headers,
    /// One JSON object with the signature and what was signed.
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn data_and_data_file_conflict() {
        let err = Cli::try_parse_from([
            "countersign",
            "sign",
            "GET",
            "http://h/",
            "--data",
            "x",
            "--data-file",
            "f",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
