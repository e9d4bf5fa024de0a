//! `countersign logout`: revoke the session on the server, remove it from the profile.

use std::io::Write;
use std::process::ExitCode;

use countersign_client::ClientError;
use serde_json::Value;

use crate::api::{self, Api};
use crate::cli::LogoutArgs;
use crate::config::Sources;
use crate::error::CliError;
use crate::session;

/// `POST /v1/auth/logout` (or `/logout-all` with `--all`), signed with the profile's
/// credentials (refreshed first if they expired), then removes the session from the profile.
/// A session the server no longer accepts (revoked, expired refresh token) is removed too.
///
/// # Errors
/// [`CliError::Api`] when the server refuses for another reason (the session stays in the
/// profile), transport errors (exit 1), [`CliError::Login`] when the profile cannot be written.
pub fn run(
    args: &LogoutArgs,
    sources: &Sources<'_>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let identity = sources.identity(&args.endpoint.net.credentials)?;
    let endpoint = sources.endpoint(args.endpoint.endpoint.as_ref())?;
    let path = if args.all {
        "/v1/auth/logout-all"
    } else {
        "/v1/auth/logout"
    };
    let answer = api::runtime()?.block_on(async {
        let client = api::client(&identity, &args.endpoint.net, false)?;
        Api {
            client: &client,
            endpoint,
        }
        .call("POST", path, None)
        .await
    });
    let ended = match answer {
        Ok(value) => Ended::Now(value),
        Err(err) if already_ended(&err) => Ended::Before(err.one_line()),
        Err(err) => return Err(err),
    };
    let profile = &sources.profile;
    let removed = identity.session.is_some() && session::remove(profile)?;
    let place = format!("profile `{}` in {}", profile.name, profile.path.display());
    match &ended {
        Ended::Now(value) if args.all => {
            let n = value["revoked_sessions"].as_u64().unwrap_or(0);
            writeln!(out, "logged out everywhere: {n} session(s) revoked")?;
        }
        Ended::Now(_) => writeln!(out, "logged out: the session is revoked")?,
        Ended::Before(why) => writeln!(out, "the session had already ended ({why})")?,
    }
    if removed {
        writeln!(out, "removed the session from {place}")?;
    }
    Ok(ExitCode::SUCCESS)
}

enum Ended {
    Now(Value),
    Before(String),
}

/// The session is over already: its refresh was refused, or the server rejects its token.
fn already_ended(err: &CliError) -> bool {
    match err {
        CliError::Client(ClientError::Auth { code, .. })
        | CliError::Api {
            status: 401, code, ..
        } => matches!(code.as_str(), "InvalidToken" | "ExpiredToken"),
        _ => false,
    }
}
