//! `countersign login`: log in with a password and store the session in the profile.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use countersign_client::{ClientError, SessionConfig, SessionCredentials};
use zeroize::Zeroizing;

use crate::api;
use crate::cli::{LoginArgs, NetArgs};
use crate::config::{DEFAULT_REGION, DEFAULT_SERVICE, Identity, Profile};
use crate::error::CliError;
use crate::session;

/// Logs in as `args.principal` and writes the session (and the endpoint) to `target`.
///
/// # Errors
/// [`CliError::Api`] when the server refuses (exit 4), [`CliError::Login`] when no password
/// can be read or the profile cannot be written (exit 2), [`CliError::MissingEndpoint`],
/// transport errors (exit 1).
pub fn run(
    args: &LoginArgs,
    target: &Profile,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| env("COUNTERSIGN_ENDPOINT"))
        .or_else(|| target.values.get("endpoint").cloned())
        .filter(|e| !e.is_empty())
        .map(|e| e.trim_end_matches('/').to_owned())
        .ok_or_else(|| CliError::MissingEndpoint {
            profile: target.name.clone(),
            path: target.path.clone(),
        })?;
    warn_if_replacing_a_key(target);
    let password = password(args)?;
    let config = api::client_config(&scope_only(), &net_args(args), false);
    let tokens = api::runtime()?.block_on(async {
        let session = SessionConfig::new(endpoint.clone(), config);
        let provider = SessionCredentials::login(session, &args.principal, &password)
            .await
            .map_err(refused)?;
        Ok::<_, CliError>(provider.tokens().await)
    })?;
    session::save_login(target, &tokens, &endpoint)?;
    writeln!(
        out,
        "logged in as `{}`: profile `{}` in {}; session credentials expire at {}, refreshed \
         automatically until {}",
        args.principal,
        target.name,
        target.path.display(),
        tokens.expiration_text(),
        tokens
            .refresh_expiration_text()
            .unwrap_or_else(|| "the refresh token expires".to_owned()),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A profile holding a long-term access key loses it to the session: say so.
fn warn_if_replacing_a_key(target: &Profile) {
    let values = &target.values;
    let Some(id) = values.get("access_key_id") else {
        return;
    };
    if !values.contains_key("refresh_token") {
        eprintln!(
            "countersign: warning: profile `{}` holds access key {id}; a successful login \
             replaces it with the session (use --profile NAME to keep it)",
            target.name
        );
    }
}

/// The password: prompted for without echo on a terminal, or the first line of stdin with
/// `--password-stdin`.
fn password(args: &LoginArgs) -> Result<Zeroizing<String>, CliError> {
    let fail = |err: std::io::Error| CliError::Login(format!("cannot read the password: {err}"));
    let password = if args.password_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).map_err(fail)?;
        Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned())
    } else if std::io::stdin().is_terminal() {
        let label = format!("password for {}: ", args.principal);
        Zeroizing::new(rpassword::prompt_password(label).map_err(fail)?)
    } else {
        return Err(CliError::Login(
            "no terminal to prompt for the password: pass --password-stdin and write the \
             password to standard input"
                .to_owned(),
        ));
    };
    if password.is_empty() {
        return Err(CliError::Login("the password is empty".to_owned()));
    }
    Ok(password)
}

/// A refused login as an API error (exit 4 / 5) with the server's code and message.
fn refused(err: ClientError) -> CliError {
    match err {
        ClientError::Auth {
            path,
            status,
            code,
            message,
        } => CliError::Api {
            method: "POST".to_owned(),
            path: path.to_owned(),
            status,
            code,
            message,
        },
        other => CliError::Client(other),
    }
}

/// Login calls are unsigned: only the TLS settings of the client matter.
fn scope_only() -> Identity {
    Identity {
        credentials: countersign::Credentials::new("unused", "unused"),
        region: DEFAULT_REGION.to_owned(),
        service: DEFAULT_SERVICE.to_owned(),
        session: None,
    }
}

fn net_args(args: &LoginArgs) -> NetArgs {
    NetArgs {
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        timeout: args.timeout,
        ..NetArgs::default()
    }
}
