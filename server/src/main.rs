//! `countersign-server` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    countersign_server::run(countersign_server::config::Cli::parse())
}
