//! The client's errors. None carries a secret.

use std::path::PathBuf;

/// Why a request could not be sent or its response not received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL cannot be sent (not absolute http(s), bad characters).
    #[error("invalid URL `{url}`: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The method is not an HTTP token.
    #[error("invalid method `{0}`")]
    Method(String),
    /// A header name or value cannot be sent.
    #[error("invalid header `{0}`")]
    Header(String),
    /// The request cannot be signed (the SDK's reason is the cause).
    #[error("cannot sign the request")]
    Sign(#[from] countersign::SignError),
    /// No credentials could be obtained.
    #[error("no credentials: {0}")]
    Credentials(String),
    /// The body file cannot be read.
    #[error("cannot read {}", path.display())]
    BodyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file for [`crate::Trust::CustomCa`] cannot be read or holds no certificate.
    #[error("cannot use CA file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// TLS could not be set up.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Connecting, TLS handshake, sending or receiving failed.
    #[error("request to {url} failed")]
    Network {
        /// The URL of the failing hop.
        url: String,
        /// The transport error (its chain names the cause, e.g. a certificate problem).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No response headers within the timeout.
    #[error("no response from {url} within {seconds:.1} s (--timeout)")]
    Timeout {
        /// The URL of the hop.
        url: String,
        /// The timeout.
        seconds: f64,
    },
    /// The server refused a login or refresh (`POST /v1/auth/...`): wrong password
    /// (`InvalidCredentials`), spent, revoked or expired refresh token (`InvalidToken`,
    /// `ExpiredToken`: log in again), disabled principal (`AccessDenied`), rate limit
    /// (`TooManyRequests`).
    #[error("{path}: {status} {code}: {message}{}", login_again(path, code))]
    Auth {
        /// The auth route called.
        path: &'static str,
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// More than [`crate::MAX_REDIRECTS`] redirects.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// A redirect without a usable `Location`.
    #[error("redirect without a usable Location header: {0}")]
    BadRedirect(String),
}

/// The advice for a refused refresh: the session is over.
fn login_again(path: &str, code: &str) -> &'static str {
    match (path, code) {
        ("/v1/auth/refresh", "ExpiredToken" | "InvalidToken") => {
            " (the session has ended: log in again)"
        }
        _ => "",
    }
}
