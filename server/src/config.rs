//! Command line and environment configuration (clap derive).
//!
//! `countersign-server` with no subcommand serves; every flag also reads an environment
//! variable (`COUNTERSIGN_*`). Durations are written `500ms`, `60s`, `15m`, `2h`, `30d`;
//! sizes `1024`, `1k`, `1KiB`, `64MiB`, `1G`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Top-level command line of `countersign-server`.
#[derive(Debug, Parser)]
#[command(
    name = "countersign-server",
    version,
    about = "Stateless SigV4 verifying server with a key store",
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand, `serve` runs with the flags given.\n\n\
                  Bootstrap:\n  countersign-server principal create admin --admin\n  \
                  countersign-server key create --principal admin\n  countersign-server"
)]
pub struct Cli {
    /// Flags of the default `serve` subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command to run, resolving the default `serve`.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only complicate every match"
)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Run the database migrations and exit.
    Migrate(StoreArgs),
    /// Manage principals directly in the database.
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Manage access keys directly in the database.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Delete expired and revoked refresh tokens and sessions now (`serve` also does it
    /// every `--gc-interval`); prints the counts as JSON.
    Gc(StoreArgs),
}

/// `countersign-server principal …`
#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal.
    Create {
        /// Principal name (1-64 characters: letters, digits, `-`, `_`, `.`, `@`).
        name: String,
        /// Allow this principal to call the admin API.
        #[arg(long)]
        admin: bool,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List principals as JSON lines.
    List {
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable a principal: its keys stop working within the key cache TTL.
    Disable {
        /// Principal name.
        name: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable a principal again.
    Enable {
        /// Principal name.
        name: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a principal's login password, read from stdin (one line; 8-1024 bytes). Logs the
    /// principal out of every session.
    #[command(
        after_help = "Example:\n  printf '%s\\n' \"$PASSWORD\" | countersign-server principal set-password alice"
    )]
    SetPassword {
        /// Principal name.
        name: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `countersign-server key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an access key and print it once as one JSON object.
    Create {
        /// Owner of the new key.
        #[arg(long)]
        principal: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List access keys (never their secrets) as JSON lines.
    List {
        /// Only the keys of this principal.
        #[arg(long)]
        principal: Option<String>,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Mark a key Inactive.
    Disable {
        /// Access key id.
        id: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Mark a key Active.
    Enable {
        /// Access key id.
        id: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a key for good.
    Delete {
        /// Access key id.
        id: String,
        /// Database flags.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where keys live; shared by `serve` and the offline admin commands.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Database URL: `sqlite://PATH?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "COUNTERSIGN_DATABASE_URL",
        default_value = "sqlite://countersign.db?mode=rwc"
    )]
    pub database_url: String,
    /// File holding the 32-byte master key that encrypts secrets at rest.
    ///
    /// For SQLite it defaults to the database path with the extension `.key` and is created
    /// (32 random bytes, mode 0600) when absent. For PostgreSQL it is required and must
    /// exist: it is never created.
    #[arg(long, env = "COUNTERSIGN_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Maximum number of access keys per principal (1-100).
    #[arg(
        long,
        env = "COUNTERSIGN_MAX_KEYS_PER_PRINCIPAL",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub max_keys_per_principal: u32,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed to
    /// stderr as `listening on ADDR`).
    #[arg(long, env = "COUNTERSIGN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database flags.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Region that credential scopes must name.
    #[arg(long, env = "COUNTERSIGN_REGION", default_value = "local")]
    pub region: String,
    /// Service that credential scopes must name.
    #[arg(long, env = "COUNTERSIGN_SERVICE", default_value = "countersign")]
    pub service: String,
    /// Largest accepted clock difference for header-signed requests, both directions.
    #[arg(long, env = "COUNTERSIGN_MAX_SKEW", default_value = "15m", value_parser = parse_duration)]
    pub max_skew: Duration,
    /// PEM certificate chain; with `--tls-key`, serve HTTPS.
    #[arg(long, env = "COUNTERSIGN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "COUNTERSIGN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest accepted request body; larger ones get 413 `EntityTooLarge`.
    #[arg(long, env = "COUNTERSIGN_MAX_BODY", default_value = "64MiB", value_parser = parse_size)]
    pub max_body: u64,
    /// How long a decrypted key stays cached; disabling a key takes effect within it.
    #[arg(long, env = "COUNTERSIGN_KEY_CACHE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub key_cache_ttl: Duration,
    /// Refuse `UNSIGNED-PAYLOAD`: every body must be covered by the signature.
    #[arg(long, env = "COUNTERSIGN_REQUIRE_SIGNED_PAYLOAD")]
    pub require_signed_payload: bool,
    /// Leave `canonical_request` and `string_to_sign` out of `SignatureDoesNotMatch` bodies.
    #[arg(long, env = "COUNTERSIGN_NO_DEBUG_ERRORS")]
    pub no_debug_errors: bool,
    /// Gateway flags.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// A TOML file with more gateway routes and CORS origins, added to those of the flags:
    /// `cors_origins = ["https://app.example"]` and one `[[route]]` table per route with
    /// `prefix = "/api"` and `upstream = "http://127.0.0.1:9000"`.
    #[arg(long, env = "COUNTERSIGN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow browser calls from this origin (repeatable; `*` for any): preflight `OPTIONS`
    /// requests are answered without a signature, and responses to signed requests from an
    /// allowed origin carry the CORS headers.
    #[arg(
        long = "cors-origin",
        env = "COUNTERSIGN_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Serve `GET /metrics` (Prometheus) only on this address instead of on `--listen`.
    #[arg(long, env = "COUNTERSIGN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Login, session and refresh-token flags.
    #[command(flatten)]
    pub sessions: SessionArgs,
}

