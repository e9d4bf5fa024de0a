//! `countersign whoami`: a signed `GET /v1/whoami` on the endpoint.

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::api::{self, Api};
use crate::cli::WhoamiArgs;
use crate::config::Sources;
use crate::error::CliError;

/// Prints the server's answer (principal, access key id, auth method) as JSON.
///
/// # Errors
/// [`CliError`]: missing credentials or endpoint (2), a refused call (4/5), transport (1).
pub fn run(
    args: &WhoamiArgs,
    sources: &Sources<'_>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let identity = sources.identity(&args.endpoint.net.credentials)?;
    let endpoint = sources.endpoint(args.endpoint.endpoint.as_ref())?;
    let value: Value = api::runtime()?.block_on(async {
        let client = api::client(&identity, &args.endpoint.net, false)?;
        Api {
            client: &client,
            endpoint,
        }
        .call("GET", "/v1/whoami", None)
        .await
    })?;
    writeln!(out, "{value}")?;
    Ok(ExitCode::SUCCESS)
}
