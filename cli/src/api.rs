//! What networked commands share: the tokio runtime, the signing client built from the
//! resolved flags, status → exit code, and JSON calls to the server's API.

use std::process::ExitCode;

use bytes::Bytes;
use countersign_client::{Body, Call, Client, ClientConfig, StaticCredentials, Trust};

use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::cli::NetArgs;
use crate::config::Identity;
use crate::error::CliError;
use crate::session::CliCredentials;

/// The signing client of the CLI.
pub type CliClient = Client<CliCredentials>;

/// A single-threaded tokio runtime (the CLI sends one request at a time).
///
/// # Errors
/// [`CliError::Output`] when the runtime cannot start.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A client for `identity` with the TLS and timeout flags; warns about `--insecure` unless
/// `quiet`. Call inside the runtime.
///
/// # Errors
/// [`CliError::Client`] when the CA file is unusable.
pub fn client(identity: &Identity, net: &NetArgs, quiet: bool) -> Result<CliClient, CliError> {
    build(client_config(identity, net, quiet), identity)
}

/// The client settings for `identity` and the TLS and timeout flags (redirects off, SigV4
/// defaults); warns about `--insecure` unless `quiet`.
pub fn client_config(identity: &Identity, net: &NetArgs, quiet: bool) -> ClientConfig {
    let mut config = ClientConfig::new(&identity.region, &identity.service);
    config.trust = match (&net.cacert, net.insecure) {
        (_, true) => Trust::Insecure,
        (Some(pem), false) => Trust::CustomCa(pem.clone()),
        (None, false) => Trust::Platform,
    };
    if net.insecure && !quiet {
        eprintln!("countersign: warning: --insecure: the server's TLS certificate is not verified");
    }
    config.timeout = net.timeout;
    config.user_agent = concat!("countersign/", env!("CARGO_PKG_VERSION")).to_owned();
    config
}

/// A client with `config`, signing as `identity`: with its profile's session (refreshed
/// automatically, rotated tokens written back) when it has one. Call inside the runtime.
///
/// # Errors
/// [`CliError::Client`] when the CA file is unusable, [`CliError::Profile`] for a session
/// profile without an endpoint.
pub fn build(config: ClientConfig, identity: &Identity) -> Result<CliClient, CliError> {
    let own = |s: &&crate::session::StoredSession| {
        s.tokens.credentials.access_key_id() == identity.credentials.access_key_id()
    };
    let credentials = match identity.session.as_ref().filter(own) {
        Some(session) => CliCredentials::Session(session.provider(config.clone())?),
        None => CliCredentials::Static(StaticCredentials::new(identity.credentials.clone())),
    };
    Ok(Client::new(config, credentials)?)
}

/// httpie's mapping: 0 for 1xx-3xx, 4 for 4xx, 5 for 5xx.
pub fn exit_for(status: http::StatusCode) -> ExitCode {
    match status.as_u16() {
        400..=499 => ExitCode::from(4),
        500..=599 => ExitCode::from(5),
        _ => ExitCode::SUCCESS,
    }
}

/// JSON calls to the countersign API at `endpoint`.
pub struct Api<'c> {
    /// The signing client.
    pub client: &'c CliClient,
    /// Base URL, no trailing `/`.
    pub endpoint: String,
}

impl Api<'_> {
    /// Sends `method path` with an optional JSON body; returns the JSON reply (`null` for an
    /// empty body).
    ///
    /// # Errors
    /// [`CliError::Api`] for an error status, [`CliError::Client`] for transport problems,
    /// [`CliError::Response`] for a reply that is not JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut call = Call::new(method, &format!("{}{path}", self.endpoint))?;
        if let Some(body) = body {
            call = call
                .header("Content-Type", "application/json")
                .body(Body::Bytes(Bytes::from(body.to_string())));
        }
        let reply = self.client.send(call).await?;
        let status = reply.response.status();
        let bytes = reply
            .response
            .into_body()
            .collect()
            .await
            .map_err(|err| CliError::Response(format!("{method} {path}: {err}")))?
            .to_bytes();
        if !status.is_success() {
            let (code, message) = match reply.error {
                Some(e) => (e.code, e.message),
                None => (String::new(), String::from_utf8_lossy(&bytes).into_owned()),
            };
            return Err(CliError::Api {
                method: method.to_owned(),
                path: path.to_owned(),
                status: status.as_u16(),
                code,
                message,
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| CliError::Response(format!("{method} {path}")))
    }
}

/// Bytes a path segment keeps as they are: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment percent-encoded for the API's `{name}` / `{id}` parameters.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_httpie_exit_codes() {
        let code = |n| exit_for(http::StatusCode::from_u16(n).unwrap());
        assert_eq!(code(200), ExitCode::SUCCESS);
        assert_eq!(code(302), ExitCode::SUCCESS);
        assert_eq!(code(404), ExitCode::from(4));
        assert_eq!(code(503), ExitCode::from(5));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("a@b.c/d e"), "a%40b.c%2Fd%20e");
    }
}