/// Flags of the verifying gateway (`--route`).
#[derive(Debug, Clone, Default, Args)]
pub struct GatewayArgs {
    /// Proxy verified requests under PREFIX to UPSTREAM, e.g. `/api=http://127.0.0.1:9000`
    /// (repeatable; comma-separated in the variable). `http://` speaks HTTP/1.1, `h2c://`
    /// HTTP/2 without TLS. An upstream URL without a path receives the request path as is; with
    /// a path, that path replaces PREFIX. The longest matching prefix wins; `/v1/…`,
    /// `/livez` and `/readyz` always stay the server's own.
    #[arg(
        long = "route",
        env = "COUNTERSIGN_ROUTES",
        value_delimiter = ',',
        value_name = "PREFIX=UPSTREAM",
        value_parser = parse_route
    )]
    pub routes: Vec<GatewayRoute>,
    /// Forward the `Authorization` header, the session token and the presign query parameters
    /// to the upstream (removed by default).
    #[arg(long, env = "COUNTERSIGN_FORWARD_AUTH")]
    pub forward_auth: bool,
    /// How long the upstream may take to answer with its response headers (then 504).
    #[arg(long, env = "COUNTERSIGN_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,
    /// Bodies up to this size are read and checked before anything reaches the upstream;
    /// larger bodies with a signed `x-amz-content-sha256` stream through while hashed, and the
    /// upstream request is aborted (never completed) when the hash does not match.
    #[arg(long, env = "COUNTERSIGN_BUFFER_LIMIT", default_value = "8MiB", value_parser = parse_size)]
    pub buffer_limit: u64,
}

/// One `--route PREFIX=UPSTREAM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRoute {
    /// The path prefix, starting with `/`, without a trailing `/` (except the catch-all `/`).
    pub prefix: String,
    /// Whether the upstream speaks HTTP/2 with prior knowledge (`h2c://`).
    pub h2c: bool,
    /// `host[:port]` of the upstream.
    pub authority: String,
    /// The path that replaces the prefix; empty to forward the path unchanged.
    pub base_path: String,
}

/// The `--config` file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    route: Vec<RouteEntry>,
    #[serde(default)]
    cors_origins: Vec<String>,
}

/// One `[[route]]` table.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    prefix: String,
    upstream: String,
}

impl ServeArgs {
    /// These flags plus the routes and CORS origins of the `--config` file, if any.
    ///
    /// # Errors
    /// A message naming the file and what is wrong in it.
    pub fn with_config_file(mut self) -> Result<Self, String> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let at = path.display();
        let text = std::fs::read_to_string(path).map_err(|err| format!("{at}: {err}"))?;
        let file: ConfigFile = toml::from_str(&text)
            .map_err(|err| format!("{at}: {}", err.to_string().trim_end().replace('\n', " ")))?;
        for (i, entry) in file.route.iter().enumerate() {
            let route = parse_route(&format!("{}={}", entry.prefix, entry.upstream))
                .map_err(|err| format!("{at}: route {}: {err}", i + 1))?;
            self.gateway.routes.push(route);
        }
        self.cors_origins.extend(file.cors_origins);
        Ok(self)
    }
}

