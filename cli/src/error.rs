//! The CLI's errors and their exit codes.

use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad flag, URL, header, timestamp or missing credentials: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Signing failed on input the CLI accepted: exit 2.
    #[error("cannot sign: {0}")]
    Sign(#[from] countersign::SignError),
    /// Writing the output failed: exit 1.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The documented exit code: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) | Self::Sign(_) => ExitCode::from(2),
            Self::Output(_) => ExitCode::from(1),
        }
    }
}
