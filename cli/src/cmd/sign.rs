//! `countersign sign`: the headers that sign a request.

use std::io::Write;
use std::process::ExitCode;

use countersign::{Payload, Signer};
use serde_json::{Map, Value};

use crate::cli::Format;
use crate::config::Resolved;
use crate::error::CliError;

/// Signs and prints to `out`.
///
/// # Errors
/// [`CliError`] when the request cannot be signed or the output cannot be written.
pub fn run(r: &Resolved, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let signer =
        Signer::new(r.credentials.clone(), &r.region, &r.service)?.with_settings(r.settings);
    let view = super::request_view(r);
    let signed = signer.sign(&view, Payload::Sha256(r.body_sha256), r.now)?;
    match r.format {
        Format::Headers => {
            for (name, value) in signed.headers() {
                writeln!(out, "{}: {value}", super::display_name(name))?;
            }
        }
        Format::Json => {
            let mut obj = Map::new();
            for (name, value) in signed.headers() {
                obj.insert((*name).to_owned(), Value::String(value.clone()));
            }
            obj.insert("signature".into(), signed.signature().to_string().into());
            obj.insert(
                "signed_headers".into(),
                signed.canonical_request().signed_headers().into(),
            );
            obj.insert(
                "canonical_request".into(),
                signed.canonical_request().to_string().into(),
            );
            obj.insert("string_to_sign".into(), signed.string_to_sign().into());
            writeln!(out, "{}", Value::Object(obj))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