/// Parses `PREFIX=UPSTREAM` (see [`GatewayArgs::routes`]).
///
/// # Errors
/// A message naming what is wrong and what is expected.
pub fn parse_route(text: &str) -> Result<GatewayRoute, String> {
    let (prefix, upstream) = text.split_once('=').ok_or_else(|| {
        format!("`{text}` is not PREFIX=UPSTREAM, e.g. `/api=http://127.0.0.1:9000`")
    })?;
    let prefix = prefix.trim();
    if !prefix.starts_with('/') || prefix.contains(['?', '#', ' ']) {
        return Err(format!(
            "route prefix `{prefix}` must be a path starting with `/`"
        ));
    }
    let prefix = match prefix.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    if prefix == "/v1" || prefix.starts_with("/v1/") {
        return Err(format!(
            "route prefix `{prefix}` is inside `/v1/`, which belongs to the countersign API: \
             choose another prefix"
        ));
    }
    let upstream = upstream.trim();
    let (h2c, rest) = if let Some(rest) = upstream.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = upstream.strip_prefix("h2c://") {
        (true, rest)
    } else {
        return Err(format!(
            "upstream `{upstream}` must start with `http://` (HTTP/1.1) or `h2c://` (HTTP/2)"
        ));
    };
    if rest.contains(['?', '#', '@']) {
        return Err(format!(
            "upstream `{upstream}` must be scheme://host[:port][/path], without user, query or fragment"
        ));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.parse::<http::uri::Authority>().is_err() {
        return Err(format!("upstream `{upstream}` has no valid host"));
    }
    Ok(GatewayRoute {
        prefix: prefix.to_owned(),
        h2c,
        authority: authority.to_owned(),
        base_path: path.trim_end_matches('/').to_owned(),
    })
}

/// Flags of `POST /v1/auth/login` and the sessions it starts (issue #5).
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Lifetime of session credentials from login or refresh (1s to 12h).
    #[arg(long, env = "COUNTERSIGN_SESSION_TTL", default_value = "15m", value_parser = parse_session_ttl)]
    pub session_ttl: Duration,
    /// Lifetime of a refresh token; each refresh issues a new one with a fresh lifetime, up to
    /// `--session-max-lifetime`.
    #[arg(long, env = "COUNTERSIGN_REFRESH_TTL", default_value = "30d", value_parser = parse_duration)]
    pub refresh_ttl: Duration,
    /// Longest a login lasts however often it is refreshed: no refresh token outlives its
    /// login by more than this, and then the user logs in again.
    #[arg(
        long,
        env = "COUNTERSIGN_SESSION_MAX_LIFETIME",
        default_value = "90d",
        value_parser = parse_positive_duration
    )]
    pub session_max_lifetime: Duration,
    /// How long after a refresh token is spent presenting it again is forgiven (concurrent
    /// refreshes from two tabs); later, it revokes the whole session. `0s` disables it.
    #[arg(long, env = "COUNTERSIGN_REFRESH_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub refresh_grace: Duration,
    /// Live sessions (refresh-token families) per principal; a new login past it revokes
    /// the oldest (1-1000).
    #[arg(
        long,
        env = "COUNTERSIGN_MAX_SESSIONS_PER_PRINCIPAL",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub max_sessions_per_principal: u32,
    /// Failed logins per principal name within `--login-lockout` before 429.
    #[arg(
        long,
        env = "COUNTERSIGN_LOGIN_MAX_FAILURES",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub login_max_failures: u32,
    /// Failed logins per client address within `--login-lockout` before 429.
    #[arg(
        long,
        env = "COUNTERSIGN_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub login_max_failures_per_address: u32,
    /// Window in which failed logins are counted, from the first failure.
    #[arg(long, env = "COUNTERSIGN_LOGIN_LOCKOUT", default_value = "15m", value_parser = parse_duration)]
    pub login_lockout: Duration,
    /// How often expired and revoked refresh tokens are deleted (see `countersign-server gc`).
    #[arg(long, env = "COUNTERSIGN_GC_INTERVAL", default_value = "1h", value_parser = parse_positive_duration)]
    pub gc_interval: Duration,
}

/// Longest `--session-ttl`.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Parses `--session-ttl`: a duration from 1 s to 12 h.
///
/// # Errors
/// [`UnitError`] for a malformed value or one outside the bounds.
pub fn parse_session_ttl(text: &str) -> Result<Duration, UnitError> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_secs(1) || ttl > MAX_SESSION_TTL {
        return Err(UnitError::OutOfRange {
            value: text.to_owned(),
            bounds: "1s to 12h",
        });
    }
    Ok(ttl)
}

/// Parses a duration that must not be zero.
///
/// # Errors
/// [`UnitError`] for a malformed or zero value.
pub fn parse_positive_duration(text: &str) -> Result<Duration, UnitError> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(UnitError::OutOfRange {
            value: text.to_owned(),
            bounds: "more than 0",
        });
    }
    Ok(duration)
}

