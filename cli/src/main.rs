//! `countersign`: sign, presign and send AWS SigV4-compatible requests from the shell.
//!
//! Exit codes: 0 success (1xx-3xx), 4 a 4xx response, 5 a 5xx response, 2 usage error (bad
//! flag, URL, header, timestamp, missing credentials), 1 any other failure (network, TLS).
//! Errors are one line on stderr: `countersign: <what>`.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use countersign_cli::cli::Cli;
use countersign_cli::error::CliError;

fn main() -> ExitCode {
    let result = match Cli::try_parse() {
        Ok(cli) => countersign_cli::run(&cli),
        Err(err) if !is_error(err.kind()) => err.exit(),
        Err(err) => Err(CliError::from(err)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("countersign: {}", err.one_line());
            err.exit_code()
        }
    }
}

/// `--help`, `--version` and a bare `countersign` print clap's text as usual.
fn is_error(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}
