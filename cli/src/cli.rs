//! The command line, as clap parses it (raw flags; `config.rs` resolves them).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::url::HeaderArg;

/// Sign, presign and send AWS SigV4-compatible requests.
#[derive(Debug, Parser)]
#[command(name = "countersign", version, about, long_about = None)]
pub struct Cli {
    /// Profile of the credentials file to use [env: COUNTERSIGN_PROFILE] [default: default].
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
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
    /// Send a signed request and print the response (like curl or httpie).
    #[command(
        long_about = "Send a signed request and print the response body (like curl or httpie).\n\n\
Exit codes: 0 for 1xx-3xx, 4 for 4xx, 5 for 5xx (the error body still goes to stdout), \
1 for a network or TLS error, 2 for a usage error. On a 401 SignatureDoesNotMatch whose body \
carries the server's canonical request, a diff naming the differing component goes to stderr.",
        after_help = "\
Examples:
  countersign request GET https://api.example.com/v1/whoami
  countersign --profile ci request GET /v1/whoami     # path appended to the profile's endpoint
  countersign request POST 'https://api.example.com/v1/topics?draft=1' \\
      -H 'Content-Type: application/json' --data '{\"title\":\"hi\"}' -i
  countersign request PUT https://files.example.com/big.iso --data-file big.iso -o reply.json
  echo hello | countersign request POST https://api.example.com/v1/echo --data-stdin
  countersign request PUT https://files.example.com/big.iso --data-file big.iso --chunked
  countersign request PUT https://files.example.com/log --data-file log --chunked=unsigned-trailer \
      --chunk-size 1MiB"
    )]
    Request(SendArgs),
    /// Show who the credentials belong to (signed GET /v1/whoami on the endpoint).
    #[command(after_help = "\
Examples:
  countersign whoami --endpoint https://countersign.example.com
  countersign --profile ci whoami")]
    Whoami(WhoamiArgs),
    /// Write a profile to the credentials file (prompts on a terminal, else reads the flags).
    #[command(after_help = "\
Examples:
  countersign configure
  countersign configure --profile ci --access-key-id AKCS... --endpoint https://cs.example.com \\
      < secret.txt    # the secret is read from stdin when not on a terminal

The file is ~/.config/countersign/credentials (or $COUNTERSIGN_CONFIG_FILE), mode 0600.")]
    Configure(ConfigureArgs),
    /// Manage principals and keys over the admin API (signed with an admin key).
    #[command(after_help = "\
Examples:
  countersign admin principal create ci-bot
  countersign admin key create --principal ci-bot --save-profile ci
  countersign admin key list --principal ci-bot --json
  countersign --profile ci admin key rotate --principal ci-bot --admin-profile default")]
    Admin(AdminArgs),
    /// Log in with a password: store short-lived session credentials and a refresh token in
    /// the profile (mode 0600); `request`, `whoami` and `admin` then refresh them as needed.
    #[command(
        long_about = "Log in with a password (POST /v1/auth/login) and store the session in the \
profile: access_key_id, secret_access_key, session_token, expiration, refresh_token, \
refresh_expiration and endpoint, in a file of mode 0600.\n\n\
Commands using the profile sign with the session credentials and refresh them shortly before \
they expire (or when the server answers ExpiredToken); each refresh rotates the refresh token \
and writes it back. When the refresh token expires or is revoked, log in again.\n\n\
The password is prompted for without echo on a terminal; otherwise pass --password-stdin. \
Exit codes: 0 logged in, 4 refused (wrong principal or password, disabled, rate limited), \
2 usage, 1 network.",
        after_help = "\
Examples:
  countersign login --endpoint https://cs.example.com --principal alice
  countersign login --endpoint http://127.0.0.1:8080 --principal alice --profile forum
  printf '%s\\n' \"$PASSWORD\" | countersign login --endpoint https://cs.example.com \\
      --principal ci-bot --password-stdin
  countersign request POST /topics --data '{\"title\":\"hi\"}'   # signed with the session"
    )]
    Login(LoginArgs),
    /// Revoke the profile's session on the server and remove it from the profile.
    #[command(after_help = "\