/// Why a duration or size flag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// Nothing was given.
    #[error("empty value: expected a number and a unit such as `15m`")]
    Empty,
    /// The text does not start with a decimal number.
    #[error("`{0}` does not start with a number: expected e.g. `15m`, `60s`, `64MiB`")]
    NoNumber(String),
    /// A duration without a unit.
    #[error("`{0}` has no unit: expected one of ms, s, m, h, d (e.g. `{0}s`)")]
    MissingUnit(String),
    /// The unit is not one we know.
    #[error("unknown unit `{unit}` in `{value}`: expected one of {expected}")]
    UnknownUnit {
        /// The whole value.
        value: String,
        /// The unit that was not understood.
        unit: String,
        /// The accepted units.
        expected: &'static str,
    },
    /// The value does not fit.
    #[error("`{0}` is too large")]
    Overflow(String),
    /// The value is outside the flag's bounds.
    #[error("`{value}` is out of range: expected {bounds}")]
    OutOfRange {
        /// The value.
        value: String,
        /// The accepted range.
        bounds: &'static str,
    },
}

const DURATION_UNITS: &str = "ms, s, m, h, d";
const SIZE_UNITS: &str = "B, k/KB, KiB, M/MB, MiB, G/GB, GiB";

/// Parses `500ms`, `60s`, `15m`, `2h`, `30d` into a [`Duration`].
///
/// # Errors
/// [`UnitError`] naming what was expected when the number or unit is missing or unknown.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let (number, unit) = split_number(text)?;
    let millis_per_unit: u64 = match unit {
        "" => return Err(UnitError::MissingUnit(text.to_owned())),
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(unknown_unit(text, unit, DURATION_UNITS)),
    };
    let millis = number
        .checked_mul(millis_per_unit)
        .ok_or_else(|| UnitError::Overflow(text.to_owned()))?;
    Ok(Duration::from_millis(millis))
}

/// Parses a byte size: `1024`, `1k` / `1KB` (1000), `1KiB` (1024), `64MiB`, `1G`, `1GiB`.
///
/// Units are case-insensitive; a bare number is bytes.
///
/// # Errors
/// [`UnitError`] naming what was expected when the number or unit is unknown.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (number, unit) = split_number(text)?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => return Err(unknown_unit(text, unit, SIZE_UNITS)),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| UnitError::Overflow(text.to_owned()))
}

fn split_number(text: &str) -> Result<(u64, &str), UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Empty);
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(UnitError::NoNumber(text.to_owned()));
    }
    let number = digits
        .parse::<u64>()
        .map_err(|_| UnitError::Overflow(text.to_owned()))?;
    Ok((number, unit.trim()))
}

