//! The `countersign` command line as a library: clap definitions, resolution of flags,
//! environment and profile, and one module per subcommand. `main.rs` only parses and calls
//! [`run`].

pub mod api;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod diff;
pub mod error;
pub mod profile;
pub mod progress;
pub mod session;
pub mod url;

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::config::Sources;
use crate::error::CliError;

/// Runs a parsed command line, reading `COUNTERSIGN_*` variables from the process environment
/// and the credentials file, and writing to standard output.
///
/// Returns the exit code on success: 0, or for `request` 4 / 5 when the server answered
/// 4xx / 5xx.
///
/// # Errors
/// A [`CliError`] whose [`CliError::exit_code`] is the process's exit code.
pub fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut out = std::io::stdout().lock();
    let profile = cli.profile.as_deref();
    let code = match &cli.command {
        Command::Sign(args) => {
            let sources = Sources::load(profile, &env)?;
            cmd::sign::run(&config::resolve(&args.request, &sources)?, &mut out)?
        }
        Command::Presign(args) => {
            let sources = Sources::load(profile, &env)?;
            let resolved = config::resolve(&args.request, &sources)?;
            cmd::presign::run(&resolved, args.expires_in, &mut out)?
        }
        Command::Request(args) => {
            drop(out);
            return cmd::request::run(args, &Sources::load(profile, &env)?);
        }
        Command::Whoami(args) => cmd::whoami::run(args, &Sources::load(profile, &env)?, &mut out)?,
        Command::Admin(args) => cmd::admin::run(args, &Sources::load(profile, &env)?, &mut out)?,
        Command::Configure(args) => {
            let target = configure_target(profile, &env)?;
            cmd::configure::run(args, &target, &mut out)?
        }
        Command::Login(args) => {
            let target = configure_target(profile, &env)?;
            cmd::login::run(args, &target, &env, &mut out)?
        }
        Command::Logout(args) => cmd::logout::run(args, &Sources::load(profile, &env)?, &mut out)?,
        Command::Completions(args) => {
            clap_complete::generate(args.shell, &mut Cli::command(), "countersign", &mut out);
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

/// The profile `configure` writes: it may not exist yet.
fn configure_target(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<config::Profile, CliError> {
    let name = flag
        .map(str::to_owned)
        .or_else(|| env("COUNTERSIGN_PROFILE"))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let path = config::config_path(env);
    let values = match std::fs::read_to_string(&path) {
        Ok(text) => profile::section(&text, &name).unwrap_or_default(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(err) => {
            return Err(CliError::Profile(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    Ok(config::Profile { name, path, values })
}
