//! `countersign presign`: a presigned URL.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use countersign::{Payload, Signer};
use serde_json::json;

use crate::cli::Format;
use crate::config::Resolved;
use crate::error::CliError;

/// Presigns for `expires_in` seconds and prints to `out`.
///
/// # Errors
/// [`CliError::ExpiresIn`] for an expiry outside 1..=604800; other [`CliError`]s as for `sign`.
pub fn run(r: &Resolved, expires_in: u64, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    if !(1..=604_800).contains(&expires_in) {
        return Err(CliError::ExpiresIn(expires_in));
    }
    let signer =
        Signer::new(r.credentials.clone(), &r.region, &r.service)?.with_settings(r.settings);
    let view = super::request_view(r);
    let p = signer.presign(
        &view,
        Payload::Sha256(r.body_sha256),
        r.now,
        Duration::from_secs(expires_in),
    )?;
    let path = r.url.target.split('?').next().unwrap_or("/");
    let url = format!("{}://{}{path}?{}", r.url.scheme, r.url.host, p.query());
    match r.format {
        Format::Headers => writeln!(out, "{url}")?,
        Format::Json => writeln!(
            out,
            "{}",
            json!({
                "url": url,
                "signature": p.signature().to_string(),
                "canonical_request": p.canonical_request().to_string(),
                "string_to_sign": p.string_to_sign(),
            })
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