fn unknown_unit(value: &str, unit: &str, expected: &'static str) -> UnitError {
    UnitError::UnknownUnit {
        value: value.to_owned(),
        unit: unit.to_owned(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Command {
        let mut argv = vec!["countersign-server"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().into_command()
    }

    fn serve_with_config(text: &str) -> Result<ServeArgs, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap().to_owned();
        let Command::Serve(serve) =
            parse(&["serve", "--route", "/a=http://a:1", "--config", &path])
        else {
            panic!("not serve")
        };
        serve.with_config_file()
    }

    #[test]
    fn the_config_file_adds_routes_and_cors_origins() {
        let serve = serve_with_config(
            "cors_origins = [\"https://app.example\"]\n\
             [[route]]\nprefix = \"/b\"\nupstream = \"h2c://b:2/base\"\n",
        )
        .unwrap();
        let prefixes: Vec<&str> = serve
            .gateway
            .routes
            .iter()
            .map(|r| r.prefix.as_str())
            .collect();
        assert_eq!(prefixes, ["/a", "/b"]);
        assert!(serve.gateway.routes[1].h2c);
        assert_eq!(serve.cors_origins, ["https://app.example"]);
        for (bad, expected) in [
            (
                "[[route]]\nprefix = \"/v1/x\"\nupstream = \"http://b\"\n",
                "route 1",
            ),
            ("[[route]]\nprefix = \"/x\"\n", "missing field `upstream`"),
            ("listen = \"x\"\n", "unknown field `listen`"),
            ("[[route]\n", "gateway.toml"),
        ] {
            let err = serve_with_config(bad).unwrap_err();
            assert!(
                err.contains(expected) && err.contains("gateway.toml"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve_with_defaults() {
        let Command::Serve(serve) = parse(&[]) else {
            panic!("expected serve")
        };
        assert_eq!(serve.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(serve.store.database_url, "sqlite://countersign.db?mode=rwc");
        assert_eq!(serve.region, "local");
        assert_eq!(serve.service, "countersign");
        assert_eq!(serve.max_skew, Duration::from_secs(15 * 60));
        assert_eq!(serve.max_body, 64 * 1024 * 1024);
        assert_eq!(serve.key_cache_ttl, Duration::from_secs(60));
        assert_eq!(serve.store.max_keys_per_principal, 2);
        assert!(!serve.require_signed_payload);
        assert!(!serve.no_debug_errors);
        let sessions = serve.sessions;
        assert_eq!(sessions.session_ttl, Duration::from_secs(15 * 60));
        assert_eq!(sessions.refresh_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(
            sessions.session_max_lifetime,
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(sessions.refresh_grace, Duration::from_secs(10));
        assert_eq!(sessions.max_sessions_per_principal, 10);
        assert_eq!(sessions.login_max_failures, 5);
        assert_eq!(sessions.login_max_failures_per_address, 20);
        assert_eq!(sessions.login_lockout, Duration::from_secs(15 * 60));
        assert_eq!(sessions.gc_interval, Duration::from_secs(3600));
    }

    #[test]
    fn session_ttl_is_bounded_to_twelve_hours() {
        assert_eq!(parse_session_ttl("12h"), Ok(MAX_SESSION_TTL));
        let err = parse_session_ttl("13h").unwrap_err();
        assert_eq!(err.to_string(), "`13h` is out of range: expected 1s to 12h");
        assert!(parse_session_ttl("500ms").is_err());
        let err = Cli::try_parse_from(["countersign-server", "--session-ttl", "1d"]).unwrap_err();
        assert!(err.to_string().contains("--session-ttl"), "{err}");
        assert!(parse_positive_duration("0s").is_err());
    }

    #[test]
    fn top_level_flags_and_serve_subcommand_agree() {
        let top = parse(&["--listen", "127.0.0.1:0", "--max-skew", "5m"]);
        let sub = parse(&["serve", "--listen", "127.0.0.1:0", "--max-skew", "5m"]);
        for command in [top, sub] {
            let Command::Serve(serve) = command else {
                panic!("expected serve")
            };
            assert_eq!(serve.listen.port(), 0);
            assert_eq!(serve.max_skew, Duration::from_secs(300));
        }
    }

    #[test]
    fn tls_cert_without_key_is_refused() {
        let result = Cli::try_parse_from(["countersign-server", "--tls-cert", "c.pem"]);
        assert_eq!(
            result.unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn offline_key_create_takes_principal_and_store_flags() {
        let command = parse(&[
            "key",
            "create",
            "--principal",
            "alice",
            "--database-url",
            "sqlite:///tmp/x.db",
            "--max-keys-per-principal",
            "3",
        ]);
        let Command::Key(KeyCommand::Create { principal, store }) = command else {
            panic!("expected key create")
        };
        assert_eq!(principal, "alice");
        assert_eq!(store.database_url, "sqlite:///tmp/x.db");
        assert_eq!(store.max_keys_per_principal, 3);
    }

    #[test]
    fn principal_create_admin_flag() {
        let Command::Principal(PrincipalCommand::Create { name, admin, .. }) =
            parse(&["principal", "create", "root", "--admin"])
        else {
            panic!("expected principal create")
        };
        assert_eq!((name.as_str(), admin), ("root", true));
    }

    #[test]
    fn key_list_principal_is_optional() {
        let Command::Key(KeyCommand::List { principal, .. }) = parse(&["key", "list"]) else {
            panic!("expected key list")
        };
        assert_eq!(principal, None);
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn bad_durations_say_what_was_expected() {
        assert_eq!(parse_duration(""), Err(UnitError::Empty));
        assert_eq!(
            parse_duration("15"),
            Err(UnitError::MissingUnit("15".into()))
        );
        assert_eq!(parse_duration("m"), Err(UnitError::NoNumber("m".into())));
        let err = parse_duration("15y").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown unit `y` in `15y`: expected one of ms, s, m, h, d"
        );
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(UnitError::Overflow("99999999999999999999s".into()))
        );
    }

    #[test]
    fn sizes_decimal_and_binary() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(matches!(
            parse_size("3 parsecs"),
            Err(UnitError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn bad_flag_value_names_the_flag() {
        let err = Cli::try_parse_from(["countersign-server", "--max-skew", "soon"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--max-skew"), "{text}");
        assert!(text.contains("does not start with a number"), "{text}");
    }
}