Examples:
  countersign logout
  countersign logout --profile forum
  countersign logout --all    # every session of the principal, everywhere")]
    Logout(LogoutArgs),
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  countersign completions bash > /etc/bash_completion.d/countersign
  countersign completions zsh > \"${fpath[1]}/_countersign\"
  countersign completions fish > ~/.config/fish/completions/countersign.fish")]
    Completions(CompletionsArgs),
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
    /// Credentials, region and service.
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// Signing time, YYYYMMDDTHHMMSSZ [default: now].
    #[arg(long, value_name = "YYYYMMDDTHHMMSSZ")]
    pub timestamp: Option<String>,
    /// S3 mode: path signed as sent (no normalization, no second encoding), and
    /// x-amz-content-sha256 sent; presigned URLs sign UNSIGNED-PAYLOAD.
    #[arg(long)]
    pub s3: bool,
}

/// Credential, region and service flags (each falls back to `COUNTERSIGN_*`, then the profile).
#[derive(Debug, Args, Default, Clone)]
pub struct CredentialArgs {
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

/// Connection flags of networked commands.
#[derive(Debug, Args, Default, Clone)]
pub struct NetArgs {
    /// Credentials, region and service.
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// PEM file with the CA certificate(s) to trust instead of the platform's roots.
    #[arg(long, value_name = "PEM", global = true)]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (prints a warning; for local tests only).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Time allowed until the response headers arrive: `30s`, `500ms`, `2m` or seconds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, global = true)]
    pub timeout: Option<Duration>,
}

/// `--endpoint` plus the connection flags.
#[derive(Debug, Args, Default, Clone)]
pub struct EndpointArgs {
    /// Base URL of the countersign server [env: COUNTERSIGN_ENDPOINT] [default: the profile's].
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint: Option<String>,
    /// Credentials and TLS.
    #[command(flatten)]
    pub net: NetArgs,
}

/// `request` flags.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// HTTP method (GET, POST, ...).
    pub method: String,
    /// URL as sent on the wire (path and query already percent-encoded), or a path such as
    /// `/v1/whoami` to append to the endpoint.
    pub url: String,
    /// Header to send and sign, `Name: value`; repeat for more (same name allowed).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<HeaderArg>,
    /// Request body.
    #[arg(long, value_name = "STRING", group = "body")]
    pub data: Option<String>,
    /// Request body streamed from a file (hashed in a first pass, then sent in chunks).
    #[arg(long, value_name = "PATH", group = "body")]
    pub data_file: Option<PathBuf>,
    /// Request body read from standard input (held in memory: use --data-file for big bodies).
    #[arg(long, group = "body")]
    pub data_stdin: bool,
    /// Print the status line and response headers before the body.
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Write the response (body, and headers with -i) to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Send the body as UNSIGNED-PAYLOAD (not covered by the signature; read once).
    #[arg(long, conflicts_with = "chunked")]
    pub unsigned_payload: bool,
    /// Send the body `aws-chunked` (read once, in bounded memory): `signed` (default,
    /// STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed), `signed-trailer` (plus a signed
    /// x-amz-checksum-sha256 trailer) or `unsigned-trailer` (unsigned chunks, checksum trailer).
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "signed"
    )]
    pub chunked: Option<ChunkedMode>,
    /// Data bytes per chunk with --chunked: a number or 64KiB, 1MiB... [default: 64KiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_chunk_size, requires = "chunked")]
    pub chunk_size: Option<usize>,
    /// Follow redirects (up to 10), signing each hop again.
    #[arg(short = 'L', long)]
    pub location: bool,
    /// No progress bar and no warnings.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// S3 mode: path signed as sent and x-amz-content-sha256 sent.
    #[arg(long)]
    pub s3: bool,
    /// Endpoint (for URLs given as a path, e.g. `/v1/whoami`), credentials and TLS.
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

/// `whoami` flags.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Endpoint, credentials and TLS.
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

/// `configure` flags; anything not given is prompted for on a terminal.
#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// Access key id.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// Secret access key (prefer the prompt, or stdin when not on a terminal).
    #[arg(long)]
    pub secret_access_key: Option<String>,
    /// Session token.
    #[arg(long)]
    pub session_token: Option<String>,
    /// Region.
    #[arg(long)]
    pub region: Option<String>,
    /// Service.
    #[arg(long)]
    pub service: Option<String>,
    /// Server base URL.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

/// `login` flags.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Base URL of the countersign server [env: COUNTERSIGN_ENDPOINT] [default: the profile's].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Principal (user name) to log in as.
    #[arg(long, value_name = "NAME")]
    pub principal: String,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// PEM file with the CA certificate(s) to trust instead of the platform's roots.
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (prints a warning; for local tests only).
    #[arg(long)]
    pub insecure: bool,
    /// Time allowed until the response headers arrive: `30s`, `500ms`, `2m` or seconds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

