//! The `countersign` command line as a library: clap definitions, resolution of flags and
//! environment, and one module per subcommand. `main.rs` only parses and calls [`run`].

pub mod cli;
pub mod cmd;
pub mod config;
pub mod error;
pub mod url;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::CliError;

/// Runs a parsed command line, reading `COUNTERSIGN_*` variables from the process environment
/// and writing to standard output.
///
/// Returns the exit code on success: 0 for `sign` and `presign` (networked commands will map
/// HTTP statuses to codes here).
///
/// # Errors
/// A [`CliError`] whose [`CliError::exit_code`] is the process's exit code.
pub fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut out = std::io::stdout().lock();
    let code = match &cli.command {
        Command::Sign(args) => cmd::sign::run(&config::resolve(&args.request, &env)?, &mut out)?,
        Command::Presign(args) => {
            let resolved = config::resolve(&args.request, &env)?;
            cmd::presign::run(&resolved, args.expires_in, &mut out)?
        }
    };
    out.flush()?;
    Ok(code)
}
