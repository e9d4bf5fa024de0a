//! `countersign`: sign and presign AWS SigV4-compatible requests from the shell.
//!
//! Exit codes: 0 success, 2 usage error (bad flag, URL, header, timestamp, missing
//! credentials), 1 any other failure.

use std::process::ExitCode;

use clap::Parser;
use countersign_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match countersign_cli::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("countersign: {err}");
            err.exit_code()
        }
    }
}