/// `logout` flags.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Revoke every session of the principal (POST /v1/auth/logout-all), not only this one.
    #[arg(long)]
    pub all: bool,
    /// Endpoint, credentials and TLS.
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

/// `admin` flags.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Endpoint, credentials and TLS.
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// What to manage.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Principals (who may hold keys).
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Access keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Permissions of a principal or a key (allow/deny rules on methods and path globs).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

/// Whose policy: exactly one of `--principal` and `--key`.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct PolicySubject {
    /// A principal's policy (binds all its keys and sessions).
    #[arg(long)]
    pub principal: Option<String>,
    /// An access key's policy (can only narrow its principal's).
    #[arg(long = "key", value_name = "ACCESS_KEY_ID")]
    pub key: Option<String>,
}

/// `admin policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set (replace) a policy from a JSON document.
    #[command(after_help = "Examples:\n  \
        countersign admin policy set --principal ci-bot --document \\\n    \
        '{\"allow\":[{\"methods\":[\"GET\"],\"paths\":[\"/api/**\"]}]}'\n  \
        countersign admin policy set --key AKCSEXAMPLE0000000000 --file readonly.json\n\n\
        A request is allowed when no deny rule matches and some allow rule does; in paths, `*`\n\
        matches within one segment and `**` across segments (spec/protocol.md section 20).")]
    Set {
        /// Whose.
        #[command(flatten)]
        subject: PolicySubject,
        /// The policy document as JSON text.
        #[arg(
            long,
            value_name = "JSON",
            conflicts_with = "file",
            required_unless_present = "file"
        )]
        document: Option<String>,
        /// A file holding the policy document.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Show a policy (`null` when there is none: everything allowed).
    #[command(after_help = "Example:\n  countersign admin policy show --principal ci-bot --json")]
    Show {
        /// Whose.
        #[command(flatten)]
        subject: PolicySubject,
    },
    /// Remove a policy (everything allowed again).
    #[command(
        after_help = "Example:\n  countersign admin policy clear --key AKCSEXAMPLE0000000000"
    )]
    Clear {
        /// Whose.
        #[command(flatten)]
        subject: PolicySubject,
    },
}

/// `admin principal` subcommands.
#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal.
    #[command(after_help = "Example:\n  countersign admin principal create ci-bot")]
    Create {
        /// Its name.
        name: String,
        /// May call the admin API.
        #[arg(long)]
        admin: bool,
    },
    /// List principals.
    #[command(after_help = "Example:\n  countersign admin principal list --json")]
    List,
    /// Disable a principal (its keys stop working).
    #[command(after_help = "Example:\n  countersign admin principal disable ci-bot")]
    Disable {
        /// Its name.
        name: String,
    },
    /// Enable a principal.
    #[command(after_help = "Example:\n  countersign admin principal enable ci-bot")]
    Enable {
        /// Its name.
        name: String,
    },
}

/// `admin key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (its secret is shown once, or saved to a profile).
    #[command(
        after_help = "Example:\n  countersign admin key create --principal ci-bot --save-profile ci"
    )]
    Create {
        /// Owner of the key.
        #[arg(long)]
        principal: String,
        /// Write the new key to this profile instead of printing its secret.
        #[arg(long, value_name = "PROFILE")]
        save_profile: Option<String>,
    },
    /// List keys (of one principal, or of all).
    #[command(after_help = "Example:\n  countersign admin key list --principal ci-bot")]
    List {
        /// Only this principal's keys.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Disable a key.
    #[command(after_help = "Example:\n  countersign admin key disable AKCS...")]
    Disable {
        /// Access key id.
        id: String,
    },
    /// Enable a key.
    #[command(after_help = "Example:\n  countersign admin key enable AKCS...")]
    Enable {
        /// Access key id.
        id: String,
    },
    /// Delete a key.
    #[command(after_help = "Example:\n  countersign admin key delete AKCS...")]
    Delete {
        /// Access key id.
        id: String,
    },
    /// Replace the key in a profile: create a new key, switch the profile to it, check it with
    /// a signed whoami, then disable (or delete) the old one. Any failure leaves the old key
    /// in place and working.
    #[command(after_help = "\
Examples:
  countersign admin key rotate --principal alice          # rotate the default profile's key
  countersign --profile ci admin key rotate --principal ci-bot --admin-profile default --delete-old")]
    Rotate {
        /// Owner of the key in the profile.
        #[arg(long)]
        principal: String,
        /// Profile whose admin key signs the admin calls [default: the rotated profile].
        #[arg(long, value_name = "PROFILE")]
        admin_profile: Option<String>,
        /// Delete the old key instead of only disabling it.
        #[arg(long)]
        delete_old: bool,
    },
}

/// `completions` flags.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `30s`, `500ms`, `2m`, `1h` or a number of seconds (fractions allowed).
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    let value: f64 = number.parse().unwrap_or(f64::NAN) * scale;
    if value.is_finite() && value > 0.0 && value < 1e9 {
        return Ok(Duration::from_secs_f64(value));
    }
    Err(format!(
        "invalid duration `{text}`: expected e.g. 30s, 500ms, 2m, 1h or a number of seconds"
    ))
}

/// `--chunked` modes (the `STREAMING-*` payload variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedTrailer,
}

/// A chunk size: bytes, or with a `KiB`/`MiB` suffix; 1 byte to 64 MiB.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_chunk_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("KiB") {
        (n, 1024)
    } else if let Some(n) = text.strip_suffix("MiB") {
        (n, 1024 * 1024)
    } else {
        (text, 1)
    };
    match number
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(size) if (1..=64 * 1024 * 1024).contains(&size) => Ok(size),
        _ => Err(format!(
            "invalid chunk size `{text}`: expected 1 byte to 64MiB, e.g. 8192, 64KiB or 1MiB"
        )),
    }
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
    fn chunked_takes_an_optional_mode_and_a_chunk_size() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["countersign", "request", "PUT", "http://h/", "--data", "x"];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).map(|cli| cli.command) {
                Ok(Command::Request(a)) => Ok((a.chunked, a.chunk_size)),
                Ok(_) => unreachable!(),
                Err(err) => Err(err.kind()),
            }
        };
        assert_eq!(parse(&[]), Ok((None, None)));
        assert_eq!(parse(&["--chunked"]), Ok((Some(ChunkedMode::Signed), None)));
        assert_eq!(
            parse(&["--chunked=unsigned-trailer", "--chunk-size", "8KiB"]),
            Ok((Some(ChunkedMode::UnsignedTrailer), Some(8192)))
        );
        assert_eq!(
            parse(&["--chunked=signed-trailer"]),
            Ok((Some(ChunkedMode::SignedTrailer), None))
        );
        assert!(parse(&["--chunk-size", "8"]).is_err(), "needs --chunked");
        assert!(parse(&["--chunked", "--unsigned-payload"]).is_err());
        assert!(parse(&["--chunked=bogus"]).is_err());
        assert_eq!(parse_chunk_size("1MiB"), Ok(1 << 20));
        assert!(parse_chunk_size("0").is_err());
        assert!(parse_chunk_size("65MiB").is_err());
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

    #[test]
    fn body_sources_of_request_are_exclusive() {
        let base = ["countersign", "request", "POST", "http://h/"];
        for extra in [
            &["--data", "x", "--data-stdin"][..],
            &["--data-file", "f", "--data-stdin"][..],
            &["--data", "x", "--data-file", "f"][..],
        ] {
            let argv: Vec<&str> = base.iter().chain(extra).copied().collect();
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        }
    }

    #[test]
    fn profile_and_connection_flags_are_accepted_anywhere() {
        let cli = Cli::try_parse_from([
            "countersign",
            "admin",
            "key",
            "list",
            "--profile",
            "p",
            "--endpoint",
            "http://e",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.profile.as_deref(), Some("p"));
        let Command::Admin(admin) = cli.command else {
            panic!("not admin")
        };
        assert!(admin.json);
        assert_eq!(admin.endpoint.endpoint.as_deref(), Some("http://e"));
    }

    #[test]
    fn login_needs_a_principal_and_takes_password_stdin() {
        let cli = Cli::try_parse_from([
            "countersign",
            "login",
            "--endpoint",
            "http://e",
            "--principal",
            "alice",
            "--password-stdin",
            "--profile",
            "p",
        ])
        .unwrap();
        let Command::Login(login) = cli.command else {
            panic!("not login")
        };
        assert!(login.password_stdin);
        assert_eq!(login.principal, "alice");
        assert_eq!(cli.profile.as_deref(), Some("p"));
        let err = Cli::try_parse_from(["countersign", "login"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let cli = Cli::try_parse_from(["countersign", "logout", "--all"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Logout(LogoutArgs { all: true, .. })
        ));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "0", "-1s", "1d", "abc", "1e99"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
